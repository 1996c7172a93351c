"""`batch quality`: run the silver tables' Great Expectations suites on their current snapshots.

Usage on EMR 8 (a step, e.g. after the KPI job)::

    spark-submit jobs/quality.py --conf conf/emr.yaml --set lake.root=s3://my-lake/orders \\
        --set quality.suites=s3://my-lake/conf/expectations

On Glue 6: a Python shell or Spark job running this script with the same arguments. It needs no
Spark: delta-rs reads the columns the suites use and GX checks them with pandas on the driver.
Results go to ``quality/metrics``; the exit code is 1 when an expectation fails.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from pipelines.aws.clients import AwsEndpoint
from pipelines.entry import job_parser, job_settings
from pipelines.lake import Lake
from pipelines.quality.checker import QualityChecker
from pipelines.quality.tables import QualityReport, check_tables
from pipelines.settings import Settings

log = logging.getLogger(__name__)


def run(settings: Settings) -> QualityReport | None:
    """Check every silver table that has a suite; None when quality checks are off for batch jobs."""
    if not (settings.quality.enabled and settings.quality.on_batch):
        return None
    endpoint = AwsEndpoint.from_environment()
    lake = Lake.from_settings(settings.lake, endpoint)
    checker = QualityChecker.from_settings(settings.quality, endpoint)
    return check_tables(lake, checker=checker, sample_rows=settings.quality.sample_rows)


def main(argv: Sequence[str] | None = None) -> int:
    """spark-submit entry point: ``jobs/quality.py [--conf FILE] [--set k=v ...]``."""
    _, settings = job_settings(job_parser("quality", __doc__), argv)
    report = run(settings)
    if report is None:
        log.info("quality checks are off for batch jobs (quality.enabled / quality.on_batch)")
        return 0
    for line in report.lines():
        log.info("%s", line)
    return 0 if report.success else 1


if __name__ == "__main__":
    sys.exit(main())
