"""Notification rules: silver-shaped frames -> rows of ``NOTIFICATION``, one per (type, key) and batch.

Every rule is a pure transform with a deterministic key, so a replayed batch yields the same rows
and the ledger recognises them. Keys: ``event_id`` for per-event notifications (payment_failed,
chargeback_received, return_decision), ``order_id`` for per-order ones (order_confirmed,
order_packed, high_value_order, order_stalled), ``order:<order_id>`` / ``return:<event_id>`` for
negative_feedback and ``<rule>:<order_id>`` for suspected_fraud (each rule once per order).
``detail`` is JSON text; it never carries the customer's e-mail or name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias
from pyspark.sql.types import StringType, StructField, StructType, TimestampType

from pipelines.settings import NotificationSettings

NOTIFICATION = StructType(
    [
        StructField("notification_type", StringType(), nullable=False),
        StructField("key", StringType(), nullable=False),
        StructField("severity", StringType(), nullable=False),
        StructField("order_id", StringType(), nullable=True),
        StructField("event_id", StringType(), nullable=True),
        StructField("occurred_at", TimestampType(), nullable=True),
        StructField("detail", StringType(), nullable=True),
    ]
)

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class SilverBatch:
    """The silver rows one micro-batch committed, and the history the fraud and return rules need.

    ``orders`` are the ``silver/orders`` rows of the orders the batch created or changed, as
    committed; the history frames are read by the caller after the commit: ``customer_orders`` =
    every ``silver/orders`` row of the batch's customers, ``order_payments`` = every
    ``silver/payments`` row of the batch's orders, ``return_orders`` = the ``silver/orders`` rows
    of the orders the batch's returns refer to. Any frame may be None (nothing of that kind).
    """

    orders: DataFrame | None = None
    payments: DataFrame | None = None
    order_updates: DataFrame | None = None
    returns: DataFrame | None = None
    chargebacks: DataFrame | None = None
    customer_orders: DataFrame | None = None
    order_payments: DataFrame | None = None
    return_orders: DataFrame | None = None


def _optional(df: DataFrame, name: str) -> Column:
    return F.col(name) if name in df.columns else F.lit(None).cast("string")


def _cut(column: Column, max_chars: int) -> Column:
    return F.when(F.length(column) > max_chars, F.concat(F.substring(column, 1, max_chars), F.lit("…"))).otherwise(
        column
    )


def _first_per(df: DataFrame, key: str, order: Sequence[str] = ("event_time", "event_id")) -> DataFrame:
    """The first row per ``key`` by ``order``: deterministic whatever the arrival order."""
    window = Window.partitionBy(key).orderBy(*[F.col(c).asc_nulls_last() for c in order])
    return df.withColumn("__n", F.row_number().over(window)).where(F.col("__n") == 1).drop("__n")


def _rows(
    df: DataFrame,
    notification_type: str,
    *,
    key: Column,
    severity: Column | str,
    occurred_at: Column,
    detail: Column,
    order_id: Column | None = None,
    event_id: Column | None = None,
) -> DataFrame:
    return df.select(
        F.lit(notification_type).alias("notification_type"),
        key.cast("string").alias("key"),
        (F.lit(severity) if isinstance(severity, str) else severity).alias("severity"),
        (order_id if order_id is not None else F.col("order_id")).cast("string").alias("order_id"),
        (event_id if event_id is not None else F.col("event_id")).cast("string").alias("event_id"),
        occurred_at.cast("timestamp").alias("occurred_at"),
        F.to_json(detail, {"ignoreNullFields": "false"}).alias("detail"),
    ).where(F.col("key").isNotNull())


def order_confirmed(payments: DataFrame) -> DataFrame:
    """The first successful payment of each order: packaging may start."""
    first = _first_per(payments.where(F.col("status") == "succeeded"), "order_id")
    return _rows(
        first,
        "order_confirmed",
        key=F.col("order_id"),
        severity="info",
        occurred_at=F.col("event_time"),
        detail=F.struct("transaction_id", "amount", "currency", "payment_method"),
    )


def payment_failed(payments: DataFrame) -> DataFrame:
    """Every failed payment attempt, with its failure code."""
    return _rows(
        payments.where(F.col("status") == "failed"),
        "payment_failed",
        key=F.col("event_id"),
        severity="warning",
        occurred_at=F.col("event_time"),
        detail=F.struct("failure_code", "transaction_id", "amount", "currency", "payment_method"),
    )


def order_packed(order_updates: DataFrame) -> DataFrame:
    """The first ``packed`` update of each order: shipping may pick it up."""
    first = _first_per(order_updates.where(F.col("status") == "packed"), "order_id")
    return _rows(
        first,
        "order_packed",
        key=F.col("order_id"),
        severity="info",
        occurred_at=F.col("event_time"),
        detail=F.struct(_optional(first, "source").alias("warehouse"), F.col("event_time").alias("packed_at")),
    )


def high_value_orders(orders: DataFrame, thresholds: Mapping[str, float]) -> DataFrame:
    """Orders whose amount reaches their currency's threshold (currencies without one never fire)."""
    if thresholds:
        pairs = [item for cur, value in sorted(thresholds.items()) for item in (F.lit(cur), F.lit(float(value)))]
        threshold = F.create_map(*pairs)[F.col("currency")]
    else:
        threshold = F.lit(None).cast("double")
    flagged = orders.withColumn("__threshold", threshold).where(
        F.col("__threshold").isNotNull() & (F.col("amount") >= F.col("__threshold"))
    )
    return _rows(
        flagged,
        "high_value_order",
        key=F.col("order_id"),
        severity="info",
        occurred_at=F.col("order_time"),
        event_id=_optional(flagged, "event_id"),
        detail=F.struct(
            "amount",
            "currency",
            F.col("__threshold").alias("threshold"),
            "customer_id",
            "payment_method",
            "source",
        ),
    )


