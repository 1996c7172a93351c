"""The streaming job's ``foreachBatch`` writer: raw records -> bronze, quarantine, silver, exactly once.

Per micro-batch, one commit per table, each recording the app transaction ``(app_id, batch_id)``
and skipped when the table already holds it. Two sequences run side by side:

- on the writer's silver thread, by delta-rs from the rows the driver collected:
  1. ``silver/order_updates``, ``returns``, ``payments``, ``chargebacks``: valid events, without
     duplicates (within the batch, and against the event_ids already in the touched
     ``event_date`` partitions: a duplicate has its original's event_time, so it lands in the
     same partition);
  2. ``silver/orders``: a MERGE of the batch's per-order state (see :meth:`LakehouseWriter.merge_orders`);
- in a Spark job whose tasks write the files, then commits from the driver:
  1. ``bronze/order_events``: every record;
  2. ``quarantine/order_events``: records failing validation, with all their reasons, and (with a
     ``quality`` checker) records whose silver row fails a row-level expectation of the table's
     suite (``expectation:<name>``).

Then ``quality/metrics``, the suites' results on the batch. Which rows each table gets is decided
before any commit, so the order of the commits changes no row, and the batch ends (or fails)
only once both sequences have.

A crash between two commits replays the whole batch: committed tables are skipped, and rows a
table got from this very batch (same ``batch_id``) do not count as earlier duplicates, so the
tables not yet committed get exactly the rows they would have had.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError
from pyspark.sql import DataFrame
from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias

from pipelines.lake import Lake, arrow_schema
from pipelines.schemas import (
    BRONZE_TABLE,
    EVENT_TABLES,
    ORDER_UPDATES_TABLE,
    ORDERS_TABLE,
    PARTITIONS,
    QUARANTINE_TABLE,
    SILVER_ORDERS,
)
from pipelines.sinks.delta import (
    CommitResult,
    DeltaWriteError,
    already_committed,
    append_arrow,
    append_tables,
    commit_properties,
    retry_on_conflict,
    with_constants,
)
from pipelines.sinks.known_ids import KnownEventIds
from pipelines.transforms import silver
from pipelines.transforms.raw import decode, to_raw
from pipelines.transforms.validation import validate

if TYPE_CHECKING:
    from pipelines.quality.checker import QualityChecker, TableResult

log = logging.getLogger(__name__)

# Clocks of different integrations disagree: an update may carry a time slightly before its order's.
UPDATE_CLOCK_SKEW = dt.timedelta(days=1)

AfterCommit = Callable[[DataFrame, int], None]


def conform_rows(columns: dict[str, pa.ChunkedArray | pa.Array], schema: pa.Schema, rows: int) -> pa.Table:
    """``schema``'s columns in order from ``columns`` (missing ones null), cast to its types."""
    arrays = [columns[f.name] if f.name in columns else pa.nulls(rows, f.type) for f in schema]
    return pa.Table.from_arrays(arrays, names=schema.names).cast(schema)


def silver_rows(wide: pa.Table) -> dict[str, pa.Table]:
    """Each silver table's rows, in its Arrow schema, cut from a batch's collected wide rows.

    ``wide``: valid first arrivals with :func:`pipelines.transforms.silver.with_silver_fields`'
    columns and ``batch_id``. Under ``silver/orders`` every new_order event, not yet one per order.
    """
    out: dict[str, pa.Table] = {}
    for table, spec in silver.SPECS.items():
        # Only the table's own columns are copied out of the wide rows.
        wanted = {*spec.schema.fieldNames(), *(source for _, source in spec.copies)}
        rows = wide.select([name for name in wide.column_names if name in wanted])
        rows = rows.filter(pc.equal(wide["event_type"], spec.event_type))
        columns: dict[str, pa.ChunkedArray | pa.Array] = {name: rows[name] for name in rows.column_names}
        columns.update({column: rows[source] for column, source in spec.copies})
        columns.update({column: pa.array([value] * rows.num_rows, pa.string()) for column, value in spec.constants})
        out[table] = conform_rows(columns, arrow_schema(spec.schema), rows.num_rows)
    return out


def rejected_rows(records: pa.Table) -> pa.Table:
    """Records (:func:`pipelines.transforms.silver.to_records` rows) with at least one reason: quarantine's rows."""
    return records.filter(pc.greater(pc.list_value_length(records["reasons"]), 0))


