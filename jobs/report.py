"""`batch report`: the static HTML report of the lake's KPIs (one self-contained file, no scripts).

Usage on EMR 8 (a step after ``batch kpis`` and ``batch forecast``)::

    spark-submit jobs/report.py --conf conf/emr.yaml --set lake.root=s3://my-lake/orders \
        --set report.output=s3://my-reports/orders/report.html

On Glue 6: a Python shell job (or a Spark job) running this script with the same arguments. It
needs no Spark: delta-rs reads the tables on the driver. With ``report.output`` unset the report
goes beside a folder lake (``report.html``) or to ``<lake.root>/reports/report.html`` on S3.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pipelines.lake import Lake
from pipelines.logs import configure_logging
from pipelines.report import write_report
from pipelines.settings import Settings, load_settings


def run(settings: Settings, output: str | None = None) -> str:
    """Write the report of ``settings``' lake; returns its URI (``file://`` or ``s3://``)."""
    lake = Lake.from_settings(settings.lake)
    return write_report(lake, output or settings.report.output, settings.report.max_map_points)


def main(argv: Sequence[str] | None = None) -> int:
    """spark-submit entry point: ``jobs/report.py [--conf FILE] [--set k=v ...] [--output FILE]``."""
    parser = argparse.ArgumentParser(prog="report", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--conf", metavar="FILE")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", dest="overrides", default=[])
    parser.add_argument("--output", metavar="FILE", help="where to write the report (default report.output)")
    args, _ = parser.parse_known_args(argv)
    configure_logging()
    print(f"report: {run(load_settings(args.conf, args.overrides), args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
