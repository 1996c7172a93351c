"""One drain of the full streaming job, the way ``orders-pipeline bench --only stream`` runs each case.

``bench --only stream`` runs three cases, two of them with notifications on, which take about
half an hour each at 1,000,000 events on moto; this runs one case alone and prints its JSON
(events/s, events per CPU-second, peak RSS per process kind, bytes and files per table) and the
per-batch step times the writer logs.

    python benchmarks/stream_drain.py --events 1000000                    # Kafka, notifications off
    python benchmarks/stream_drain.py --events 50000 --notifications      # with notifications on moto
    python benchmarks/stream_drain.py --events 1000000 --set spark.driver_memory=2g
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from pipelines.bench.stream import StreamCase, run_drain
from pipelines.bench.suite import bench_session
from pipelines.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--source", choices=("kafka", "kinesis"), default="kafka")
    parser.add_argument("--partitions", type=int, default=4, help="Kafka partitions or Kinesis shards")
    parser.add_argument("--cap", type=int, default=50_000, help="records per partition per micro-batch")
    parser.add_argument("--notifications", action="store_true", help="publish notifications (moto's SNS)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    # The writer's per-batch line: rows per table and seconds per step.
    logging.getLogger("pipelines.sinks.lakehouse").setLevel(logging.INFO)
    base = load_settings(None, args.set)
    with bench_session(base) as (spark, settings, startup_seconds):
        print(f"Spark start-up: {startup_seconds:.1f} s (not in the figures)", flush=True)
        case = StreamCase(args.source, args.events, args.notifications, args.partitions, args.cap)
        folder = Path(tempfile.mkdtemp(prefix="orders-pipeline-drain-"))
        result = run_drain(spark, settings, case, folder, time.strftime("%H%M%S"))
    print(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