def without_event_ids(rows: pa.Table, event_ids: pa.Array) -> pa.Table:
    """``rows`` without those whose ``event_id`` is one of ``event_ids``."""
    if len(event_ids) == 0 or rows.num_rows == 0:
        return rows
    return rows.filter(pc.invert(pc.is_in(rows["event_id"], value_set=event_ids)))


def first_per_key(rows: pa.Table, key: str, order: list[tuple[str, str]]) -> pa.Table:
    """One row per value of ``key``: the first by ``order`` (pyarrow sort keys)."""
    ranked = rows.sort_by([(key, "ascending"), *order])
    ranked = ranked.append_column("__row", pa.array(range(ranked.num_rows), pa.int64()))
    firsts = ranked.group_by(key, use_threads=False).aggregate([("__row", "min")])["__row_min"]
    return ranked.take(firsts).drop_columns(["__row"])


def without_failed(rows: dict[str, pa.Table], failed: dict[str, list[str]]) -> dict[str, pa.Table]:
    """``rows`` without the events the quality check rejected (``failed``: event_id -> reasons).

    The per-order state is taken from what is left, so a rejected new_order that would have
    won its order leaves the win to the next candidate.
    """
    rejected = pa.array(list(failed), pa.string())
    return {table: without_event_ids(table_rows, rejected) for table, table_rows in rows.items()}


# The rules of silver.new_orders and silver.latest_status, applied to a batch's collected rows.
_EARLIEST_EVENT = [("order_time", "ascending"), ("event_id", "ascending")]
_LATEST_EVENT = [("event_time", "descending"), ("event_id", "descending")]


def new_orders_of(candidates: pa.Table) -> pa.Table:
    """silver/orders candidates -> one row per order: its earliest new_order (time, then event_id)."""
    return first_per_key(candidates, "order_id", _EARLIEST_EVENT)


def latest_status_of(updates: pa.Table) -> pa.Table:
    """silver/order_updates rows -> each order's latest ``status``, ``status_time``, ``status_event_id``."""
    latest = first_per_key(updates.select(["order_id", "status", "event_time", "event_id"]), "order_id", _LATEST_EVENT)
    return latest.rename_columns(["order_id", "status", "status_time", "status_event_id"])


def with_latest_status(orders: pa.Table, updates: pa.Table) -> pa.Table:
    """``orders`` (silver/orders rows) with status fields from the latest of ``updates`` for each order.

    Latest by ``event_time``, ties broken by the larger ``event_id``, as in the MERGE; orders
    without an update keep ``created``. Runs on the driver over rows bounded by the batch.
    """
    latest = latest_status_of(updates)
    found = pc.index_in(orders["order_id"], value_set=latest["order_id"].combine_chunks())
    schema = orders.schema
    columns = {
        "status": pc.fill_null(latest["status"].take(found), "created"),
        "status_time": latest["status_time"].take(found),
        "status_event_id": latest["status_event_id"].take(found),
    }
    for name, values in columns.items():
        field = schema.field(name)
        orders = orders.set_column(schema.get_field_index(name), field, values.cast(field.type))
    return orders


@dataclass
class BatchReport:
    """What one micro-batch did to each table."""

    batch_id: int
    results: list[CommitResult] = field(default_factory=list)
    # Step -> seconds, in the order run: where a slow batch spends its time.
    seconds: dict[str, float] = field(default_factory=dict)
    # The newest event_time and ingestion time of the events the batch accepted (None: none).
    newest_event_time: dt.datetime | None = None
    newest_ingested_at: dt.datetime | None = None

    @property
    def records(self) -> int:
        """Records the batch put in bronze (0 when a replay found bronze already committed)."""
        return self.rows_committed(BRONZE_TABLE)

    def rows_committed(self, table: str) -> int:
        """Rows the batch committed to ``table`` (0 when skipped: nothing to write, or a replay)."""
        return sum(result.rows for result in self.results if result.table == table and result.committed)

    def __str__(self) -> str:
        steps = ", ".join(f"{step} {seconds:.2f}" for step, seconds in self.seconds.items())
        return f"batch {self.batch_id}: " + "; ".join(str(result) for result in self.results) + f" (seconds: {steps})"

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block as step ``name`` (added to an earlier step of that name)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


