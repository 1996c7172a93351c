from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from lakehouse_traps import INGESTED, Record, Traps, actual_tables, build_traps, expected_tables
from pyspark.sql import DataFrame, SparkSession
from support.file_stream import run_file_stream, write_raw_lines

from pipelines.lake import Lake, arrow_schema
from pipelines.schemas import (
    BRONZE_TABLE,
    GOLD_TABLES,
    ORDER_UPDATES_TABLE,
    ORDERS_TABLE,
    QUALITY_METRICS_TABLE,
    QUARANTINE_TABLE,
    RAW,
    SILVER_ORDERS,
    TABLES,
)
from pipelines.sinks.delta import CommitResult
from pipelines.sinks.lakehouse import (
    BatchReport,
    LakehouseWriter,
    new_orders_of,
    with_latest_status,
    without_failed,
)


class SimulatedCrashError(RuntimeError):
    """Stands for the driver dying between two commits."""


class CrashBeforeOrders(LakehouseWriter):
    """A writer that dies after the silver event tables are committed, before silver/orders."""

    def merge_orders(self, new_orders: pa.Table, latest_updates: pa.Table, batch_id: int) -> CommitResult:
        raise SimulatedCrashError(f"crash in batch {batch_id}")


def _batch(spark: SparkSession, records: list[Record], shard: str) -> DataFrame:
    rows = [(r.data, r.ingested_at, "orders", shard, str(i).zfill(6), None, None, None) for i, r in enumerate(records)]
    return spark.createDataFrame(rows, RAW)


def _versions(lake: Lake) -> dict[str, int]:
    return {table: lake.table(table).version() for table in TABLES}


def _write_trap_runs(spark: SparkSession, writer: LakehouseWriter, runs: list[list[Record]]) -> None:
    """Each run of the traps as one micro-batch (batch id = its index, shard ``shard-<index>``)."""
    for batch_id, run in enumerate(runs):
        writer(_batch(spark, run, f"shard-{batch_id}"), batch_id)


def _traps_written(spark: SparkSession, tmp_path: Path, compact_every: int = 0) -> tuple[Lake, LakehouseWriter, Traps]:
    """A fresh lake in ``tmp_path`` holding the traps, written as two micro-batches by a new writer."""
    traps = build_traps()
    lake = Lake(str(tmp_path))
    lake.ensure_tables()
    writer = LakehouseWriter(lake, "orders-stream", compact_every=compact_every)
    _write_trap_runs(spark, writer, traps.runs)
    return lake, writer, traps


def test_another_delta_reader_sees_the_same_tables(spark: SparkSession, tmp_path: Path) -> None:
    """DuckDB's Delta reader (delta-kernel-rs, not delta-rs) reads every table with the same rows."""
    from pipelines.duckdb_engine import connect

    lake, _, _ = _traps_written(spark, tmp_path)

    duckdb = connect()
    # Gold tables come from batch jobs; quality/metrics from a writer with suites (tests/quality).
    for table in (table for table in TABLES if table not in GOLD_TABLES and table != QUALITY_METRICS_TABLE):
        columns = [field.name for field in TABLES[table].fields if field.name != "items"]
        listed = ", ".join(f'"{name}"' for name in columns)
        seen_by_duckdb = sorted(
            duckdb.execute(f"SELECT {listed} FROM delta_scan('{lake.uri(table)}')").fetchall(), key=repr
        )
        seen_by_delta_rs = sorted(
            (tuple(row[c] for c in columns) for row in lake.read_arrow(table, columns=columns).to_pylist()), key=repr
        )
        assert seen_by_duckdb == seen_by_delta_rs, table
        assert seen_by_duckdb, f"{table} is empty: the comparison would prove nothing"


