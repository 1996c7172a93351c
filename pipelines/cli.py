"""The ``orders-pipeline`` command line: demo, setup, produce, stream, batch, query.

Every command takes ``--conf FILE`` (YAML, default ``conf/local.yaml``) and repeatable
``--set dotted.key=value`` overrides, before or after the command name.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from pipelines.settings import Settings, SettingsError, load_settings

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

BATCH_JOBS = ("kpis", "forecast", "maintenance", "stalled", "report")

# Commands whose issue is not done yet ("batch NAME" for one batch job): they say so plainly and exit 2.
NOT_YET: dict[str, str] = {
    "batch kpis": "the gold KPI tables and cash flow (issue #6)",
    "batch forecast": "the cash-flow forecast (issue #6)",
    "batch report": "the HTML report (issue #6)",
    "query": "Athena-dialect queries on the lake (issue #6)",
}


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
        "stalled (order_stalled check and pending notification retries), report",
    )
    batch.add_argument("name", choices=BATCH_JOBS)

    query = commands.add_parser("query", help="run an Athena-dialect query on the lake and print the result")
    query.add_argument("sql")

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


# `batch NAME` -> the job's runner: prints what it did, returns the exit code.
BATCH_RUNNERS: dict[str, Callable[[Settings], int]] = {
    "maintenance": _batch_maintenance,
    "stalled": _batch_stalled,
}


def _run_batch(args: argparse.Namespace) -> int:
    runner = BATCH_RUNNERS.get(args.name)
    if runner is None:
        return _not_yet(args)
    return runner(_settings(args))


def _not_yet(args: argparse.Namespace) -> int:
    name = f"{args.command} {args.name}" if args.command == "batch" else args.command
    print(f"orders-pipeline {name}: not available yet; it comes with {NOT_YET[name]}.", file=sys.stderr)
    return EXIT_USAGE


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": _run_demo,
    "setup": _run_setup,
    "produce": _run_produce,
    "stream": _run_stream,
    "batch": _run_batch,
    "query": _not_yet,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``orders-pipeline`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("py4j", "botocore", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
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