@contextmanager
def _batch_conf(batch: DataFrame, settings: dict[str, str]) -> Iterator[None]:
    """SQL settings of the batch's session while the block runs; the old values are put back.

    In the stream the session is the query's own clone, so the user's session keeps its
    settings either way.
    """
    conf = batch.sparkSession.conf
    previous = {key: conf.get(key, None) for key in settings}
    for key, value in settings.items():
        conf.set(key, value)
    try:
        yield
    finally:
        for key, old in previous.items():
            if old is None:
                conf.unset(key)
            else:
                conf.set(key, old)


# Adaptive execution runs each shuffle stage as its own job and plans again between them. On a
# micro-batch of ~3,600 events that made the batch 2.4 s instead of 1.8 s. On the drain's
# 200,000-event batches, runs with and without it differed less than two runs with it (188-247
# CPU-s), so large batches keep Spark's default. A batch runs without it when the one before
# had at most this many records (a steady stream); such a batch also takes the writer's
# ``small_batch_partitions`` shuffle partitions, when set.
ADAPTIVE_MIN_RECORDS = 50_000


RECENT_REPORTS = 100
# What the driver collects of a batch's valid first arrivals to cut the silver tables from (and
# ``ingested_at``, for the batch's newest ingestion time).
_SILVER_INPUTS = frozenset(
    {"event_type", "ingested_at"}
    | {name for spec in silver.SPECS.values() for name in spec.schema.fieldNames()}
    | {source for spec in silver.SPECS.values() for _, source in spec.copies}
)