def test_two_batches_of_traps_give_exactly_the_silver_tables_the_contract_implies(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake, writer, traps = _traps_written(spark, tmp_path)

    assert actual_tables(lake) == expected_tables(traps.records)
    assert lake.read_arrow(BRONZE_TABLE).num_rows == len(traps.records)

    # A replay of both batches (a restart from an older checkpoint) changes nothing.
    before = _versions(lake)
    _write_trap_runs(spark, writer, traps.runs)
    assert _versions(lake) == before


def test_a_due_batch_compacts_in_the_background_and_changes_no_row(spark: SparkSession, tmp_path: Path) -> None:
    lake, writer, traps = _traps_written(spark, tmp_path, compact_every=2)  # batch 1 is due
    writer.wait_for_compaction()

    assert actual_tables(lake) == expected_tables(traps.records)
    assert lake.read_arrow(BRONZE_TABLE).num_rows == len(traps.records)
    # The two batches' bronze files of the one ingestion date are one file now.
    assert len(lake.table(BRONZE_TABLE).file_uris()) == 1
    assert "compaction" in writer.reports[-1].seconds


def test_a_due_batch_compacts_the_partitions_of_every_batch_since_the_last_compaction(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = Lake(str(tmp_path))
    lake.ensure_tables()
    writer = LakehouseWriter(lake, "orders-stream", compact_every=3)  # batch 2 is due
    earlier, later = build_traps(INGESTED), build_traps(INGESTED + dt.timedelta(days=1))
    # Batches 0 and 1 write the first ingestion date, the due batch 2 only the next one.
    for batch_id, run in enumerate([*earlier.runs, later.runs[0]]):
        writer(_batch(spark, run, f"shard-{batch_id}"), batch_id)
    writer.wait_for_compaction()

    files = lake.table(BRONZE_TABLE).file_uris()
    for day in (INGESTED.date(), INGESTED.date() + dt.timedelta(days=1)):
        assert len([uri for uri in files if f"ingest_date={day.isoformat()}/" in uri]) == 1, day
    assert lake.read_arrow(BRONZE_TABLE).num_rows == len(earlier.records) + len(later.runs[0])


def test_a_crash_between_commits_neither_loses_nor_duplicates_rows(spark: SparkSession, tmp_path: Path) -> None:
    traps = build_traps()
    lake = Lake(str(tmp_path))
    lake.ensure_tables()
    first = _batch(spark, traps.runs[0], "shard-0")
    second = _batch(spark, traps.runs[1], "shard-1")
    LakehouseWriter(lake, "orders-stream")(first, 0)

    with pytest.raises(SimulatedCrashError):
        CrashBeforeOrders(lake, "orders-stream")(second, 1)
    assert lake.table("silver/orders").transaction_version("orders-stream") == 0
    # Bronze is written beside silver, and the failed batch waited for it before it failed.
    assert lake.table(BRONZE_TABLE).transaction_version("orders-stream") == 1
    # Spark re-runs batch 1 after the restart.
    LakehouseWriter(lake, "orders-stream")(second, 1)

    assert actual_tables(lake) == expected_tables(traps.records)
    assert lake.read_arrow(BRONZE_TABLE).num_rows == len(traps.records)


def test_a_streaming_query_with_a_restart_writes_the_traps_exactly_once(spark: SparkSession, tmp_path: Path) -> None:
    traps = build_traps()
    folder, checkpoint = tmp_path / "incoming", tmp_path / "checkpoint"
    folder.mkdir()
    lake = Lake(str(tmp_path / "lake"))
    lake.ensure_tables()

    write_raw_lines(folder, "run-0.json", traps.runs[0], shard="shard-0")
    run_file_stream(spark, folder, checkpoint, LakehouseWriter(lake, "orders-stream"))
    write_raw_lines(folder, "run-1.json", traps.runs[1], shard="shard-1")
    # A new query on the same checkpoint: the restart picks up only the new file.
    restarted = LakehouseWriter(lake, "orders-stream")
    run_file_stream(spark, folder, checkpoint, restarted)

    assert [report.batch_id for report in restarted.reports] == [1]
    assert actual_tables(lake) == expected_tables(traps.records)
    assert lake.read_arrow(BRONZE_TABLE).num_rows == len(traps.records)


def test_the_orders_merge_reads_only_the_partitions_an_update_can_touch(spark: SparkSession, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    lake.ensure_tables()
    schema = arrow_schema(SILVER_ORDERS)
    for day in range(1, 21):
        when = dt.datetime(2026, 10, day, 8, tzinfo=dt.UTC)
        row = dict.fromkeys(schema.names) | {
            "order_id": f"o{day}",
            "order_time": when,
            "order_date": when.date(),
            "status": "created",
            "event_id": f"e{day}",
        }
        write_deltalake(lake.uri(ORDERS_TABLE), pa.Table.from_pylist([row], schema=schema), mode="append")
    update = {
        "event_id": "u19",
        "event_type": "update_order",
        "event_time": "2026-10-19T12:00:00Z",
        "source": "wms",
        "order_id": "o19",
        "status": "packed",
    }
    record = Record(json.dumps(update).encode(), dt.datetime(2026, 10, 19, 12, tzinfo=dt.UTC))
    writer = LakehouseWriter(lake, "orders-stream", order_lookback_days=2)

    writer(_batch(spark, [record], "shard-0"), 0)

    result = next(r for r in writer.reports[0].results if r.table == ORDERS_TABLE)
    assert result.metrics["num_target_rows_updated"] == 1
    assert result.metrics["num_target_files_scanned"] <= 4  # 2026-10-17 .. 2026-10-20
    assert result.metrics["num_target_files_skipped_during_scan"] >= 16
    statuses = {
        r["order_id"]: r["status"] for r in lake.read_arrow(ORDERS_TABLE, columns=["order_id", "status"]).to_pylist()
    }
    assert statuses["o19"] == "packed"
    assert statuses["o18"] == "created"


def test_the_writer_keeps_only_the_latest_batch_reports() -> None:
    from collections import deque

    from pipelines.sinks.lakehouse import RECENT_REPORTS

    writer = LakehouseWriter(Lake("unused"), "orders-stream")
    assert isinstance(writer.reports, deque)
    assert writer.reports.maxlen == RECENT_REPORTS


def test_a_new_order_takes_the_status_of_its_latest_update_by_time_then_event_id() -> None:
    at = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)
    columns = ("order_id", "status", "status_time", "status_event_id")
    orders = pa.Table.from_pylist(
        [{"order_id": o, "status": "created"} for o in ("o1", "o2", "o3")],
        pa.schema([arrow_schema(SILVER_ORDERS).field(name) for name in columns]),
    )
    updates = pa.Table.from_pylist(
        [
            {"order_id": "o1", "status": "packed", "event_time": at, "event_id": "e1"},
            {"order_id": "o1", "status": "shipped", "event_time": at + dt.timedelta(hours=1), "event_id": "e0"},
            {"order_id": "o2", "status": "packed", "event_time": at, "event_id": "e2"},
            {"order_id": "o2", "status": "cancelled", "event_time": at, "event_id": "e3"},
            {"order_id": "o9", "status": "delivered", "event_time": at, "event_id": "e9"},
        ]
    )

    out = with_latest_status(orders, updates).to_pylist()

    assert [(r["order_id"], r["status"], r["status_time"], r["status_event_id"]) for r in out] == [
        ("o1", "shipped", at + dt.timedelta(hours=1), "e0"),
        ("o2", "cancelled", at, "e3"),
        ("o3", "created", None, None),
    ]


def test_each_order_is_won_by_its_earliest_new_order_then_the_smaller_event_id() -> None:
    at = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)
    candidates = pa.Table.from_pylist(
        [
            {"order_id": "o1", "event_id": "e2", "order_time": at},
            {"order_id": "o1", "event_id": "e1", "order_time": at + dt.timedelta(minutes=1)},
            {"order_id": "o2", "event_id": "e4", "order_time": at},
            {"order_id": "o2", "event_id": "e3", "order_time": at},
        ]
    )

    winners = new_orders_of(candidates).to_pylist()

    assert sorted((r["order_id"], r["event_id"]) for r in winners) == [("o1", "e2"), ("o2", "e3")]


def test_a_rejected_winner_leaves_its_order_to_the_next_candidate() -> None:
    at = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)
    candidates = pa.Table.from_pylist(
        [
            {"order_id": "o1", "event_id": "e1", "order_time": at},
            {"order_id": "o1", "event_id": "e2", "order_time": at + dt.timedelta(minutes=1)},
        ]
    )

    kept = without_failed({ORDERS_TABLE: candidates}, {"e1": ["expectation:amount_positive"]})

    assert [r["event_id"] for r in new_orders_of(kept[ORDERS_TABLE]).to_pylist()] == ["e2"]


