"""Operational look-ups on the stream itself: how many records a Kinesis stream or Kafka topic holds.

Counting reads every record (GetRecords / a consumer from the beginning), so it is for checks and
small streams, not for production monitoring (use CloudWatch's IncomingRecords there).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from pipelines.aws.clients import client


def kinesis_shard_ids(stream: str) -> list[str]:
    """Every shard of ``stream``, open and closed, following ListShards pagination."""
    kinesis = client("kinesis")
    shard_ids: list[str] = []
    request: dict[str, str] = {"StreamName": stream}
    while True:
        page = kinesis.list_shards(**request)
        shard_ids.extend(shard["ShardId"] for shard in page["Shards"])
        token = page.get("NextToken")
        if not token:
            return shard_ids
        request = {"NextToken": token}


def iter_kinesis_records(stream: str, limit: int = 10_000) -> Iterator[dict[str, object]]:
    """Every record of every shard from TRIM_HORIZON, shard by shard."""
    kinesis = client("kinesis")
    for shard_id in kinesis_shard_ids(stream):
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=limit)
            yield from page["Records"]
            # An empty page at the tip means this shard is read out (closed shards end with no iterator).
            if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
                break
            iterator = page.get("NextShardIterator")


def count_kinesis_records(stream: str) -> int:
    """How many records ``stream`` holds, read with GetRecords."""
    return sum(1 for _ in iter_kinesis_records(stream))


def count_kafka_records(bootstrap: str, topic: str, idle_seconds: float = 3.0, timeout: float = 600.0) -> int:
    """How many records ``topic`` holds, consumed from the earliest offset until idle.

    Consuming rather than reading watermarks, because some Kafka-protocol brokers report a
    high watermark below the last record.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"count-{time.time_ns()}", "enable.auto.commit": False}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in partitions])
        count = 0
        started = last = time.monotonic()
        while time.monotonic() - last < idle_seconds and time.monotonic() - started < timeout:
            messages = consumer.consume(10_000, 0.5)
            for message in messages:
                if message.error() is None:
                    count += 1
            if messages:
                last = time.monotonic()
        return count
    finally:
        consumer.close()
