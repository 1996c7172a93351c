from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from pipelines.sinks.delta import commit_properties
from pipelines.sinks.known_ids import KnownEventIds

DAY = dt.date(2026, 11, 2)
NEXT_DAY = dt.date(2026, 11, 3)
SCHEMA = pa.schema([("event_id", pa.string()), ("batch_id", pa.int64()), ("event_date", pa.date32())])


def _rows(ids: list[str], batch_id: int, day: dt.date = DAY) -> pa.Table:
    return pa.table({"event_id": ids, "batch_id": [batch_id] * len(ids), "event_date": [day] * len(ids)}, SCHEMA)


def _append(path: Path, rows: pa.Table, app_id: str, batch_id: int) -> DeltaTable:
    write_deltalake(
        str(path),
        rows,
        mode="append",
        partition_by=["event_date"],
        commit_properties=commit_properties(app_id, batch_id, "append"),
    )
    return DeltaTable(str(path))


def _earlier(known: KnownEventIds, path: Path, batch_id: int, dates: tuple[dt.date, ...] = (DAY,)) -> set[str]:
    return set(known.earlier("t", DeltaTable(str(path)), list(dates), batch_id).to_pylist())


class CountingTable(DeltaTable):
    """A DeltaTable that counts its reads of rows."""

    reads = 0

    def to_pyarrow_table(self, *args: Any, **kwargs: Any) -> pa.Table:
        CountingTable.reads += 1
        return super().to_pyarrow_table(*args, **kwargs)


def test_a_partition_is_read_once_then_follows_the_writers_own_appends(tmp_path: Path) -> None:
    _append(tmp_path, _rows(["a", "b"], 0), "stream", 0)
    known = KnownEventIds()
    CountingTable.reads = 0
    assert set(known.earlier("t", CountingTable(str(tmp_path)), [DAY], 1).to_pylist()) == {"a", "b"}

    after = _append(tmp_path, _rows(["c"], 1), "stream", 1).version()
    known.appended("t", _rows(["c"], 1), after)

    assert set(known.earlier("t", CountingTable(str(tmp_path)), [DAY], 2).to_pylist()) == {"a", "b", "c"}
    assert CountingTable.reads == 1
    assert known.size == 3


def test_an_append_by_another_writer_drops_the_tables_ids_so_its_rows_are_read(tmp_path: Path) -> None:
    _append(tmp_path, _rows(["a"], 0), "stream", 0)
    known = KnownEventIds()
    assert _earlier(known, tmp_path, 1) == {"a"}

    _append(tmp_path, _rows(["backfilled"], 0), "backfill", 0)

    assert _earlier(known, tmp_path, 1) == {"a", "backfilled"}


def test_an_own_append_the_cache_was_not_told_of_drops_the_tables_ids(tmp_path: Path) -> None:
    """Same app, a batch this writer did not record (another process of the app): not trusted."""
    _append(tmp_path, _rows(["a"], 0), "stream", 0)
    known = KnownEventIds()
    assert _earlier(known, tmp_path, 2) == {"a"}

    _append(tmp_path, _rows(["b"], 1), "stream", 1)

    assert _earlier(known, tmp_path, 2) == {"a", "b"}


def test_an_append_that_is_not_the_next_version_drops_the_tables_ids(tmp_path: Path) -> None:
    _append(tmp_path, _rows(["a"], 0), "stream", 0)
    known = KnownEventIds()
    assert _earlier(known, tmp_path, 2) == {"a"}

    _append(tmp_path, _rows(["foreign"], 0), "backfill", 0)
    after = _append(tmp_path, _rows(["b"], 1), "stream", 1).version()
    known.appended("t", _rows(["b"], 1), after)

    assert known.size == 0
    assert _earlier(known, tmp_path, 2) == {"a", "b", "foreign"}


def test_a_compaction_makes_the_next_batch_read_again_with_the_same_ids(tmp_path: Path) -> None:
    _append(tmp_path, _rows(["a"], 0), "stream", 0)
    _append(tmp_path, _rows(["b"], 1), "stream", 1)
    known = KnownEventIds()
    CountingTable.reads = 0
    assert set(known.earlier("t", CountingTable(str(tmp_path)), [DAY], 2).to_pylist()) == {"a", "b"}

    DeltaTable(str(tmp_path)).optimize.compact()

    assert set(known.earlier("t", CountingTable(str(tmp_path)), [DAY], 2).to_pylist()) == {"a", "b"}
    assert CountingTable.reads == 2


def test_rows_of_the_batch_being_written_are_not_earlier_and_their_partition_is_not_kept(tmp_path: Path) -> None:
    _append(tmp_path, _rows(["a"], 0), "stream", 0)
    _append(tmp_path, _rows(["x"], 1, NEXT_DAY), "stream", 1)
    known = KnownEventIds()

    assert _earlier(known, tmp_path, 1, (DAY, NEXT_DAY)) == {"a"}
    assert known.size == 1


def test_the_least_recently_used_partitions_go_first_and_an_oversized_one_is_never_kept(tmp_path: Path) -> None:
    _append(tmp_path, _rows(["a", "b"], 0), "stream", 0)
    _append(tmp_path, _rows(["c", "d", "e"], 1, NEXT_DAY), "stream", 1)
    known = KnownEventIds(max_ids=4)

    assert _earlier(known, tmp_path, 2) == {"a", "b"}
    assert _earlier(known, tmp_path, 2, (NEXT_DAY,)) == {"c", "d", "e"}
    assert known.size == 3  # DAY went to make room

    small = KnownEventIds(max_ids=2)
    assert _earlier(small, tmp_path, 2, (NEXT_DAY,)) == {"c", "d", "e"}
    assert small.size == 0
