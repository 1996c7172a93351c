"""The after-commit hook against a real (local) lake: only what the batch committed is announced."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from pyspark.sql import SparkSession
from pyspark.sql.types import StringType, StructField, StructType, TimestampType
from support.sns import Subscriber

from pipelines.aws.clients import AwsEndpoint
from pipelines.lake import Lake, arrow_schema
from pipelines.notifications.delivery import Notifier
from pipelines.notifications.lake import LakeNotifications
from pipelines.notifications.ledger import Ledger
from pipelines.notifications.publisher import SnsPublisher
from pipelines.schemas import ORDERS_TABLE, PAYMENTS_TABLE, RETURNS_TABLE, TABLES
from pipelines.settings import NotificationSettings

pytestmark = pytest.mark.spark

T0 = dt.datetime(2026, 11, 2, 14, 0, tzinfo=dt.UTC)
ACCEPTED = StructType(
    [
        StructField("event_id", StringType()),
        StructField("event_type", StringType()),
        StructField("order_id", StringType()),
        StructField("event_time", TimestampType()),
    ]
)


def write(lake: Lake, table: str, rows: list[dict[str, Any]]) -> None:
    schema = arrow_schema(TABLES[table])
    write_deltalake(lake.uri(table), pa.Table.from_pylist(rows, schema=schema), mode="append")


def payment(event_id: str, order_id: str, status: str, batch_id: int, minutes: int = 0) -> dict[str, Any]:
    at = T0 + dt.timedelta(minutes=minutes)
    return {
        "event_id": event_id,
        "order_id": order_id,
        "transaction_id": f"t-{event_id}",
        "amount": 10.0,
        "currency": "EUR",
        "payment_method": "card",
        "status": status,
        "failure_code": None if status == "succeeded" else "card_declined",
        "event_time": at,
        "batch_id": batch_id,
        "event_date": at.date(),
    }


def order(order_id: str, batch_id: int, days_before: int = 0, **values: Any) -> dict[str, Any]:
    at = T0 - dt.timedelta(days=days_before)
    row = {
        "order_id": order_id,
        "event_id": f"evt-{order_id}",
        "customer_id": "cus-1",
        "customer_name": "Amelia Hart",
        "customer_email": "amelia@example.com",
        "order_time": at,
        "amount": 50.0,
        "currency": "EUR",
        "lat": 48.85,
        "lon": 2.35,
        "payment_method": "card",
        "status": "created",
        "items": [
            {"product_id": "sku-1", "product_name": "Shoe", "category": "shoes", "unit_price": 50.0, "quantity": 1}
        ],
        "batch_id": batch_id,
        "order_date": at.date(),
    }
    row.update(values)
    return row


def test_the_hook_announces_exactly_what_the_batch_committed(
    spark: SparkSession, ledger: Ledger, subscriber: Subscriber, tmp_path: Path
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    lake.ensure_tables()
    write(
        lake,
        PAYMENTS_TABLE,
        [
            payment("p0", "o2", "failed", batch_id=5, minutes=-2),
            payment("p2", "o2", "failed", batch_id=5, minutes=-1),
            payment("p9", "o9", "succeeded", batch_id=6),  # another batch: not announced now
            payment("p1", "o1", "succeeded", batch_id=7),
            payment("p3", "o2", "failed", batch_id=7),
        ],
    )
    write(
        lake,
        ORDERS_TABLE,
        [order("h1", batch_id=3, days_before=10), order("o1", batch_id=7, amount=5000.0)],
    )
    returned_at = T0 + dt.timedelta(days=3)
    write(
        lake,
        RETURNS_TABLE,
        [
            {
                "event_id": "r1",
                "order_id": "o1",
                "return_id": "ret-1",
                "refund_amount": 50.0,
                "currency": "EUR",
                "reason_code": "damaged",
                "event_time": returned_at,
                "comment": "Fell apart, write to amelia@example.com",
                "sentiment_label": "Bad",
                "sentiment_score": -0.6,
                "batch_id": 7,
                "event_date": returned_at.date(),
            }
        ],
    )
    accepted = spark.createDataFrame(
        [
            ("p1", "payment", "o1", T0),
            ("p3", "payment", "o2", T0),
            ("evt-o1", "new_order", "o1", T0),
            ("r1", "return_order", "o1", returned_at),
        ],
        ACCEPTED,
    )
    endpoint = AwsEndpoint.from_environment()
    hook = LakeNotifications(
        lake,
        NotificationSettings(),
        Notifier(ledger, SnsPublisher(subscriber.topic_arn, endpoint, max_attempts=2, backoff_seconds=0.01)),
    )
    hook(accepted, 7)
    replay = hook.notify(accepted, 7)
    assert replay.sent == 0
    received = subscriber.receive()
    assert sorted((m["body"]["notification_type"], m["body"]["key"]) for m in received) == [
        ("high_value_order", "o1"),
        ("negative_feedback", "return:r1"),
        ("order_confirmed", "o1"),
        ("payment_failed", "p3"),
        ("return_decision", "r1"),
        ("suspected_fraud", "many_failed_attempts:o2"),
    ]
    decision = next(m["body"] for m in received if m["body"]["notification_type"] == "return_decision")
    assert decision["detail"]["decision"] == "review"
    assert decision["detail"]["review_reasons"] == ["negative_sentiment"]
    assert decision["detail"]["categories"] == ["shoes"]
    assert not any("amelia" in str(m["body"]).lower() for m in received)
