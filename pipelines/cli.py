"""The ``orders-pipeline`` command line: demo, setup, produce, stream, batch, query, package.

Every command takes ``--conf FILE`` (YAML, default ``conf/local.yaml``) and repeatable
``--set dotted.key=value`` overrides, before or after the command name.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from pipelines.logs import configure_logging
from pipelines.settings import Settings, SettingsError, load_settings

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

BATCH_JOBS = ("kpis", "forecast", "maintenance", "stalled", "report", "quality")


class CommandError(RuntimeError):
    """A command failed for a reason the user can act on; printed without a traceback."""


def _common_options(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS lets the options stand before or after the command without one hiding the other.
    parser.add_argument(
        "--conf", metavar="FILE", default=argparse.SUPPRESS, help="settings file (YAML), default conf/local.yaml"
    )
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        dest="overrides",
        default=argparse.SUPPRESS,
        help="override one setting, e.g. --set source.kind=kafka (repeatable)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log more")


def add_produce_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `produce`, shared with the demo's own producing step."""
    parser.add_argument("--events", type=int, help="how many events (default producer.events)")
    parser.add_argument("--rate", type=float, help="events per second (default: as fast as possible)")
    parser.add_argument("--days", type=float, help="days of event time the events span (default producer.days)")
    parser.add_argument("--seed", type=int, help="random seed; same seed, same events (default producer.seed)")
    parser.add_argument(
        "--end-time",
        metavar="RFC3339",
        help="latest event time; default the start of the current UTC day, so reruns match",
    )
    parser.add_argument(
        "--bad-fraction",
        type=float,
        help="share of invalid, duplicate and late records mixed in (default producer.bad_fraction)",
    )
    parser.add_argument(
        "--target",
        choices=("kinesis", "kafka", "file"),
        help="where to send (default: source.kind; 'file' needs --output)",
    )
    parser.add_argument("--output", metavar="FILE", help="JSON-lines file for --target file")
    parser.add_argument("--replay", metavar="FILE", help="send the records of a JSON-lines file as they are")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orders-pipeline",
        description="Real-time order and transaction pipeline: Kinesis/Kafka -> Spark -> Delta Lake -> SNS, Athena.",
    )
    _common_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser("demo", help="the whole pipeline on this machine, nothing to start first")
    demo.add_argument("--events", type=int, help="events to simulate (default demo.events)")
    demo.add_argument("--workdir", metavar="DIR", help="where the lake and checkpoints go (default: a new temp folder)")

    commands.add_parser("setup", help="create the stream, bucket, topic and tables; safe to repeat")

    produce = commands.add_parser("produce", help="send simulated events from 30+ integrations, or replay a file")
    add_produce_arguments(produce)

    stream = commands.add_parser("stream", help="the Spark Structured Streaming job")
    stream.add_argument("--trigger", help="'available-now' (drain and exit) or 'processing-time=<duration>'")

    batch = commands.add_parser(
        "batch",
        help="a batch job: kpis, forecast, maintenance (compaction, checkpoints, vacuum), "
        "stalled (order_stalled check and pending notification retries), report, "
        "quality (the silver tables' data-quality suites)",
    )
    batch.add_argument("name", choices=BATCH_JOBS)
    batch.add_argument("--output", metavar="FILE", help="batch report: where the report goes (default report.output)")

    query = commands.add_parser("query", help="run an Athena-dialect query on the lake and print the result")
    query.add_argument("sql", nargs="?", help="the query, in Athena's dialect (Trino SQL)")
    query.add_argument("--file", metavar="FILE", help="read the query from a .sql file")
    query.add_argument("--named", metavar="NAME", help="run one of the named queries (--list shows them)")
    query.add_argument("--list", action="store_true", help="list the named queries and exit")
    query.add_argument("--ddl", action="store_true", help="print the Athena DDL registering the lake's tables")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format")

    bench = commands.add_parser(
        "bench", help="the benchmark suite: stream drain and latency, sentiment, batch kpis, cost (docs/benchmarks.md)"
    )
    bench.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, not figures to quote")
    bench.add_argument(
        "--only", metavar="NAME[,NAME]", help="only these: stream, latency, sentiment, kpis, cost (cost runs stream)"
    )
    bench.add_argument("--events", type=int, help="events per stream drain (default 1,000,000; quick 2,000)")
    bench.add_argument("--output", metavar="FILE", help="write the figures as JSON to FILE")
    bench.add_argument("--workdir", metavar="DIR", help="where lakes and checkpoints go (default: a new temp folder)")

    package = commands.add_parser(
        "package", help="build the deployable artifacts for EMR, EMR Serverless and Glue (see docs/deploy.md)"
    )
    package.add_argument("--output", metavar="DIR", default="dist", help="where the artifacts go (emptied first)")
    package.add_argument(
        "--venv", action="store_true", help="also pack a Python environment for EMR Serverless (venv-pack)"
    )
    package.add_argument(
        "--check-glue-wheels", action="store_true", help="ask PyPI which pins have Python 3.13 wheels for Glue 6"
    )

    for sub in commands.choices.values():
        _common_options(sub)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "conf", None), getattr(args, "overrides", None) or ())


