"""The stream job measured: drain throughput (available-now) and latency at a steady offered load.

Both run the real job (:mod:`jobs.stream`) against local services the suite started (a moto
server, a Tansu broker) into a fresh lake folder: bronze, quarantine and silver with sentiment,
and notifications when asked for. The Spark session is started once by the suite, so its
start-up is measured apart and not in any figure here.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import multiprocessing
import queue
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.queues import Queue
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.bench.machine import MemorySampler, Stopwatch
from pipelines.lake import Lake
from pipelines.schemas import BRONZE_TABLE, EVENT_TABLES, ORDERS_TABLE, QUARANTINE_TABLE, TABLES
from pipelines.settings import Settings

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

SourceKind = Literal["kafka", "kinesis"]

# Where each valid event becomes visible in silver.
SILVER_OF_EVENT = {"new_order": ORDERS_TABLE, **EVENT_TABLES}


class BenchmarkError(RuntimeError):
    """A benchmark could not run or its result is not what the run put in."""


@dataclass(frozen=True)
class StreamCase:
    """One drain: which source, how many events, with or without notifications."""

    source: SourceKind
    events: int
    notifications: bool = True
    partitions: int = 4
    cap_per_partition: int = 50_000

    @property
    def name(self) -> str:
        return f"{self.source}, notifications {'on' if self.notifications else 'off'}"


def case_settings(base: Settings, case: StreamCase, workdir: Path, tag: str) -> Settings:
    """``base`` pointed at a fresh lake folder, stream, topic and ledger for one case."""
    return base.with_overrides(
        [
            f"lake.root={workdir / 'lake'}",
            f"lake.checkpoints={workdir / 'checkpoints'}",
            f"source.kind={case.source}",
            f"source.stream=bench-{tag}",
            f"source.kafka_topic=bench-{tag}",
            f"source.shards={case.partitions}",
            f"source.kafka_partitions={case.partitions}",
            f"source.max_records_per_partition={case.cap_per_partition}",
            f"notifications.enabled={str(case.notifications).lower()}",
            f"notifications.ledger_table=bench-ledger-{tag}",
            f"alerts.topic=bench-alerts-{tag}",
            f"stream.query_name=bench-{tag}",
        ]
    )


def table_stats(lake: Lake, tables: Sequence[str] = tuple(TABLES)) -> dict[str, dict[str, int]]:
    """Rows, data files and bytes of each table's current version (from delta-rs add actions)."""
    stats: dict[str, dict[str, int]] = {}
    for table in tables:
        actions = pa.table(lake.table(table).get_add_actions(flatten=True))
        if actions.num_rows == 0:
            stats[table] = {"rows": 0, "files": 0, "bytes": 0}
            continue
        stats[table] = {
            "rows": int(pc.sum(actions["num_records"]).as_py() or 0),
            "files": actions.num_rows,
            "bytes": int(pc.sum(actions["size_bytes"]).as_py() or 0),
        }
    return stats


def _fill(settings: Settings, events: int, rate: float | None = None) -> tuple[int, float, int]:
    """Send ``events`` simulated events (2% invalid, duplicate or late); sent, seconds, bytes."""
    from pipelines.producing import ProduceOptions, produce

    report = produce(
        settings,
        ProduceOptions(events=events, rate=rate, days=30, bad_fraction=0.02, target=settings.source.kind),
    )
    return report.sent, report.seconds, report.bytes


def _offer(settings: Settings, events: int, rate: float, answers: Queue[tuple[str, Any]]) -> None:
    """:func:`_fill` in a process of its own.

    Answers ``("started", epoch seconds)``, then ``("sent", _fill's figures)`` or ``("error", text)``.
    """
    answers.put(("started", time.time()))
    try:
        answers.put(("sent", _fill(settings, events, rate=rate)))
    except Exception as exc:  # noqa: BLE001 - the parent raises it as the benchmark's error
        answers.put(("error", f"{type(exc).__name__}: {exc}"))


def _notifications_sent(settings: Settings) -> int:
    from pipelines.notifications.ledger import Ledger

    return sum(count for (_, state), count in Ledger(settings.notifications.ledger_table).summary().items())


