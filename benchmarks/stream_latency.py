"""Latency of the full streaming job at a steady offered load, the way ``bench --only latency`` runs it.

A producer process offers ``--rate`` events/s to the local Kafka broker (or Kinesis on moto) for
``--warmup`` plus ``--seconds`` while the job runs with a processing-time trigger; prints the
JSON (p50/p95/p99 from ingestion to silver, and to SNS with ``--notifications``, of the events
offered after the warm-up; Spark's phases per trigger) and the writer's per-batch step times.

    python benchmarks/stream_latency.py                                   # 2,000 events/s, 30 s warm-up, 60 s measured
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
from pipelines.bench.suite import FULL, bench_session
from pipelines.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The defaults are the full suite's (`orders-pipeline bench --only latency`).
    parser.add_argument("--rate", type=float, default=FULL.latency_rate, help="events offered per second")
    parser.add_argument("--seconds", type=float, default=FULL.latency_seconds, help="how long the load is measured")
    parser.add_argument("--source", choices=("kafka", "kinesis"), default="kafka")
    parser.add_argument("--trigger", default=FULL.latency_trigger)
    parser.add_argument(
        "--warmup",
        type=float,
        default=FULL.latency_warmup,
        help="seconds of load offered first and not measured (the job's warm-up)",
    )
    parser.add_argument("--notifications", action="store_true", help="publish notifications (moto's SNS)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("pipelines.sinks.lakehouse").setLevel(logging.INFO)
    base = load_settings(None, args.set)
    with bench_session(base) as (spark, settings, startup_seconds):
        print(f"Spark start-up: {startup_seconds:.1f} s (not in the figures)", flush=True)
        folder = Path(tempfile.mkdtemp(prefix="orders-pipeline-latency-"))
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
    print(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
