"""The notification rules on tiny silver-shaped frames: which rows fire, with which keys and details."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from pipelines.schemas import SILVER_CHARGEBACKS, SILVER_ORDER_UPDATES, SILVER_ORDERS, SILVER_PAYMENTS, SILVER_RETURNS
from pipelines.settings import NotificationSettings
from pipelines.transforms import notifications as rules
from pipelines.transforms.notifications import NOTIFICATION, SilverBatch

pytestmark = pytest.mark.spark

T0 = dt.datetime(2026, 11, 2, 14, 0)
PARIS = (48.8566, 2.3522)
LYON = (45.7640, 4.8357)
TOKYO = (35.6762, 139.6503)


def frame(spark: SparkSession, schema: StructType, rows: list[dict[str, Any]]) -> DataFrame:
    return spark.createDataFrame([tuple(row.get(f.name) for f in schema.fields) for row in rows], schema)


def order(order_id: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "order_id": order_id,
        "event_id": f"evt-{order_id}",
        "customer_id": "cus-1",
        "customer_name": "Amelia Hart",
        "customer_email": "amelia@example.com",
        "order_time": T0,
        "amount": 100.0,
        "currency": "EUR",
        "lat": PARIS[0],
        "lon": PARIS[1],
        "payment_method": "card",
        "source": "shopify-eu-03",
        "status": "created",
    }
    row.update(values)
    return row


def payment(event_id: str, order_id: str, status: str, minutes: int = 1, code: str | None = None) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "order_id": order_id,
        "transaction_id": f"txn-{event_id}",
        "amount": 100.0,
        "currency": "EUR",
        "payment_method": "card",
        "status": status,
        "failure_code": code,
        "event_time": T0 + dt.timedelta(minutes=minutes),
    }


def keys(df: DataFrame) -> list[tuple[str, str, str]]:
    return sorted((r.notification_type, r.key, r.severity) for r in df.collect())


def details(df: DataFrame) -> dict[str, dict[str, Any]]:
    return {r.key: json.loads(r.detail) for r in df.collect()}


def expected(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    """Expected notification rows without ``detail`` (compared separately)."""
    schema = StructType([f for f in NOTIFICATION.fields if f.name != "detail"])
    return spark.createDataFrame(rows, schema)


def test_first_successful_payment_of_each_order_confirms_it(spark: SparkSession) -> None:
    payments = frame(
        spark,
        SILVER_PAYMENTS,
        [
            payment("p2", "o1", "succeeded", minutes=5),
            payment("p1", "o1", "succeeded", minutes=3),
            payment("p3", "o2", "failed", code="card_declined"),
        ],
    )
    result = rules.order_confirmed(payments)
    assert_df_equality(
        result.drop("detail"),
        expected(spark, [("order_confirmed", "o1", "info", "o1", "p1", T0 + dt.timedelta(minutes=3))]),
        ignore_nullable=True,
    )
    assert details(result)["o1"] == {
        "transaction_id": "txn-p1",
        "amount": 100.0,
        "currency": "EUR",
        "payment_method": "card",
    }


def test_every_failed_payment_is_notified_with_its_failure_code(spark: SparkSession) -> None:
    payments = frame(
        spark,
        SILVER_PAYMENTS,
        [payment("p1", "o1", "failed", code="card_declined"), payment("p2", "o1", "failed", code="timeout")],
    )
    result = rules.payment_failed(payments)
    assert keys(result) == [("payment_failed", "p1", "warning"), ("payment_failed", "p2", "warning")]
    assert details(result)["p2"]["failure_code"] == "timeout"


def test_first_packed_update_notifies_shipping_once_per_order(spark: SparkSession) -> None:
    updates = frame(
        spark,
        SILVER_ORDER_UPDATES,
        [
            {"event_id": "u2", "order_id": "o1", "status": "packed", "event_time": T0, "source": "wms-paris"},
            {"event_id": "u1", "order_id": "o1", "status": "packed", "event_time": T0, "source": "wms-lyon"},
            {"event_id": "u3", "order_id": "o2", "status": "shipped", "event_time": T0},
        ],
    )
    result = rules.order_packed(updates)
    assert [(r.key, r.event_id) for r in result.collect()] == [("o1", "u1")]
    assert details(result)["o1"]["warehouse"] == "wms-lyon"


def test_high_value_uses_the_threshold_of_the_order_currency(spark: SparkSession) -> None:
    orders = frame(
        spark,
        SILVER_ORDERS,
        [
            order("o1", amount=900.0, currency="EUR"),
            order("o2", amount=899.99, currency="EUR"),
            order("o3", amount=900.0, currency="USD"),
            order("o4", amount=10_000_000.0, currency="XYZ"),
        ],
    )
    result = rules.high_value_orders(orders, {"EUR": 900.0, "USD": 1000.0})
    assert keys(result) == [("high_value_order", "o1", "info")]
    assert details(result)["o1"]["threshold"] == 900.0
    assert rules.high_value_orders(orders, {}).count() == 0


def test_bad_comments_on_orders_and_returns_are_negative_feedback(spark: SparkSession) -> None:
    orders = frame(
        spark,
        SILVER_ORDERS,
        [
            order("o1", comment="Awful, never again", sentiment_label="Bad", sentiment_score=-0.7),
            order("o2", comment="Lovely", sentiment_label="Good", sentiment_score=0.6),
        ],
    )
    returns = frame(
        spark,
        SILVER_RETURNS,
        [
            {"event_id": "r1", "order_id": "o2", "return_id": "ret-1", "comment": "x" * 40, "sentiment_label": "Bad"},
            {"event_id": "r2", "order_id": "o2", "return_id": "ret-2", "comment": None, "sentiment_label": None},
        ],
    )
    from_orders = rules.negative_order_feedback(orders)
    from_returns = rules.negative_return_feedback(returns, max_comment_chars=10)
    assert keys(from_orders.unionByName(from_returns)) == [
        ("negative_feedback", "order:o1", "warning"),
        ("negative_feedback", "return:r1", "warning"),
    ]
    assert details(from_returns)["return:r1"]["comment"] == "x" * 10 + "…"


def test_every_chargeback_is_critical(spark: SparkSession) -> None:
    chargebacks = frame(
        spark,
        SILVER_CHARGEBACKS,
        [{"event_id": "c1", "order_id": "o1", "chargeback_id": "cb-17", "amount": 25.0, "reason_code": "fraud"}],
    )
    result = rules.chargeback_received(chargebacks)
    assert keys(result) == [("chargeback_received", "c1", "critical")]
    assert details(result)["c1"]["chargeback_id"] == "cb-17"


def _ret(event_id: str, order_id: str, days: float, reason: str = "damaged", **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event_id": event_id,
        "order_id": order_id,
        "return_id": f"ret-{event_id}",
        "refund_amount": 50.0,
        "currency": "EUR",
        "reason_code": reason,
        "event_time": T0 + dt.timedelta(days=days),
        "items": [("sku-1", 1)],
    }
    row.update(values)
    return row


def test_return_decision_approves_within_the_window_and_lists_every_review_reason(spark: SparkSession) -> None:
    shoes = [("sku-1", "Trail Runner", "shoes", 50.0, 1), ("sku-2", "Earbuds", "electronics", 50.0, 1)]
    orders = frame(spark, SILVER_ORDERS, [order("o1", items=shoes)])
    returns = frame(
        spark,
        SILVER_RETURNS,
        [
            _ret("r1", "o1", days=20),  # shoes: 30-day window
            _ret("r2", "o1", days=20, items=[("sku-2", 1)]),  # electronics: 14 days
            _ret("r3", "o1", days=1, reason="other", sentiment_label="Bad", refund_amount=500.0),
            _ret("r4", "o-unknown", days=1),
        ],
    )
    result = rules.return_decisions(returns, orders, window_days=30, window_days_by_category={"electronics": 14})
    found = details(result)
    assert {k: (v["decision"], v["review_reasons"]) for k, v in found.items()} == {
        "r1": ("approve", []),
        "r2": ("review", ["outside_return_window"]),
        "r3": ("review", ["reason_needs_review", "negative_sentiment", "refund_exceeds_order"]),
        "r4": ("review", ["order_not_found"]),
    }
    assert (found["r2"]["window_days"], found["r2"]["categories"], found["r2"]["days_since_order"]) == (
        14,
        ["electronics"],
        20.0,
    )
    assert keys(result)[0] == ("return_decision", "r1", "info")


def test_a_fraud_failure_code_flags_the_order_once(spark: SparkSession) -> None:
    payments = frame(
        spark,
        SILVER_PAYMENTS,
        [
            payment("p1", "o1", "failed", minutes=1, code="fraud_suspected"),
            payment("p2", "o1", "failed", minutes=2, code="fraud_suspected"),
            payment("p3", "o2", "failed", code="card_declined"),
        ],
    )
    result = rules.fraud_failure_codes(payments, ["fraud_suspected"])
    assert [(r.key, r.event_id, r.severity) for r in result.collect()] == [("failure_code:o1", "p1", "critical")]


def test_many_failed_attempts_counts_history_and_names_the_attempt_that_reached_the_limit(
    spark: SparkSession,
) -> None:
    history = frame(
        spark,
        SILVER_PAYMENTS,
        [payment("p1", "o1", "failed", 1, "card_declined"), payment("p2", "o1", "failed", 2, "timeout")],
    )
    batch = frame(
        spark,
        SILVER_PAYMENTS,
        [
            payment("p3", "o1", "failed", 3, "card_declined"),
            payment("p2", "o1", "failed", 2, "timeout"),  # a replayed row counts once
            payment("p9", "o2", "failed", 1, "timeout"),
        ],
    )
    result = rules.many_failed_attempts(batch, history, min_failures=3)
    assert [(r.key, r.event_id) for r in result.collect()] == [("many_failed_attempts:o1", "p3")]
    assert details(result)["many_failed_attempts:o1"]["failure_codes"] == ["card_declined", "timeout"]
    assert rules.many_failed_attempts(batch, history, min_failures=4).count() == 0


def test_an_order_far_from_every_earlier_order_of_the_customer_is_suspect(spark: SparkSession) -> None:
    history = frame(
        spark,
        SILVER_ORDERS,
        [
            order("h1", order_time=T0 - dt.timedelta(days=9)),
            order("h2", order_time=T0 - dt.timedelta(days=5), lat=LYON[0], lon=LYON[1]),
            order("n1", customer_id="cus-2", order_time=T0 - dt.timedelta(days=1)),
        ],
    )
    batch = frame(
        spark,
        SILVER_ORDERS,
        [
            order("o1", lat=TOKYO[0], lon=TOKYO[1]),
            order("o2", lat=LYON[0] + 0.1, lon=LYON[1]),
            order("o3", customer_id="cus-2", lat=TOKYO[0], lon=TOKYO[1]),  # one earlier order: not judged
        ],
    )
    result = rules.far_from_usual_location(batch, history, distance_km=1000, min_history=2)
    assert keys(result) == [("suspected_fraud", "far_from_usual_location:o1", "critical")]
    detail = details(result)["far_from_usual_location:o1"]
    assert 9000 < detail["nearest_earlier_order_km"] < 10_000
    assert detail["earlier_orders"] == 2


def test_velocity_fires_for_the_orders_that_reach_the_count_within_the_window(spark: SparkSession) -> None:
    minutes = [0, 10, 20, 30]
    history = frame(spark, SILVER_ORDERS, [order(f"h{m}", order_time=T0 + dt.timedelta(minutes=m)) for m in minutes])
    batch = frame(
        spark,
        SILVER_ORDERS,
        [
            order("o5", order_time=T0 + dt.timedelta(minutes=40)),
            order("o6", order_time=T0 + dt.timedelta(minutes=200)),
        ],
    )
    result = rules.order_velocity(batch, history, max_orders=5, window_minutes=60)
    assert keys(result) == [("suspected_fraud", "velocity:o5", "critical")]
    assert details(result)["velocity:o5"]["orders_in_window"] == 5


def test_an_order_without_successful_payment_stalls_after_its_method_wait(spark: SparkSession) -> None:
    now = dt.datetime(2026, 11, 2, 16, 0, tzinfo=dt.UTC)
    orders = frame(
        spark,
        SILVER_ORDERS,
        [
            order("o1"),  # 2 h, card, nothing paid
            order("o2"),  # paid
            order("o3", status="cancelled"),
            order("o4", payment_method="cash_on_delivery"),
            order("o5", payment_method="bank_transfer"),  # 3 days allowed
            order("o6", order_time=T0 + dt.timedelta(minutes=90)),  # only 30 min old
            order("o7", order_time=T0 - dt.timedelta(days=30)),  # outside the look-back
        ],
    )
    payments = frame(
        spark,
        SILVER_PAYMENTS,
        [payment("p1", "o1", "failed", code="timeout"), payment("p2", "o2", "succeeded")],
    )
    result = rules.stalled_orders(
        orders,
        payments,
        now=now,
        stalled_minutes=60,
        minutes_by_payment_method={"bank_transfer": 4320},
        exempt_payment_methods=["cash_on_delivery"],
        lookback_hours=168,
    )
    assert_df_equality(
        result.drop("detail"),
        expected(spark, [("order_stalled", "o1", "warning", "o1", "evt-o1", T0 + dt.timedelta(minutes=60))]),
        ignore_nullable=True,
    )
    assert details(result)["o1"]["failed_attempts"] == 1


def test_a_replayed_batch_yields_identical_rows(spark: SparkSession) -> None:
    payments = [payment("p1", "o1", "succeeded"), payment("p2", "o2", "failed", code="fraud_suspected")]
    first = rules.batch_notifications(SilverBatch(payments=frame(spark, SILVER_PAYMENTS, payments)), SETTINGS)
    again = rules.batch_notifications(
        SilverBatch(payments=frame(spark, SILVER_PAYMENTS, list(reversed(payments)))), SETTINGS
    )
    assert first is not None
    assert again is not None
    assert_df_equality(first, again, ignore_row_order=True)


SETTINGS = NotificationSettings()


def test_no_rule_puts_the_customer_email_or_name_in_a_notification(spark: SparkSession) -> None:
    email = "amelia@example.com"
    orders = frame(
        spark,
        SILVER_ORDERS,
        [
            order("o1", amount=5000.0, comment=f"Terrible, mail me at {email}", sentiment_label="Bad"),
            order("o2", amount=5000.0, lat=TOKYO[0], lon=TOKYO[1]),
        ],
    )
    history = frame(
        spark,
        SILVER_ORDERS,
        [order(f"h{i}", order_time=T0 - dt.timedelta(days=i + 1)) for i in range(5)],
    )
    returns = frame(spark, SILVER_RETURNS, [_ret("r1", "o1", 1, comment=f"{email} here", sentiment_label="Bad")])
    batch = SilverBatch(orders=orders, customer_orders=history, returns=returns, return_orders=orders)
    result = rules.batch_notifications(batch, SETTINGS)
    assert result is not None
    from pipelines.notifications.model import Notification

    bodies = [Notification.from_row(row).body() for row in result.collect()]
    assert {json.loads(b)["notification_type"] for b in bodies} == {
        "high_value_order",
        "negative_feedback",
        "suspected_fraud",
        "return_decision",
    }
    # The rows themselves carry the address inside the comment; the message bodies never do.
    assert not any(email in body or "Amelia" in body for body in bodies)
