from __future__ import annotations

import datetime as dt
from typing import Any

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from pipelines.schemas import (
    CASH_FLOW_DAILY,
    DAILY_KPIS,
    FRAUD_DAILY,
    PAYMENT_FAILURES_DAILY,
    PAYMENT_METHODS_DAILY,
    RETURNS_BY_CATEGORY_DAILY,
    REVENUE_DAILY,
    SILVER_CHARGEBACKS,
    SILVER_ORDERS,
    SILVER_PAYMENTS,
    SILVER_RETURNS,
)
from pipelines.transforms import gold

UPDATED = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
D1 = dt.date(2026, 11, 20)
D2 = dt.date(2026, 11, 21)


def _frame(spark: SparkSession, schema: StructType, rows: list[dict[str, Any]]) -> DataFrame:
    return spark.createDataFrame([tuple(row.get(f.name) for f in schema.fields) for row in rows], schema)


def _item(product: str, category: str | None, price: float, quantity: int) -> dict[str, Any]:
    return {
        "product_id": product,
        "product_name": product,
        "category": category,
        "unit_price": price,
        "quantity": quantity,
    }


def _order(order_id: str, day: dt.date, amount: float, **fields: Any) -> dict[str, Any]:
    row = {
        "order_id": order_id,
        "order_date": day,
        "order_time": dt.datetime.combine(day, dt.time(12), dt.UTC),
        "amount": amount,
        "currency": "EUR",
        "source": "shop-a",
        "lat": 48.85,
        "lon": 2.35,
        "items": [_item("sku-1", "home", amount, 1)],
    }
    row.update(fields)
    return row


def _payment(
    event_id: str, order_id: str, day: dt.date, status: str, amount: float = 10.0, **fields: Any
) -> dict[str, Any]:
    row = {
        "event_id": event_id,
        "order_id": order_id,
        "event_date": day,
        "amount": amount,
        "currency": "EUR",
        "payment_method": "card",
        "status": status,
        "failure_code": "card_declined" if status == "failed" else None,
        "source": "psp",
    }
    row.update(fields)
    return row


def _return(event_id: str, order_id: str, day: dt.date, refund: float, **fields: Any) -> dict[str, Any]:
    row = {
        "event_id": event_id,
        "order_id": order_id,
        "event_date": day,
        "refund_amount": refund,
        "currency": "EUR",
        "reason_code": "changed_mind",
        "items": [],
    }
    row.update(fields)
    return row


def _chargeback(
    event_id: str, order_id: str, day: dt.date, amount: float, reason: str = "fraudulent"
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "order_id": order_id,
        "event_date": day,
        "amount": amount,
        "currency": "EUR",
        "reason_code": reason,
    }


def _silver(
    spark: SparkSession,
    orders: list[dict[str, Any]] | None = None,
    payments: list[dict[str, Any]] | None = None,
    returns: list[dict[str, Any]] | None = None,
    chargebacks: list[dict[str, Any]] | None = None,
) -> gold.Silver:
    return gold.Silver(
        orders=_frame(spark, SILVER_ORDERS, orders or []),
        payments=_frame(spark, SILVER_PAYMENTS, payments or []),
        returns=_frame(spark, SILVER_RETURNS, returns or []),
        chargebacks=_frame(spark, SILVER_CHARGEBACKS, chargebacks or []),
    )


def _assert_rows(result: DataFrame, schema: StructType, rows: list[dict[str, Any]]) -> None:
    """``result`` holds exactly ``rows`` (in any order), each stamped ``updated_at`` = UPDATED."""
    expected = _frame(result.sparkSession, schema, [{**row, "updated_at": UPDATED} for row in rows])
    # Spark infers non-null for some aggregates; the tables' schemas are all nullable, so only values are compared.
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)


