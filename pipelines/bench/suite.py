"""`orders-pipeline bench`: every benchmark in one run, a table of figures and a JSON record.

It starts its own moto server and Tansu broker (like the demo), one Spark session (whose
start-up is measured and reported apart), and works in a fresh folder. ``--quick`` runs every
benchmark at tiny sizes (a smoke test for CI, not figures to quote).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import math
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.bench.machine import Stopwatch, load_average, machine_info
from pipelines.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

BENCHMARKS = ("stream", "latency", "sentiment", "kpis", "cost")

log = logging.getLogger(__name__)


class BenchUsageError(ValueError):
    """The benchmark selection or sizes asked for cannot run."""


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark runs."""

    drain_events: int = 1_000_000
    kinesis_events: int = 1_000_000
    kinesis_shards: int = 64
    kafka_partitions: int = 4
    cap_per_partition: int = 50_000
    latency_rate: float = 2000
    latency_seconds: float = 60
    # Offered first and not measured: the job's first micro-batches carry its warm-up.
    latency_warmup: float = 30
    latency_trigger: str = "processing-time=1 second"
    sentiment_rows: int = 100_000
    sentiment_repeat: int = 2
    kpi_events: int = 10_000_000


FULL = Sizes()
QUICK = Sizes(
    drain_events=2000,
    kinesis_events=1000,
    kinesis_shards=4,
    cap_per_partition=50_000,
    latency_rate=100,
    latency_seconds=8,
    latency_warmup=4,
    sentiment_rows=2000,
    sentiment_repeat=1,
    kpi_events=20_000,
)


