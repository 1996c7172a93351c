"""The event_ids already in the silver event tables, per ``event_date`` partition, kept between micro-batches.

The stream drops an event whose event_id an earlier batch put in its table. Reading the
touched partitions' event_ids again every batch cost 40-50 ms a table in the latency run and
grew with the partitions; kept here, a batch reads a partition once, then adds its own ids.

A table's entries are trusted only while its version moved by this writer's own appends,
each the very next version: any other commit (another writer, a backfill, a compaction)
drops them and the next batch reads again. The versions alone decide: reading the commits'
history to keep entries across compactions stalled behind the tests' in-process S3 fault
proxy until delta-rs's 180 s retry timeout, which real S3 would not show but a test must
not either. Memory is bounded by ``max_ids``: the partitions used least recently go first,
and a partition larger than that is read every time, as without the cache.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable


@dataclass
class KnownEventIds:
    """event_ids of the partitions recent batches touched, per silver event table (one writer's)."""

    max_ids: int = 1_000_000
    # table -> the version its entries are known to match.
    _versions: dict[str, int] = field(default_factory=dict)
    # (table, event_date) -> event_ids, least recently used first.
    _ids: OrderedDict[tuple[str, dt.date], pa.Array] = field(default_factory=OrderedDict)

    @property
    def size(self) -> int:
        """event_ids held, over every table and partition."""
        return sum(len(ids) for ids in self._ids.values())

    def earlier(self, table: str, delta: DeltaTable, dates: list[dt.date], batch_id: int) -> pa.Array:
        """event_ids in ``table``'s ``dates`` partitions written by batches other than ``batch_id``.

        ``delta``: the table at its latest version (the entries are checked against it first).
        """
        self._sync(table, delta)
        found: list[pa.Array] = []
        missing = [day for day in dates if (table, day) not in self._ids]
        if missing:
            columns = ["event_id", "batch_id", "event_date"]
            read = delta.to_pyarrow_table(filters=[("event_date", "in", missing)], columns=columns)
            # A row of this very batch cannot be there (its commit is checked first); if one is,
            # its partition is left out of the cache rather than remembered without it.
            mine = pc.fill_null(pc.equal(read["batch_id"], batch_id), False)
            earlier = read.filter(pc.invert(mine))
            found.append(earlier["event_id"].combine_chunks())
            suspect = set(read.filter(mine)["event_date"].to_pylist())
            for day in missing:
                if day not in suspect:
                    ids = earlier.filter(pc.equal(earlier["event_date"], day))["event_id"].combine_chunks()
                    self._remember((table, day), ids)
        for day in dates:
            if day not in missing:
                self._ids.move_to_end((table, day))
                found.append(self._ids[(table, day)])
        return pa.concat_arrays(found) if found else pa.array([], pa.string())

    def appended(self, table: str, rows: pa.Table, version: int | None) -> None:
        """This writer committed ``rows`` (``event_id``, ``event_date``) to ``table``, making ``version``.

        Trusted only as the very next version after the one the entries match; otherwise
        another commit came in between, and the table's entries are dropped.
        """
        checked = self._versions.get(table)
        if checked is None or version is None or version != checked + 1:
            self._forget(table)
            return
        self._versions[table] = version
        for day in set(rows["event_date"].to_pylist()):
            key = (table, day)
            if key in self._ids:
                added = rows.filter(pc.equal(rows["event_date"], day))["event_id"].combine_chunks()
                self._remember(key, pa.concat_arrays([self._ids[key], added]))

    def _sync(self, table: str, delta: DeltaTable) -> None:
        """Drop ``table``'s entries if it moved since they were checked (not by :meth:`appended`)."""
        version = delta.version()
        if self._versions.get(table) != version:
            self._forget(table)
            self._versions[table] = version

    def _forget(self, table: str) -> None:
        self._versions.pop(table, None)
        for key in [key for key in self._ids if key[0] == table]:
            del self._ids[key]

    def _remember(self, key: tuple[str, dt.date], ids: pa.Array) -> None:
        self._ids.pop(key, None)
        if len(ids) > self.max_ids:
            return
        self._ids[key] = ids
        while self.size > self.max_ids:
            self._ids.popitem(last=False)
