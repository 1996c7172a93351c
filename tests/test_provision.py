from __future__ import annotations

from pathlib import Path

from confluent_kafka.admin import AdminClient

from pipelines.aws.clients import client
from pipelines.local_services import KafkaBroker, MotoServer
from pipelines.provision import bucket_of, provision
from pipelines.schemas import TABLES
from pipelines.settings import load_settings


def test_setup_creates_stream_bucket_and_topic_and_is_safe_to_repeat(moto_server: MotoServer, unique_name: str) -> None:
    settings = load_settings(
        None,
        [
            f"source.stream={unique_name}",
            "source.shards=3",
            f"lake.root=s3://{unique_name}/lake",
            f"alerts.topic={unique_name}-alerts",
            f"notifications.ledger_table={unique_name}-ledger",
        ],
    )
    first = provision(settings)
    second = provision(settings)

    assert any(line.endswith(f"{len(TABLES)} tables created, 0 existed") for line in first.lines), first.lines
    assert any(line.endswith(f"0 tables created, {len(TABLES)} existed") for line in second.lines), second.lines
    ledger = client("dynamodb").describe_table(TableName=f"{unique_name}-ledger")["Table"]
    assert ledger["TableStatus"] == "ACTIVE"

    assert any("created, 3 open shards" in line for line in first.lines)
    assert any("exists, 3 open shards" in line for line in second.lines)
    assert first.topic_arn == second.topic_arn
    shards = client("kinesis").list_shards(StreamName=unique_name)["Shards"]
    assert len(shards) == 3
    s3 = client("s3")
    rules = s3.get_bucket_encryption(Bucket=unique_name)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=unique_name)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    topics = [t["TopicArn"] for t in client("sns").list_topics()["Topics"]]
    assert first.topic_arn in topics


def test_setup_creates_the_kafka_topic_with_its_partitions(
    moto_server: MotoServer, kafka_broker: KafkaBroker, unique_name: str, tmp_path: Path
) -> None:
    settings = load_settings(
        None,
        [
            f"lake.root={tmp_path / 'lake'}",
            "source.kind=kafka",
            f"source.kafka_bootstrap={kafka_broker.bootstrap}",
            f"source.kafka_topic={unique_name}",
            "source.kafka_partitions=4",
        ],
    )
    assert any("created, 4 partitions" in line for line in provision(settings).lines)
    assert any("exists, 4 partitions" in line for line in provision(settings).lines)
    topic = AdminClient({"bootstrap.servers": kafka_broker.bootstrap}).list_topics(unique_name, timeout=10)
    assert len(topic.topics[unique_name].partitions) == 4


def test_bucket_of_takes_the_bucket_from_an_s3_uri() -> None:
    assert bucket_of("s3://my-lake/prefix/more") == "my-lake"
    assert bucket_of("s3://my-lake") == "my-lake"
