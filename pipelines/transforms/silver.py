"""Validated records -> rows of the bronze, quarantine and silver tables, and the per-batch order state.

Dates are UTC calendar dates computed from epoch microseconds, so they do not depend on the
session time zone. Comments get sentiment through the ``sentiment`` argument (a ``df.transform``
step adding ``sentiment_label`` and ``sentiment_score`` from ``comment``); without one the two
columns are null.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias
from pyspark.sql.types import StructType

from pipelines.schemas import (
    BRONZE,
    ORDER_ITEM,
    QUARANTINE,
    RETURN_ITEM,
    SILVER_CHARGEBACKS,
    SILVER_ORDER_UPDATES,
    SILVER_ORDERS,
    SILVER_PAYMENTS,
    SILVER_RETURNS,
)
from pipelines.transforms.raw import utc_date

SentimentStep = Callable[[DataFrame], DataFrame]

# Order in which copies of one event_id are ranked: the earliest received is kept.
_ARRIVAL_ORDER = ("ingested_at", "stream", "shard_id", "sequence_number", "topic", "partition", "offset")


def conform(schema: StructType) -> Callable[[DataFrame], DataFrame]:
    """``df.transform`` step selecting ``schema``'s columns in order, cast to its types (missing = null)."""

    def transform(df: DataFrame) -> DataFrame:
        present = set(df.columns)
        return df.select(
            [
                (F.col(f.name) if f.name in present else F.lit(None)).cast(f.dataType).alias(f.name)
                for f in schema.fields
            ]
        )

    return transform


def with_batch_id(batch_id: int) -> Callable[[DataFrame], DataFrame]:
    """``df.transform`` step adding the micro-batch id (lineage, and what replays recognise)."""

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumn("batch_id", F.lit(batch_id).cast("long"))

    return transform


def to_bronze(validated: DataFrame) -> DataFrame:
    """Every record as received (``validate`` output with ``batch_id``) -> bronze rows."""
    return validated.transform(conform(BRONZE))


def to_quarantine(validated: DataFrame) -> DataFrame:
    """Records with at least one reason -> quarantine rows."""
    return validated.where(F.size("reasons") > 0).transform(conform(QUARANTINE))


def _no_sentiment(df: DataFrame) -> DataFrame:
    return df.withColumns(
        {"sentiment_label": F.lit(None).cast("string"), "sentiment_score": F.lit(None).cast("double")}
    )


def _get(path: str, kind: str) -> Column:
    return F.expr(f"try_variant_get(v, '$.{path}', '{kind}')")


def first_arrivals(valid: DataFrame) -> DataFrame:
    """One row per ``event_id``: the copy received first (duplicates within a batch dropped)."""
    order = [F.col(name).asc_nulls_last() for name in _ARRIVAL_ORDER]
    rank = F.row_number().over(Window.partitionBy("event_id").orderBy(*order))
    return valid.withColumn("__rank", rank).where(F.col("__rank") == 1).drop("__rank")


def _events(valid: DataFrame, event_type: str) -> DataFrame:
    return valid.where(F.col("event_type") == event_type).withColumn("event_date", utc_date("event_time"))


def order_updates(valid: DataFrame) -> DataFrame:
    """Valid ``update_order`` events -> silver/order_updates rows."""
    return (
        _events(valid, "update_order")
        .withColumns({"status": _get("status", "string"), "comment": _get("comment", "string")})
        .transform(conform(SILVER_ORDER_UPDATES))
    )


def returns(valid: DataFrame, sentiment: SentimentStep | None = None) -> DataFrame:
    """Valid ``return_order`` events -> silver/returns rows (sentiment of ``comment``)."""
    rows = _events(valid, "return_order").withColumns(
        {
            "return_id": _get("return_id", "string"),
            "refund_amount": _get("refund_amount", "double"),
            "currency": _get("currency", "string"),
            "reason_code": _get("reason_code", "string"),
            "comment": _get("comment", "string"),
            "items": F.expr(f"try_variant_get(v, '$.items', '{_ddl_array(RETURN_ITEM)}')"),
        }
    )
    return rows.transform(sentiment or _no_sentiment).transform(conform(SILVER_RETURNS))


