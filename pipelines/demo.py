"""`orders-pipeline demo`: the whole pipeline on this machine, with nothing started first.

It starts what the cloud would provide (a moto AWS endpoint on loopback, unless
``AWS_ENDPOINT_URL`` names one; a Tansu broker when the source is Kafka), puts the lake in a
fresh folder, and runs every stage that exists, end to end, printing what each did.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.local_services import KafkaBroker, local_aws
from pipelines.settings import Settings


@dataclass
class DemoContext:
    """What the steps share: the settings in force, where the lake is, and what earlier steps found."""

    settings: Settings
    workdir: Path
    events: int
    produced: int = 0
    records_before: int = 0
    facts: dict[str, object] = field(default_factory=dict)


Step = Callable[[DemoContext], list[str]]


def _stream_count(settings: Settings) -> tuple[int, str]:
    from pipelines.stream_tools import count_kafka_records, count_kinesis_records

    source = settings.source
    if source.kind == "kinesis":
        return count_kinesis_records(source.stream), f"kinesis stream {source.stream}"
    return count_kafka_records(source.kafka_bootstrap, source.kafka_topic, idle_seconds=1.0), (
        f"kafka topic {source.kafka_topic}"
    )


def _setup(ctx: DemoContext) -> list[str]:
    from pipelines.provision import provision

    lines = provision(ctx.settings).lines
    # An endpoint of the user's own may hold earlier runs' records: the check counts from here.
    ctx.records_before, where = _stream_count(ctx.settings)
    if ctx.records_before:
        lines.append(f"{where} already holds {ctx.records_before} records")
    return lines


def _produce(ctx: DemoContext) -> list[str]:
    from pipelines.producing import ProduceOptions, produce

    demo = ctx.settings.demo
    report = produce(
        ctx.settings,
        ProduceOptions(
            events=ctx.events,
            days=demo.days,
            seed=ctx.settings.producer.seed,
            bad_fraction=demo.bad_fraction,
            target=ctx.settings.source.kind,
        ),
    )
    ctx.produced = report.sent
    return [report.summary()]


def _count_stream(ctx: DemoContext) -> list[str]:
    total, where = _stream_count(ctx.settings)
    arrived = total - ctx.records_before
    if arrived != ctx.produced:
        raise RuntimeError(f"{where} received {arrived} records, {ctx.produced} were sent")
    return [f"{where} received all {arrived} records sent"]


def _stream(ctx: DemoContext) -> list[str]:
    from jobs.stream import run as run_stream
    from pipelines.lake import Lake
    from pipelines.schemas import BRONZE_TABLE, TABLES

    run_stream(ctx.settings, trigger="available-now")
    lake = Lake.from_settings(ctx.settings.lake)
    counts = {table: lake.table(table).count() for table in TABLES}
    expected = ctx.records_before + ctx.produced
    if counts[BRONZE_TABLE] != expected:
        raise RuntimeError(f"{BRONZE_TABLE} holds {counts[BRONZE_TABLE]} rows, {expected} records were on the stream")
    width = max(len(table) for table in counts)
    return [f"{table:<{width}}  {count:>8,} rows" for table, count in counts.items()]


def _notifications_summary(ctx: DemoContext) -> list[str]:
    from pipelines.notifications.ledger import Ledger

    summary = Ledger(ctx.settings.notifications.ledger_table).summary()
    if not summary:
        return ["no notifications"]
    width = max(len(kind) for kind, _ in summary)
    return [f"{kind:<{width}}  {state:<8} {count:>6,}" for (kind, state), count in sorted(summary.items())]


def _quality(ctx: DemoContext) -> list[str]:
    from jobs.quality import run as check_quality

    report = check_quality(ctx.settings)
    return ["quality checks are off for batch jobs"] if report is None else report.lines()


def _notifications(ctx: DemoContext) -> list[str]:
    return [f"SNS topic {ctx.settings.alerts.topic}, by type and state:", *_notifications_summary(ctx)]


def _stalled(ctx: DemoContext) -> list[str]:
    from jobs.notify_stalled import run as check_stalled

    report = check_stalled(ctx.settings)
    return [f"order_stalled check: {report.sent} sent, {report.retried} retried, {report.pending} pending"]


def _forecast(ctx: DemoContext) -> list[str]:
    from jobs.forecast import run as forecast

    return forecast(ctx.settings).lines()


def _kpis(ctx: DemoContext) -> list[str]:
    from jobs.kpis import kpi_summary
    from jobs.kpis import run as compute_kpis
    from pipelines.lake import Lake

    report = compute_kpis(ctx.settings)
    return [*report.lines(), "KPI summary over the demo's dates:", *kpi_summary(Lake.from_settings(ctx.settings.lake))]


def _maintenance(ctx: DemoContext) -> list[str]:
    from jobs.maintenance import run as maintain

    return maintain(ctx.settings)


def _report(ctx: DemoContext) -> list[str]:
    from jobs.report import run as write_report
    from pipelines.athena import named_query
    from pipelines.athena.local import LocalAthena, format_result
    from pipelines.lake import Lake

    where = write_report(ctx.settings)
    # The summary is the named query analysts run in Athena, here on the local engine.
    with LocalAthena(Lake.from_settings(ctx.settings.lake), ctx.settings.athena.database) as engine:
        summary = engine.run(named_query("kpi_summary").sql)
    return ["KPI summary (named query kpi_summary):", format_result(summary), f"report: {where}"]


# Every stage that exists, in order.
STEPS: list[tuple[str, Step]] = [
    ("setup: stream, bucket, topic, tables", _setup),
    ("produce: simulated events from the integrations", _produce),
    ("check: every sent record is on the stream", _count_stream),
    ("stream: drain the stream into bronze, quarantine and silver (available-now)", _stream),
    ("batch quality: the silver tables' expectation suites on their snapshots", _quality),
    ("notifications: what the committed batches sent to SNS", _notifications),
    ("batch stalled: orders with no successful payment in time", _stalled),
    ("batch kpis: the gold KPI tables from silver (incremental)", _kpis),
    ("batch forecast: 30 days of net cash flow per currency, backtest vs seasonal naive", _forecast),
    ("batch maintenance: compaction, checkpoints, vacuum", _maintenance),
    ("report: KPI summary and the HTML report", _report),
]


@contextlib.contextmanager
def _local_kafka(settings: Settings) -> Iterator[Settings]:
    if settings.source.kind != "kafka":
        yield settings
        return
    with KafkaBroker() as broker:
        print(f"local Kafka broker: {broker.bootstrap} (Tansu, started by the demo)")
        yield settings.with_overrides([f"source.kafka_bootstrap={broker.bootstrap}"])


def run_demo(settings: Settings, events: int | None = None, workdir: str | None = None) -> int:
    """Run every stage on this machine and print what each did; returns the exit code."""
    folder = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="orders-pipeline-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    settings = settings.with_overrides(
        [f"lake.root={folder / 'lake'}", f"lake.checkpoints={folder / 'checkpoints'}"]
        if not settings.lake.on_s3
        else []
    )
    started = time.monotonic()
    print(f"orders-pipeline demo: lake at {settings.lake.root}")
    with local_aws() as endpoint, _local_kafka(settings) as settings:
        print(f"AWS endpoint: {endpoint or 'the real AWS endpoints'}")
        ctx = DemoContext(settings=settings, workdir=folder, events=events or settings.demo.events)
        for number, (title, step) in enumerate(STEPS, start=1):
            step_started = time.monotonic()
            print(f"\n[{number}/{len(STEPS)}] {title}")
            for line in step(ctx):
                for part in line.splitlines():
                    print(f"    {part}")
            print(f"    ({time.monotonic() - step_started:.1f} s)")
    print(f"\ndemo finished in {time.monotonic() - started:.1f} s; lake at {settings.lake.root}")
    return 0