def run_drain(spark: SparkSession, base: Settings, case: StreamCase, workdir: Path, tag: str) -> dict[str, Any]:
    """Fill the source with ``case.events`` simulated events, then time ``stream --trigger available-now``."""
    from jobs.stream import run as run_stream
    from pipelines.provision import provision

    settings = case_settings(base, case, workdir, tag)
    provision(settings)
    print(f"  {case.name}: filling {case.events:,} events ...", flush=True)
    sent, fill_seconds, sent_bytes = _fill(settings, case.events)
    print(f"  {case.name}: filled in {fill_seconds:.1f} s; draining ...", flush=True)
    with MemorySampler() as memory, Stopwatch() as watch:
        run_stream(settings, trigger="available-now")
    lake = Lake.from_settings(settings.lake)
    tables = table_stats(lake)
    if tables[BRONZE_TABLE]["rows"] != sent:
        raise BenchmarkError(f"bronze holds {tables[BRONZE_TABLE]['rows']} rows, {sent} events were sent")
    written = sum(table["bytes"] for table in tables.values())
    result = {
        "case": case.name,
        "source": case.source,
        "notifications": case.notifications,
        "events": sent,
        "partitions": case.partitions,
        "cap_per_partition": case.cap_per_partition,
        "bytes_per_event_in": round(sent_bytes / sent, 1) if sent else None,
        "fill_seconds": round(fill_seconds, 2),
        "fill_events_per_second": round(sent / fill_seconds) if fill_seconds else None,
        "drain_seconds": round(watch.seconds, 2),
        "events_per_second": round(sent / watch.seconds) if watch.seconds else None,
        "events_per_cpu_second": round(sent / memory.peaks.cpu_seconds) if memory.peaks.cpu_seconds else None,
        "sustained_events_per_second": round(sustained) if (sustained := sustained_rate(lake)) else None,
        "batches": len(commit_times(lake, BRONZE_TABLE)),
        "load_start": watch.load_start,
        "load_end": watch.load_end,
        "memory": memory.peaks.as_dict(),
        "bytes_written_per_event": round(written / sent, 1) if sent else None,
        "tables": {name: figures for name, figures in tables.items() if figures["files"]},
        "notifications_sent": _notifications_sent(settings) if case.notifications else 0,
    }
    print(
        f"  {case.name}: {sent:,} events in {watch.seconds:.1f} s = {result['events_per_second']:,} events/s "
        f"(load {watch.load_start[0]} -> {watch.load_end[0]})",
        flush=True,
    )
    return result


# --- latency -------------------------------------------------------------------------------


def commit_times(lake: Lake, table: str) -> dict[int, float]:
    """batch_id -> epoch seconds of the commit that wrote that micro-batch to ``table``."""
    times: dict[int, float] = {}
    for commit in lake.table(table).history():
        batch = commit.get("batch_id")
        if batch is None or commit.get("timestamp") is None:
            continue
        times[int(batch)] = float(commit["timestamp"]) / 1000
    return times


def sustained_rate(lake: Lake) -> float | None:
    """Events per second after the first micro-batch: bronze rows of the later batches over their commit span.

    The first batch carries the job's warm-up (JIT compilation, Python workers importing VADER),
    which a stream running for days pays once; None with fewer than two batches.
    """
    times = commit_times(lake, BRONZE_TABLE)
    if len(times) < 2:
        return None
    batches = lake.read_arrow(BRONZE_TABLE, columns=["batch_id"])["batch_id"]
    first, last = min(times), max(times)
    later = pc.sum(pc.greater(batches, first).cast(pa.int64())).as_py() or 0
    span = times[last] - times[first]
    return later / span if span > 0 else None


def _epoch_seconds(column: pa.ChunkedArray) -> np.ndarray:
    micros = pc.cast(pc.cast(column, pa.timestamp("us", tz="UTC")), pa.int64())
    return np.asarray(micros.to_numpy(zero_copy_only=False), dtype="float64") / 1e6


