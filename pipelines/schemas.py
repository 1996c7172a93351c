"""Schemas of the raw frame and of every lake table, as constants at the boundaries.

Column names fixed by the contract (section 3) come first in each table; the extra columns
(partition dates, ids, lineage) follow. Partition columns are listed in ``PARTITIONS``.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
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

# The project's own gold tables (docs/kpis.md): one row per date and breakdown, rebuilt by `batch kpis`.
REVENUE_DAILY = _struct(
    ("date", DateType()),
    ("currency", StringType()),
    # source (the integration), region (from GPS) or category (of the item lines).
    ("dimension", StringType()),
    ("value", StringType()),
    ("orders", LongType()),
    ("units", LongType()),
    ("revenue", DoubleType()),
    ("updated_at", TimestampType()),
)

PAYMENT_METHODS_DAILY = _struct(
    ("date", DateType()),
    ("currency", StringType()),
    ("payment_method", StringType()),
    ("attempts", LongType()),
    ("failures", LongType()),
    ("success_rate", DoubleType()),
    ("inflow", DoubleType()),
    ("orders", LongType()),
    ("orders_paid", LongType()),
    ("attempts_per_paid_order", DoubleType()),
    ("updated_at", TimestampType()),
)

PAYMENT_FAILURES_DAILY = _struct(
    ("date", DateType()),
    ("currency", StringType()),
    ("failure_code", StringType()),
    ("payment_method", StringType()),
    ("source", StringType()),
    ("failures", LongType()),
    ("orders", LongType()),
    ("amount", DoubleType()),
    ("updated_at", TimestampType()),
)

RETURNS_BY_CATEGORY_DAILY = _struct(
    ("date", DateType()),
    ("currency", StringType()),
    ("category", StringType()),
    ("orders", LongType()),
    ("returned_orders", LongType()),
    ("return_rate", DoubleType()),
    ("inaccurate_orders", LongType()),
    ("order_accuracy", DoubleType()),
    ("returned_units", LongType()),
    ("updated_at", TimestampType()),
)

RETURN_REASONS_DAILY = _struct(
    ("date", DateType()),
    ("currency", StringType()),
    ("category", StringType()),
    ("reason_code", StringType()),
    ("returns", LongType()),
    ("returned_units", LongType()),
    ("updated_at", TimestampType()),
)

PRODUCT_SALES_DAILY = _struct(
    ("date", DateType()),
    ("currency", StringType()),
    ("product_id", StringType()),
    ("category", StringType()),
    ("units_sold", LongType()),
    ("orders", LongType()),
    ("revenue", DoubleType()),
    ("units_returned", LongType()),
    ("net_units", LongType()),
    ("updated_at", TimestampType()),
)

FRAUD_DAILY = _struct(
    ("date", DateType()),
    ("currency", StringType()),
    ("chargebacks", LongType()),
    ("chargeback_amount", DoubleType()),
    ("fraud_chargebacks", LongType()),
    ("fraud_chargeback_amount", DoubleType()),
    ("fraud_declines", LongType()),
    ("orders_with_repeated_failures", LongType()),
    ("chargeback_rate", DoubleType()),
    ("updated_at", TimestampType()),
)

# The stream's own effectiveness, one row per micro-batch (docs/kpis.md, system metrics).
PIPELINE_METRICS = _struct(
    ("query_name", StringType()),
    ("batch_id", LongType()),
    ("batch_time", TimestampType()),
    ("input_rows", LongType()),
    ("input_rows_per_second", DoubleType()),
    ("processed_rows_per_second", DoubleType()),
    ("batch_duration_ms", LongType()),
    ("end_to_end_latency_seconds", DoubleType()),
    ("ingest_latency_seconds", DoubleType()),
    ("freshness_seconds", DoubleType()),
    ("quarantined_rows", LongType()),
    ("quarantine_rate", DoubleType()),
    ("notifications", LongType()),
    ("notification_latency_seconds", DoubleType()),
    ("date", DateType()),
)

# The forecast's backtest (docs/forecast.md): one row per (run, currency, model), appended by `batch forecast`.
FORECAST_BACKTEST = _struct(
    ("generated_at", TimestampType()),
    ("currency", StringType()),
    ("model", StringType()),
    ("origins", LongType()),
    ("horizon_days", LongType()),
    ("points", LongType()),
    ("mase", DoubleType()),
    ("smape", DoubleType()),
    ("wape", DoubleType()),
    ("coverage", DoubleType()),
    ("interval", DoubleType()),
    # The factor the published intervals were widened by, from this backtest (docs/forecast.md).
    ("interval_scale", DoubleType()),
    ("history_days", LongType()),
)

# Data-quality results (docs/quality.md): one row per (run, table, expectation), from the
# stream (run_kind "stream", one run per micro-batch) and from batch checks (run_kind "batch").
QUALITY_METRICS = _struct(
    ("run_kind", StringType()),
    ("run_id", StringType()),
    ("batch_id", LongType()),
    ("table_name", StringType()),
    ("table_version", LongType()),
    ("expectation", StringType()),
    ("expectation_type", StringType()),
    ("column_name", StringType()),
    ("row_level", BooleanType()),
    ("success", BooleanType()),
    ("element_count", LongType()),
    ("unexpected_count", LongType()),
    ("missing_count", LongType()),
    ("unexpected_percent", DoubleType()),
    ("observed_value", StringType()),
    ("evaluated_at", TimestampType()),
    ("evaluated_date", DateType()),
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
REVENUE_DAILY_TABLE = "gold/revenue_daily"
PAYMENT_METHODS_DAILY_TABLE = "gold/payment_methods_daily"
PAYMENT_FAILURES_DAILY_TABLE = "gold/payment_failures_daily"
RETURNS_BY_CATEGORY_DAILY_TABLE = "gold/returns_by_category_daily"
RETURN_REASONS_DAILY_TABLE = "gold/return_reasons_daily"
PRODUCT_SALES_DAILY_TABLE = "gold/product_sales_daily"
FRAUD_DAILY_TABLE = "gold/fraud_daily"
PIPELINE_METRICS_TABLE = "gold/pipeline_metrics"
FORECAST_BACKTEST_TABLE = "gold/forecast_backtest"
QUALITY_METRICS_TABLE = "quality/metrics"

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
    REVENUE_DAILY_TABLE: REVENUE_DAILY,
    PAYMENT_METHODS_DAILY_TABLE: PAYMENT_METHODS_DAILY,
    PAYMENT_FAILURES_DAILY_TABLE: PAYMENT_FAILURES_DAILY,
    RETURNS_BY_CATEGORY_DAILY_TABLE: RETURNS_BY_CATEGORY_DAILY,
    RETURN_REASONS_DAILY_TABLE: RETURN_REASONS_DAILY,
    PRODUCT_SALES_DAILY_TABLE: PRODUCT_SALES_DAILY,
    FRAUD_DAILY_TABLE: FRAUD_DAILY,
    PIPELINE_METRICS_TABLE: PIPELINE_METRICS,
    FORECAST_BACKTEST_TABLE: FORECAST_BACKTEST,
    QUALITY_METRICS_TABLE: QUALITY_METRICS,
}

# Written by the batch jobs, not the stream.
GOLD_TABLES: tuple[str, ...] = (
    DAILY_KPIS_TABLE,
    CASH_FLOW_DAILY_TABLE,
    CASH_FLOW_FORECAST_TABLE,
    REVENUE_DAILY_TABLE,
    PAYMENT_METHODS_DAILY_TABLE,
    PAYMENT_FAILURES_DAILY_TABLE,
    RETURNS_BY_CATEGORY_DAILY_TABLE,
    RETURN_REASONS_DAILY_TABLE,
    PRODUCT_SALES_DAILY_TABLE,
    FRAUD_DAILY_TABLE,
    PIPELINE_METRICS_TABLE,
    FORECAST_BACKTEST_TABLE,
)

PARTITIONS: dict[str, tuple[str, ...]] = {
    BRONZE_TABLE: ("ingest_date",),
    QUARANTINE_TABLE: ("ingest_date",),
    ORDERS_TABLE: ("order_date",),
    ORDER_UPDATES_TABLE: ("event_date",),
    RETURNS_TABLE: ("event_date",),
    PAYMENTS_TABLE: ("event_date",),
    CHARGEBACKS_TABLE: ("event_date",),
    QUALITY_METRICS_TABLE: ("evaluated_date",),
    # Gold tables are small (days x currencies): one unpartitioned table each.
    **dict.fromkeys(GOLD_TABLES, ()),
}

# Silver event tables: event type -> table. new_order goes to silver/orders by MERGE.
EVENT_TABLES: dict[str, str] = {
    "update_order": ORDER_UPDATES_TABLE,
    "return_order": RETURNS_TABLE,
    "payment": PAYMENTS_TABLE,
    "chargeback": CHARGEBACKS_TABLE,
}
