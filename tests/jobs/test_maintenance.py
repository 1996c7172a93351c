from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

from jobs.maintenance import maintain_table, run
from pipelines.lake import Lake, arrow_schema
from pipelines.schemas import PAYMENTS_TABLE, SILVER_PAYMENTS, TABLES
from pipelines.settings import load_settings


def _payment(event_id: str) -> pa.Table:
    when = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
    row = {
        "event_id": event_id,
        "order_id": "o1",
        "transaction_id": "t1",
        "amount": 10.0,
        "currency": "EUR",
        "payment_method": "card",
        "status": "succeeded",
        "failure_code": None,
        "event_time": when,
        "source": "stripe",
        "batch_id": 0,
        "event_date": when.date(),
    }
    return pa.Table.from_pylist([row], schema=arrow_schema(SILVER_PAYMENTS))


def test_maintenance_compacts_small_files_and_keeps_every_row(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    lake.ensure_table(PAYMENTS_TABLE)
    for event_id in ("e1", "e2", "e3"):
        write_deltalake(lake.uri(PAYMENTS_TABLE), _payment(event_id), mode="append")

    summary = maintain_table(lake, PAYMENTS_TABLE, retention_hours=168)

    table = lake.table(PAYMENTS_TABLE)
    assert "3 files compacted into 1" in summary
    assert len(table.file_uris()) == 1
    assert sorted(table.to_pyarrow_table(columns=["event_id"])["event_id"].to_pylist()) == ["e1", "e2", "e3"]
    # Files just replaced are younger than the retention: still there for readers of older snapshots.
    assert "0 unreferenced files vacuumed" in summary


def test_maintenance_runs_over_every_table_of_the_lake(tmp_path: Path) -> None:
    settings = load_settings(None, [f"lake.root={tmp_path}"])
    Lake.from_settings(settings.lake).ensure_tables()

    assert len(run(settings)) == len(TABLES)
