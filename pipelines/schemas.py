"""Schemas of the raw frame and of every lake table, as constants at the boundaries.

Column names fixed by the contract (section 3) come first in each table; the extra columns
(partition dates, ids, lineage) follow. Partition columns are listed in ``PARTITIONS``.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

EVENT_TYPES: tuple[str, ...] = ("new_order", "update_order", "return_order", "payment", "chargeback")


def _struct(*fields: tuple[str, DataType]) -> StructType:
    return StructType([StructField(name, kind, nullable=True) for name, kind in fields])


# The source-independent frame every source is turned into (see transforms.raw).
RAW = _struct(
    ("data", BinaryType()),
    ("ingested_at", TimestampType()),
    ("stream", StringType()),
    ("shard_id", StringType()),
    ("sequence_number", StringType()),
    ("topic", StringType()),
    ("partition", IntegerType()),
    ("offset", LongType()),
)

POSITION_FIELDS: tuple[tuple[str, DataType], ...] = (
    ("stream", StringType()),
    ("shard_id", StringType()),
    ("sequence_number", StringType()),
    ("topic", StringType()),
    ("partition", IntegerType()),
    ("offset", LongType()),
)

BRONZE = _struct(
    ("raw", StringType()),
    ("ingested_at", TimestampType()),
    *POSITION_FIELDS,
    # The exact bytes: invalid UTF-8 cannot round-trip through ``raw``.
    ("raw_bytes", BinaryType()),
    ("event_id", StringType()),
    ("event_type", StringType()),
    ("batch_id", LongType()),
    ("ingest_date", DateType()),
)

QUARANTINE = _struct(
    ("raw", StringType()),
    ("reasons", ArrayType(StringType())),
    ("ingested_at", TimestampType()),
    *POSITION_FIELDS,
    ("raw_bytes", BinaryType()),
    ("event_id", StringType()),
    ("event_type", StringType()),
    ("batch_id", LongType()),
    ("ingest_date", DateType()),
)

ORDER_ITEM = _struct(
    ("product_id", StringType()),
    ("product_name", StringType()),
    ("category", StringType()),
    ("unit_price", DoubleType()),
    ("quantity", LongType()),
)

RETURN_ITEM = _struct(("product_id", StringType()), ("quantity", LongType()))

SILVER_ORDERS = _struct(
    ("order_id", StringType()),
    ("customer_id", StringType()),
    ("customer_name", StringType()),
    ("order_time", TimestampType()),
    ("amount", DoubleType()),
    ("currency", StringType()),
    ("lat", DoubleType()),
    ("lon", DoubleType()),
    ("payment_method", StringType()),
    ("source", StringType()),
    ("status", StringType()),
    ("status_time", TimestampType()),
    ("comment", StringType()),
    ("sentiment_label", StringType()),
    ("sentiment_score", DoubleType()),
    ("event_id", StringType()),
    ("customer_email", StringType()),
    ("items", ArrayType(ORDER_ITEM)),
    # Tie-break for two updates with the same event_time: the larger event_id wins.
    ("status_event_id", StringType()),
    ("batch_id", LongType()),
    ("order_date", DateType()),
)

SILVER_ORDER_UPDATES = _struct(
    ("event_id", StringType()),
    ("order_id", StringType()),
    ("status", StringType()),
    ("event_time", TimestampType()),
    ("comment", StringType()),
    ("source", StringType()),
    ("batch_id", LongType()),
    ("event_date", DateType()),
)

SILVER_RETURNS = _struct(
    ("event_id", StringType()),
    ("order_id", StringType()),
    ("return_id", StringType()),
    ("refund_amount", DoubleType()),
    ("currency", StringType()),
    ("reason_code", StringType()),
    ("event_time", TimestampType()),
    ("comment", StringType()),
    ("sentiment_label", StringType()),
    ("sentiment_score", DoubleType()),
    ("source", StringType()),
    ("items", ArrayType(RETURN_ITEM)),
    ("batch_id", LongType()),
    ("event_date", DateType()),
)

SILVER_PAYMENTS = _struct(
    ("event_id", StringType()),
    ("order_id", StringType()),
    ("transaction_id", StringType()),
    ("amount", DoubleType()),
    ("currency", StringType()),
    ("payment_method", StringType()),
    ("status", StringType()),
    ("failure_code", StringType()),
    ("event_time", TimestampType()),
    ("source", StringType()),
    ("batch_id", LongType()),
    ("event_date", DateType()),
)

SILVER_CHARGEBACKS = _struct(
    ("event_id", StringType()),
    ("order_id", StringType()),
    ("chargeback_id", StringType()),
    ("transaction_id", StringType()),
    ("amount", DoubleType()),
    ("currency", StringType()),
    ("reason_code", StringType()),
    ("event_time", TimestampType()),
    ("source", StringType()),
    ("batch_id", LongType()),
    ("event_date", DateType()),
)

# Gold tables (contract section 4): one row per (date, currency), rebuilt by the batch jobs.
# ``updated_at`` says when a row was last recomputed (incremental runs recompute touched dates only).
DAILY_KPIS = _struct(
    ("date", DateType()),
    ("currency", StringType()),
    ("orders", LongType()),
    ("gross_revenue", DoubleType()),
    ("payment_attempts", LongType()),
    ("payment_failures", LongType()),
    ("payment_success_rate", DoubleType()),
    ("chargeback_rate", DoubleType()),
    ("return_rate", DoubleType()),
    ("satisfaction", DoubleType()),
    ("updated_at", TimestampType()),
)

CASH_FLOW_DAILY = _struct(
    ("date", DateType()),
    ("currency", StringType()),
    ("inflow", DoubleType()),
    ("refunds", DoubleType()),
    ("chargebacks", DoubleType()),
    ("net", DoubleType()),
    ("updated_at", TimestampType()),
)

CASH_FLOW_FORECAST = _struct(
    ("date", DateType()),
    ("currency", StringType()),
    ("net_forecast", DoubleType()),
    ("net_lower", DoubleType()),
    ("net_upper", DoubleType()),
    # Which model made the row, the interval's coverage (e.g. 0.9) and when it was fitted.
    ("model", StringType()),
    ("interval", DoubleType()),
    ("generated_at", TimestampType()),
)

# Table path (relative to lake.root) -> schema, partition columns.
BRONZE_TABLE = "bronze/order_events"
QUARANTINE_TABLE = "quarantine/order_events"
ORDERS_TABLE = "silver/orders"
ORDER_UPDATES_TABLE = "silver/order_updates"
RETURNS_TABLE = "silver/returns"
PAYMENTS_TABLE = "silver/payments"
CHARGEBACKS_TABLE = "silver/chargebacks"
DAILY_KPIS_TABLE = "gold/daily_kpis"
CASH_FLOW_DAILY_TABLE = "gold/cash_flow_daily"
CASH_FLOW_FORECAST_TABLE = "gold/cash_flow_forecast"

TABLES: dict[str, StructType] = {
    BRONZE_TABLE: BRONZE,
    QUARANTINE_TABLE: QUARANTINE,
    ORDERS_TABLE: SILVER_ORDERS,
    ORDER_UPDATES_TABLE: SILVER_ORDER_UPDATES,
    RETURNS_TABLE: SILVER_RETURNS,
    PAYMENTS_TABLE: SILVER_PAYMENTS,
    CHARGEBACKS_TABLE: SILVER_CHARGEBACKS,
    DAILY_KPIS_TABLE: DAILY_KPIS,
    CASH_FLOW_DAILY_TABLE: CASH_FLOW_DAILY,
    CASH_FLOW_FORECAST_TABLE: CASH_FLOW_FORECAST,
}

# Written by the batch jobs, not the stream.
GOLD_TABLES: tuple[str, ...] = (DAILY_KPIS_TABLE, CASH_FLOW_DAILY_TABLE, CASH_FLOW_FORECAST_TABLE)

PARTITIONS: dict[str, tuple[str, ...]] = {
    BRONZE_TABLE: ("ingest_date",),
    QUARANTINE_TABLE: ("ingest_date",),
    ORDERS_TABLE: ("order_date",),
    ORDER_UPDATES_TABLE: ("event_date",),
    RETURNS_TABLE: ("event_date",),
    PAYMENTS_TABLE: ("event_date",),
    CHARGEBACKS_TABLE: ("event_date",),
    # Gold tables are small (days x currencies): one unpartitioned table each.
    DAILY_KPIS_TABLE: (),
    CASH_FLOW_DAILY_TABLE: (),
    CASH_FLOW_FORECAST_TABLE: (),
}

# Silver event tables: event type -> table. new_order goes to silver/orders by MERGE.
EVENT_TABLES: dict[str, str] = {
    "update_order": ORDER_UPDATES_TABLE,
    "return_order": RETURNS_TABLE,
    "payment": PAYMENTS_TABLE,
    "chargeback": CHARGEBACKS_TABLE,
}