def negative_order_feedback(orders: DataFrame, max_comment_chars: int = 500) -> DataFrame:
    """Orders whose comment scored ``Bad``."""
    bad = orders.where((F.col("sentiment_label") == "Bad") & F.col("comment").isNotNull())
    return _rows(
        bad,
        "negative_feedback",
        key=F.concat(F.lit("order:"), F.col("order_id")),
        severity="warning",
        occurred_at=F.col("order_time"),
        event_id=_optional(bad, "event_id"),
        detail=F.struct(
            F.lit("new_order").alias("about"),
            "customer_id",
            _cut(F.col("comment"), max_comment_chars).alias("comment"),
            "sentiment_score",
            "source",
        ),
    )


def negative_return_feedback(returns: DataFrame, max_comment_chars: int = 500) -> DataFrame:
    """Returns whose comment scored ``Bad``."""
    bad = returns.where((F.col("sentiment_label") == "Bad") & F.col("comment").isNotNull())
    return _rows(
        bad,
        "negative_feedback",
        key=F.concat(F.lit("return:"), F.col("event_id")),
        severity="warning",
        occurred_at=F.col("event_time"),
        detail=F.struct(
            F.lit("return_order").alias("about"),
            "return_id",
            "reason_code",
            _cut(F.col("comment"), max_comment_chars).alias("comment"),
            "sentiment_score",
        ),
    )


def chargeback_received(chargebacks: DataFrame) -> DataFrame:
    """Every chargeback."""
    return _rows(
        chargebacks,
        "chargeback_received",
        key=F.col("event_id"),
        severity="critical",
        occurred_at=F.col("event_time"),
        detail=F.struct("chargeback_id", "transaction_id", "amount", "currency", "reason_code"),
    )


