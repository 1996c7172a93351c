"""The scheduled stalled-order check as a job: lake in, SNS out, once per order."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from pyspark.sql import SparkSession
from support.sns import subscribe_queue

from jobs.notify_stalled import run
from pipelines.aws.clients import client
from pipelines.lake import Lake, arrow_schema
from pipelines.local_services import MotoServer
from pipelines.notifications.ledger import ensure_ledger
from pipelines.schemas import ORDERS_TABLE, TABLES
from pipelines.settings import load_settings

pytestmark = pytest.mark.spark

T0 = dt.datetime(2026, 11, 2, 14, 0, tzinfo=dt.UTC)


def test_the_job_notifies_each_stalled_order_once(
    spark: SparkSession, moto_server: MotoServer, unique_name: str, tmp_path: Path
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    lake.ensure_tables()
    orders = [
        {
            "order_id": o,
            "customer_id": "c",
            "order_time": T0,
            "payment_method": m,
            "status": "created",
            "order_date": T0.date(),
        }
        for o, m in [("o1", "card"), ("o2", "cash_on_delivery")]
    ]
    write_deltalake(
        lake.uri(ORDERS_TABLE), pa.Table.from_pylist(orders, schema=arrow_schema(TABLES[ORDERS_TABLE])), mode="append"
    )
    topic_arn = client("sns").create_topic(Name=unique_name)["TopicArn"]
    subscriber = subscribe_queue(topic_arn, f"q-{unique_name}")
    settings = load_settings(
        None,
        [
            f"lake.root={lake.root}",
            f"alerts.topic={topic_arn}",
            f"notifications.ledger_table=ledger-{unique_name}",
        ],
    )
    now = dt.datetime(2026, 11, 2, 16, 0, tzinfo=dt.UTC)
    ensure_ledger(f"ledger-{unique_name}")
    first, second = run(settings, now), run(settings, now)
    assert (first.sent, second.sent) == (1, 0)
    received = subscriber.receive()
    assert [(m["body"]["notification_type"], m["body"]["key"]) for m in received] == [("order_stalled", "o1")]
    assert received[0]["body"]["occurred_at"] == "2026-11-02T15:00:00.000Z"
