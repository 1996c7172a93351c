"""Logging for the command line and the job entry points: one format, chatty libraries quieted."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Libraries that log every call or registration at INFO would bury what the jobs say.
QUIET = ("py4j", "botocore", "urllib3", "werkzeug", "great_expectations")


def configure_logging(verbose: bool = False) -> None:
    """INFO (DEBUG when ``verbose``) for the project, WARNING for the libraries in ``QUIET``."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=FORMAT)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