def parse_only(only: str | None) -> list[str]:
    """The benchmarks ``--only`` names (comma-separated), in suite order; all when None."""
    if not only:
        return list(BENCHMARKS)
    chosen = [name.strip() for name in only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        raise BenchUsageError(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    return [name for name in BENCHMARKS if name in chosen]


@contextlib.contextmanager
def bench_session(base: Settings) -> Iterator[tuple[SparkSession, Settings, float]]:
    """The local services and one Spark session, started apart from every figure; stopped at the end.

    Yields the session, ``base`` pointed at the local broker, and the seconds Spark took to
    start (session and a first job).
    """
    from pipelines.local_services import KafkaBroker, local_aws
    from pipelines.session import get_spark

    with local_aws(), KafkaBroker() as broker:
        settings = base.with_overrides([f"source.kafka_bootstrap={broker.bootstrap}"])
        with Stopwatch() as startup:
            # A loaded machine starts Python workers slowly: give them longer than 15 s to connect back.
            patient = {"spark.python.authenticate.socketTimeout": "120s", **settings.spark.conf}
            spark = get_spark("orders-pipeline-bench", settings.spark.model_copy(update={"conf": patient}))
            spark.range(1).count()
        try:
            yield spark, settings, startup.seconds
        finally:
            spark.stop()


def _stream_cases(sizes: Sizes) -> list[Any]:
    from pipelines.bench.stream import StreamCase

    kafka = StreamCase("kafka", sizes.drain_events, True, sizes.kafka_partitions, sizes.cap_per_partition)
    cap = max(1, math.ceil(sizes.kinesis_events / sizes.kinesis_shards))
    return [
        kafka,
        replace(kafka, notifications=False),
        StreamCase("kinesis", sizes.kinesis_events, True, sizes.kinesis_shards, max(cap, 1000)),
    ]


def _stream_section(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| source | notifications | events | fill s | drain s | events/s | after the first batch | events/CPU-s "
        "| peak RSS MiB (driver/JVM/workers/total) | bytes/event | files |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for r in results:
        m = r["memory"]
        files = sum(t["files"] for t in r["tables"].values())
        sustained = r.get("sustained_events_per_second")
        lines.append(
            f"| {r['source']} | {'on' if r['notifications'] else 'off'} | {r['events']:,} | {r['fill_seconds']} | "
            f"{r['drain_seconds']} | {r['events_per_second']:,} | {f'{sustained:,}' if sustained else '-'} | "
            f"{r['events_per_cpu_second']:,} | "
            f"{m['driver_python_mib']}/{m['jvm_mib']}/{m['python_workers_mib']}/{m['total_mib']} | "
            f"{r['bytes_written_per_event']} | {files} |"
        )
    return lines


def failures(record: dict[str, Any]) -> list[str]:
    """The errors of the benchmarks that failed in ``record``."""
    results = [*record.get("stream", []), *(record.get(name) for name in ("latency", "sentiment", "kpis"))]
    return [f"{r['benchmark']}: {r['error']}" for r in results if isinstance(r, dict) and "error" in r]


def summary_table(record: dict[str, Any]) -> str:
    """The figures of a run as markdown: what docs/benchmarks.md shows."""
    machine = record["machine"]
    lines = [
        f"Machine: {machine['cores']} cores ({machine['cpu_model']}), {machine['memory_gib']} GiB, "
        f"Python {machine['python']}, PySpark {machine['pyspark']}, Java {machine['java']}; "
        f"load average {record['load_start'][0]} at start, {record['load_end'][0]} at end"
        f"{' (quick mode: sizes too small to quote)' if record['quick'] else ''}.",
        "",
        f"Spark start-up (session, first job): {record['spark_startup_seconds']} s, not included below.",
    ]
    drained = [r for r in record.get("stream", []) if "error" not in r]
    if drained:
        lines += ["", *_stream_section(drained)]
    latency = record.get("latency")
    if latency and "error" not in latency:
        silver, sns = latency["ingestion_to_silver_seconds"], latency["ingestion_to_sns_seconds"]
        lines += [
            "",
            f"Latency at {latency['offered_events_per_second']:,.0f} events/s offered "
            f"({latency['achieved_events_per_second']:,} achieved) for {latency['seconds']} s "
            f"after {latency.get('warmup_seconds', 0)} s of warm-up, "
            f"{latency['trigger']}, {latency['source']}:",
            "",
            "| path | events | p50 s | p95 s | p99 s | max s |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            f"| ingestion -> silver | {silver['count']:,} | {silver['p50']} | {silver['p95']} | {silver['p99']} | "
            f"{silver['max']} |",
            f"| ingestion -> SNS | {sns['count']:,} | {sns['p50']} | {sns['p95']} | {sns['p99']} | {sns['max']} |",
        ]
    sentiment = record.get("sentiment")
    if sentiment and "error" not in sentiment:
        lines += [
            "",
            f"Sentiment ({sentiment['cores']} cores, best of {sentiment['repeat']}):",
            "",
            "| comments | rows | pandas UDF/s | row UDF/s | plain VADER/s | pandas vs row (speed) | "
            "pandas vs plain (time) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for dataset in ("unique", "simulator"):
            s = sentiment[dataset]
            rate = s["comments_per_second"]
            lines.append(
                f"| {dataset} | {s['rows']:,} | {rate['pandas UDF']:,} | {rate['row UDF']:,} | "
                f"{rate['plain VADER']:,} | {s['pandas_vs_row_speedup']}x | {s['pandas_vs_plain_time']}x |"
            )
    kpis = record.get("kpis")
    if kpis and "error" not in kpis:
        lines += [
            "",
            f"`batch kpis` over {kpis['events']:,} silver events: {kpis['batch_kpis_seconds']} s "
            f"({kpis['batch_kpis_gold_tables']} gold tables); DuckDB, the contract's two tables: "
            f"{kpis['duckdb_seconds']} s (Spark/DuckDB time {kpis['spark_vs_duckdb_time']}x; "
            f"sums {'match' if kpis['duckdb_matches_gold'] else 'differ'}).",
        ]
    cost = record.get("cost")
    if cost:
        load = cost["load"]
        usd = cost["monthly_usd"]
        lines += [
            "",
            f"Cost model at {load['average_events_per_second']:,.0f} events/s average, "
            f"{load['peak_events_per_second']:,.0f} peak, from {cost['events_per_cpu_second']:,} events/CPU-s: "
            f"{cost['kinesis_shards']} Kinesis shards, {cost['vcpus_at_peak']} vCPUs = {cost['glue_dpus']} Glue DPUs "
            f"or {cost['emr_nodes']} EMR nodes; {cost['s3_puts_per_month']:,} S3 PUTs/month; "
            f"USD/month: Kinesis {usd['kinesis']}, Glue {usd['glue']} or EMR {usd['emr']}, "
            f"S3 requests {usd['s3_requests']}.",
        ]
    for error in record.get("errors", []):
        lines += ["", f"FAILED {error}"]
    return "\n".join(lines)


def _local_cores(master: str | None) -> int:
    """The cores of a ``local[N]`` master (``local[*]``, ``local`` and cluster masters: this machine's)."""
    match = re.fullmatch(r"local\[(\d+)(,\d+)?\]", master or "")
    if match:
        return int(match.group(1))
    return 1 if master == "local" else os.cpu_count() or 1


def _timed(name: str, step: Callable[[], Any]) -> Any:
    """Run one benchmark; its result, or ``{"error": ...}`` when it failed (the suite goes on to the next)."""
    print(f"\n[{name}]", flush=True)
    started = time.monotonic()
    try:
        result = step()
    except Exception as exc:  # one failed benchmark must not lose the others' figures
        log.exception("benchmark %s failed", name)
        result = {"benchmark": name, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
        print(f"  FAILED: {result['error']}", flush=True)
    print(f"  ({time.monotonic() - started:.1f} s)", flush=True)
    return result


def run_suite(
    base: Settings,
    *,
    quick: bool = False,
    only: Sequence[str] = BENCHMARKS,
    events: int | None = None,
    output: str | Path | None = None,
    workdir: str | Path | None = None,
) -> dict[str, Any]:
    """Run the chosen benchmarks; prints progress and the table, writes the JSON record to ``output``."""
    from pipelines.bench.cost import Load, cost_model
    from pipelines.bench.kpis import run_kpis
    from pipelines.bench.sentiment import run_sentiment
    from pipelines.bench.stream import run_drain, run_latency

    sizes = QUICK if quick else FULL
    if events is not None:
        if events < 1:
            raise BenchUsageError("--events must be at least 1")
        sizes = replace(sizes, drain_events=events, kinesis_events=events)
    folder = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="orders-pipeline-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    started_at = dt.datetime.now(dt.UTC)
    record: dict[str, Any] = {
        "quick": quick,
        "started_at": started_at.isoformat(timespec="seconds"),
        "machine": machine_info(),
        "load_start": load_average(),
        "sizes": sizes.__dict__,
        "benchmarks": list(only),
    }
    print(f"orders-pipeline bench{' --quick' if quick else ''}: {', '.join(only)}; work folder {folder}")
    print(f"machine: {record['machine']}; load average {record['load_start']}", flush=True)
    run_tag = started_at.strftime("%H%M%S")
    with bench_session(base) as (spark, settings, startup_seconds):
        record["spark_startup_seconds"] = round(startup_seconds, 2)
        print(f"Spark start-up: {startup_seconds:.1f} s", flush=True)
        if "stream" in only or "cost" in only:
            record["stream"] = []
            for number, case in enumerate(_stream_cases(sizes)):
                tag = f"{run_tag}-{number}"
                drain = functools.partial(run_drain, spark, settings, case, folder / f"drain-{tag}", tag)
                record["stream"].append(_timed(f"stream drain: {case.name}, {case.events:,} events", drain))
        if "latency" in only:
            record["latency"] = _timed(
                f"latency at {sizes.latency_rate:,.0f} events/s",
                lambda: run_latency(
                    spark,
                    settings,
                    source="kafka",
                    rate=sizes.latency_rate,
                    seconds=sizes.latency_seconds,
                    trigger=sizes.latency_trigger,
                    workdir=folder / "latency",
                    tag=f"{run_tag}-latency",
                    warmup=sizes.latency_warmup,
                ),
            )
        if "sentiment" in only:
            cores = _local_cores(spark.sparkContext.master)
            record["sentiment"] = _timed(
                "sentiment: pandas UDF vs row UDF vs plain VADER",
                lambda: run_sentiment(spark, sizes.sentiment_rows, cores, sizes.sentiment_repeat),
            )
        if "kpis" in only:
            record["kpis"] = _timed(
                f"batch kpis vs DuckDB over {sizes.kpi_events:,} events",
                lambda: run_kpis(spark, settings, sizes.kpi_events, folder / "kpis"),
            )
    drained = [r for r in record.get("stream", []) if "error" not in r]
    if "cost" in only and drained:
        measured = [r for r in drained if r["notifications"]] or drained
        best = max(measured, key=lambda r: r["events_per_cpu_second"] or 0)
        files_per_batch = sum(t["files"] for t in best["tables"].values()) / max(best["batches"], 1)
        record["cost"] = cost_model(
            best["events_per_cpu_second"], files_per_batch, Load(bytes_per_event=best["bytes_per_event_in"])
        )
    record["errors"] = failures(record)
    record["load_end"] = load_average()
    record["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    record["seconds"] = round((dt.datetime.now(dt.UTC) - started_at).total_seconds(), 1)
    table = summary_table(record)
    print(f"\n{table}\n")
    if output:
        Path(output).write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"figures written to {output}")
    return record