def _percentiles(values: np.ndarray) -> dict[str, float | int | None]:
    if values.size == 0:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "count": int(values.size),
        "p50": round(float(p50), 3),
        "p95": round(float(p95), 3),
        "p99": round(float(p99), 3),
        "max": round(float(values.max()), 3),
    }


def silver_latencies(lake: Lake, since: float | None = None) -> np.ndarray:
    """Seconds from each accepted event's ingestion (bronze ``ingested_at``) to its silver commit.

    Ingestion is the broker's record timestamp (Kafka: the producer's send time; Kinesis: the
    arrival time). Events that reached no silver table (invalid, duplicates) are left out, and
    so are events ingested before ``since`` (epoch seconds: the end of a warm-up).
    """
    bronze = lake.read_arrow(BRONZE_TABLE, columns=["event_id", "event_type", "ingested_at", "batch_id"])
    if since is not None:
        bronze = bronze.filter(pa.array(_epoch_seconds(bronze["ingested_at"]) >= since))
    rejected = lake.read_arrow(QUARANTINE_TABLE, columns=["event_id"])["event_id"]
    bronze = bronze.filter(pc.invert(pc.is_in(bronze["event_id"], value_set=rejected.combine_chunks())))
    out: list[np.ndarray] = []
    for event_type, table in SILVER_OF_EVENT.items():
        rows = bronze.filter(pc.equal(bronze["event_type"], event_type))
        if rows.num_rows == 0:
            continue
        committed = commit_times(lake, table)
        batches = rows["batch_id"].to_numpy(zero_copy_only=False)
        seen = np.array([committed.get(int(b), np.nan) for b in batches], dtype="float64")
        delays = seen - _epoch_seconds(rows["ingested_at"])
        out.append(delays[~np.isnan(delays)])
    return np.concatenate(out) if out else np.array([], dtype="float64")


def notification_latencies(lake: Lake, ledger_table: str, since: float | None = None) -> np.ndarray:
    """Seconds from the ingestion of the event a notification is about to its publication to SNS.

    Notifications about events ingested before ``since`` (epoch seconds) are left out.
    """
    from pipelines.aws.clients import client

    bronze = lake.read_arrow(BRONZE_TABLE, columns=["event_id", "ingested_at"])
    ingested = dict(zip(bronze["event_id"].to_pylist(), _epoch_seconds(bronze["ingested_at"]).tolist(), strict=True))
    dynamodb = client("dynamodb")
    delays: list[float] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=ledger_table):
        for item in page["Items"]:
            sent_at = item.get("sent_at", {}).get("S")
            body = json.loads(item.get("body", {}).get("S", "{}"))
            event_id = body.get("event_id")
            if not sent_at or event_id not in ingested or (since is not None and ingested[event_id] < since):
                continue
            sent = dt.datetime.fromisoformat(sent_at.replace("Z", "+00:00")).timestamp()
            delays.append(sent - ingested[event_id])
    return np.array(delays, dtype="float64")


def phase_medians(progress: Sequence[Any]) -> dict[str, float]:
    """Median milliseconds of each phase Spark reports in ``durationMs`` of the ``progress`` updates."""
    phases: dict[str, list[float]] = {}
    for update in progress:
        for phase, ms in (update.durationMs or {}).items():
            phases.setdefault(phase, []).append(float(ms))
    return {phase: round(float(np.median(values)), 1) for phase, values in sorted(phases.items())}


