"""Notifications wired into Spark: a committed batch end to end, the scheduled stalled check, failures."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQueryException
from pyspark.sql.types import LongType, StructField, StructType
from support.sns import Subscriber

from pipelines.aws.clients import AwsEndpoint
from pipelines.notifications.delivery import Notifier
from pipelines.notifications.ledger import Ledger
from pipelines.notifications.publisher import SnsPublisher
from pipelines.notifications.stream import (
    FailureListener,
    alert_on_failure,
    collect_notifications,
    notify_committed_batch,
    notify_stalled_orders,
)
from pipelines.schemas import SILVER_ORDERS, SILVER_PAYMENTS
from pipelines.settings import NotificationSettings
from pipelines.transforms.notifications import SilverBatch, batch_notifications

pytestmark = pytest.mark.spark

T0 = dt.datetime(2026, 11, 2, 14, 0)


def frame(spark: SparkSession, schema: StructType, rows: list[dict[str, Any]]) -> DataFrame:
    return spark.createDataFrame([tuple(row.get(f.name) for f in schema.fields) for row in rows], schema)


def _notifier(ledger: Ledger, subscriber: Subscriber) -> Notifier:
    endpoint = AwsEndpoint.from_environment()
    return Notifier(ledger, SnsPublisher(subscriber.topic_arn, endpoint, max_attempts=2, backoff_seconds=0.01))


def _payment(event_id: str, order_id: str, status: str, code: str | None = None) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "order_id": order_id,
        "transaction_id": f"t-{event_id}",
        "amount": 10.0,
        "currency": "EUR",
        "payment_method": "card",
        "status": status,
        "failure_code": code,
        "event_time": T0,
    }


def test_a_committed_batch_notifies_subscribers_once_even_when_replayed(
    spark: SparkSession, ledger: Ledger, subscriber: Subscriber
) -> None:
    payments = frame(
        spark,
        SILVER_PAYMENTS,
        [_payment("p1", "o1", "succeeded"), _payment("p2", "o2", "failed", "fraud_suspected")],
    )
    batch = SilverBatch(payments=payments)
    settings = NotificationSettings()
    first = notify_committed_batch(batch, settings, _notifier(ledger, subscriber))
    replay = notify_committed_batch(batch, settings, _notifier(ledger, subscriber))
    assert (first.sent, replay.sent, replay.already_handled) == (3, 0, 3)
    received = subscriber.receive()
    assert Counter((m["body"]["notification_type"], m["body"]["key"]) for m in received) == Counter(
        {("order_confirmed", "o1"): 1, ("payment_failed", "p2"): 1, ("suspected_fraud", "failure_code:o2"): 1}
    )
    fraud = next(m for m in received if m["body"]["notification_type"] == "suspected_fraud")
    assert fraud["attributes"] == {"notification_type": "suspected_fraud", "severity": "critical", "digest": "false"}
    assert fraud["body"]["order_id"] == "o2"
    assert fraud["body"]["event_id"] == "p2"
    assert fraud["body"]["occurred_at"] == "2026-11-02T14:00:00.000Z"


def test_the_scheduled_check_notifies_a_stalled_order_once(
    spark: SparkSession, ledger: Ledger, subscriber: Subscriber
) -> None:
    orders = frame(
        spark,
        SILVER_ORDERS,
        [
            {"order_id": "o1", "customer_id": "c", "order_time": T0, "payment_method": "card", "status": "created"},
            {"order_id": "o2", "customer_id": "c", "order_time": T0, "payment_method": "card", "status": "created"},
        ],
    )
    payments = frame(spark, SILVER_PAYMENTS, [_payment("p1", "o2", "succeeded")])
    settings = NotificationSettings()
    now = dt.datetime(2026, 11, 2, 15, 30, tzinfo=dt.UTC)
    runs = [notify_stalled_orders(orders, payments, settings, _notifier(ledger, subscriber), now=now) for _ in range(2)]
    assert [r.sent for r in runs] == [1, 0]
    assert [m["body"]["key"] for m in subscriber.receive()] == ["o1"]


def test_a_failing_batch_sends_pipeline_failure_and_the_query_stops_with_its_error(
    spark: SparkSession, ledger: Ledger, subscriber: Subscriber, tmp_path: Path
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "part.json").write_text('{"n": 1}\n', encoding="utf-8")

    def failing(df: DataFrame, batch_id: int) -> None:
        raise ValueError("silver write failed")

    notifier = _notifier(ledger, subscriber)
    listener = FailureListener(notifier)
    spark.streams.addListener(listener)
    try:
        query = (
            spark.readStream.schema(StructType([StructField("n", LongType())]))
            .json(str(tmp_path / "in"))
            .writeStream.foreachBatch(alert_on_failure(failing, notifier, "orders-stream-test"))
            .option("checkpointLocation", str(tmp_path / "checkpoint"))
            .trigger(availableNow=True)
            .start()
        )
        with pytest.raises(StreamingQueryException, match="silver write failed"):
            query.awaitTermination(120)
        # The listener runs on Spark's listener bus, after the query has stopped: once it says
        # so, both alerts are already there.
        assert listener.wait_for_failure(30)
        received = subscriber.receive(quiet_seconds=0.1)
    finally:
        spark.streams.removeListener(listener)
    by_stage = {m["body"]["detail"]["stage"]: m for m in received}
    assert set(by_stage) == {"batch", "query"}
    batch = by_stage["batch"]["body"]
    assert batch["notification_type"] == "pipeline_failure"
    assert batch["severity"] == "critical"
    assert batch["order_id"] is None
    assert batch["key"] == "orders-stream-test:-:0:ValueError"
    assert "silver write failed" in batch["detail"]["error"]
    assert json.dumps(by_stage["query"]["body"]).count("silver write failed") >= 1


def test_occurred_at_is_utc_whatever_the_driver_time_zone(spark: SparkSession, monkeypatch: pytest.MonkeyPatch) -> None:
    payments = frame(spark, SILVER_PAYMENTS, [_payment("p1", "o1", "failed", "timeout")])
    rules_frame = batch_notifications(SilverBatch(payments=payments), NotificationSettings())
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        found = {n.notification_type: n for n in collect_notifications(rules_frame)}
    finally:
        monkeypatch.undo()
        time.tzset()
    assert found["payment_failed"].occurred_at == T0.replace(tzinfo=dt.UTC)
