"""What every entry point under ``jobs/`` parses: ``--conf FILE`` and repeatable ``--set key=value``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from pipelines.logs import configure_logging
from pipelines.settings import Settings, load_settings


def job_parser(prog: str, doc: str | None = None) -> argparse.ArgumentParser:
    """A parser with the settings options; a job adds its own options to it."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--conf", metavar="FILE", help="settings file (YAML), default conf/local.yaml")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", dest="overrides", default=[])
    return parser


def job_settings(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None = None, *, strict: bool = False
) -> tuple[argparse.Namespace, Settings]:
    """Parse ``argv``, set up logging and load the settings; (arguments, settings).

    Unknown arguments are ignored unless ``strict``: Glue and EMR add arguments of their own.
    """
    args = parser.parse_args(argv) if strict else parser.parse_known_args(argv)[0]
    configure_logging()
    return args, load_settings(args.conf, args.overrides)
