"""No credentials in the repository or the settings; customer e-mail never reaches subscribers or gold tables."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pyspark.sql import SparkSession
from support.sns import subscribe_queue

from pipelines.aws.clients import AwsEndpoint, client
from pipelines.lake import Lake
from pipelines.local_services import MotoServer
from pipelines.notifications.delivery import Notifier
from pipelines.notifications.lake import LakeNotifications
from pipelines.notifications.ledger import Ledger
from pipelines.notifications.publisher import SnsPublisher
from pipelines.schemas import GOLD_TABLES, ORDERS_TABLE, RAW, TABLES
from pipelines.sentiment import scorer_from_settings
from pipelines.settings import NotificationSettings, SentimentSettings, Settings, load_settings
from pipelines.sinks.lakehouse import LakehouseWriter
from pipelines.transforms.sentiment import with_sentiment

REPO_ROOT = Path(__file__).resolve().parents[2]
EMAIL = "amelia.hart+vip@example.com"
SECRET_PATTERNS = {
    "AWS access key id": re.compile(rb"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b"),
    "AWS secret access key": re.compile(
        rb"(?i)aws_?secret_?access_?key['\"]?\s*[:=]\s*['\"]?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"
    ),
    "private key": re.compile(rb"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"),
    "GitHub token": re.compile(rb"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
}
CREDENTIAL_NAMES = re.compile(r"(?i)secret|password|passwd|access_key|session_token|auth_token|credential|api_key")


def _repo_files() -> list[Path]:
    """Tracked files plus new ones not ignored: what a commit of this checkout would publish."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    ).stdout
    return [REPO_ROOT / name for name in listing.decode().split("\0") if name]


def test_secret_patterns_find_what_they_are_meant_to_find() -> None:
    # Built at run time so that this file holds no key-shaped string itself.
    fake_id = ("AKIA" + "Q" * 16).encode()
    fake_secret = b"aws_secret_access_key = " + b"a" * 40
    assert SECRET_PATTERNS["AWS access key id"].search(b"key: " + fake_id)
    assert SECRET_PATTERNS["AWS secret access key"].search(fake_secret)
    assert not SECRET_PATTERNS["AWS access key id"].search(b"AWS_ACCESS_KEY_ID=testing")


def test_no_file_of_the_repository_holds_a_credential() -> None:
    files = [path for path in _repo_files() if path.is_file()]
    assert len(files) > 50, "the listing found too few files to prove anything"
    found = []
    for path in files:
        data = path.read_bytes()
        for name, pattern in SECRET_PATTERNS.items():
            if pattern.search(data):
                found.append(f"{path.relative_to(REPO_ROOT)}: {name}")
    assert found == []


def _fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    names = []
    for name, info in model.model_fields.items():
        names.append(f"{prefix}{name}")
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += _fields(annotation, f"{prefix}{name}.")
    return names


def test_settings_have_no_credential_keys_and_the_shipped_files_set_none() -> None:
    """Credentials come from the standard AWS chain (instance role, environment, profile) only."""
    names = _fields(Settings)
    assert "lake.root" in names
    assert [name for name in names if CREDENTIAL_NAMES.search(name)] == []
    for conf in sorted((REPO_ROOT / "conf").glob("*.yaml")):
        settings = load_settings(conf)
        assert settings.source.options == {} or not any(CREDENTIAL_NAMES.search(k) for k in settings.source.options)
        assert [k for k in settings.spark.conf if CREDENTIAL_NAMES.search(k)] == [], conf.name


