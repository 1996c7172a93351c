"""`batch report`: the static HTML report of the lake's KPIs (one self-contained file, no scripts).

Usage on EMR 8 (a step after ``batch kpis`` and ``batch forecast``)::

    spark-submit jobs/report.py --conf conf/emr.yaml --set lake.root=s3://my-lake/orders \
        --set report.output=s3://my-reports/orders/report.html

On Glue 6: a Python shell job (or a Spark job) running this script with the same arguments. It
needs no Spark: delta-rs reads the tables on the driver. With ``report.output`` unset the report
goes beside a folder lake (``report.html``) or to ``<lake.root>/reports/report.html`` on S3.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pipelines.entry import job_parser, job_settings
from pipelines.lake import Lake
from pipelines.report import write_report
from pipelines.settings import Settings


def run(settings: Settings, output: str | None = None) -> str:
    """Write the report of ``settings``' lake; returns its URI (``file://`` or ``s3://``)."""
    lake = Lake.from_settings(settings.lake)
    return write_report(lake, output or settings.report.output, settings.report.max_map_points)


def main(argv: Sequence[str] | None = None) -> int:
    """spark-submit entry point: ``jobs/report.py [--conf FILE] [--set k=v ...] [--output FILE]``."""
    parser = job_parser("report", __doc__)
    parser.add_argument("--output", metavar="FILE", help="where to write the report (default report.output)")
    args, settings = job_settings(parser, argv)
    print(f"report: {run(settings, args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
