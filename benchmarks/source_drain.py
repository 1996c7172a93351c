"""Drain throughput of the streaming sources alone: no transforms, the sink only counts rows.

One function per source. Each starts what it needs locally (a moto server for Kinesis unless
``AWS_ENDPOINT_URL`` is set), loads the stream with records first, then times an available-now
query from TRIM_HORIZON to the end and prints JSON.

    python benchmarks/source_drain.py kinesis --records 100000 --shards 8
    python benchmarks/source_drain.py kafka --records 200000 --shards 4
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

from pipelines.aws.clients import AwsEndpoint, client
from pipelines.local_services import local_aws
from pipelines.session import get_spark
from pipelines.settings import SourceSettings, SparkSettings
from pipelines.sources.reader import open_stream


@dataclass(frozen=True)
class DrainResult:
    """What one drain measured."""

    source: str
    records: int
    partitions: int
    cap_per_partition: int
    load_seconds: float
    drain_seconds: float
    batches: int
    planning_seconds: float = 0.0
    """Time in the source's ``latestOffset`` (the driver reading the shards), summed over batches."""

    @property
    def records_per_second(self) -> float:
        return self.records / self.drain_seconds if self.drain_seconds else 0.0


def _load_kinesis(stream: str, records: int, shards: int, size: int) -> None:
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=stream, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    filler = "x" * max(0, size - 40)
    for first in range(0, records, 500):
        entries = [
            {"Data": f'{{"event_id": "e-{i}", "f": "{filler}"}}'.encode(), "PartitionKey": f"k-{i}"}
            for i in range(first, min(first + 500, records))
        ]
        answer = kinesis.put_records(StreamName=stream, Records=entries)
        if answer["FailedRecordCount"]:
            raise RuntimeError(f"{answer['FailedRecordCount']} records were refused while loading")


def _timed_drain(source: SourceSettings, records: int, partitions: int, load_seconds: float) -> DrainResult:
    """Time one available-now query over ``source`` (opened as the stream job opens it) that only counts rows."""
    spark = get_spark("source-drain", SparkSettings())
    counts: list[int] = []

    def count(frame: Any, batch_id: int) -> None:
        counts.append(frame.count())

    with tempfile.TemporaryDirectory(prefix="drain-") as checkpoint:
        started = time.perf_counter()
        query = (
            open_stream(spark, source, AwsEndpoint.from_environment(), available_now=True)
            .writeStream.foreachBatch(count)
            .option("checkpointLocation", checkpoint)
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination()
        drain_seconds = time.perf_counter() - started
        planning = sum(p["durationMs"].get("latestOffset", 0) for p in query.recentProgress) / 1000
    spark.stop()
    if sum(counts) != records:
        raise RuntimeError(f"drained {sum(counts)} records, expected {records}")
    cap = source.max_records_per_partition
    return DrainResult(source.kind, records, partitions, cap, load_seconds, drain_seconds, len(counts), planning)


def drain_kinesis(records: int = 100_000, shards: int = 8, cap: int = 20_000, size: int = 300) -> DrainResult:
    """Load ``records`` into a new stream of ``shards`` shards and time the ``pykinesis`` drain."""
    with local_aws():
        stream = f"drain-{int(time.time())}"
        started = time.perf_counter()
        _load_kinesis(stream, records, shards, size)
        load_seconds = time.perf_counter() - started
        source = SourceSettings(kind="kinesis", stream=stream, max_records_per_partition=cap)
        return _timed_drain(source, records, shards, load_seconds)


def _load_kafka(bootstrap: str, topic: str, records: int, partitions: int, size: int) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.num.messages": 10_000})
    filler = "x" * max(0, size - 40)
    for i in range(records):
        value = f'{{"event_id": "e-{i}", "f": "{filler}"}}'.encode()
        while True:
            try:
                producer.produce(topic, value=value, key=f"k-{i}".encode(), partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 5_000 == 0:
            producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("records still unsent after 120 s while loading")


def drain_kafka(records: int = 100_000, shards: int = 8, cap: int = 20_000, size: int = 300) -> DrainResult:
    """Load ``records`` into a new topic of ``shards`` partitions on a local broker and time the ``pykafka`` drain."""
    from pipelines.local_services import KafkaBroker

    with KafkaBroker() as broker:
        topic = f"drain-{int(time.time())}"
        started = time.perf_counter()
        _load_kafka(broker.bootstrap, topic, records, shards, size)
        load_seconds = time.perf_counter() - started
        source = SourceSettings(
            kind="kafka", kafka_bootstrap=broker.bootstrap, kafka_topic=topic, max_records_per_partition=cap
        )
        return _timed_drain(source, records, shards, load_seconds)


SOURCES = {"kinesis": drain_kinesis, "kafka": drain_kafka}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", choices=sorted(SOURCES))
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=8, help="shards or partitions")
    parser.add_argument("--cap", type=int, default=20_000, help="per-trigger cap per shard or partition")
    parser.add_argument("--size", type=int, default=300, help="approximate bytes per record")
    args = parser.parse_args(argv)
    result = SOURCES[args.source](records=args.records, shards=args.shards, cap=args.cap, size=args.size)
    print(json.dumps({**asdict(result), "records_per_second": round(result.records_per_second)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
