"""The streaming job's ``foreachBatch`` writer: raw records -> bronze, quarantine, silver, exactly once.

Per micro-batch, in this order, one commit per table, each recording the app transaction
``(app_id, batch_id)`` and skipped when the table already holds it:

1. ``bronze/order_events``: every record;
2. ``quarantine/order_events``: records failing validation, with all their reasons, and (with a
   ``quality`` checker) records whose silver row fails a row-level expectation of the table's
   suite (``expectation:<name>``); then ``quality/metrics``, the suites' results on the batch;
3. ``silver/order_updates``, ``returns``, ``payments``, ``chargebacks``: valid events, without
   duplicates (within the batch, and against the event_ids already in the touched ``event_date``
   partitions: a duplicate has its original's event_time, so it lands in the same partition);
4. ``silver/orders``: a MERGE of the batch's per-order state (see :meth:`LakehouseWriter.merge_orders`).

A crash between two commits replays the whole batch: committed tables are skipped, and rows a
table got from this very batch (same ``batch_id``) do not count as earlier duplicates, so the
tables not yet committed get exactly the rows they would have had.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias

from pipelines.lake import Lake, arrow_schema
from pipelines.schemas import (
    BRONZE_TABLE,
    CHARGEBACKS_TABLE,
    ORDER_UPDATES_TABLE,
    ORDERS_TABLE,
    PARTITIONS,
    PAYMENTS_TABLE,
    QUARANTINE_TABLE,
    RETURNS_TABLE,
    SILVER_ORDERS,
)
from pipelines.sinks.delta import (
    CommitResult,
    DeltaWriteError,
    already_committed,
    append,
    commit_properties,
    retry_on_conflict,
)
from pipelines.transforms import silver
from pipelines.transforms.raw import decode, to_raw
from pipelines.transforms.validation import validate

if TYPE_CHECKING:
    from pipelines.quality.checker import QualityChecker, TableResult

log = logging.getLogger(__name__)

# Clocks of different integrations disagree: an update may carry a time slightly before its order's.
UPDATE_CLOCK_SKEW = dt.timedelta(days=1)

AfterCommit = Callable[[DataFrame, int], None]


def with_latest_status(orders: pa.Table, updates: pa.Table) -> pa.Table:
    """``orders`` (silver/orders rows) with status fields from the latest of ``updates`` for each order.

    Latest by ``event_time``, ties broken by the larger ``event_id``, as in the MERGE; orders
    without an update keep ``created``. Runs on the driver over rows bounded by the batch.
    """
    latest: dict[str, tuple[dt.datetime, str, str]] = {}
    for row in updates.to_pylist():
        key = (row["event_time"], row["event_id"])
        current = latest.get(row["order_id"])
        if current is None or key > current[:2]:
            latest[row["order_id"]] = (row["event_time"], row["event_id"], row["status"])
    found = [latest.get(order_id) for order_id in orders["order_id"].to_pylist()]
    schema = orders.schema
    columns = {
        "status": pa.array([f[2] if f else "created" for f in found], schema.field("status").type),
        "status_time": pa.array([f[0] if f else None for f in found], schema.field("status_time").type),
        "status_event_id": pa.array([f[1] if f else None for f in found], schema.field("status_event_id").type),
    }
    for name, values in columns.items():
        orders = orders.set_column(schema.get_field_index(name), schema.field(name), values)
    return orders


@dataclass
class BatchReport:
    """What one micro-batch did to each table."""

    batch_id: int
    results: list[CommitResult] = field(default_factory=list)

    def __str__(self) -> str:
        return f"batch {self.batch_id}: " + "; ".join(str(result) for result in self.results)


RECENT_REPORTS = 100


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
    # The latest batches only: a stream runs for weeks and must not keep every report.
    reports: deque[BatchReport] = field(default_factory=lambda: deque(maxlen=RECENT_REPORTS))

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        report = self.write_batch(batch, batch_id)
        log.info("%s", report)

    def write_batch(self, batch: DataFrame, batch_id: int) -> BatchReport:
        """Write one micro-batch (source rows or the raw frame) to every table."""
        report = BatchReport(batch_id)
        validated = (
            batch.transform(to_raw).transform(decode).transform(validate).transform(silver.with_batch_id(batch_id))
        ).persist()
        first = silver.first_arrivals(validated.where(F.size("reasons") == 0)).persist()
        checked, accepted = validated, first
        try:
            quality_results = None
            if self.quality is not None:
                from pipelines.quality.stream import check_batch, with_expectation_failures, without_failures

                quality_results, failures = check_batch(self.quality, first)
                if failures is not None:
                    checked = validated.transform(with_expectation_failures(failures)).persist()
                    accepted = first.transform(without_failures(failures))
            # A batch's records share one or two ingestion dates: write where they are, no shuffle.
            bronze = silver.to_bronze(validated)
            report.results.append(append(self.lake, BRONZE_TABLE, bronze, self.app_id, batch_id, cluster=False))
            quarantine = silver.to_quarantine(checked)
            report.results.append(append(self.lake, QUARANTINE_TABLE, quarantine, self.app_id, batch_id, cluster=False))
            if quality_results is not None:
                report.results.append(self._record_quality(quality_results, batch_id))
            touched = self._touched_dates(accepted)
            events = {
                "update_order": (ORDER_UPDATES_TABLE, silver.order_updates),
                "return_order": (RETURNS_TABLE, lambda df: silver.returns(df, self.sentiment)),
                "payment": (PAYMENTS_TABLE, silver.payments),
                "chargeback": (CHARGEBACKS_TABLE, silver.chargebacks),
            }
            for event_type, (table, to_rows) in events.items():
                if event_type not in touched:
                    report.results.append(CommitResult(table, committed=False))
                    continue
                rows = to_rows(accepted)
                report.results.append(self._append_new_events(table, rows, batch_id, touched[event_type]))
            report.results.append(self.merge_orders(accepted, batch_id))
            # Not at batch 0: the first batch has no earlier files to compact its own with.
            if self.compact_every and (batch_id + 1) % self.compact_every == 0:
                self.compact(validated)
            if self.after_commit is not None:
                self.after_commit(accepted, batch_id)
        finally:
            first.unpersist()
            if checked is not validated:
                checked.unpersist()
            validated.unpersist()
        self.reports.append(report)
        return report

    def _record_quality(self, results: list[TableResult], batch_id: int) -> CommitResult:
        from pipelines.quality.metrics import append_metrics, metric_rows

        rows = metric_rows(results, run_kind="stream", run_id=self.app_id, batch_id=batch_id)
        return append_metrics(self.lake, rows, self.app_id, batch_id)

    @staticmethod
    def _touched_dates(accepted: DataFrame) -> dict[str, list[dt.date]]:
        """Event type -> the UTC event dates the batch's valid events have (one small job)."""
        pairs = accepted.select("event_type", silver.utc_date("event_time").alias("d")).distinct().collect()
        touched: dict[str, list[dt.date]] = {}
        for event_type, day in pairs:
            touched.setdefault(event_type, []).append(day)
        return {event_type: sorted(days) for event_type, days in touched.items()}

    def _append_new_events(self, table: str, rows: DataFrame, batch_id: int, dates: list[dt.date]) -> CommitResult:
        if already_committed(self.lake.table(table), self.app_id, batch_id):
            return CommitResult(table, committed=False)
        return append(self.lake, table, self.drop_known(table, rows, batch_id, dates), self.app_id, batch_id)

    def drop_known(self, table: str, rows: DataFrame, batch_id: int, dates: list[dt.date]) -> DataFrame:
        """``rows`` (whose ``event_date`` values are ``dates``) without event_ids an earlier batch put in ``table``.

        Reads only the event_id and batch_id columns of the ``event_date`` partitions the rows
        touch, so the cost follows the batch, not the table.
        """
        if not dates:
            return rows
        known = self.lake.read_arrow(table, partitions=[("event_date", "in", dates)], columns=["event_id", "batch_id"])
        earlier = known.filter(pc.fill_null(pc.not_equal(known["batch_id"], batch_id), True)).select(["event_id"])
        if earlier.num_rows == 0:
            return rows
        spark = rows.sparkSession
        ids = spark.createDataFrame(earlier.cast(pa.schema([pa.field("event_id", pa.string())])))
        return rows.join(F.broadcast(ids.distinct()), "event_id", "left_anti")

    def merge_orders(self, accepted: DataFrame, batch_id: int) -> CommitResult:
        """MERGE the batch's per-order state into silver/orders.

        Source rows: each new order of the batch, with the latest status known for it in
        silver/order_updates (which holds updates that came before their order); and, for
        orders not new in this batch, the latest of the batch's updates. A matched order takes
        a status only when it is newer (``status_time``, then ``status_event_id``); an update
        whose order is not there yet inserts nothing and waits in silver/order_updates. The
        target is bounded to the ``order_date`` partitions the batch can touch.
        """
        target = self.lake.table(ORDERS_TABLE)
        if already_committed(target, self.app_id, batch_id):
            return CommitResult(ORDERS_TABLE, committed=False)
        new = silver.new_orders(accepted, self.sentiment).transform(silver.with_batch_id(batch_id)).persist()
        try:
            new_arrow = new.toArrow()
        finally:
            new.unpersist()
        batch_updates = silver.order_updates(accepted)
        latest_batch = silver.latest_status(batch_updates).toArrow()
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
            known = self.lake.read_arrow(
                ORDER_UPDATES_TABLE,
                partitions=[("event_date", ">=", earliest)],
                columns=["order_id", "status", "event_time", "event_id"],
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
        )

    def compact(self, validated: DataFrame) -> None:
        """Compact the partitions this batch touched, so small files do not pile up between maintenance runs."""
        touched: dict[str, list[str]] = {}
        dates = [row[0] for row in validated.select("ingest_date").distinct().collect() if row[0]]
        touched[BRONZE_TABLE] = touched[QUARANTINE_TABLE] = [d.isoformat() for d in dates]
        event_dates = [
            row[0]
            for row in validated.where(F.size("reasons") == 0)
            .select(silver.utc_date("event_time"))
            .distinct()
            .collect()
            if row[0]
        ]
        for table in (ORDER_UPDATES_TABLE, RETURNS_TABLE, PAYMENTS_TABLE, CHARGEBACKS_TABLE, ORDERS_TABLE):
            touched[table] = [d.isoformat() for d in event_dates]
        for table, values in touched.items():
            if not values:
                continue
            column = PARTITIONS[table][0]
            self.lake.table(table).optimize.compact(partition_filters=[(column, "in", values)])
