"""S3 faults under the lake writer: errors and slow answers are retried; an outage alerts and loses nothing.

The lake is an ``s3://`` prefix on the moto server reached through a loopback fault proxy, so the
driver's delta-rs (object_store) and the executors' pyarrow S3 clients both meet the faults.
The tables are read back directly from moto, past the proxy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from lakehouse_traps import Record, actual_tables, build_traps, expected_tables
from pyspark.sql import DataFrame, SparkSession
from support.fault_proxy import FaultProxy
from support.sns import subscribe_queue

from pipelines.aws.clients import AwsEndpoint, client
from pipelines.lake import Lake
from pipelines.local_services import MotoServer
from pipelines.notifications.delivery import Notifier
from pipelines.notifications.ledger import Ledger
from pipelines.notifications.publisher import SnsPublisher
from pipelines.notifications.stream import alert_on_failure
from pipelines.provision import ensure_bucket
from pipelines.schemas import BRONZE_TABLE, RAW
from pipelines.sinks.lakehouse import LakehouseWriter

pytestmark = pytest.mark.spark


def _batch(spark: SparkSession, records: list[Record], batch_id: int) -> DataFrame:
    rows = [
        (r.data, r.ingested_at, "orders", "shard-0", f"{batch_id:04d}-{i:04d}", None, None, None)
        for i, r in enumerate(records)
    ]
    return spark.createDataFrame(rows, RAW)


@pytest.fixture
def bucket(moto_server: MotoServer, unique_name: str) -> str:
    ensure_bucket(unique_name)
    return unique_name


@pytest.fixture
def proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server.endpoint_url, seed=8) as running:
        yield running


def _lakes(bucket: str, proxy: FaultProxy) -> tuple[Lake, Lake]:
    """The lake as the writer sees it (through the proxy) and as the test reads it (directly)."""
    region = AwsEndpoint.from_environment().region
    root = f"s3://{bucket}/lake"
    return Lake(root, AwsEndpoint(region, proxy.endpoint_url)), Lake(root, AwsEndpoint.from_environment())


def test_s3_errors_and_slow_answers_are_retried_and_the_tables_match_the_contract(
    spark: SparkSession, bucket: str, proxy: FaultProxy
) -> None:
    faulty, direct = _lakes(bucket, proxy)
    faulty.ensure_tables()
    traps = build_traps(dt.datetime.now(dt.UTC))
    # One request in eight answered 503 SlowDown, one in ten held for half a second.
    proxy.error_rate, proxy.delay_rate, proxy.delay_seconds = 0.125, 0.1, 0.5
    writer = LakehouseWriter(faulty, "orders-stream")
    for batch_id, run in enumerate(traps.runs):
        writer(_batch(spark, run, batch_id), batch_id)
    print(f"s3 faults: {sum(proxy.requests.values())} requests, {dict(proxy.failed)} failed, {proxy.delayed} delayed")

    assert sum(proxy.failed.values()) >= 5, "too few faults injected to prove anything"
    assert {"GET", "PUT"} <= set(proxy.failed), proxy.failed
    assert actual_tables(direct) == expected_tables(traps.records)
    assert direct.read_arrow(BRONZE_TABLE).num_rows == len(traps.records)


def test_an_s3_outage_fails_the_batch_with_a_pipeline_failure_and_the_replay_loses_nothing(
    spark: SparkSession, bucket: str, proxy: FaultProxy, unique_name: str
) -> None:
    endpoint = AwsEndpoint.from_environment()
    topic_arn = client("sns").create_topic(Name=f"alerts-{unique_name}")["TopicArn"]
    subscriber = subscribe_queue(topic_arn, f"q-{unique_name}")
    ledger = Ledger(f"ledger-{unique_name}", endpoint)
    ledger.ensure_table()
    notifier = Notifier(ledger, SnsPublisher(topic_arn, endpoint, max_attempts=2, backoff_seconds=0.01))
    faulty, direct = _lakes(bucket, proxy)
    faulty.ensure_tables()
    traps = build_traps(dt.datetime.now(dt.UTC))
    writer = alert_on_failure(LakehouseWriter(faulty, "orders-stream"), notifier, "orders-stream")
    writer(_batch(spark, traps.runs[0], 0), 0)

    # Every write refused: data files and commits alike; reads still work.
    proxy.methods, proxy.error_rate = frozenset({"PUT", "POST"}), 1.0
    with pytest.raises(Exception):  # noqa: B017 - Spark or delta-rs, whichever write comes first
        writer(_batch(spark, traps.runs[1], 1), 1)
    alerts = [m["body"] for m in subscriber.receive()]
    assert [a["notification_type"] for a in alerts] == ["pipeline_failure"]
    assert alerts[0]["severity"] == "critical"
    assert alerts[0]["detail"]["batch_id"] == 1

    # S3 is back; Spark replays batch 1 after the restart.
    proxy.error_rate = 0.0
    writer(_batch(spark, traps.runs[1], 1), 1)
    assert actual_tables(direct) == expected_tables(traps.records)
    assert direct.read_arrow(BRONZE_TABLE).num_rows == len(traps.records)
    assert subscriber.receive(quiet_seconds=0.5) == []