def _run_demo(args: argparse.Namespace) -> int:
    from pipelines.demo import run_demo

    return run_demo(_settings(args), events=args.events, workdir=args.workdir)


def _run_setup(args: argparse.Namespace) -> int:
    from pipelines.provision import provision

    for line in provision(_settings(args)).lines:
        print(line)
    return EXIT_OK


def _run_produce(args: argparse.Namespace) -> int:
    from pipelines.producing import produce_from_args

    report = produce_from_args(_settings(args), args)
    print(report.summary())
    return EXIT_OK


def _run_stream(args: argparse.Namespace) -> int:
    from jobs.stream import run

    return run(_settings(args), trigger=args.trigger)


def _batch_maintenance(settings: Settings) -> int:
    from jobs.maintenance import run

    for line in run(settings):
        print(line)
    return EXIT_OK


def _batch_stalled(settings: Settings) -> int:
    from jobs.notify_stalled import run as check_stalled

    report = check_stalled(settings)
    print(f"stalled check: {report.sent} sent, {report.retried} retried, {report.pending} pending")
    return EXIT_OK if report.complete else EXIT_FAILURE


def _batch_kpis(settings: Settings) -> int:
    from jobs.kpis import KpiJobError, run
    from pipelines.lake import LakeError

    try:
        report = run(settings)
    except (LakeError, KpiJobError) as exc:
        raise CommandError(str(exc)) from exc
    for line in report.lines():
        print(line)
    return EXIT_OK


def _batch_forecast(settings: Settings) -> int:
    from jobs.forecast import ForecastJobError, run
    from pipelines.forecast import ForecastError
    from pipelines.lake import LakeError

    try:
        report = run(settings)
    except (LakeError, ForecastError, ForecastJobError) as exc:
        raise CommandError(str(exc)) from exc
    for line in report.lines():
        print(line)
    return EXIT_OK


def _batch_quality(settings: Settings) -> int:
    from jobs.quality import run
    from pipelines.lake import LakeError
    from pipelines.quality import QualityError, SuiteError

    try:
        report = run(settings)
    except (LakeError, SuiteError, QualityError) as exc:
        raise CommandError(str(exc)) from exc
    if report is None:
        print("quality checks are off for batch jobs (quality.enabled / quality.on_batch)")
        return EXIT_OK
    for line in report.lines():
        print(line)
    return EXIT_OK if report.success else EXIT_FAILURE


def _batch_report(settings: Settings) -> int:
    from jobs.report import run
    from pipelines.report import ReportError

    try:
        where = run(settings)
    except ReportError as exc:
        raise CommandError(str(exc)) from exc
    print(f"report: {where}")
    return EXIT_OK


def _run_query(args: argparse.Namespace) -> int:
    from pipelines.athena.command import run_query_command

    return run_query_command(_settings(args), args)


# `batch NAME` -> the job's runner: prints what it did, returns the exit code.
BATCH_RUNNERS: dict[str, Callable[[Settings], int]] = {
    "kpis": _batch_kpis,
    "maintenance": _batch_maintenance,
    "stalled": _batch_stalled,
    "quality": _batch_quality,
    "forecast": _batch_forecast,
    "report": _batch_report,
}


def _run_batch(args: argparse.Namespace) -> int:
    runner = BATCH_RUNNERS[args.name]
    settings = _settings(args)
    if getattr(args, "output", None):
        if args.name != "report":
            print(f"orders-pipeline batch {args.name}: --output is for 'batch report'", file=sys.stderr)
            return EXIT_USAGE
        settings = settings.model_copy(update={"report": settings.report.model_copy(update={"output": args.output})})
    return runner(settings)


def _run_bench(args: argparse.Namespace) -> int:
    from pipelines.bench.suite import BenchUsageError, parse_only, run_suite

    try:
        only = parse_only(args.only)
        record = run_suite(
            _settings(args), quick=args.quick, only=only, events=args.events, output=args.output, workdir=args.workdir
        )
    except BenchUsageError as exc:
        print(f"orders-pipeline bench: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_FAILURE if record["errors"] else EXIT_OK


def _run_package(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pipelines.artifacts import PackagingError, build_artifacts

    try:
        build_artifacts(Path(args.output), venv=args.venv, glue_wheels=args.check_glue_wheels)
    except PackagingError as exc:
        raise CommandError(str(exc)) from exc
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": _run_demo,
    "setup": _run_setup,
    "produce": _run_produce,
    "stream": _run_stream,
    "batch": _run_batch,
    "query": _run_query,
    "package": _run_package,
    "bench": _run_bench,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``orders-pipeline`` console script."""
    args = build_parser().parse_args(argv)
    configure_logging(getattr(args, "verbose", False))
    try:
        return COMMANDS[args.command](args)
    except SettingsError as exc:
        print(f"orders-pipeline: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CommandError as exc:
        print(f"orders-pipeline {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # Run the package's own copy of this module: other modules raise pipelines.cli.CommandError,
    # which a copy loaded as __main__ would not recognise.
    from pipelines.cli import main as package_main

    sys.exit(package_main())
