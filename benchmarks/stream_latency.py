"""Latency of the full streaming job at a steady offered load, the way ``bench --only latency`` runs it.

A producer thread offers ``--rate`` events/s to the local Kafka broker (or Kinesis on moto) for
``--warmup`` plus ``--seconds`` while the job runs with a processing-time trigger; prints the
JSON (p50/p95/p99 from ingestion to silver, and to SNS with ``--notifications``, of the events
offered after the warm-up; Spark's phases per trigger) and the writer's per-batch step times.

    python benchmarks/stream_latency.py                                   # 2,000 events/s for 60 s, notifications off
    python benchmarks/stream_latency.py --notifications                   # with notifications on moto
    python benchmarks/stream_latency.py --trigger "processing-time=0 seconds" --seconds 30
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from pipelines.bench.stream import run_latency
from pipelines.local_services import KafkaBroker, local_aws
from pipelines.session import get_spark
from pipelines.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2000.0, help="events offered per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the load is offered")
    parser.add_argument("--source", choices=("kafka", "kinesis"), default="kafka")
    parser.add_argument("--trigger", default="processing-time=1 second")
    parser.add_argument(
        "--warmup", type=float, default=20.0, help="seconds of load offered first and not measured (the job's warm-up)"
    )
    parser.add_argument("--notifications", action="store_true", help="publish notifications (moto's SNS)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("pipelines.sinks.lakehouse").setLevel(logging.INFO)
    base = load_settings(None, args.set)
    with local_aws(), KafkaBroker() as broker:
        settings = base.with_overrides([f"source.kafka_bootstrap={broker.bootstrap}"])
        started = time.perf_counter()
        spark = get_spark("orders-pipeline-bench", settings.spark)
        spark.range(1).count()
        print(f"Spark start-up: {time.perf_counter() - started:.1f} s (not in the figures)", flush=True)
        folder = Path(tempfile.mkdtemp(prefix="orders-pipeline-latency-"))
        try:
            result = run_latency(
                spark,
                settings,
                source=args.source,
                rate=args.rate,
                seconds=args.seconds,
                trigger=args.trigger,
                workdir=folder,
                tag=time.strftime("%H%M%S"),
                notifications=args.notifications,
                warmup=args.warmup,
            )
        finally:
            spark.stop()
    print(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
