"""Scheduled check: notify orders with no successful payment in time (order_stalled), retry pending notifications.

Run it every few minutes (EventBridge Scheduler -> EMR Serverless / Glue job run):

    spark-submit jobs/notify_stalled.py --conf conf/emr.yaml
    # Glue 6.0: script jobs/notify_stalled.py, job parameters --conf conf/glue.yaml

Locally: ``python jobs/notify_stalled.py --set lake.root=lake``. ``--now`` (RFC 3339) evaluates
as of another moment, e.g. to re-check a past window; the ledger keeps every order's
notification to one.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Sequence

from pipelines.aws.clients import AwsEndpoint
from pipelines.entry import job_parser, job_settings
from pipelines.lake import Lake
from pipelines.notifications.delivery import DeliveryReport, Notifier
from pipelines.notifications.stream import notify_stalled_orders
from pipelines.schemas import ORDERS_TABLE, PAYMENTS_TABLE
from pipelines.session import get_spark
from pipelines.settings import Settings

LOG = logging.getLogger("jobs.notify_stalled")


def _parse_now(text: str | None) -> dt.datetime:
    if not text:
        return dt.datetime.now(dt.UTC)
    stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        raise SystemExit(f"--now needs an offset, e.g. 2026-11-20T10:00:00Z, got {text!r}")
    return stamp


def run(settings: Settings, now: dt.datetime | None = None) -> DeliveryReport:
    """Read silver orders and payments of the look-back window and deliver what is stalled as of ``now``."""
    now = now or dt.datetime.now(dt.UTC)
    endpoint = AwsEndpoint.from_environment()
    spark = get_spark("orders-notify-stalled", settings.spark)
    lake = Lake.from_settings(settings.lake, endpoint)
    since = (now.astimezone(dt.UTC) - dt.timedelta(hours=settings.notifications.stalled_lookback_hours)).date()
    orders = lake.read(spark, ORDERS_TABLE, partitions=[("order_date", ">=", since)])
    payments = lake.read(spark, PAYMENTS_TABLE, partitions=[("event_date", ">=", since)])
    notifier = Notifier.from_settings(settings.notifications, settings.alerts, endpoint)
    report = notify_stalled_orders(orders, payments, settings.notifications, notifier, now=now)
    LOG.info(
        "stalled check as of %s: %d sent, %d retried, %d pending", now, report.sent, report.retried, report.pending
    )
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; exit code 1 when notifications stay pending (the next run retries them)."""
    parser = job_parser("notify_stalled", __doc__)
    parser.add_argument("--now", default=None, metavar="RFC3339", help="evaluate as of this moment")
    args, settings = job_settings(parser, argv, strict=True)
    report = run(settings, _parse_now(args.now))
    return 0 if report.complete else 1


if __name__ == "__main__":
    sys.exit(main())
