from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from chispa import assert_df_equality
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError
from pyspark.sql import DataFrame, SparkSession

from pipelines.lake import Lake
from pipelines.local_services import MotoServer
from pipelines.provision import ensure_bucket
from pipelines.schemas import PAYMENTS_TABLE, SILVER_PAYMENTS
from pipelines.settings import LakeSettings
from pipelines.sinks.delta import append, append_arrow, collect_append, file_stats, retry_on_conflict

UTC = dt.UTC


def _payments(spark: SparkSession, batch_id: int = 0) -> DataFrame:
    def row(event_id: str, day: int, amount: float) -> tuple[object, ...]:
        when = dt.datetime(2026, 11, day, 10, tzinfo=UTC)
        return (event_id, "o1", "t1", amount, "EUR", "card", "succeeded", None, when, "stripe", batch_id, when.date())

    return spark.createDataFrame([row("e1", 20, 10.0), row("e2", 20, 12.5), row("e3", 21, 7.0)], SILVER_PAYMENTS)


def test_the_same_batch_appended_twice_is_committed_once(spark: SparkSession, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    lake.ensure_table(PAYMENTS_TABLE)
    rows = _payments(spark)

    first = append(lake, PAYMENTS_TABLE, rows, "app", 0)
    again = append(lake, PAYMENTS_TABLE, rows, "app", 0)

    assert (first.committed, first.rows, first.files) == (True, 3, 2)  # one file per event_date
    assert not again.committed
    table = lake.table(PAYMENTS_TABLE)
    assert table.version() == 1
    assert table.transaction_version("app") == 0
    assert_df_equality(lake.read(spark, PAYMENTS_TABLE), rows, ignore_row_order=True)


def test_rows_appended_from_the_driver_make_the_same_files_and_commit_once(spark: SparkSession, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    lake.ensure_table(PAYMENTS_TABLE)
    rows = _payments(spark)

    first = append_arrow(lake, PAYMENTS_TABLE, rows.toArrow(), "app", 0)
    again = append_arrow(lake, PAYMENTS_TABLE, rows.toArrow(), "app", 0)
    empty = append_arrow(lake, PAYMENTS_TABLE, rows.limit(0).toArrow(), "app", 1)

    assert (first.committed, first.rows, first.files) == (True, 3, 2)  # one file per event_date
    assert not again.committed
    assert not empty.committed
    assert lake.table(PAYMENTS_TABLE).transaction_version("app") == 0
    assert_df_equality(lake.read(spark, PAYMENTS_TABLE), rows, ignore_row_order=True)


def test_a_later_batch_is_appended_and_an_older_one_is_skipped(spark: SparkSession, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    lake.ensure_table(PAYMENTS_TABLE)
    append(lake, PAYMENTS_TABLE, _payments(spark, 3), "app", 3)

    assert append(lake, PAYMENTS_TABLE, _payments(spark, 4), "app", 4).committed
    assert not append(lake, PAYMENTS_TABLE, _payments(spark, 2), "app", 2).committed
    assert append(lake, PAYMENTS_TABLE, _payments(spark, 2), "other-app", 2).committed
    assert lake.table(PAYMENTS_TABLE).version() == 3


def test_add_actions_carry_partition_values_and_statistics(spark: SparkSession, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    lake.ensure_table(PAYMENTS_TABLE)
    append(lake, PAYMENTS_TABLE, _payments(spark), "app", 0)

    actions = pa.table(lake.table(PAYMENTS_TABLE).get_add_actions(flatten=True)).to_pylist()

    by_date = {a["partition.event_date"]: a for a in actions}
    assert set(by_date) == {dt.date(2026, 11, 20), dt.date(2026, 11, 21)}
    first = by_date[dt.date(2026, 11, 20)]
    assert first["num_records"] == 2
    assert (first["min.amount"], first["max.amount"]) == (10.0, 12.5)
    assert first["null_count.failure_code"] == 2
    assert first["path"].startswith("event_date=2026-11-20/")


def test_file_stats_skip_long_strings_and_write_utc_timestamps() -> None:
    data = pa.table(
        {
            "s": pa.array(["a", "x" * 100]),
            "t": pa.array([dt.datetime(2026, 11, 2, 13, 3, 11, 250000, tzinfo=UTC), None], pa.timestamp("us", "UTC")),
        }
    )

    stats = json.loads(file_stats(data))

    assert stats == {
        "numRecords": 2,
        "minValues": {"t": "2026-11-02T13:03:11.250Z"},
        "maxValues": {"t": "2026-11-02T13:03:11.250Z"},
        "nullCount": {"s": 0, "t": 1},
    }


def test_appends_work_the_same_on_s3(spark: SparkSession, moto_server: MotoServer, unique_name: str) -> None:
    ensure_bucket(unique_name)
    lake = Lake.from_settings(LakeSettings(root=f"s3://{unique_name}/lake"))
    assert lake.storage_options()["AWS_ENDPOINT_URL"] == moto_server.endpoint_url
    lake.ensure_table(PAYMENTS_TABLE)
    rows = _payments(spark)

    assert append(lake, PAYMENTS_TABLE, rows, "app", 0).committed
    assert not append(lake, PAYMENTS_TABLE, rows, "app", 0).committed

    table = DeltaTable(lake.uri(PAYMENTS_TABLE), storage_options=lake.storage_options())
    assert table.version() == 1
    assert_df_equality(lake.read(spark, PAYMENTS_TABLE), rows, ignore_row_order=True)


def test_the_collect_to_driver_alternative_writes_the_same_rows(spark: SparkSession, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    lake.ensure_table(PAYMENTS_TABLE)
    rows = _payments(spark)

    assert collect_append(lake, PAYMENTS_TABLE, rows, "app", 0).committed
    assert not collect_append(lake, PAYMENTS_TABLE, rows, "app", 0).committed
    assert_df_equality(lake.read(spark, PAYMENTS_TABLE), rows, ignore_row_order=True)


def _merge_status(update: pa.Table) -> Callable[[DeltaTable], dict[str, Any]]:
    def run(table: DeltaTable) -> dict[str, Any]:
        merger = table.merge(update, "t.id = s.id", source_alias="s", target_alias="t")
        return merger.when_matched_update({"status": "s.status"}).execute()

    return run


def test_a_merge_that_meets_a_concurrent_compaction_is_run_again_on_the_new_snapshot(tmp_path: Path) -> None:
    uri = str(tmp_path / "orders")
    for number in range(3):
        write_deltalake(uri, pa.table({"id": [number], "status": ["created"]}), mode="append")
    stale, also_stale = DeltaTable(uri), DeltaTable(uri)
    DeltaTable(uri).optimize.compact()  # another writer: maintenance, between the read and the commit
    update = pa.table({"id": [1], "status": ["shipped"]})

    with pytest.raises(CommitFailedError):
        _merge_status(update)(also_stale)  # without the retry, the MERGE loses to the compaction
    metrics = retry_on_conflict(stale, _merge_status(update))

    assert metrics["num_target_rows_updated"] == 1
    assert sorted(DeltaTable(uri).to_pyarrow_table().to_pylist(), key=lambda row: row["id"]) == [
        {"id": 0, "status": "created"},
        {"id": 1, "status": "shipped"},
        {"id": 2, "status": "created"},
    ]
