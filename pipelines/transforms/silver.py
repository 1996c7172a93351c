"""Validated records -> rows of the bronze, quarantine and silver tables, and the per-batch order state.

Dates are UTC calendar dates computed from epoch microseconds, so they do not depend on the
session time zone. Comments get sentiment through the ``sentiment`` argument (a ``df.transform``
step adding ``sentiment_label`` and ``sentiment_score`` from ``comment``); without one the two
columns are null.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias
from pyspark.sql.types import StructType

from pipelines.schemas import (
    CHARGEBACKS_TABLE,
    ORDER_ITEM,
    ORDER_UPDATES_TABLE,
    ORDERS_TABLE,
    PAYMENTS_TABLE,
    QUARANTINE,
    RETURN_ITEM,
    RETURNS_TABLE,
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


def to_records(validated: DataFrame) -> DataFrame:
    """Every record with its reasons, in quarantine's columns (bronze's and ``reasons``).

    The stream writes bronze (all of them) and quarantine (those with a reason) from these rows
    in one pass.
    """
    return validated.transform(conform(QUARANTINE))


def to_quarantine(validated: DataFrame) -> DataFrame:
    """Records with at least one reason -> quarantine rows."""
    return to_records(validated.where(F.size("reasons") > 0))


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


# Fields of the event JSON that silver tables take, beyond those validation extracts (event_id,
# event_type, order_id, source, event_time): column -> (JSON path, Spark type).
_FIELD_PATHS: dict[str, tuple[str, str]] = {
    "status": ("status", "string"),
    "comment": ("comment", "string"),
    "return_id": ("return_id", "string"),
    "refund_amount": ("refund_amount", "double"),
    "currency": ("currency", "string"),
    "reason_code": ("reason_code", "string"),
    "transaction_id": ("transaction_id", "string"),
    "amount": ("amount", "double"),
    "payment_method": ("payment_method", "string"),
    "failure_code": ("failure_code", "string"),
    "chargeback_id": ("chargeback_id", "string"),
    "customer_id": ("customer.id", "string"),
    "customer_name": ("customer.name", "string"),
    "customer_email": ("customer.email", "string"),
    "lat": ("location.lat", "double"),
    "lon": ("location.lon", "double"),
}
# ``items`` differ by event type, so each has its own column in the wide frame.
_ITEMS: dict[str, tuple[str, StructType]] = {
    "new_order": ("__order_items", ORDER_ITEM),
    "return_order": ("__return_items", RETURN_ITEM),
}


@dataclass(frozen=True)
class SilverSpec:
    """How one silver table is cut from valid events: its event type, the fields it takes, derived columns.

    ``copies``: (column, column of the wide frame it takes); ``constants``: (column, literal).
    Columns of the table found nowhere are null.
    """

    event_type: str
    schema: StructType
    fields: tuple[str, ...]
    copies: tuple[tuple[str, str], ...] = ()
    constants: tuple[tuple[str, str], ...] = ()

    @property
    def scored(self) -> bool:
        """Whether the table carries the sentiment of its comments."""
        return "sentiment_label" in self.schema.fieldNames()


SPECS: dict[str, SilverSpec] = {
    ORDER_UPDATES_TABLE: SilverSpec("update_order", SILVER_ORDER_UPDATES, ("status", "comment")),
    RETURNS_TABLE: SilverSpec(
        "return_order",
        SILVER_RETURNS,
        ("return_id", "refund_amount", "currency", "reason_code", "comment"),
        copies=(("items", "__return_items"),),
    ),
    PAYMENTS_TABLE: SilverSpec(
        "payment",
        SILVER_PAYMENTS,
        ("transaction_id", "amount", "currency", "payment_method", "status", "failure_code"),
    ),
    CHARGEBACKS_TABLE: SilverSpec(
        "chargeback", SILVER_CHARGEBACKS, ("chargeback_id", "transaction_id", "amount", "currency", "reason_code")
    ),
    # Every new_order event as an orders row in state ``created``, before one per order.
    ORDERS_TABLE: SilverSpec(
        "new_order",
        SILVER_ORDERS,
        (
            "customer_id",
            "customer_name",
            "customer_email",
            "amount",
            "currency",
            "lat",
            "lon",
            "payment_method",
            "comment",
        ),
        copies=(("items", "__order_items"), ("order_time", "event_time"), ("order_date", "event_date")),
        constants=(("status", "created"),),
    ),
}
_SCORED_EVENTS = tuple(spec.event_type for spec in SPECS.values() if spec.scored)
# The columns with_silver_fields adds; the first is in no source or validated frame.
SILVER_FIELDS = (*(column for column, _ in _ITEMS.values()), "event_date", *_FIELD_PATHS)


def _items(event_type: str) -> Column:
    _, item = _ITEMS[event_type]
    return F.expr(f"try_variant_get(v, '$.items', '{_ddl_array(item)}')")


def _table_rows(valid: DataFrame, table: str) -> DataFrame:
    """Valid events of ``table``'s type with its fields and derived columns (unscored, extra columns kept)."""
    spec = SPECS[table]
    rows = valid.where(F.col("event_type") == spec.event_type).withColumns(
        {
            "event_date": utc_date("event_time"),
            **{name: _get(*_FIELD_PATHS[name]) for name in spec.fields},
            **({_ITEMS[spec.event_type][0]: _items(spec.event_type)} if spec.event_type in _ITEMS else {}),
        }
    )
    return rows.withColumns(
        {
            **{column: F.col(source) for column, source in spec.copies},
            **{column: F.lit(value) for column, value in spec.constants},
        }
    )


