"""Throughput of `orders-pipeline produce` against a local moto Kinesis and a local Kafka broker.

Starts its own moto server and Tansu broker, creates the stream (settings' shard count) and the
topic, produces ``--events`` simulated events to each, counts what arrived (GetRecords over every
shard; consuming the topic until idle, since the local broker's watermarks lag) and prints JSON.

    python benchmarks/produce_throughput.py --events 100000
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

from pipelines.local_services import KafkaBroker, MotoServer, environment
from pipelines.producing import ProduceOptions, produce
from pipelines.provision import ensure_kafka_topic, ensure_kinesis_stream
from pipelines.settings import Settings, load_settings
from pipelines.stream_tools import read_kafka, read_kinesis


def _run(settings: Settings, target: str, events: int) -> dict[str, Any]:
    report = produce(settings, ProduceOptions(events=events, target=target))  # type: ignore[arg-type]
    started = time.monotonic()
    if target == "kinesis":
        counted = len(read_kinesis(settings.source.stream))
    else:
        counted = len(read_kafka(settings.source.kafka_bootstrap, settings.source.kafka_topic, idle_seconds=5))
    return {
        "target": target,
        "events": events,
        "sent": report.sent,
        "counted": counted,
        "seconds": round(report.seconds, 2),
        "events_per_second": round(report.events_per_second),
        "count_seconds": round(time.monotonic() - started, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--targets", default="kinesis,kafka")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    base = load_settings()
    results = []
    with MotoServer() as moto, KafkaBroker() as broker:
        region = {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
        with environment({**moto.environment(), **region}):
            settings = base.with_overrides(
                [
                    "source.stream=bench-orders",
                    f"source.kafka_bootstrap={broker.bootstrap}",
                    "source.kafka_topic=bench-orders",
                ]
            )
            for target in args.targets.split(","):
                if target == "kinesis":
                    ensure_kinesis_stream(settings.source.stream, settings.source.shards)
                else:
                    source = settings.source
                    ensure_kafka_topic(source.kafka_bootstrap, source.kafka_topic, source.kafka_partitions)
                results.append(_run(settings, target, args.events))
    print(json.dumps(results, indent=2))
    return 0 if all(result["counted"] == result["sent"] == args.events for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
