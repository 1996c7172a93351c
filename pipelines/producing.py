"""`orders-pipeline produce`: simulated events, or a replayed JSON-lines file, to a stream or file.

``produce(settings, options)`` is the plain-Python entry point (the demo and tests call it);
``produce_from_args`` maps the command-line flags onto it. Produce creates nothing: a missing
stream or topic is an error that points at ``orders-pipeline setup``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from pipelines.cli import CommandError
from pipelines.producers import OutRecord, Producer, ProducerError
from pipelines.settings import ProducerSettings, Settings
from pipelines.simulator import SimulationConfig, default_end_time, generate

log = logging.getLogger(__name__)

Target = Literal["kinesis", "kafka", "file"]
PROGRESS_SECONDS = 5.0


class ProduceError(CommandError):
    """Producing failed or was asked for something impossible; the message says what to do."""


@dataclass(frozen=True)
class ProduceOptions:
    """What to produce; ``None`` fields take their value from ``settings.producer`` / ``settings.source``."""

    events: int | None = None
    rate: float | None = None
    days: float | None = None
    seed: int | None = None
    end_time: dt.datetime | str | None = None
    bad_fraction: float | None = None
    target: Target | None = None
    output: str | Path | None = None
    replay: str | Path | None = None


@dataclass
class ProduceReport:
    """What was sent where, how fast, and how many records of each kind."""

    target: str
    destination: str
    sent: int = 0
    bytes: int = 0
    seconds: float = 0.0
    kinds: Counter[str] = field(default_factory=Counter)
    replayed_from: str | None = None
    seed: int | None = None
    end_time: str | None = None

    @property
    def events_per_second(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        what = (
            f"replayed {self.replayed_from}"
            if self.replayed_from
            else f"simulated (seed {self.seed}, end {self.end_time})"
        )
        lines = [
            f"sent {self.sent} records ({self.bytes / 1e6:.1f} MB) to {self.destination} "
            f"in {self.seconds:.1f} s ({self.events_per_second:,.0f} records/s), {what}"
        ]
        if self.kinds and set(self.kinds) != {"valid"}:
            lines.append("kinds: " + ", ".join(f"{kind} {count}" for kind, count in sorted(self.kinds.items())))
        return "\n".join(lines)


class RateLimiter:
    """A token bucket: ``acquire(n)`` waits until ``n`` more records fit under ``rate`` per second."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate / 5)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._updated = clock()

    def acquire(self, count: int) -> None:
        while True:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            # A request larger than the bucket goes through once the bucket is full.
            needed = min(float(count), self.burst)
            # The epsilon absorbs float rounding that would otherwise ask for an endless tiny sleep.
            if self._tokens >= needed - 1e-9:
                self._tokens -= count
                return
            self._sleep((needed - self._tokens) / self.rate)


def parse_end_time(value: dt.datetime | str | None) -> dt.datetime:
    """An RFC 3339 time with an offset (or an aware datetime) as UTC; ``None`` = start of today (UTC)."""
    if value is None:
        return default_end_time()
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ProduceError(f"--end-time must be RFC 3339, e.g. 2026-11-20T00:00:00Z, got {value!r}") from None
    if value.tzinfo is None:
        raise ProduceError(f"--end-time needs an offset, e.g. {value.isoformat()}Z")
    return value.astimezone(dt.UTC)


