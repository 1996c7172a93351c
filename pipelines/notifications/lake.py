"""Reads what one micro-batch committed to silver (and the history the rules need) back from the lake.

:class:`LakeNotifications` is the lake writer's ``after_commit`` hook: it runs once every table of
the batch is committed, reads the batch's silver rows by ``batch_id`` (pruned to the partitions
the batch's events fall in) so that notifications describe exactly what is in the lake, with
sentiment as stored, and hands them to the rules and the notifier. On a replay the rows are the
ones the first attempt committed; the ledger drops what was already sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias
from pyspark.sql.types import StructType

from pipelines.lake import Lake, arrow_schema
from pipelines.notifications.delivery import DeliveryReport, Notifier
from pipelines.notifications.stream import notify_committed_batch
from pipelines.schemas import (
    CHARGEBACKS_TABLE,
    ORDER_UPDATES_TABLE,
    ORDERS_TABLE,
    PAYMENTS_TABLE,
    RETURNS_TABLE,
    TABLES,
)
from pipelines.settings import NotificationSettings
from pipelines.transforms.notifications import SilverBatch

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_EVENT_TABLES = {
    "payment": PAYMENTS_TABLE,
    "update_order": ORDER_UPDATES_TABLE,
    "return_order": RETURNS_TABLE,
    "chargeback": CHARGEBACKS_TABLE,
}
# Failed attempts of one order cluster around the order; older ones do not count.
_PAYMENT_HISTORY_DAYS = 30


def _spark_frame(spark: SparkSession, table: str, data: pa.Table) -> DataFrame:
    full = TABLES[table]
    schema = StructType([f for f in full.fields if f.name in data.column_names])
    data = data.select(schema.fieldNames()).cast(arrow_schema(schema))
    return spark.createDataFrame(data, schema) if data.num_rows else spark.createDataFrame([], schema)


def _isin(data: pa.Table, column: str, values: Sequence[Any]) -> pa.Table:
    return data.filter(pc.is_in(data[column], value_set=pa.array(sorted(set(values)), data.schema.field(column).type)))


@dataclass(frozen=True)
class _BatchKeys:
    """Per event type of the batch: its UTC dates and order ids."""

    dates: dict[str, list[dt.date]]
    order_ids: dict[str, list[str]]


def _batch_keys(accepted: DataFrame) -> _BatchKeys:
    date = F.date_from_unix_date(F.floor(F.unix_micros("event_time") / 86_400_000_000).cast("int"))
    rows = (
        accepted.select("event_type", "order_id", date.cast("string").alias("date"))
        .groupBy("event_type")
        .agg(F.collect_set("date").alias("dates"), F.collect_set("order_id").alias("order_ids"))
        .collect()
    )
    return _BatchKeys(
        dates={r.event_type: sorted(dt.date.fromisoformat(d) for d in r.dates if d) for r in rows},
        order_ids={r.event_type: sorted(o for o in r.order_ids if o) for r in rows},
    )


def _days_before(dates: Sequence[dt.date], days: int) -> dt.date:
    return min(dates) - dt.timedelta(days=days)


def committed_batch(lake: Lake, accepted: DataFrame, batch_id: int, history_days: int = 365) -> SilverBatch:
    """The silver rows ``batch_id`` committed, plus the history frames, for the batch's ``accepted`` events."""
    spark = accepted.sparkSession
    keys = _batch_keys(accepted)
    frames: dict[str, DataFrame | None] = {}
    arrow: dict[str, pa.Table] = {}
    for event_type, table in _EVENT_TABLES.items():
        dates = keys.dates.get(event_type)
        if not dates:
            frames[table] = None
            continue
        data = lake.read_arrow(table, partitions=[("event_date", "in", dates)])
        data = data.filter(pc.equal(data["batch_id"], pa.scalar(batch_id, pa.int64())))
        arrow[table] = data
        frames[table] = _spark_frame(spark, table, data)

    orders = None
    customer_orders = None
    new_ids = keys.order_ids.get("new_order", [])
    if new_ids:
        dates = keys.dates["new_order"]
        data = _isin(lake.read_arrow(ORDERS_TABLE, partitions=[("order_date", "in", dates)]), "order_id", new_ids)
        orders = _spark_frame(spark, ORDERS_TABLE, data)
        customers = [c for c in data["customer_id"].to_pylist() if c]
        if customers:
            history = lake.read_arrow(
                ORDERS_TABLE,
                partitions=[("order_date", ">=", _days_before(dates, history_days))],
                columns=["customer_id", "order_id", "order_time", "lat", "lon"],
            )
            customer_orders = _spark_frame(spark, ORDERS_TABLE, _isin(history, "customer_id", customers))

    order_payments = None
    paid = arrow.get(PAYMENTS_TABLE)
    if paid is not None and paid.num_rows:
        failed = paid.filter(pc.equal(paid["status"], "failed"))
        if failed.num_rows:
            history = lake.read_arrow(
                PAYMENTS_TABLE,
                partitions=[("event_date", ">=", _days_before(keys.dates["payment"], _PAYMENT_HISTORY_DAYS))],
            )
            order_payments = _spark_frame(
                spark, PAYMENTS_TABLE, _isin(history, "order_id", failed["order_id"].to_pylist())
            )

    return_orders = None
    returned = arrow.get(RETURNS_TABLE)
    if returned is not None and returned.num_rows:
        history = lake.read_arrow(
            ORDERS_TABLE,
            partitions=[("order_date", ">=", _days_before(keys.dates["return_order"], history_days))],
            columns=["order_id", "order_time", "amount", "items"],
        )
        return_orders = _spark_frame(spark, ORDERS_TABLE, _isin(history, "order_id", returned["order_id"].to_pylist()))

    return SilverBatch(
        orders=orders,
        payments=frames[PAYMENTS_TABLE],
        order_updates=frames[ORDER_UPDATES_TABLE],
        returns=frames[RETURNS_TABLE],
        chargebacks=frames[CHARGEBACKS_TABLE],
        customer_orders=customer_orders,
        order_payments=order_payments,
        return_orders=return_orders,
    )


@dataclass
class LakeNotifications:
    """``LakehouseWriter(after_commit=LakeNotifications(lake, settings, notifier))``.

    ``history_days`` bounds how far back the customer and return history is read.
    """

    lake: Lake
    settings: NotificationSettings
    notifier: Notifier
    history_days: int = 365

    def __call__(self, accepted: DataFrame, batch_id: int) -> None:
        self.notify(accepted, batch_id)

    def notify(self, accepted: DataFrame, batch_id: int) -> DeliveryReport:
        if not self.settings.enabled:
            return self.notifier.retry_pending()
        return notify_committed_batch(
            committed_batch(self.lake, accepted, batch_id, self.history_days), self.settings, self.notifier
        )