def payments(valid: DataFrame) -> DataFrame:
    """Valid ``payment`` events -> silver/payments rows."""
    return (
        _events(valid, "payment")
        .withColumns(
            {
                "transaction_id": _get("transaction_id", "string"),
                "amount": _get("amount", "double"),
                "currency": _get("currency", "string"),
                "payment_method": _get("payment_method", "string"),
                "status": _get("status", "string"),
                "failure_code": _get("failure_code", "string"),
            }
        )
        .transform(conform(SILVER_PAYMENTS))
    )


def chargebacks(valid: DataFrame) -> DataFrame:
    """Valid ``chargeback`` events -> silver/chargebacks rows."""
    return (
        _events(valid, "chargeback")
        .withColumns(
            {
                "chargeback_id": _get("chargeback_id", "string"),
                "transaction_id": _get("transaction_id", "string"),
                "amount": _get("amount", "double"),
                "currency": _get("currency", "string"),
                "reason_code": _get("reason_code", "string"),
            }
        )
        .transform(conform(SILVER_CHARGEBACKS))
    )


def _ddl_array(item: StructType) -> str:
    return f"array<{item.simpleString()}>"


def new_orders(valid: DataFrame, sentiment: SentimentStep | None = None) -> DataFrame:
    """Valid ``new_order`` events -> silver/orders rows in state ``created``, one per ``order_id``.

    When one order_id has several new_order events (different event_ids), the earliest event
    wins (event_time, then event_id), so replays and reruns pick the same one.
    """
    rows = new_order_rows(valid)
    first = F.row_number().over(Window.partitionBy("order_id").orderBy("event_time", "event_id"))
    rows = rows.withColumn("__rank", first).where(F.col("__rank") == 1).drop("__rank")
    return rows.transform(sentiment or _no_sentiment).transform(conform(SILVER_ORDERS))


def order_candidates(valid: DataFrame, sentiment: SentimentStep | None = None) -> DataFrame:
    """Every valid ``new_order`` event as a scored silver/orders row, before one per order.

    The stream writer collects these once: the quality check looks at each (any could become
    its order's row) and the driver picks each order's winner as :func:`new_orders` does.
    """
    return new_order_rows(valid).transform(sentiment or _no_sentiment).transform(conform(SILVER_ORDERS))


def new_order_rows(valid: DataFrame) -> DataFrame:
    """Every valid ``new_order`` event as an unscored silver/orders row (extra columns kept), before one per order.

    The data-quality check looks at each of them: any could become its order's row.
    """
    return valid.where(F.col("event_type") == "new_order").withColumns(
        {
            "customer_id": _get("customer.id", "string"),
            "customer_name": _get("customer.name", "string"),
            "customer_email": _get("customer.email", "string"),
            "order_time": F.col("event_time"),
            "amount": _get("amount", "double"),
            "currency": _get("currency", "string"),
            "lat": _get("location.lat", "double"),
            "lon": _get("location.lon", "double"),
            "payment_method": _get("payment_method", "string"),
            "comment": _get("comment", "string"),
            "items": F.expr(f"try_variant_get(v, '$.items', '{_ddl_array(ORDER_ITEM)}')"),
            "status": F.lit("created"),
            "status_time": F.lit(None).cast("timestamp"),
            "status_event_id": F.lit(None).cast("string"),
            "order_date": utc_date("event_time"),
        }
    )


def latest_status(updates: DataFrame) -> DataFrame:
    """silver/order_updates rows -> one row per order: its latest ``status``, ``status_time``, ``status_event_id``.

    Latest by ``event_time``, ties broken by the larger ``event_id`` (the same rule the MERGE uses).
    """
    ranked = updates.withColumn(
        "__rank",
        F.row_number().over(
            Window.partitionBy("order_id").orderBy(F.col("event_time").desc(), F.col("event_id").desc())
        ),
    )
    return ranked.where(F.col("__rank") == 1).select(
        "order_id",
        "status",
        F.col("event_time").alias("status_time"),
        F.col("event_id").alias("status_event_id"),
    )
