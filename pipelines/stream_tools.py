"""Read a Kinesis stream or Kafka topic back from the start: for checks, tests and benchmarks.

Reading means every record (GetRecords from TRIM_HORIZON / a consumer from the earliest offset),
so this is for small streams and verification, not for production monitoring (use CloudWatch's
IncomingRecords or consumer lag there).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from pipelines.aws.clients import client


class StreamReadError(RuntimeError):
    """A record could not be read back from the stream or topic."""


def kinesis_shard_ids(stream: str, kinesis: Any = None) -> list[str]:
    """Every shard of ``stream``, open and closed, following ListShards pagination."""
    kinesis = kinesis if kinesis is not None else client("kinesis")
    return [
        shard["ShardId"]
        for page in kinesis.get_paginator("list_shards").paginate(StreamName=stream)
        for shard in page["Shards"]
    ]


def iter_kinesis_records(stream: str, kinesis: Any = None, limit: int = 10_000) -> Iterator[dict[str, Any]]:
    """Every record of every shard from TRIM_HORIZON, shard by shard."""
    kinesis = kinesis if kinesis is not None else client("kinesis")
    for shard_id in kinesis_shard_ids(stream, kinesis):
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=limit)
            yield from page["Records"]
            # An empty page at the tip means this shard is read out (closed shards end with no iterator).
            if not page["Records"] and not page.get("MillisBehindLatest"):
                break
            iterator = page.get("NextShardIterator")


def read_kinesis(stream: str, kinesis: Any = None) -> list[tuple[str, bytes]]:
    """Every record of ``stream`` as ``(partition key, data)``; holds them all in memory."""
    return [(record["PartitionKey"], record["Data"]) for record in iter_kinesis_records(stream, kinesis)]


def count_kinesis_records(stream: str) -> int:
    """How many records ``stream`` holds, read with GetRecords."""
    return sum(1 for _ in iter_kinesis_records(stream))


def iter_kafka_messages(
    bootstrap: str,
    topic: str,
    idle_seconds: float = 3.0,
    options: Mapping[str, str] | None = None,
    timeout: float = 600.0,
) -> Iterator[Any]:
    """Every message of ``topic`` from the earliest offset, until nothing arrives for ``idle_seconds``.

    It does not stop at the high watermark: a broker whose watermark lags behind its last records
    (the local Tansu broker does) would make it miss the tail. ``options`` are the source's
    reader options; their librdkafka settings (SASL/TLS) are used.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from pipelines.producers.kafka import client_options

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            **client_options(options or {}),
            "group.id": f"orders-pipeline-readback-{time.monotonic_ns()}",
            "enable.auto.commit": False,
        }
    )
    try:
        # Assigned partitions, not a group subscription: no rebalance to wait for before reading.
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        consumer.assign([TopicPartition(topic, number, OFFSET_BEGINNING) for number in sorted(partitions)])
        started = last = time.monotonic()
        while time.monotonic() - last < idle_seconds:
            if time.monotonic() - started > timeout:
                raise StreamReadError(f"reading {topic!r} back did not go idle within {timeout:.0f} s")
            messages = consumer.consume(num_messages=10_000, timeout=0.5)
            for message in messages:
                if message.error() is not None:
                    raise StreamReadError(f"reading {topic!r} back failed: {message.error()}")
                yield message
            if messages:
                last = time.monotonic()
    finally:
        consumer.close()


def read_kafka(
    bootstrap: str, topic: str, idle_seconds: float = 3.0, options: Mapping[str, str] | None = None
) -> list[tuple[str, bytes]]:
    """Every message of ``topic`` as ``(key, value)``; holds them all in memory."""
    return [
        ((message.key() or b"").decode("utf-8", "replace"), message.value() or b"")
        for message in iter_kafka_messages(bootstrap, topic, idle_seconds, options)
    ]


def count_kafka_records(bootstrap: str, topic: str, idle_seconds: float = 3.0) -> int:
    """How many records ``topic`` holds, consumed from the earliest offset until idle."""
    return sum(1 for _ in iter_kafka_messages(bootstrap, topic, idle_seconds))
