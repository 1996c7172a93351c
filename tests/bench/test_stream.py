"""The stream benchmark's measurements: latency from bronze and commit times, and per-table file figures."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from pipelines.bench.stream import commit_times, silver_latencies, sustained_rate, table_stats
from pipelines.lake import Lake, arrow_schema
from pipelines.schemas import BRONZE_TABLE, ORDERS_TABLE, PAYMENTS_TABLE, QUARANTINE_TABLE, TABLES
from pipelines.sinks.delta import commit_properties


def _write(lake: Lake, table: str, rows: dict[str, list[object]], batch_id: int) -> None:
    schema = arrow_schema(TABLES[table])
    count = len(next(iter(rows.values())))
    data = pa.table({f.name: pa.array(rows.get(f.name, [None] * count), f.type) for f in schema})
    write_deltalake(lake.uri(table), data, mode="append", commit_properties=commit_properties("t", batch_id, "append"))


def test_latency_runs_from_ingestion_to_the_commit_of_the_events_silver_table(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    lake.ensure_tables()
    ingested = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
    today = ingested.date()
    _write(
        lake,
        BRONZE_TABLE,
        {
            "event_id": ["e-order", "e-pay", "e-bad"],
            "event_type": ["new_order", "payment", "payment"],
            "ingested_at": [ingested] * 3,
            "batch_id": [0, 1, 1],
            "ingest_date": [today] * 3,
        },
        0,
    )
    _write(lake, QUARANTINE_TABLE, {"event_id": ["e-bad"], "batch_id": [1], "ingest_date": [today]}, 1)
    _write(lake, ORDERS_TABLE, {"order_id": ["o-1"], "event_id": ["e-order"], "order_date": [today]}, 0)
    _write(lake, PAYMENTS_TABLE, {"event_id": ["e-pay"], "batch_id": [1], "event_date": [today]}, 1)

    assert set(commit_times(lake, PAYMENTS_TABLE)) == {1}
    delays = silver_latencies(lake)
    # The quarantined payment reached no silver table: two events, each about 30 s after ingestion.
    assert len(delays) == 2
    assert all(29 <= delay < 120 for delay in delays)


def test_table_figures_count_the_files_and_bytes_the_current_version_references(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    lake.ensure_tables()
    today = dt.datetime.now(dt.UTC).date()
    for batch in range(2):
        _write(lake, PAYMENTS_TABLE, {"event_id": [f"e-{batch}"], "batch_id": [batch], "event_date": [today]}, batch)

    figures = table_stats(lake, [PAYMENTS_TABLE, ORDERS_TABLE])

    assert figures[PAYMENTS_TABLE]["rows"] == 2
    assert figures[PAYMENTS_TABLE]["files"] == 2
    assert figures[PAYMENTS_TABLE]["bytes"] > 0
    assert figures[ORDERS_TABLE] == {"rows": 0, "files": 0, "bytes": 0}


def test_an_event_whose_batch_never_committed_to_silver_is_left_out(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    lake.ensure_tables()
    now = dt.datetime.now(dt.UTC)
    _write(
        lake,
        BRONZE_TABLE,
        {
            "event_id": ["e-1"],
            "event_type": ["new_order"],
            "ingested_at": [now],
            "batch_id": [5],
            "ingest_date": [now.date()],
        },
        5,
    )

    assert commit_times(lake, ORDERS_TABLE) == {}
    assert len(silver_latencies(lake)) == 0


def test_the_sustained_rate_counts_the_batches_after_the_first_over_their_commit_span(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    lake.ensure_tables()
    today = dt.datetime.now(dt.UTC).date()
    for batch, events in enumerate((5, 3, 4)):
        rows = {"event_id": [f"e-{batch}-{i}" for i in range(events)], "batch_id": [batch] * events}
        _write(lake, BRONZE_TABLE, rows | {"ingest_date": [today] * events}, batch)
        time.sleep(0.02)  # commit timestamps are in milliseconds
    times = commit_times(lake, BRONZE_TABLE)

    rate = sustained_rate(lake)

    assert rate == pytest.approx(7 / (times[2] - times[0]))
