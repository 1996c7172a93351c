"""The lake's two readers agree: pyarrow's dataset and delta-rs's own engine, locally and on S3."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from pipelines.lake import Lake, LakeError, arrow_schema
from pipelines.local_services import MotoServer
from pipelines.provision import ensure_bucket
from pipelines.schemas import ORDER_UPDATES_TABLE, TABLES
from pipelines.settings import LakeSettings

DAYS = [dt.date(2026, 11, 1) + dt.timedelta(days=n) for n in range(4)]
COLUMNS = ["event_id", "order_id", "event_time", "batch_id", "event_date"]


def _updates(lake: Lake) -> None:
    """Two small files in each of four event_date partitions, with a quote in one id."""
    lake.ensure_table(ORDER_UPDATES_TABLE)
    schema = arrow_schema(TABLES[ORDER_UPDATES_TABLE])
    for batch in range(2):
        rows = [
            {
                "event_id": f"e-{batch}-{day.day}'x",
                "order_id": f"o-{day.day}",
                "status": "shipped",
                "event_time": dt.datetime.combine(day, dt.time(12), dt.UTC),
                "batch_id": batch,
                "event_date": day,
            }
            for day in DAYS
        ]
        table = pa.Table.from_pylist(rows, schema=schema)
        write_deltalake(lake.uri(ORDER_UPDATES_TABLE), table, mode="append", storage_options=lake.storage_options())


FILTERS: dict[str, list[tuple[str, str, Any]]] = {
    "in": [("event_date", "in", DAYS[1:3])],
    "at least": [("event_date", ">=", DAYS[2])],
    "equal": [("event_date", "=", DAYS[0])],
    "not in": [("event_date", "not in", [DAYS[0]])],
    "empty in": [("event_date", "in", [])],
    "two filters": [("event_date", ">", DAYS[0]), ("event_date", "<=", DAYS[2])],
    "none": [],
}


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([("event_id", "ascending")])


@pytest.mark.parametrize("name", list(FILTERS))
def test_the_engine_read_gives_the_dataset_read_rows_and_types(tmp_path: Path, name: str) -> None:
    lake = Lake(str(tmp_path))
    _updates(lake)

    fast = lake.query_arrow(ORDER_UPDATES_TABLE, COLUMNS, FILTERS[name])

    expected = lake.read_arrow(ORDER_UPDATES_TABLE, partitions=FILTERS[name] or None, columns=COLUMNS)
    assert _sorted(fast).equals(_sorted(expected))
    assert fast.schema == expected.schema


def test_the_engine_read_works_on_s3(moto_server: MotoServer, unique_name: str) -> None:
    ensure_bucket(unique_name)
    lake = Lake.from_settings(LakeSettings(root=f"s3://{unique_name}/lake"))
    _updates(lake)

    fast = lake.query_arrow(ORDER_UPDATES_TABLE, ["event_id", "batch_id"], [("event_date", "in", DAYS[:2])])

    assert fast.num_rows == 4
    assert sorted(fast["event_id"].to_pylist()) == ["e-0-1'x", "e-0-2'x", "e-1-1'x", "e-1-2'x"]


def test_the_engine_read_names_a_column_the_table_does_not_have(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    _updates(lake)

    with pytest.raises(LakeError, match="silver/order_updates has no column"):
        lake.query_arrow(ORDER_UPDATES_TABLE, ["event_id", "amount"], [])
