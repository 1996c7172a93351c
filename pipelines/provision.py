"""`orders-pipeline setup`: create the stream, bucket, topic and tables the pipeline needs.

Every step first looks at what exists, so running it again changes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from pipelines.aws.clients import client
from pipelines.settings import Settings


class ProvisionError(RuntimeError):
    """A resource could not be created or did not become ready."""


@dataclass
class ProvisionReport:
    """What setup found or created, one line per resource."""

    lines: list[str] = field(default_factory=list)
    topic_arn: str | None = None

    def add(self, line: str) -> None:
        self.lines.append(line)


def ensure_kinesis_stream(name: str, shards: int, timeout: float = 120.0) -> str:
    """Create the Kinesis stream with ``shards`` shards unless it exists; wait until ACTIVE."""
    kinesis = client("kinesis")
    created = False
    try:
        kinesis.create_stream(StreamName=name, ShardCount=shards)
        created = True
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    deadline = time.monotonic() + timeout
    while True:
        summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if summary["StreamStatus"] == "ACTIVE":
            break
        if time.monotonic() > deadline:
            raise ProvisionError(f"Kinesis stream {name} not ACTIVE after {timeout}s ({summary['StreamStatus']})")
        time.sleep(1)
    open_shards = summary.get("OpenShardCount", shards)
    verb = "created" if created else "exists"
    return f"kinesis stream {name}: {verb}, {open_shards} open shards"


def ensure_bucket(bucket: str) -> str:
    """Create a private, encrypted S3 bucket unless it exists."""
    s3 = client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
        return f"s3 bucket {bucket}: exists"
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise
    region = s3.meta.region_name
    kwargs = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **kwargs)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    return f"s3 bucket {bucket}: created (private, SSE-S3)"


def ensure_sns_topic(name_or_arn: str) -> str:
    """The ARN of the alerts topic, creating it by name when it does not exist (CreateTopic is idempotent)."""
    sns = client("sns")
    if name_or_arn.startswith("arn:"):
        sns.get_topic_attributes(TopicArn=name_or_arn)
        return name_or_arn
    return str(sns.create_topic(Name=name_or_arn)["TopicArn"])


def ensure_kafka_topic(bootstrap: str, topic: str, partitions: int, timeout: float = 30.0) -> str:
    """Create the Kafka topic with ``partitions`` partitions unless it exists."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = admin.list_topics(timeout=timeout).topics
    if topic in existing:
        return f"kafka topic {topic}: exists, {len(existing[topic].partitions)} partitions"
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    try:
        futures[topic].result(timeout)
    except KafkaException as exc:
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise ProvisionError(f"cannot create Kafka topic {topic} on {bootstrap}: {exc}") from exc
    return f"kafka topic {topic}: created, {partitions} partitions"


def bucket_of(uri: str) -> str:
    """The bucket of an ``s3://bucket/prefix`` URI."""
    return uri.split("://", 1)[1].split("/", 1)[0]


def provision(settings: Settings) -> ProvisionReport:
    """Create everything ``settings`` needs; safe to repeat."""
    report = ProvisionReport()
    if settings.source.kind == "kinesis":
        report.add(ensure_kinesis_stream(settings.source.stream, settings.source.shards))
    else:
        source = settings.source
        report.add(ensure_kafka_topic(source.kafka_bootstrap, source.kafka_topic, source.kafka_partitions))
    if settings.lake.on_s3:
        report.add(ensure_bucket(bucket_of(settings.lake.root)))
        if settings.lake.checkpoints.startswith("s3"):
            checkpoint_bucket = bucket_of(settings.lake.checkpoints)
            if checkpoint_bucket != bucket_of(settings.lake.root):
                report.add(ensure_bucket(checkpoint_bucket))
    report.topic_arn = ensure_sns_topic(settings.alerts.topic)
    report.add(f"sns topic: {report.topic_arn}")
    # Imported here so that the producer side (setup of a stream or topic only) stays light.
    from pipelines.lake import ensure_lake_step
    from pipelines.notifications.ledger import ensure_ledger

    report.add(ensure_ledger(settings.notifications.ledger_table))
    report.add(ensure_lake_step(settings))
    return report