def with_silver_fields(df: DataFrame) -> DataFrame:
    """Validated records -> the same with every field a silver table takes, in one projection.

    A "wide" frame: the union of the tables' fields (null where an event has none), the items of
    new orders and of returns in their own columns, and ``event_date``. It is row-wise, so the
    stream job puts it in the streaming query's plan, analysed once; the driver cuts each table's
    rows from the collected result with :data:`SPECS` (``pipelines.sinks.lakehouse.silver_rows``).
    """
    return df.withColumns(
        {
            "event_date": utc_date("event_time"),
            **{name: _get(path, kind) for name, (path, kind) in _FIELD_PATHS.items()},
            **{column: F.when(F.col("event_type") == kind, _items(kind)) for kind, (column, _) in _ITEMS.items()},
        }
    )


def with_scored_comments(sentiment: SentimentStep | None = None) -> Callable[[DataFrame], DataFrame]:
    """``df.transform`` step adding the sentiment of the comments of valid events whose silver table is scored.

    For :func:`with_silver_fields` output; other rows get null sentiment and keep their ``comment``.
    """

    def transform(df: DataFrame) -> DataFrame:
        # The step scores ``comment``: it sees only the comments it is to score.
        scored_only = F.when(F.col("event_type").isin(*_SCORED_EVENTS) & (F.size("reasons") == 0), F.col("comment"))
        scored = df.withColumns({"__comment": F.col("comment"), "comment": scored_only}).transform(
            sentiment or _no_sentiment
        )
        return scored.withColumn("comment", F.col("__comment")).drop("__comment")

    return transform


def order_updates(valid: DataFrame) -> DataFrame:
    """Valid ``update_order`` events -> silver/order_updates rows."""
    return _table_rows(valid, ORDER_UPDATES_TABLE).transform(conform(SILVER_ORDER_UPDATES))


def returns(valid: DataFrame, sentiment: SentimentStep | None = None) -> DataFrame:
    """Valid ``return_order`` events -> silver/returns rows (sentiment of ``comment``)."""
    rows = _table_rows(valid, RETURNS_TABLE)
    return rows.transform(sentiment or _no_sentiment).transform(conform(SILVER_RETURNS))


def payments(valid: DataFrame) -> DataFrame:
    """Valid ``payment`` events -> silver/payments rows."""
    return _table_rows(valid, PAYMENTS_TABLE).transform(conform(SILVER_PAYMENTS))


def chargebacks(valid: DataFrame) -> DataFrame:
    """Valid ``chargeback`` events -> silver/chargebacks rows."""
    return _table_rows(valid, CHARGEBACKS_TABLE).transform(conform(SILVER_CHARGEBACKS))


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
    """Every valid ``new_order`` event as a scored silver/orders row, before one per order."""
    return new_order_rows(valid).transform(sentiment or _no_sentiment).transform(conform(SILVER_ORDERS))


def new_order_rows(valid: DataFrame) -> DataFrame:
    """Every valid ``new_order`` event as an unscored silver/orders row (extra columns kept), before one per order."""
    return _table_rows(valid, ORDERS_TABLE)


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