def _answer(answers: Queue[tuple[str, Any]], process: BaseProcess, kind: str, *, timeout: float) -> Any:
    """The producer process's next answer, which must be ``kind``; a clear error if it failed or died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got, value = answers.get(timeout=1.0)
        except queue.Empty:
            if not process.is_alive():
                raise BenchmarkError(f"the producer process exited with code {process.exitcode}") from None
            if time.monotonic() > deadline:
                raise BenchmarkError(f"the producer gave no {kind!r} answer in {timeout:.0f} s") from None
            continue
        if got == "error":
            raise BenchmarkError(f"the producer failed: {value}")
        if got != kind:
            raise BenchmarkError(f"the producer answered {got!r}, expected {kind!r}")
        return value


def run_latency(
    spark: SparkSession,
    base: Settings,
    *,
    source: SourceKind,
    rate: float,
    seconds: float,
    trigger: str,
    workdir: Path,
    tag: str,
    notifications: bool = True,
    warmup: float = 0.0,
) -> dict[str, Any]:
    """Offer ``rate`` events/s for ``seconds`` while the job runs with ``trigger``; latency percentiles.

    The load is offered for ``warmup`` seconds first, and events ingested then are not measured:
    a job's first micro-batches carry its warm-up (code generation, JIT, the Python workers'
    imports), which a stream that runs for days pays once, and the backlog they leave.
    """
    from jobs.stream import start
    from pipelines.provision import provision

    case = StreamCase(source, int(rate * (warmup + seconds)), notifications=notifications)
    settings = case_settings(base, case, workdir, tag)
    provision(settings)
    lake = Lake.from_settings(settings.lake)
    query = start(spark, settings, trigger=trigger)
    print(
        f"  latency: offering {rate:,.0f} events/s for {warmup:.0f} s of warm-up, then {seconds:.0f} s ({trigger}) ...",
        flush=True,
    )
    # The producer runs in a process of its own, as producers do: as a thread of the driver
    # it competed for the driver's GIL, and its CPU time (about 5 s a run) counted as the job's.
    context = multiprocessing.get_context("spawn")
    answers: Queue[tuple[str, Any]] = context.Queue()
    process = context.Process(
        target=_offer, args=(settings, case.events, rate, answers), name="bench-producer", daemon=True
    )
    with MemorySampler() as memory, Stopwatch() as watch:
        process.start()
        try:
            started = _answer(answers, process, "started", timeout=120)
            sent, produce_seconds, _ = _answer(answers, process, "sent", timeout=warmup + seconds + 600)
        except BenchmarkError:
            query.stop()
            raise
        finally:
            process.join(timeout=30)
        since = started + warmup
        # The tail: wait until bronze holds every sent event (or give up after a minute).
        deadline = time.monotonic() + 60 + seconds
        while time.monotonic() < deadline:
            if query.exception() is not None:
                break
            if lake.table(BRONZE_TABLE).count() >= sent:
                # One more trigger interval so silver and notifications of the last batch commit.
                time.sleep(2.0)
                break
            time.sleep(0.5)
        query.stop()
    if query.exception() is not None:
        raise BenchmarkError(f"the stream failed: {query.exception()}")
    silver = silver_latencies(lake, since)
    sns = notification_latencies(lake, settings.notifications.ledger_table, since) if notifications else np.array([])
    measured_from = dt.datetime.fromtimestamp(since, dt.UTC).isoformat(timespec="milliseconds")
    batches = [
        p
        for p in query.recentProgress
        if "addBatch" in (p.durationMs or {}) and p.timestamp.replace("Z", "+00:00") >= measured_from
    ]
    result = {
        "source": source,
        "offered_events_per_second": rate,
        "achieved_events_per_second": round(sent / produce_seconds) if produce_seconds else None,
        "seconds": seconds,
        "trigger": trigger,
        "events": sent,
        "batches": len(batches),
        "warmup_seconds": warmup,
        "batch_seconds_median": (
            round(float(np.median([p.durationMs["triggerExecution"] for p in batches])) / 1000, 2) if batches else None
        ),
        "batch_rows_median": round(float(np.median([p.numInputRows for p in batches]))) if batches else None,
        # Where a trigger's time goes (Spark's own phases, median ms): addBatch is the writer.
        "phase_ms_median": phase_medians(batches),
        "ingestion_to_silver_seconds": _percentiles(silver),
        "ingestion_to_sns_seconds": _percentiles(sns),
        "load_start": watch.load_start,
        "load_end": watch.load_end,
        "memory": memory.peaks.as_dict(),
    }
    figures = result["ingestion_to_silver_seconds"]
    print(
        f"  latency: ingestion -> silver p50 {figures['p50']} s, p95 {figures['p95']} s, p99 {figures['p99']} s "
        f"over {figures['count']:,} events (load {watch.load_start[0]} -> {watch.load_end[0]})",
        flush=True,
    )
    return result
