"""Silver frames -> gold KPI frames: the contract's two tables and the project's own (docs/kpis.md).

Every function here is pure: silver DataFrames in, one gold DataFrame out, no I/O. Dates are
the silver partition dates (the UTC date of ``event_time``; ``order_date`` for orders). Money
is summed as DECIMAL after rounding each amount to cents, so totals are exact and do not
depend on the order Spark adds rows in; rates are null where their denominator is 0.

Inputs travel together in :class:`Silver`; ``updated_at`` is passed in so the transforms
never read a clock. :func:`for_dates` restricts any gold frame to the dates being recomputed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias
from pyspark.sql.types import StructType

from pipelines.schemas import (
    CASH_FLOW_DAILY,
    DAILY_KPIS,
    FRAUD_DAILY,
    PAYMENT_FAILURES_DAILY,
    PAYMENT_METHODS_DAILY,
    PRODUCT_SALES_DAILY,
    RETURN_REASONS_DAILY,
    RETURNS_BY_CATEGORY_DAILY,
    REVENUE_DAILY,
)
from pipelines.transforms.silver import conform

# Money is rounded to cents per amount, then summed exactly.
MONEY = "decimal(20,2)"

# Return reasons that say the order was not what was ordered (order accuracy).
INACCURACY_REASONS: tuple[str, ...] = ("damaged", "wrong_item", "missing_item")

# Chargeback reason and payment failure code that point at fraud.
FRAUD_CHARGEBACK_REASONS: tuple[str, ...] = ("fraudulent",)
FRAUD_FAILURE_CODES: tuple[str, ...] = ("fraud_suspected",)

# An order with at least this many failed payments on one date is a card-testing signal.
REPEATED_FAILURES = 3

# Coarse GPS regions: (name, lat_min, lat_max, lon_min, lon_max), first match wins.
REGIONS: tuple[tuple[str, float, float, float, float], ...] = (
    ("latin_america", -60.0, 25.0, -120.0, -30.0),
    ("north_america", 25.0, 84.0, -170.0, -50.0),
    ("europe", 35.0, 72.0, -25.0, 45.0),
    ("middle_east", 12.0, 42.0, 35.0, 63.0),
    ("africa", -36.0, 37.0, -20.0, 52.0),
    ("oceania", -50.0, -10.0, 110.0, 180.0),
    ("asia", -11.0, 82.0, 45.0, 180.0),
)
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Silver:
    """One consistent snapshot of the silver tables (read at pinned versions)."""

    orders: DataFrame
    payments: DataFrame
    returns: DataFrame
    chargebacks: DataFrame


def _money(column: str | Column) -> Column:
    value = F.col(column) if isinstance(column, str) else column
    return value.cast(MONEY)


def _to_double(column: Column) -> Column:
    return column.cast("double")


def _rate(numerator: Column, denominator: Column) -> Column:
    return F.when(denominator > 0, numerator.cast("double") / denominator.cast("double"))


def _finish(frame: DataFrame, schema: StructType, updated_at: dt.datetime) -> DataFrame:
    return frame.withColumn("updated_at", F.lit(updated_at).cast("timestamp")).transform(conform(schema))


def for_dates(dates: Iterable[dt.date] | None) -> Callable[[DataFrame], DataFrame]:
    """``df.transform`` step keeping rows whose ``date`` is in ``dates`` (None keeps everything)."""
    wanted = None if dates is None else sorted(set(dates))

    def transform(df: DataFrame) -> DataFrame:
        if wanted is None:
            return df
        return df.where(F.col("date").isin(wanted)) if wanted else df.limit(0)

    return transform


def with_region(orders: DataFrame) -> DataFrame:
    """``orders`` plus ``region``: the first :data:`REGIONS` box holding (lat, lon), else ``unknown``."""
    region: Column = F.lit(UNKNOWN)
    for name, lat_min, lat_max, lon_min, lon_max in reversed(REGIONS):
        inside = F.col("lat").between(lat_min, lat_max) & F.col("lon").between(lon_min, lon_max)
        region = F.when(inside, F.lit(name)).otherwise(region)
    return orders.withColumn("region", F.when(F.col("lat").isNull() | F.col("lon").isNull(), UNKNOWN).otherwise(region))


def order_lines(orders: DataFrame) -> DataFrame:
    """One row per order item: date, currency, order_id, product_id, category, quantity, line amount."""
    return orders.select(
        F.col("order_date").alias("date"),
        "currency",
        "order_id",
        F.explode("items").alias("item"),
    ).select(
        "date",
        "currency",
        "order_id",
        F.col("item.product_id").alias("product_id"),
        F.coalesce(F.col("item.category"), F.lit(UNKNOWN)).alias("category"),
        F.col("item.quantity").alias("quantity"),
        (_money("item.unit_price") * F.col("item.quantity")).cast(MONEY).alias("line_amount"),
    )


def _order_cohort(orders: DataFrame) -> DataFrame:
    return orders.select(F.col("order_date").alias("date"), "currency", "order_id", "amount", "sentiment_label")


def daily_kpis(silver: Silver, updated_at: dt.datetime) -> DataFrame:
    """gold/daily_kpis per (date, currency), exactly as the contract's section 4 defines it.

    ``return_rate`` and ``satisfaction`` are cohort figures of the orders of that date: their
    returns of any date count, and the comments are the order's own and its returns'.
    """
    cohort = _order_cohort(silver.orders)
    returned = silver.returns.select("order_id").distinct().withColumn("returned", F.lit(1))
    per_order = cohort.join(returned, "order_id", "left")
    comments = cohort.select("date", "currency", "order_id", "sentiment_label").unionByName(
        silver.returns.select("order_id", "sentiment_label").join(
            cohort.select("date", "currency", "order_id"), "order_id"
        )
    )
    order_part = per_order.groupBy("date", "currency").agg(
        F.countDistinct("order_id").alias("orders"),
        F.sum(_money("amount")).alias("gross_revenue"),
        F.countDistinct(F.when(F.col("returned") == 1, F.col("order_id"))).alias("returned_orders"),
    )
    comment_part = comments.groupBy("date", "currency").agg(
        F.count(F.when(F.col("sentiment_label") == "Good", 1)).alias("good"),
        F.count(F.when(F.col("sentiment_label") == "Bad", 1)).alias("bad"),
    )
    payment_part = silver.payments.groupBy(F.col("event_date").alias("date"), "currency").agg(
        F.count(F.lit(1)).alias("payment_attempts"),
        F.count(F.when(F.col("status") == "failed", 1)).alias("payment_failures"),
        F.count(F.when(F.col("status") == "succeeded", 1)).alias("succeeded"),
    )
    chargeback_part = silver.chargebacks.groupBy(F.col("event_date").alias("date"), "currency").agg(
        F.count(F.lit(1)).alias("chargeback_count")
    )
    keys = _keys(silver)
    joined = (
        keys.join(order_part, ["date", "currency"], "left")
        .join(comment_part, ["date", "currency"], "left")
        .join(payment_part, ["date", "currency"], "left")
        .join(chargeback_part, ["date", "currency"], "left")
        .fillna(0, ["orders", "returned_orders", "good", "bad", "payment_attempts", "payment_failures", "succeeded"])
        .fillna(0, ["chargeback_count"])
    )
    result = joined.select(
        "date",
        "currency",
        "orders",
        _to_double(F.coalesce(F.col("gross_revenue"), F.lit(0).cast(MONEY))).alias("gross_revenue"),
        "payment_attempts",
        "payment_failures",
        _rate(F.col("payment_attempts") - F.col("payment_failures"), F.col("payment_attempts")).alias(
            "payment_success_rate"
        ),
        _rate(F.col("chargeback_count"), F.col("succeeded")).alias("chargeback_rate"),
        _rate(F.col("returned_orders"), F.col("orders")).alias("return_rate"),
        _rate(F.col("good"), F.col("good") + F.col("bad")).alias("satisfaction"),
    )
    return _finish(result, DAILY_KPIS, updated_at)


def _keys(silver: Silver) -> DataFrame:
    """Every (date, currency) any silver table has: both contract tables share these keys."""
    return (
        silver.orders.select(F.col("order_date").alias("date"), "currency")
        .unionByName(silver.payments.select(F.col("event_date").alias("date"), "currency"))
        .unionByName(silver.returns.select(F.col("event_date").alias("date"), "currency"))
        .unionByName(silver.chargebacks.select(F.col("event_date").alias("date"), "currency"))
        .where(F.col("date").isNotNull() & F.col("currency").isNotNull())
        .distinct()
    )


def cash_flow_daily(silver: Silver, updated_at: dt.datetime) -> DataFrame:
    """gold/cash_flow_daily per (date, currency): inflow, refunds, chargebacks, net (contract section 4)."""
    zero = F.lit(0).cast(MONEY)
    inflow = (
        silver.payments.where(F.col("status") == "succeeded")
        .groupBy(F.col("event_date").alias("date"), "currency")
        .agg(F.sum(_money("amount")).alias("inflow"))
    )
    refunds = silver.returns.groupBy(F.col("event_date").alias("date"), "currency").agg(
        F.sum(_money("refund_amount")).alias("refunds")
    )
    chargebacks = silver.chargebacks.groupBy(F.col("event_date").alias("date"), "currency").agg(
        F.sum(_money("amount")).alias("chargebacks")
    )
    joined = (
        _keys(silver)
        .join(inflow, ["date", "currency"], "left")
        .join(refunds, ["date", "currency"], "left")
        .join(chargebacks, ["date", "currency"], "left")
        .select(
            "date",
            "currency",
            *[F.coalesce(F.col(name), zero).alias(name) for name in ("inflow", "refunds", "chargebacks")],
        )
    )
    result = joined.select(
        "date",
        "currency",
        *[_to_double(F.col(name)).alias(name) for name in ("inflow", "refunds", "chargebacks")],
        _to_double(F.col("inflow") - F.col("refunds") - F.col("chargebacks")).alias("net"),
    )
    return _finish(result, CASH_FLOW_DAILY, updated_at)


def revenue_daily(silver: Silver, updated_at: dt.datetime) -> DataFrame:
    """Orders, units and revenue per (date, currency, dimension, value) for source, region and category.

    ``source`` and ``region`` rows split each order's ``amount``; ``category`` rows split the
    item lines (unit_price x quantity), so an order of two categories counts once in each.
    """
    orders = silver.orders.transform(with_region)
    lines = order_lines(silver.orders)
    units = lines.groupBy("order_id").agg(F.sum("quantity").alias("units"))
    whole = orders.join(units, "order_id", "left").select(
        F.col("order_date").alias("date"), "currency", "order_id", "source", "region", "amount", "units"
    )
    by_order = [
        whole.groupBy("date", "currency", F.coalesce(F.col(dimension), F.lit(UNKNOWN)).alias("value"))
        .agg(
            F.countDistinct("order_id").alias("orders"),
            F.sum(F.coalesce(F.col("units"), F.lit(0))).cast("long").alias("units"),
            F.sum(_money("amount")).alias("revenue"),
        )
        .withColumn("dimension", F.lit(dimension))
        for dimension in ("source", "region")
    ]
    by_category = (
        lines.groupBy("date", "currency", F.col("category").alias("value"))
        .agg(
            F.countDistinct("order_id").alias("orders"),
            F.sum("quantity").cast("long").alias("units"),
            F.sum("line_amount").alias("revenue"),
        )
        .withColumn("dimension", F.lit("category"))
    )
    result = by_order[0].unionByName(by_order[1]).unionByName(by_category)
    return _finish(result.withColumn("revenue", _to_double(F.col("revenue"))), REVENUE_DAILY, updated_at)


def payment_methods_daily(silver: Silver, updated_at: dt.datetime) -> DataFrame:
    """Payment method performance per (date, currency, payment_method): attempts, failures, inflow."""
    result = silver.payments.groupBy(
        F.col("event_date").alias("date"),
        "currency",
        F.coalesce(F.col("payment_method"), F.lit(UNKNOWN)).alias("payment_method"),
    ).agg(
        F.count(F.lit(1)).alias("attempts"),
        F.count(F.when(F.col("status") == "failed", 1)).alias("failures"),
        F.sum(F.when(F.col("status") == "succeeded", _money("amount"))).alias("inflow"),
        F.countDistinct("order_id").alias("orders"),
        F.countDistinct(F.when(F.col("status") == "succeeded", F.col("order_id"))).alias("orders_paid"),
    )
    result = result.select(
        "date",
        "currency",
        "payment_method",
        "attempts",
        "failures",
        _rate(F.col("attempts") - F.col("failures"), F.col("attempts")).alias("success_rate"),
        _to_double(F.coalesce(F.col("inflow"), F.lit(0).cast(MONEY))).alias("inflow"),
        "orders",
        "orders_paid",
        # Attempts per paid order: 1.0 means every order paid at the first try.
        _rate(F.col("attempts"), F.col("orders_paid")).alias("attempts_per_paid_order"),
    )
    return _finish(result, PAYMENT_METHODS_DAILY, updated_at)


def payment_failures_daily(silver: Silver, updated_at: dt.datetime) -> DataFrame:
    """Failed transaction diagnostics per (date, currency, failure_code, payment_method, source)."""
    failed = silver.payments.where(F.col("status") == "failed")
    result = failed.groupBy(
        F.col("event_date").alias("date"),
        "currency",
        F.coalesce(F.col("failure_code"), F.lit(UNKNOWN)).alias("failure_code"),
        F.coalesce(F.col("payment_method"), F.lit(UNKNOWN)).alias("payment_method"),
        F.coalesce(F.col("source"), F.lit(UNKNOWN)).alias("source"),
    ).agg(
        F.count(F.lit(1)).alias("failures"),
        F.countDistinct("order_id").alias("orders"),
        _to_double(F.sum(_money("amount"))).alias("amount"),
    )
    return _finish(result, PAYMENT_FAILURES_DAILY, updated_at)


def _returned_lines(silver: Silver) -> DataFrame:
    """Each return of a cohort order, per category it touches, with its reason and returned units.

    A returned item's category is the category of the order's item with the same product_id;
    a return without items (or none matching) counts against every category of its order.
    """
    lines = order_lines(silver.orders)
    categories = lines.select("order_id", "product_id", "category").distinct()
    base = silver.returns.select("event_id", "order_id", "reason_code", "items")
    items = base.select("event_id", "order_id", "reason_code", F.explode("items").alias("item")).select(
        "event_id",
        "order_id",
        "reason_code",
        F.col("item.product_id").alias("product_id"),
        F.col("item.quantity").alias("quantity"),
    )
    matched = (
        items.join(categories, ["order_id", "product_id"])
        .groupBy("event_id", "order_id", "reason_code", "category")
        .agg(F.sum("quantity").cast("long").alias("units"))
    )
    unmatched = (
        base.join(matched.select("event_id").distinct(), "event_id", "left_anti")
        .join(categories.select("order_id", "category").distinct(), "order_id")
        .select("event_id", "order_id", "reason_code", "category", F.lit(0).cast("long").alias("units"))
    )
    cohort = lines.select("date", "currency", "order_id").distinct()
    return matched.unionByName(unmatched).join(cohort, "order_id")


def returns_by_category_daily(silver: Silver, updated_at: dt.datetime) -> DataFrame:
    """Return rate and order accuracy per (order date, currency, category).

    ``return_rate`` = orders with a return touching the category / orders with the category;
    ``order_accuracy`` = 1 - orders with a damaged/wrong_item/missing_item return in the category / orders.
    """
    lines = order_lines(silver.orders)
    ordered = lines.groupBy("date", "currency", "category").agg(F.countDistinct("order_id").alias("orders"))
    returned = (
        _returned_lines(silver)
        .groupBy("date", "currency", "category")
        .agg(
            F.countDistinct("order_id").alias("returned_orders"),
            F.countDistinct(F.when(F.col("reason_code").isin(list(INACCURACY_REASONS)), F.col("order_id"))).alias(
                "inaccurate_orders"
            ),
            F.sum("units").cast("long").alias("returned_units"),
        )
    )
    joined = ordered.join(returned, ["date", "currency", "category"], "left").fillna(
        0, ["returned_orders", "inaccurate_orders", "returned_units"]
    )
    result = joined.select(
        "date",
        "currency",
        "category",
        "orders",
        "returned_orders",
        _rate(F.col("returned_orders"), F.col("orders")).alias("return_rate"),
        "inaccurate_orders",
        F.when(F.col("orders") > 0, 1.0 - F.col("inaccurate_orders") / F.col("orders")).alias("order_accuracy"),
        "returned_units",
    )
    return _finish(result, RETURNS_BY_CATEGORY_DAILY, updated_at)


def return_reasons_daily(silver: Silver, updated_at: dt.datetime) -> DataFrame:
    """Returns and returned units per (order date, currency, category, reason_code)."""
    result = (
        _returned_lines(silver)
        .groupBy("date", "currency", "category", F.coalesce(F.col("reason_code"), F.lit(UNKNOWN)).alias("reason_code"))
        .agg(F.countDistinct("event_id").alias("returns"), F.sum("units").cast("long").alias("returned_units"))
    )
    return _finish(result, RETURN_REASONS_DAILY, updated_at)


def product_sales_daily(silver: Silver, updated_at: dt.datetime) -> DataFrame:
    """Units sold and returned per (order date, currency, product_id, category): the turnover numerator.

    The events carry no stock levels, so turnover itself (units sold / average units in stock)
    cannot be computed here; this table gives daily sales velocity per product, net of the
    units its orders sent back.
    """
    lines = order_lines(silver.orders)
    sold = lines.groupBy("date", "currency", "product_id", "category").agg(
        F.sum("quantity").cast("long").alias("units_sold"),
        F.countDistinct("order_id").alias("orders"),
        _to_double(F.sum("line_amount")).alias("revenue"),
    )
    returned_items = (
        silver.returns.select("order_id", F.explode("items").alias("item"))
        .select("order_id", F.col("item.product_id").alias("product_id"), F.col("item.quantity").alias("quantity"))
        .join(
            lines.select("date", "currency", "order_id", "product_id", "category").distinct(),
            ["order_id", "product_id"],
        )
        .groupBy("date", "currency", "product_id", "category")
        .agg(F.sum("quantity").cast("long").alias("units_returned"))
    )
    result = (
        sold.join(returned_items, ["date", "currency", "product_id", "category"], "left")
        .fillna(0, ["units_returned"])
        .withColumn("net_units", F.col("units_sold") - F.col("units_returned"))
    )
    return _finish(result, PRODUCT_SALES_DAILY, updated_at)


def fraud_daily(silver: Silver, updated_at: dt.datetime) -> DataFrame:
    """Fraud signals per (date, currency): chargebacks, fraud chargebacks, fraud declines, repeated failures."""
    chargebacks = silver.chargebacks.groupBy(F.col("event_date").alias("date"), "currency").agg(
        F.count(F.lit(1)).alias("chargebacks"),
        F.sum(_money("amount")).alias("chargeback_amount"),
        F.count(F.when(F.col("reason_code").isin(list(FRAUD_CHARGEBACK_REASONS)), 1)).alias("fraud_chargebacks"),
        F.sum(F.when(F.col("reason_code").isin(list(FRAUD_CHARGEBACK_REASONS)), _money("amount"))).alias(
            "fraud_chargeback_amount"
        ),
    )
    payments = silver.payments.select(
        F.col("event_date").alias("date"), "currency", "order_id", "status", "failure_code"
    )
    declines = payments.groupBy("date", "currency").agg(
        F.count(F.when(F.col("failure_code").isin(list(FRAUD_FAILURE_CODES)), 1)).alias("fraud_declines"),
        F.count(F.when(F.col("status") == "succeeded", 1)).alias("succeeded_payments"),
    )
    repeated = (
        payments.where(F.col("status") == "failed")
        .groupBy("date", "currency", "order_id")
        .count()
        .where(F.col("count") >= REPEATED_FAILURES)
        .groupBy("date", "currency")
        .agg(F.count(F.lit(1)).alias("orders_with_repeated_failures"))
    )
    keys = chargebacks.select("date", "currency").unionByName(declines.select("date", "currency")).distinct()
    joined = (
        keys.join(chargebacks, ["date", "currency"], "left")
        .join(declines, ["date", "currency"], "left")
        .join(repeated, ["date", "currency"], "left")
        .fillna(0, ["chargebacks", "fraud_chargebacks", "fraud_declines", "succeeded_payments"])
        .fillna(0, ["orders_with_repeated_failures"])
    )
    zero = F.lit(0).cast(MONEY)
    result = joined.select(
        "date",
        "currency",
        "chargebacks",
        _to_double(F.coalesce(F.col("chargeback_amount"), zero)).alias("chargeback_amount"),
        "fraud_chargebacks",
        _to_double(F.coalesce(F.col("fraud_chargeback_amount"), zero)).alias("fraud_chargeback_amount"),
        "fraud_declines",
        "orders_with_repeated_failures",
        _rate(F.col("chargebacks"), F.col("succeeded_payments")).alias("chargeback_rate"),
    )
    return _finish(result, FRAUD_DAILY, updated_at)


GoldTransform = Callable[[Silver, dt.datetime], DataFrame]