def test_silver_rows_cut_from_the_wide_frame_equal_each_tables_own_transform(spark: SparkSession) -> None:
    """The stream's one-collect path (wide frame, split on the driver) gives each table exactly its transform's rows."""
    from pipelines.schemas import CHARGEBACKS_TABLE, ORDER_UPDATES_TABLE, PAYMENTS_TABLE, RETURNS_TABLE
    from pipelines.simulator.generator import SimulationConfig, generate
    from pipelines.sinks.lakehouse import silver_rows
    from pipelines.transforms import silver
    from pipelines.transforms.sentiment import with_sentiment

    at = dt.datetime.now(dt.UTC)
    # The simulator's mix (bad records included) plus the traps, which have every event type.
    simulated = [r.data for r in generate(SimulationConfig(events=600, bad_fraction=0.1, seed=11))]
    trapped = [r.data for run in build_traps().runs for r in run]
    rows = [(data, at, None, None, None, "t", 0, i) for i, data in enumerate(simulated + trapped)]
    raw = spark.createDataFrame(rows, RAW)
    scored = with_sentiment()
    writer = LakehouseWriter(Lake("unused"), "orders-stream", sentiment=scored)
    valid = writer.prepare(raw).transform(silver.with_batch_id(3)).where("size(reasons) = 0")

    cut = silver_rows(valid.transform(silver.with_scored_comments(scored)).toArrow())

    own = {
        ORDER_UPDATES_TABLE: silver.order_updates(valid),
        RETURNS_TABLE: silver.returns(valid, scored),
        PAYMENTS_TABLE: silver.payments(valid),
        CHARGEBACKS_TABLE: silver.chargebacks(valid),
        ORDERS_TABLE: silver.order_candidates(valid, scored),
    }
    assert set(cut) == set(own)
    for table, frame in own.items():
        expected = frame.toArrow().cast(arrow_schema(TABLES[table])).sort_by("event_id")
        assert cut[table].num_rows > 0, table
        assert cut[table].sort_by("event_id").equals(expected), table
    # Only new orders and returns are scored; their comments are.
    assert cut[RETURNS_TABLE]["sentiment_label"].null_count < cut[RETURNS_TABLE].num_rows