@dataclass
class LakehouseWriter:
    """``query.foreachBatch(writer)``: writes one micro-batch of raw records into the lake.

    ``sentiment`` is the ``df.transform`` step scoring comments (``pipelines.transforms.sentiment``);
    ``after_commit`` runs with the batch's valid, deduplicated events once every table is
    committed (notifications go there, so they only announce committed data). ``quality`` runs
    the silver tables' suites on each batch (``pipelines.quality``; None = no checks).
    """

    lake: Lake
    app_id: str
    sentiment: silver.SentimentStep | None = None
    order_lookback_days: int = 90
    compact_every: int = 0
    after_commit: AfterCommit | None = None
    quality: QualityChecker | None = None
    # Shuffle partitions of a batch that follows a small one (None: the session's): on 2 cores,
    # 2 instead of 4 runs the collect's second stage in one wave of tasks, while a backlog's
    # large batches keep more, smaller tasks (memory: the 1M drain peaks at 3.9 GiB with 4).
    small_batch_partitions: int | None = None
    # The latest batches only: a stream runs for weeks and must not keep every report.
    reports: deque[BatchReport] = field(default_factory=lambda: deque(maxlen=RECENT_REPORTS))
    _compactor: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _compaction: Future[None] | None = field(default=None, init=False, repr=False)
    _silver_writer: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    # Tables opened by earlier batches, brought to their latest version by reading only the
    # commits since (3-7 ms) instead of opening them again (16-20 ms, nine times a batch).
    _handles: dict[str, DeltaTable] = field(default_factory=dict, init=False, repr=False)
    _known: KnownEventIds = field(default_factory=KnownEventIds, init=False, repr=False)
    # Partition values each table's commits added files to since the last compaction.
    _touched: dict[str, set[str]] = field(default_factory=dict, init=False, repr=False)

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        previous = self.reports[-1] if self.reports else None
        small = previous is not None and previous.records <= ADAPTIVE_MIN_RECORDS
        settings = {"spark.sql.adaptive.enabled": "false" if small else "true"}
        if small and self.small_batch_partitions:
            settings["spark.sql.shuffle.partitions"] = str(self.small_batch_partitions)
        with _batch_conf(batch, settings):
            report = self.write_batch(batch, batch_id)
        log.info("%s", report)

    def prepare(self, batch: DataFrame) -> DataFrame:
        """Source rows or the raw frame -> validated records with every silver field.

        Row-wise, so the stream job applies it to the streaming frame: Spark then analyses this
        large plan once when the query starts, not in every micro-batch (0.8 s a batch).
        Sentiment is not in it: scoring the deduplicated valid rows in the collecting job keeps
        the UDF's Python workers apart from the source's.
        """
        return batch.transform(to_raw).transform(decode).transform(validate).transform(silver.with_silver_fields)

    def write_batch(self, batch: DataFrame, batch_id: int) -> BatchReport:
        """Write one micro-batch (source rows, the raw frame, or :meth:`prepare`'s output) to every table."""
        report = BatchReport(batch_id)
        prepared = batch if silver.SILVER_FIELDS[0] in batch.columns else self.prepare(batch)
        # No batch id in the Spark plan: Spark inlines a literal into the generated code, so a
        # new value every batch made it compile 3-4 stages again each time, and the JVM's JIT
        # compile the new classes (at 2,000 events/s, 30 s of a warm stream: JIT 24 s -> 14 s,
        # the JVM's CPU 37 s -> 32 s). The driver stamps it on the collected rows, the bronze
        # and quarantine writers on theirs.
        validated = prepared.persist()
        # The raw text and bytes are bronze's and quarantine's: dedupe without shuffling them.
        first = silver.first_arrivals(validated.where(F.size("reasons") == 0).drop("raw", "raw_bytes")).persist()
        checked, accepted = validated, first.drop(*silver.SILVER_FIELDS)
        try:
            # Collected once, in one job: the quality check reads them and the driver writes them.
            with report.step("silver rows"):
                scored = first.transform(silver.with_scored_comments(self.sentiment))
                wide = scored.select(*[c for c in scored.columns if c in _SILVER_INPUTS]).toArrow()
                wide = with_constants(wide, {"batch_id": batch_id})
                rows = silver_rows(wide)
            quality_results = None
            if self.quality is not None:
                from pipelines.quality.stream import (
                    check_rows,
                    failure_frame,
                    with_expectation_failures,
                    without_failures,
                )

                with report.step("quality"):
                    quality_results, failed = check_rows(self.quality, rows)
                    if failed:
                        failures = failure_frame(validated.sparkSession, failed)
                        checked = validated.transform(with_expectation_failures(failures)).persist()
                        accepted = accepted.transform(without_failures(failures))
                        rows = without_failed(rows, failed)
                        wide = without_event_ids(wide, pa.array(list(failed), pa.string()))
            # From the rows in hand, for the monitor: no Spark job of its own.
            report.newest_event_time = pc.max(wide["event_time"]).as_py() if wide.num_rows else None
            report.newest_ingested_at = pc.max(wide["ingested_at"]).as_py() if wide.num_rows else None
            # Silver (delta-rs, on the silver thread) and bronze with quarantine (a Spark job)
            # are different tables filled from rows already decided: side by side, a steady
            # batch takes the longer of the two (0.2-0.5 s each) instead of their sum.
            # Silver goes first: it is the longer of the two, and the bronze job's planning
            # below (about 0.05 s) mostly waits on the JVM and the Delta log.
            if self._silver_writer is None:
                self._silver_writer = ThreadPoolExecutor(1, thread_name_prefix="silver-writer")
            silver_done = self._silver_writer.submit(self._write_silver, rows, batch_id, report)
            try:
                records = silver.to_records(checked)
                parts = ((BRONZE_TABLE, None), (QUARANTINE_TABLE, rejected_rows))
                deltas = {table: self._table(table) for table, _ in parts}
                # Bronze and quarantine keep the raw payloads, so the executors write them, in
                # one pass; a batch's records share one or two ingestion dates.
                with report.step("bronze and quarantine"):
                    stamp = {"batch_id": batch_id}
                    written = append_tables(
                        self.lake, records, parts, self.app_id, batch_id, deltas=deltas, constants=stamp
                    )
            finally:
                # The batch ends only once silver has too, whether or not bronze failed.
                wait([silver_done])
            report.results[:0] = silver_done.result()
            report.results.extend(written)
            if quality_results is not None:
                report.results.append(self._record_quality(quality_results, batch_id))
            if self.compact_every:
                for result in report.results:
                    self._touched.setdefault(result.table, set()).update(result.partitions)
                # Not at batch 0: the first batch has no earlier files to compact its own with.
                if (batch_id + 1) % self.compact_every == 0:
                    with report.step("compaction"):
                        self.compact()
            if self.after_commit is not None:
                with report.step("after commit"):
                    self.after_commit(accepted, batch_id)
        finally:
            first.unpersist()
            if checked is not validated:
                checked.unpersist()
            validated.unpersist()
        self.reports.append(report)
        return report

    def _write_silver(self, rows: dict[str, pa.Table], batch_id: int, report: BatchReport) -> list[CommitResult]:
        """The batch's silver event tables, then the MERGE into silver/orders (on the silver writer's thread).

        One thread for all five: two (silver/orders waits for silver/order_updates, whose rows
        it reads) made each table's commit slower by as much as they ran side by side.
        """
        results: list[CommitResult] = []
        with report.step("silver events"):
            for table in EVENT_TABLES.values():
                results.append(self._append_new_events(table, rows[table], batch_id))
        with report.step("orders"):
            # Each order's state from the rows in hand: no Spark job for a few thousand rows.
            new_orders = new_orders_of(rows[ORDERS_TABLE])
            latest = latest_status_of(rows[ORDER_UPDATES_TABLE])
            results.append(self.merge_orders(new_orders, latest, batch_id))
        return results

    def _table(self, table: str) -> DeltaTable:
        """``table`` at its latest version, through the handle an earlier batch opened."""
        handle = self._handles.get(table)
        if handle is None:
            handle = self._handles[table] = self.lake.table(table)
        else:
            handle.update_incremental()
        return handle

    def _record_quality(self, results: list[TableResult], batch_id: int) -> CommitResult:
        from pipelines.quality.metrics import append_metrics, metric_rows

        rows = metric_rows(results, run_kind="stream", run_id=self.app_id, batch_id=batch_id)
        return append_metrics(self.lake, rows, self.app_id, batch_id)

    def _append_new_events(self, table: str, rows: pa.Table, batch_id: int) -> CommitResult:
        if rows.num_rows == 0:
            return CommitResult(table, committed=False)
        delta = self._table(table)
        # Checked before drop_known too: a replayed batch reads nothing.
        if already_committed(delta, self.app_id, batch_id):
            return CommitResult(table, committed=False)
        new = self.drop_known(table, rows, batch_id, delta=delta)
        result = append_arrow(self.lake, table, new, self.app_id, batch_id, delta=delta)
        if result.committed:
            self._known.appended(table, new.select(["event_id", "event_date"]), result.version)
        return result

    def drop_known(self, table: str, rows: pa.Table, batch_id: int, *, delta: DeltaTable | None = None) -> pa.Table:
        """``rows`` without event_ids an earlier batch put in ``table``.

        Looks only in the ``event_date`` partitions the rows touch (a duplicate has its
        original's event_time, so it lands in the same partition), through the ids this
        writer keeps between batches (:class:`pipelines.sinks.known_ids.KnownEventIds`): a
        partition is read once, then follows this writer's own appends.
        """
        dates = [d for d in pc.unique(rows["event_date"]).to_pylist() if d is not None]
        if not dates:
            return rows
        delta = delta if delta is not None else self._table(table)
        return without_event_ids(rows, self._known.earlier(table, delta, dates, batch_id))

    def merge_orders(self, new_arrow: pa.Table, latest_batch: pa.Table, batch_id: int) -> CommitResult:
        """MERGE the batch's per-order state into silver/orders.

        ``new_arrow``: the batch's new orders, one scored silver/orders row each;
        ``latest_batch``: the latest of the batch's updates per order (``order_id``, ``status``,
        ``status_time``, ``status_event_id``). Source rows: each new order, with the latest
        status known for it in silver/order_updates (which holds updates that came before their
        order); and, for orders not new in this batch, the latest of the batch's updates. A
        matched order takes a status only when it is newer (``status_time``, then
        ``status_event_id``); an update whose order is not there yet inserts nothing and waits in
        silver/order_updates. The target is bounded to the ``order_date`` partitions the batch
        can touch.
        """
        target = self._table(ORDERS_TABLE)
        if already_committed(target, self.app_id, batch_id):
            return CommitResult(ORDERS_TABLE, committed=False)
        if new_arrow.num_rows == 0 and latest_batch.num_rows == 0:
            return CommitResult(ORDERS_TABLE, committed=False)

        new_ids = set(new_arrow["order_id"].to_pylist())
        order_dates = [d for d in new_arrow["order_date"].to_pylist() if d is not None]
        update_dates = [t.date() for t in latest_batch["status_time"].to_pylist() if t is not None]
        schema = arrow_schema(SILVER_ORDERS)
        new_state = new_arrow.cast(schema)
        if new_ids:
            # Updates of the batch's new orders, including those that came before the order.
            earliest = min(order_dates) - UPDATE_CLOCK_SKEW
            known = self._table(ORDER_UPDATES_TABLE).to_pyarrow_table(
                filters=[("event_date", ">=", earliest)], columns=["order_id", "status", "event_time", "event_id"]
            )
            known = known.filter(pc.is_in(known["order_id"], value_set=pa.array(sorted(new_ids), pa.string())))
            new_state = with_latest_status(new_state, known)
        keep = pc.invert(pc.is_in(latest_batch["order_id"], value_set=pa.array(sorted(new_ids), pa.string())))
        updated = latest_batch.filter(keep)
        update_state = pa.table(
            {
                name: (
                    updated[name]
                    if name in updated.column_names
                    else pa.array([batch_id] * updated.num_rows, pa.int64())
                    if name == "batch_id"
                    else pa.nulls(updated.num_rows)
                )
                for name in SILVER_ORDERS.fieldNames()
            }
        )
        source = pa.concat_tables([new_state.cast(schema), update_state.cast(schema)])

        low = min([*order_dates, *(d - dt.timedelta(days=self.order_lookback_days) for d in update_dates)])
        high = max([*order_dates, *(d + UPDATE_CLOCK_SKEW for d in update_dates)])
        predicate = (
            f"t.order_id = s.order_id AND t.order_date >= '{low.isoformat()}' AND t.order_date <= '{high.isoformat()}'"
        )
        newer = (
            "s.status_time IS NOT NULL AND (t.status_time IS NULL OR s.status_time > t.status_time"
            " OR (s.status_time = t.status_time AND s.status_event_id > t.status_event_id))"
        )

        def run_merge(table: DeltaTable) -> dict[str, Any]:
            return (
                table.merge(
                    source,
                    predicate,
                    source_alias="s",
                    target_alias="t",
                    commit_properties=commit_properties(self.app_id, batch_id, "merge"),
                )
                .when_matched_update(
                    {
                        "status": "s.status",
                        "status_time": "s.status_time",
                        "status_event_id": "s.status_event_id",
                        "batch_id": "s.batch_id",
                    },
                    predicate=newer,
                )
                .when_not_matched_insert(
                    {name: f"s.{name}" for name in schema.names}, predicate="s.event_id IS NOT NULL"
                )
                .execute()
            )

        try:
            metrics = retry_on_conflict(target, run_merge)
        except Exception as exc:
            raise DeltaWriteError(f"cannot MERGE batch {batch_id} of {self.app_id} into silver/orders: {exc}") from exc
        target.update_incremental()
        rows = int(metrics.get("num_target_rows_inserted", 0)) + int(metrics.get("num_target_rows_updated", 0))
        return CommitResult(
            ORDERS_TABLE,
            committed=True,
            rows=rows,
            files=int(metrics.get("num_target_files_added", 0)),
            version=target.version(),
            metrics=dict(metrics),
            # Inserts add files to the new orders' dates; an update rewrites a file in place.
            partitions=frozenset(d.isoformat() for d in order_dates),
        )

    def compact(self) -> None:
        """Compact the partitions written since the last compaction, in the background, so small files do not pile up.

        The partitions come from the batches' commits (no Spark job); the rewrite runs on the
        writer's compaction thread while the next batches go on (delta-rs releases the GIL while
        it rewrites): in the batch it took 1.3-1.7 s every ``compact_every`` batches, the longest
        wait an event saw. One compaction at a time: while one runs, the partitions wait for the
        next. A compaction that loses a race (maintenance compacting too) is logged and skipped;
        a MERGE that loses to it runs again (``retry_on_conflict``).
        """
        if self._compaction is not None and not self._compaction.done():
            log.info("a compaction is still running; the partitions written since wait for the next one")
            return
        touched = {table: sorted(values) for table, values in self._touched.items() if values}
        self._touched.clear()
        if self._compactor is None:
            self._compactor = ThreadPoolExecutor(1, thread_name_prefix="compaction")
        self._compaction = self._compactor.submit(self._compact_partitions, touched)

    def _compact_partitions(self, touched: dict[str, list[str]]) -> None:
        for table, values in touched.items():
            column = PARTITIONS[table][0]
            try:
                self.lake.table(table).optimize.compact(partition_filters=[(column, "in", values)])
            except (DeltaError, OSError) as exc:
                log.warning("compaction of %s skipped (the next one or maintenance will do it): %s", table, exc)

    def wait_for_compaction(self) -> None:
        """Return once a background compaction has finished (before reading file counts, or at shutdown)."""
        if self._compaction is not None:
            self._compaction.result()
