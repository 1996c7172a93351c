"""What the data-quality check costs: Arrow vs GX on pandas vs GX on Spark, and per micro-batch in the writer.

    python benchmarks/quality_overhead.py engines --rows 10 10000 50000
    python benchmarks/quality_overhead.py engines --rows 5000 50000 --no-spark
    python benchmarks/quality_overhead.py writer --events 20000

``engines`` validates silver/payments rows (the default suite, 19 expectations) with the Arrow
engine (``quality.engine=auto``, the default), with GX's pandas engine (Arrow -> pandas on the
driver, ``quality.engine=gx``) and with GX's Spark engine on a cached DataFrame; ``writer``
times one micro-batch of simulated events through ``LakehouseWriter`` without and with the
default suites. Prints JSON lines; wall and CPU seconds.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import logging
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipelines.lake import Lake
from pipelines.quality import QualityChecker
from pipelines.schemas import PAYMENTS_TABLE, QUALITY_METRICS_TABLE, RAW
from pipelines.session import get_spark
from pipelines.settings import SparkSettings

SUITES = str(Path(__file__).resolve().parents[1] / "conf" / "expectations")
FAILURE_CODES = ("insufficient_funds", "card_declined", "timeout")


def payments(rows: int, seed: int = 5) -> pa.Table:
    """``rows`` valid silver/payments rows."""
    rng = random.Random(seed)
    when = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    failed = [rng.random() < 0.1 for _ in range(rows)]
    return pa.table(
        {
            "event_id": [f"evt-{i:08d}" for i in range(rows)],
            "order_id": [f"ord-{i // 2:08d}" for i in range(rows)],
            "transaction_id": [f"txn-{i:08d}" for i in range(rows)],
            "amount": [round(rng.uniform(1, 900), 2) for _ in range(rows)],
            "currency": [rng.choice(("EUR", "USD", "GBP")) for _ in range(rows)],
            "payment_method": [rng.choice(("card", "paypal", "gift_card")) for _ in range(rows)],
            "status": ["failed" if f else "succeeded" for f in failed],
            "failure_code": [rng.choice(FAILURE_CODES) if f else None for f in failed],
            "event_time": [when + dt.timedelta(seconds=i) for i in range(rows)],
            "source": [f"stripe-{i % 30}" for i in range(rows)],
            "event_date": [(when + dt.timedelta(seconds=i)).date() for i in range(rows)],
        }
    )


def _timed(run: Callable[[], Any], repeat: int) -> dict[str, float]:
    run()  # warm-up: first calls compile regexes and plans
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {"wall_median": round(statistics.median(walls), 3), "cpu_median": round(statistics.median(cpus), 3)}


def engines(sizes: list[int], repeat: int, with_spark: bool = True) -> None:
    spark = get_spark("quality-benchmark", SparkSettings(master="local[2]", shuffle_partitions=2))
    started = time.perf_counter()
    import great_expectations as gx

    checker = QualityChecker.from_folder(SUITES, engine="gx")
    arrow = QualityChecker.from_folder(SUITES)
    print(
        json.dumps(
            {"what": "build checker (import GX, parse 5 suites)", "seconds": round(time.perf_counter() - started, 2)}
        )
    )
    suite = checker.suites[PAYMENTS_TABLE].gx_suite
    context = gx.get_context(mode="ephemeral")
    batches = context.data_sources.add_spark("spark").add_dataframe_asset("payments")
    definition = batches.add_batch_definition_whole_dataframe("rows")
    spark_suite = context.suites.add(
        gx.ExpectationSuite(name="spark_payments", expectations=[copy.copy(e) for e in suite.expectations])
    )
    for size in sizes:
        rows = payments(size)
        arrow_cost = _timed(lambda rows=rows: arrow.check(PAYMENTS_TABLE, rows), repeat)
        print(json.dumps({"engine": arrow.engine(PAYMENTS_TABLE), "rows": size, **arrow_cost}))
        pandas_cost = _timed(lambda rows=rows: checker.check(PAYMENTS_TABLE, rows), repeat)
        print(json.dumps({"engine": "pandas", "rows": size, **pandas_cost}))
        if not with_spark:
            continue
        frame = spark.createDataFrame(rows).cache()
        frame.count()

        def on_spark(frame: Any = frame) -> None:
            definition.get_batch(batch_parameters={"dataframe": frame}).validate(
                spark_suite, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["event_id"]}
            )

        print(json.dumps({"engine": "spark", "rows": size, **_timed(on_spark, repeat)}))
        frame.unpersist()


def writer(events: int, repeat: int) -> None:
    from pipelines.simulator import SimulationConfig, generate
    from pipelines.sinks.lakehouse import LakehouseWriter

    spark = get_spark("quality-benchmark", SparkSettings(master="local[2]", shuffle_partitions=2))
    end = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    records = [r.data for r in generate(SimulationConfig(events=events, seed=3, days=7, end_time=end))]
    raw = [(data, end, "orders", "shard-0", str(i).zfill(8), None, None, None) for i, data in enumerate(records)]
    batch = spark.createDataFrame(raw, RAW).cache()
    batch.count()
    checker = QualityChecker.from_folder(SUITES)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pipelines.quality.stream").setLevel(logging.INFO)
    for label, quality in (("without quality", None), ("with default suites", checker)) * repeat:
        with tempfile.TemporaryDirectory() as root:
            lake = Lake(root)
            lake.ensure_tables()
            started, cpu_started = time.perf_counter(), time.process_time()
            LakehouseWriter(lake, "bench", quality=quality).write_batch(batch, 0)
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            checked = lake.read_arrow(QUALITY_METRICS_TABLE).num_rows
            print(
                json.dumps(
                    {
                        "writer": label,
                        "events": events,
                        "seconds": round(seconds, 2),
                        "driver_cpu": round(cpu, 2),
                        "metric_rows": checked,
                    }
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    engines_parser = sub.add_parser("engines")
    engines_parser.add_argument("--rows", type=int, nargs="+", default=[10, 10_000, 50_000])
    engines_parser.add_argument("--repeat", type=int, default=3)
    engines_parser.add_argument(
        "--no-spark", action="store_true", help="skip GX's Spark engine (tens of seconds a size)"
    )
    writer_parser = sub.add_parser("writer")
    writer_parser.add_argument("--events", type=int, default=20_000)
    writer_parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if args.what == "engines":
        engines(args.rows, args.repeat, with_spark=not args.no_spark)
    else:
        writer(args.events, args.repeat)


if __name__ == "__main__":
    main()