class AdaptiveProbe(LakehouseWriter):
    """Records the adaptive and shuffle settings of each batch; each batch reports ``sizes[batch_id]`` records."""

    sizes: tuple[int, ...] = ()
    seen: list[tuple[str | None, str | None]]

    def write_batch(self, batch: DataFrame, batch_id: int) -> BatchReport:
        conf = batch.sparkSession.conf
        self.seen.append((conf.get("spark.sql.adaptive.enabled"), conf.get("spark.sql.shuffle.partitions")))
        report = BatchReport(batch_id, [CommitResult(BRONZE_TABLE, committed=True, rows=self.sizes[batch_id])])
        self.reports.append(report)
        return report


def test_a_batch_after_a_small_one_runs_without_adaptive_execution_on_the_small_batch_partitions(
    spark: SparkSession, tmp_path: Path
) -> None:
    probe = AdaptiveProbe(Lake(str(tmp_path)), "orders-stream", small_batch_partitions=1)
    probe.sizes, probe.seen = (3_600, 3_600, 200_000, 3_600), []
    adaptive, partitions = spark.conf.get("spark.sql.adaptive.enabled"), spark.conf.get("spark.sql.shuffle.partitions")
    assert partitions != "1"
    batch = spark.range(1).toDF("id")

    for batch_id in range(4):
        probe(batch, batch_id)

    # The first batch (a backlog, maybe) keeps them; then each follows the size of the one before.
    assert probe.seen == [("true", partitions), ("false", "1"), ("false", "1"), ("true", partitions)]
    assert spark.conf.get("spark.sql.adaptive.enabled") == adaptive
    assert spark.conf.get("spark.sql.shuffle.partitions") == partitions


def test_every_row_carries_the_id_of_the_batch_that_wrote_it(spark: SparkSession, tmp_path: Path) -> None:
    """The batch id is stamped outside the Spark plan (no literal in its generated code), in every table."""
    lake, _, _ = _traps_written(spark, tmp_path)

    bronze = lake.read_arrow(BRONZE_TABLE, columns=["shard_id", "batch_id"])
    assert set(zip(bronze["shard_id"].to_pylist(), bronze["batch_id"].to_pylist(), strict=True)) == {
        ("shard-0", 0),
        ("shard-1", 1),
    }
    for table in (QUARANTINE_TABLE, ORDERS_TABLE, ORDER_UPDATES_TABLE):
        assert set(lake.read_arrow(table, columns=["batch_id"])["batch_id"].to_pylist()) == {0, 1}, table