def return_decisions(
    returns: DataFrame,
    orders: DataFrame,
    *,
    window_days: int = 30,
    window_days_by_category: Mapping[str, int] | None = None,
    review_reasons: Sequence[str] = ("other",),
    review_on_bad_sentiment: bool = True,
) -> DataFrame:
    """``approve`` or ``review`` for each return, with every reason for a review.

    Review when the order is unknown, the return comes after the strictest window of the returned
    items' categories (days since the order), the reason code is one to review, the comment is
    ``Bad``, or the refund exceeds the order amount. Without item categories (``items`` absent)
    the default window applies.
    """
    by_category = dict(window_days_by_category or {})
    order_cols = [
        F.col("order_id"),
        F.col("order_time").alias("__order_time"),
        F.col("amount").alias("__order_amount"),
        (F.col("items") if "items" in orders.columns else F.lit(None)).alias("__order_items"),
    ]
    joined = returns.alias("r").join(orders.select(order_cols).dropDuplicates(["order_id"]), "order_id", "left")
    if "items" in orders.columns:
        all_categories = F.transform(F.col("__order_items"), lambda i: i["category"])
        if "items" in returns.columns:
            returned = F.transform(F.col("r.items"), lambda x: x["product_id"])
            matched = F.transform(
                F.filter(F.col("__order_items"), lambda i: F.array_contains(returned, i["product_id"])),
                lambda i: i["category"],
            )
            categories = F.when(F.size(matched) > 0, matched).otherwise(all_categories)
        else:
            categories = all_categories
        categories = F.array_distinct(F.filter(F.coalesce(categories, F.array()), lambda c: c.isNotNull()))
    else:
        categories = F.array().cast("array<string>")
    table = (
        F.create_map(*[item for cat, days in sorted(by_category.items()) for item in (F.lit(cat), F.lit(int(days)))])
        if by_category
        else F.create_map().cast("map<string,int>")
    )
    windows = F.transform(F.col("__categories"), lambda c: F.coalesce(table[c], F.lit(int(window_days))))
    days_since = (F.unix_micros(F.col("event_time")) - F.unix_micros(F.col("__order_time"))) / 86_400_000_000
    reason_checks = [
        F.when(F.col("__order_time").isNull(), F.lit("order_not_found")),
        F.when(F.col("__days") > F.col("__window"), F.lit("outside_return_window")),
        F.when(F.col("reason_code").isin(list(review_reasons)), F.lit("reason_needs_review"))
        if review_reasons
        else F.lit(None).cast("string"),
        F.when(F.lit(review_on_bad_sentiment) & (F.col("sentiment_label") == "Bad"), F.lit("negative_sentiment")),
        F.when(F.col("refund_amount") > F.col("__order_amount") + 0.01, F.lit("refund_exceeds_order")),
    ]
    decided = (
        joined.withColumn("__categories", categories)
        .withColumn(
            "__window",
            F.when(F.size("__categories") > 0, F.array_min(windows)).otherwise(F.lit(int(window_days))),
        )
        .withColumn("__days", days_since)
        .withColumn("__reasons", F.filter(F.array(*reason_checks), lambda x: x.isNotNull()))
        .withColumn("__decision", F.when(F.size("__reasons") == 0, "approve").otherwise("review"))
    )
    return _rows(
        decided,
        "return_decision",
        key=F.col("event_id"),
        severity=F.when(F.col("__decision") == "approve", "info").otherwise("warning"),
        occurred_at=F.col("event_time"),
        detail=F.struct(
            F.col("__decision").alias("decision"),
            F.col("__reasons").alias("review_reasons"),
            "return_id",
            "reason_code",
            "refund_amount",
            "currency",
            F.round("__days", 1).alias("days_since_order"),
            F.col("__window").alias("window_days"),
            F.col("__categories").alias("categories"),
            "sentiment_label",
        ),
    )


def _fraud(
    df: DataFrame, rule: str, occurred_at: Column, detail: Sequence[Column | str], event_id: Column
) -> DataFrame:
    return _rows(
        df,
        "suspected_fraud",
        key=F.concat(F.lit(f"{rule}:"), F.col("order_id")),
        severity="critical",
        occurred_at=occurred_at,
        event_id=event_id,
        detail=F.struct(F.lit(rule).alias("rule"), *detail),
    )


def fraud_failure_codes(payments: DataFrame, codes: Sequence[str] = ("fraud_suspected",)) -> DataFrame:
    """Orders with a payment the provider failed as fraud (first such payment per order)."""
    if not codes:
        return _fraud(payments.limit(0), "failure_code", F.col("event_time"), [], F.col("event_id"))
    flagged = _first_per(
        payments.where((F.col("status") == "failed") & F.col("failure_code").isin(list(codes))), "order_id"
    )
    return _fraud(
        flagged,
        "failure_code",
        F.col("event_time"),
        [F.col("failure_code"), F.col("transaction_id"), F.col("amount"), F.col("currency")],
        F.col("event_id"),
    )


def many_failed_attempts(payments: DataFrame, order_payments: DataFrame, min_failures: int = 3) -> DataFrame:
    """Orders of this batch's failed payments that have reached ``min_failures`` failed attempts.

    ``order_payments`` is the history (it may include this batch's rows); the notification points
    at the attempt that reached the count, so replays name the same event.
    """
    columns = ["event_id", "order_id", "status", "failure_code", "event_time"]
    touched = payments.where(F.col("status") == "failed").select("order_id").distinct()
    failures = (
        order_payments.select(columns)
        .unionByName(payments.select(columns))
        .where(F.col("status") == "failed")
        .dropDuplicates(["event_id"])
        .join(touched, "order_id", "left_semi")
    )
    by_order = Window.partitionBy("order_id")
    ranked = (
        failures.withColumn("__n", F.row_number().over(by_order.orderBy("event_time", "event_id")))
        .withColumn("__count", F.count("*").over(by_order))
        .withColumn("__codes", F.array_sort(F.collect_set("failure_code").over(by_order)))
        .where(F.col("__n") == min_failures)
    )
    return _fraud(
        ranked,
        "many_failed_attempts",
        F.col("event_time"),
        [F.col("__count").alias("failed_attempts"), F.col("__codes").alias("failure_codes")],
        F.col("event_id"),
    )