def _producer_settings(settings: Settings, options: ProduceOptions) -> ProducerSettings:
    overrides = {
        name: getattr(options, name)
        for name in ("events", "rate", "days", "seed", "bad_fraction")
        if getattr(options, name) is not None
    }
    try:
        return ProducerSettings.model_validate({**settings.producer.model_dump(), **overrides})
    except ValidationError as exc:
        problems = "; ".join(f"--{'-'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ProduceError(problems.replace("_", "-")) from None


def open_producer(settings: Settings, target: Target, output: str | Path | None, batch_size: int) -> Producer:
    """The producer for ``target``; raises :class:`ProducerError` when the stream or topic is missing."""
    if target == "file":
        if output is None:
            raise ProduceError("--target file needs --output FILE")
        from pipelines.producers.jsonl import JsonLinesWriter

        return JsonLinesWriter(output)
    if target == "kinesis":
        from pipelines.producers.kinesis import KinesisProducer

        return KinesisProducer(settings.source.stream, batch_size=batch_size)
    from pipelines.producers.kafka import KafkaProducer

    source = settings.source
    return KafkaProducer(source.kafka_bootstrap, source.kafka_topic, options=source.options)


def _chunks(records: Iterable[tuple[str, OutRecord]], size: int) -> Iterator[list[tuple[str, OutRecord]]]:
    iterator = iter(records)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def produce(settings: Settings, options: ProduceOptions) -> ProduceReport:
    """Send simulated events (or the records of ``options.replay``) to the chosen target."""
    config = _producer_settings(settings, options)
    target: Target = options.target or settings.source.kind
    if options.output is not None and target != "file":
        raise ProduceError(f"--output is for --target file, not {target}")
    try:
        if options.replay is not None:
            from pipelines.producers.jsonl import read_json_lines

            replay_path = Path(options.replay)
            if not replay_path.is_file():
                raise ProduceError(f"replay file not found: {replay_path}")
            if options.output is not None and Path(options.output).resolve() == replay_path.resolve():
                raise ProduceError(f"--output {options.output} is the replayed file; writing would erase it first")
            records: Iterable[tuple[str, OutRecord]] = (("replayed", record) for record in read_json_lines(replay_path))
            report_seed, report_end = None, None
        else:
            end_time = parse_end_time(options.end_time)
            simulation = SimulationConfig(
                events=config.events,
                seed=config.seed,
                days=config.days,
                end_time=end_time,
                bad_fraction=config.bad_fraction,
            )
            records = ((r.kind, OutRecord(r.partition_key, r.data)) for r in generate(simulation))
            report_seed, report_end = config.seed, end_time.isoformat().replace("+00:00", "Z")
        producer = open_producer(settings, target, options.output, config.batch_size)
        report = ProduceReport(
            target=target,
            destination=producer.destination,
            replayed_from=str(options.replay) if options.replay is not None else None,
            seed=report_seed,
            end_time=report_end,
        )
        _run(producer, records, report, config.rate, config.batch_size)
    except ProducerError as exc:
        raise ProduceError(str(exc)) from exc
    return report


def _run(
    producer: Producer,
    records: Iterable[tuple[str, OutRecord]],
    report: ProduceReport,
    rate: float | None,
    batch_size: int,
) -> None:
    # With a rate, small chunks keep the flow smooth rather than one burst per batch.
    chunk_size = batch_size if rate is None else max(1, min(batch_size, int(rate / 10)))
    limiter = RateLimiter(rate) if rate is not None else None
    started = time.monotonic()
    next_progress = started + PROGRESS_SECONDS
    try:
        for chunk in _chunks(records, chunk_size):
            if limiter is not None:
                limiter.acquire(len(chunk))
            producer.send([record for _, record in chunk])
            report.sent += len(chunk)
            report.bytes += sum(len(record.data) for _, record in chunk)
            report.kinds.update(kind for kind, _ in chunk)
            now = time.monotonic()
            if now >= next_progress:
                elapsed = now - started
                log.info("sent %d records in %.0f s (%.0f records/s)", report.sent, elapsed, report.sent / elapsed)
                next_progress = now + PROGRESS_SECONDS
    finally:
        producer.close()
        report.seconds = time.monotonic() - started
    log.info("sent %d records to %s in %.1f s", report.sent, report.destination, report.seconds)


def produce_from_args(settings: Settings, args: argparse.Namespace) -> ProduceReport:
    """``produce`` with the options of the command line (see ``pipelines.cli.add_produce_arguments``)."""
    options = ProduceOptions(
        events=args.events,
        rate=args.rate,
        days=args.days,
        seed=args.seed,
        end_time=args.end_time,
        bad_fraction=args.bad_fraction,
        target=args.target,
        output=args.output,
        replay=args.replay,
    )
    return produce(settings, options)