def test_daily_kpis_follow_the_contract_with_null_rates_where_a_denominator_is_zero(spark: SparkSession) -> None:
    silver = _silver(
        spark,
        orders=[
            _order("o1", D1, 10.10, sentiment_label="Good"),
            _order("o2", D1, 20.20, sentiment_label="Neutral"),
            _order("o3", D1, 0.05),
        ],
        payments=[_payment("p1", "o1", D1, "succeeded"), _payment("p2", "o2", D1, "failed")],
        # o1's return comes a day later: it counts in D1's return rate and satisfaction.
        returns=[_return("r1", "o1", D2, 5.0, sentiment_label="Bad")],
        chargebacks=[_chargeback("c1", "o1", D1, 10.0)],
    )

    result = gold.daily_kpis(silver, UPDATED)

    _assert_rows(
        result,
        DAILY_KPIS,
        [
            {
                "date": D1,
                "currency": "EUR",
                "orders": 3,
                "gross_revenue": 30.35,
                "payment_attempts": 2,
                "payment_failures": 1,
                "payment_success_rate": 0.5,
                "chargeback_rate": 1.0,
                "return_rate": 1 / 3,
                "satisfaction": 0.5,
            },
            # Only a return that day: no orders, no payments, no comments.
            {
                "date": D2,
                "currency": "EUR",
                "orders": 0,
                "gross_revenue": 0.0,
                "payment_attempts": 0,
                "payment_failures": 0,
                "payment_success_rate": None,
                "chargeback_rate": None,
                "return_rate": None,
                "satisfaction": None,
            },
        ],
    )


def test_cash_flow_sums_cents_exactly_and_nets_refunds_and_chargebacks(spark: SparkSession) -> None:
    silver = _silver(
        spark,
        payments=[
            _payment("p1", "o1", D1, "succeeded", 0.1),
            _payment("p2", "o1", D1, "succeeded", 0.2),
            _payment("p3", "o2", D1, "failed", 99.0),
            _payment("p4", "o3", D1, "succeeded", 5.0, currency="USD"),
        ],
        returns=[_return("r1", "o1", D1, 0.15)],
        chargebacks=[_chargeback("c1", "o1", D2, 0.3)],
    )

    result = gold.cash_flow_daily(silver, UPDATED)

    _assert_rows(
        result,
        CASH_FLOW_DAILY,
        [
            # 0.1 + 0.2 is 0.30000000000000004 in doubles: summed as cents it is 0.3.
            {"date": D1, "currency": "EUR", "inflow": 0.3, "refunds": 0.15, "chargebacks": 0.0, "net": 0.15},
            {"date": D1, "currency": "USD", "inflow": 5.0, "refunds": 0.0, "chargebacks": 0.0, "net": 5.0},
            {"date": D2, "currency": "EUR", "inflow": 0.0, "refunds": 0.0, "chargebacks": 0.3, "net": -0.3},
        ],
    )


def test_regions_come_from_the_gps_boxes_and_unknown_without_a_location(spark: SparkSession) -> None:
    places = [
        (48.85, 2.35),
        (40.71, -74.0),
        (19.43, -99.13),
        (35.68, 139.65),
        (-33.87, 151.21),
        (None, None),
        (0.0, -160.0),
    ]
    orders = _frame(
        spark, SILVER_ORDERS, [_order(f"o{i}", D1, 1.0, lat=lat, lon=lon) for i, (lat, lon) in enumerate(places)]
    )

    regions = [row["region"] for row in orders.transform(gold.with_region).orderBy("order_id").collect()]

    assert regions == ["europe", "north_america", "latin_america", "asia", "oceania", "unknown", "unknown"]


def test_revenue_splits_by_source_region_and_item_category(spark: SparkSession) -> None:
    silver = _silver(
        spark,
        orders=[
            _order("o1", D1, 30.0, items=[_item("a", "home", 10.0, 2), _item("b", "toys", 10.0, 1)]),
            _order("o2", D1, 5.5, source="shop-b", lat=None, lon=None, items=[_item("c", None, 5.5, 1)]),
        ],
    )

    result = gold.revenue_daily(silver, UPDATED)

    def row(dimension: str, value: str, orders: int, units: int, revenue: float) -> dict[str, Any]:
        return {
            "date": D1,
            "currency": "EUR",
            "dimension": dimension,
            "value": value,
            "orders": orders,
            "units": units,
            "revenue": revenue,
        }

    _assert_rows(
        result,
        REVENUE_DAILY,
        [
            row("source", "shop-a", 1, 3, 30.0),
            row("source", "shop-b", 1, 1, 5.5),
            row("region", "europe", 1, 3, 30.0),
            row("region", "unknown", 1, 1, 5.5),
            row("category", "home", 1, 2, 20.0),
            row("category", "toys", 1, 1, 10.0),
            row("category", "unknown", 1, 1, 5.5),
        ],
    )