def _haversine_km(lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    dlat = F.radians(lat2 - lat1)
    dlon = F.radians(lon2 - lon1)
    a = F.pow(F.sin(dlat / 2), 2) + F.cos(F.radians(lat1)) * F.cos(F.radians(lat2)) * F.pow(F.sin(dlon / 2), 2)
    return F.lit(2 * EARTH_RADIUS_KM) * F.asin(F.least(F.lit(1.0), F.sqrt(a)))


def _history(customer_orders: DataFrame) -> DataFrame:
    return customer_orders.select(
        "customer_id",
        F.col("order_id").alias("__h_order"),
        F.col("order_time").alias("__h_time"),
        F.col("lat").alias("__h_lat"),
        F.col("lon").alias("__h_lon"),
    ).dropDuplicates(["__h_order"])


def far_from_usual_location(
    orders: DataFrame, customer_orders: DataFrame, distance_km: float = 1000.0, min_history: int = 2
) -> DataFrame:
    """Orders placed farther than ``distance_km`` from every earlier order of the same customer.

    Only customers with at least ``min_history`` earlier orders are judged; "usual place" is any
    place they ordered from before, so customers with two homes are not flagged.
    """
    new = orders.select(
        "order_id", "customer_id", "order_time", "lat", "lon", _optional(orders, "event_id").alias("event_id")
    )
    pairs = new.join(_history(customer_orders), "customer_id").where(
        (F.col("__h_time") < F.col("order_time")) & (F.col("__h_order") != F.col("order_id"))
    )
    nearest = pairs.groupBy("order_id", "customer_id", "order_time", "lat", "lon", "event_id").agg(
        F.count("*").alias("__history"),
        F.min(_haversine_km(F.col("lat"), F.col("lon"), F.col("__h_lat"), F.col("__h_lon"))).alias("__nearest"),
    )
    flagged = nearest.where((F.col("__history") >= min_history) & (F.col("__nearest") > distance_km))
    return _fraud(
        flagged,
        "far_from_usual_location",
        F.col("order_time"),
        [
            "customer_id",
            F.round("__nearest", 1).alias("nearest_earlier_order_km"),
            F.col("__history").alias("earlier_orders"),
            "lat",
            "lon",
        ],
        F.col("event_id"),
    )


def order_velocity(
    orders: DataFrame, customer_orders: DataFrame, max_orders: int = 5, window_minutes: int = 60
) -> DataFrame:
    """Orders that make their customer's count within ``window_minutes`` (up to the order) reach ``max_orders``."""
    new = orders.select("order_id", "customer_id", "order_time", _optional(orders, "event_id").alias("event_id"))
    history = (
        _history(customer_orders)
        .unionByName(
            orders.select(
                "customer_id",
                F.col("order_id").alias("__h_order"),
                F.col("order_time").alias("__h_time"),
                F.col("lat").alias("__h_lat"),
                F.col("lon").alias("__h_lon"),
            )
        )
        .dropDuplicates(["__h_order"])
    )
    window = F.expr(f"INTERVAL {int(window_minutes)} MINUTES")
    counts = (
        new.join(history, "customer_id")
        .where((F.col("__h_time") <= F.col("order_time")) & (F.col("__h_time") > F.col("order_time") - window))
        .groupBy("order_id", "customer_id", "order_time", "event_id")
        .agg(F.count("*").alias("__orders"))
    )
    flagged = counts.where(F.col("__orders") >= max_orders)
    return _fraud(
        flagged,
        "velocity",
        F.col("order_time"),
        [
            "customer_id",
            F.col("__orders").alias("orders_in_window"),
            F.lit(int(window_minutes)).alias("window_minutes"),
        ],
        F.col("event_id"),
    )


def stalled_orders(
    orders: DataFrame,
    payments: DataFrame,
    *,
    now: dt.datetime,
    stalled_minutes: int = 60,
    minutes_by_payment_method: Mapping[str, int] | None = None,
    exempt_payment_methods: Sequence[str] = ("cash_on_delivery",),
    lookback_hours: int = 168,
) -> DataFrame:
    """Orders with no successful payment ``stalled_minutes`` (per method) after the order, as of ``now``.

    Cancelled orders and exempt methods (paid on delivery) never stall; orders older than
    ``lookback_hours`` are not looked at. ``occurred_at`` is when the order became stalled, so
    every run names the same moment.
    """
    by_method = dict(minutes_by_payment_method or {})
    table = (
        F.create_map(*[item for m, minutes in sorted(by_method.items()) for item in (F.lit(m), F.lit(int(minutes)))])
        if by_method
        else F.create_map().cast("map<string,int>")
    )
    now_lit = F.lit(now if now.tzinfo else now.replace(tzinfo=dt.UTC)).cast("timestamp")
    wait = F.coalesce(table[F.col("payment_method")], F.lit(int(stalled_minutes)))
    stalled_at = F.timestamp_micros(F.unix_micros(F.col("order_time")) + wait.cast("long") * 60_000_000)
    attempts = payments.groupBy("order_id").agg(
        F.max(F.when(F.col("status") == "succeeded", 1).otherwise(0)).alias("__paid"),
        F.sum(F.when(F.col("status") == "failed", 1).otherwise(0)).alias("__failed"),
    )
    candidates = (
        orders.where(F.coalesce(F.col("status"), F.lit("created")) != "cancelled")
        .where(~F.coalesce(F.col("payment_method"), F.lit("")).isin(list(exempt_payment_methods) or [""]))
        .where(F.col("order_time") >= now_lit - F.expr(f"INTERVAL {int(lookback_hours)} HOURS"))
        .withColumn("__wait", wait)
        .withColumn("__stalled_at", stalled_at)
        .where(F.col("__stalled_at") <= now_lit)
        .join(attempts, "order_id", "left")
        .where(F.coalesce(F.col("__paid"), F.lit(0)) == 0)
    )
    return _rows(
        candidates,
        "order_stalled",
        key=F.col("order_id"),
        severity="warning",
        occurred_at=F.col("__stalled_at"),
        event_id=_optional(candidates, "event_id"),
        detail=F.struct(
            F.col("__wait").alias("waited_minutes"),
            F.coalesce(F.col("__failed"), F.lit(0)).alias("failed_attempts"),
            "payment_method",
            "amount",
            "currency",
            "status",
            "customer_id",
        ),
    )


def batch_notifications(batch: SilverBatch, settings: NotificationSettings) -> DataFrame | None:
    """Every rule that the batch's frames allow, as one frame (None when the batch has nothing)."""
    parts: list[DataFrame] = []
    if batch.payments is not None:
        parts += [
            order_confirmed(batch.payments),
            payment_failed(batch.payments),
            fraud_failure_codes(batch.payments, settings.fraud_failure_codes),
        ]
        if batch.order_payments is not None:
            parts.append(many_failed_attempts(batch.payments, batch.order_payments, settings.fraud_failed_attempts))
    if batch.order_updates is not None:
        parts.append(order_packed(batch.order_updates))
    if batch.orders is not None:
        parts += [
            high_value_orders(batch.orders, settings.high_value_thresholds),
            negative_order_feedback(batch.orders, settings.max_comment_chars),
        ]
        if batch.customer_orders is not None:
            parts += [
                far_from_usual_location(
                    batch.orders, batch.customer_orders, settings.fraud_distance_km, settings.fraud_min_history_orders
                ),
                order_velocity(
                    batch.orders, batch.customer_orders, settings.fraud_velocity_orders, settings.fraud_velocity_minutes
                ),
            ]
    if batch.returns is not None:
        parts.append(negative_return_feedback(batch.returns, settings.max_comment_chars))
        if batch.return_orders is not None:
            parts.append(
                return_decisions(
                    batch.returns,
                    batch.return_orders,
                    window_days=settings.return_window_days,
                    window_days_by_category=settings.return_window_days_by_category,
                    review_reasons=settings.return_review_reasons,
                    review_on_bad_sentiment=settings.return_review_on_bad_sentiment,
                )
            )
    if batch.chargebacks is not None:
        parts.append(chargeback_received(batch.chargebacks))
    if not parts:
        return None
    return reduce(DataFrame.unionByName, parts)