def _events() -> list[dict[str, Any]]:
    when = "2026-11-20T10:00:00Z"
    customer = {"id": "cus-sec", "name": "Amelia Hart", "email": EMAIL}
    order = {
        "event_id": "sec-o1",
        "event_type": "new_order",
        "event_time": when,
        "source": "shopify-eu-03",
        "order_id": "sec-1",
        "customer": customer,
        "items": [{"product_id": "sku-1", "unit_price": 2000.0, "quantity": 1}],
        "amount": 2000.0,  # high value: its notification describes the order
        "currency": "EUR",
        "location": {"lat": 48.85, "lon": 2.35},
        "payment_method": "card",
        "comment": f"Terrible, awful, broken. Write to me at {EMAIL} right now!",
    }
    payment = {
        "event_id": "sec-p1",
        "event_type": "payment",
        "event_time": "2026-11-20T10:05:00Z",
        "source": "stripe-eu",
        "order_id": "sec-1",
        "transaction_id": "t-sec",
        "amount": 2000.0,
        "currency": "EUR",
        "payment_method": "card",
        "status": "failed",
        "failure_code": "fraud_suspected",
    }
    ret = {
        "event_id": "sec-r1",
        "event_type": "return_order",
        "event_time": "2026-11-20T12:00:00Z",
        "source": "returns-portal",
        "order_id": "sec-1",
        "return_id": "ret-sec",
        "items": [{"product_id": "sku-1", "quantity": 1}],
        "refund_amount": 2000.0,
        "currency": "EUR",
        "reason_code": "damaged",
        "comment": f"Horrible. My address is {EMAIL}, refund me.",
    }
    return [order, payment, ret]


@pytest.mark.spark
def test_customer_email_never_reaches_subscribers_or_gold_tables(
    spark: SparkSession, moto_server: MotoServer, tmp_path: Path, unique_name: str
) -> None:
    endpoint = AwsEndpoint.from_environment()
    topic_arn = client("sns").create_topic(Name=unique_name)["TopicArn"]
    subscriber = subscribe_queue(topic_arn, f"q-{unique_name}")
    ledger = Ledger(f"ledger-{unique_name}", endpoint)
    ledger.ensure_table()
    notifier = Notifier(ledger, SnsPublisher(topic_arn, endpoint, max_attempts=2, backoff_seconds=0.01))
    lake = Lake(str(tmp_path / "lake"))
    lake.ensure_tables()
    writer = LakehouseWriter(
        lake,
        "security",
        # Scored as the stream scores them: negative_feedback quotes the comment.
        sentiment=with_sentiment(scorer=scorer_from_settings(SentimentSettings(), endpoint)),
        after_commit=LakeNotifications(lake, NotificationSettings(), notifier),
    )
    now = dt.datetime.now(dt.UTC)
    rows = [
        (json.dumps(e).encode(), now, "s", "shard-0", f"{i:03d}", None, None, None) for i, e in enumerate(_events())
    ]
    writer(spark.createDataFrame(rows, RAW), 0)

    received = subscriber.receive()
    kinds = {m["body"]["notification_type"] for m in received}
    # The e-mail would show in these, if anywhere: they carry the order, the comment, the customer.
    assert {"high_value_order", "negative_feedback", "payment_failed"} <= kinds, kinds
    for message in received:
        assert EMAIL not in json.dumps(message), message["body"]["notification_type"]

    from jobs import kpis

    settings = load_settings(None, [f"lake.root={lake.root}", f"lake.checkpoints={tmp_path / 'checkpoints'}"])
    kpis.run(settings, full=True, spark=spark)
    gold_rows = 0
    for table in GOLD_TABLES:
        data = lake.read_arrow(table)
        gold_rows += data.num_rows
        assert EMAIL not in json.dumps(data.to_pylist(), default=str), table
    assert gold_rows, "the KPI job wrote nothing: the gold check would prove nothing"
    # silver/orders keeps the address (customer_email) for the systems that contact customers;
    # it is the only silver column that does, and the comment keeps it as the customer wrote it.
    orders = lake.read_arrow(ORDERS_TABLE).to_pylist()
    assert [name for name, value in orders[0].items() if value == EMAIL] == ["customer_email"]
    assert "customer_email" in TABLES[ORDERS_TABLE].fieldNames()