def test_payment_method_performance_and_failure_diagnostics(spark: SparkSession) -> None:
    silver = _silver(
        spark,
        payments=[
            _payment("p1", "o1", D1, "failed", 10.0),
            _payment("p2", "o1", D1, "succeeded", 10.0),
            _payment("p3", "o2", D1, "failed", 7.0, failure_code="fraud_suspected"),
        ],
    )

    methods = gold.payment_methods_daily(silver, UPDATED)
    failures = gold.payment_failures_daily(silver, UPDATED)

    _assert_rows(
        methods,
        PAYMENT_METHODS_DAILY,
        [
            {
                "date": D1,
                "currency": "EUR",
                "payment_method": "card",
                "attempts": 3,
                "failures": 2,
                "success_rate": 1 / 3,
                "inflow": 10.0,
                "orders": 2,
                "orders_paid": 1,
                "attempts_per_paid_order": 3.0,
            }
        ],
    )
    base = {"date": D1, "currency": "EUR", "payment_method": "card", "source": "psp", "failures": 1, "orders": 1}
    _assert_rows(
        failures,
        PAYMENT_FAILURES_DAILY,
        [
            {**base, "failure_code": "card_declined", "amount": 10.0},
            {**base, "failure_code": "fraud_suspected", "amount": 7.0},
        ],
    )


def test_return_rate_and_order_accuracy_by_category_count_returns_of_the_orders_of_the_date(
    spark: SparkSession,
) -> None:
    two = [_item("a", "home", 10.0, 1), _item("b", "toys", 10.0, 1)]
    silver = _silver(
        spark,
        orders=[_order("o1", D1, 20.0, items=two), _order("o2", D1, 20.0, items=two), _order("o3", D1, 10.0)],
        returns=[
            # A damaged toy: o1 is inaccurate in toys only.
            _return("r1", "o1", D2, 10.0, reason_code="damaged", items=[{"product_id": "b", "quantity": 1}]),
            # No items named: the return counts against both of o2's categories.
            _return("r2", "o2", D2, 20.0, reason_code="changed_mind", items=[]),
        ],
    )

    result = gold.returns_by_category_daily(silver, UPDATED)

    base = {"date": D1, "currency": "EUR"}
    _assert_rows(
        result,
        RETURNS_BY_CATEGORY_DAILY,
        [
            {**base, "category": "home", "orders": 3, "returned_orders": 1, "return_rate": 1 / 3,
             "inaccurate_orders": 0, "order_accuracy": 1.0, "returned_units": 0},
            {**base, "category": "toys", "orders": 2, "returned_orders": 2, "return_rate": 1.0,
             "inaccurate_orders": 1, "order_accuracy": 0.5, "returned_units": 1},
        ],
    )  # fmt: skip


def test_fraud_signals_count_fraud_chargebacks_declines_and_repeated_failures(spark: SparkSession) -> None:
    silver = _silver(
        spark,
        payments=[
            *[_payment(f"f{i}", "o9", D1, "failed", 50.0) for i in range(3)],
            _payment("p1", "o1", D1, "failed", 9.0, failure_code="fraud_suspected"),
            _payment("p2", "o2", D1, "succeeded", 9.0),
        ],
        chargebacks=[_chargeback("c1", "o2", D1, 9.0), _chargeback("c2", "o3", D1, 1.0, reason="duplicate")],
    )

    result = gold.fraud_daily(silver, UPDATED)

    _assert_rows(
        result,
        FRAUD_DAILY,
        [
            {
                "date": D1,
                "currency": "EUR",
                "chargebacks": 2,
                "chargeback_amount": 10.0,
                "fraud_chargebacks": 1,
                "fraud_chargeback_amount": 9.0,
                "fraud_declines": 1,
                "orders_with_repeated_failures": 1,
                "chargeback_rate": 2.0,
            }
        ],
    )


def test_for_dates_keeps_only_the_dates_being_recomputed(spark: SparkSession) -> None:
    frame = _frame(spark, CASH_FLOW_DAILY, [{"date": D1, "currency": "EUR"}, {"date": D2, "currency": "EUR"}])

    assert [row["date"] for row in frame.transform(gold.for_dates([D2])).collect()] == [D2]
    assert frame.transform(gold.for_dates([])).count() == 0
    assert frame.transform(gold.for_dates(None)).count() == 2
