"""Notifications from the streaming query: after a batch's Delta commits, and when a batch or the query fails.

The lake writer's ``foreachBatch`` function calls :func:`notify_committed_batch` as its last step,
after every Delta commit of the batch, also when the batch is a replay whose commits were already
there (the ledger drops what was sent before). :func:`alert_on_failure` wraps the batch function
so that a failing batch sends ``pipeline_failure`` before the error stops the query, and
:class:`FailureListener` reports a query that terminates with an error for any other reason.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias
from pyspark.sql.streaming import StreamingQueryListener

from pipelines.notifications.delivery import DeliveryReport, Notifier
from pipelines.notifications.model import Notification
from pipelines.settings import NotificationSettings
from pipelines.transforms.notifications import SilverBatch, batch_notifications, stalled_orders

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

LOG = logging.getLogger(__name__)

BatchFunction = Callable[["DataFrame", int], None]


def collect_notifications(frame: DataFrame | None) -> list[Notification]:
    """The rows of a rules' frame as notifications, times read as UTC whatever the driver's time zone."""
    if frame is None:
        return []
    rows = frame.withColumn("occurred_at", F.unix_micros("occurred_at")).collect()
    return [Notification.from_row(row) for row in rows]


def notify_committed_batch(batch: SilverBatch, settings: NotificationSettings, notifier: Notifier) -> DeliveryReport:
    """Run the rules over one committed batch and deliver what they produce (plus pending retries)."""
    if not settings.enabled:
        return DeliveryReport()
    report = notifier.deliver(collect_notifications(batch_notifications(batch, settings)))
    LOG.info(
        "notifications: %d new, %d already handled, %d retried, %d sent in %d messages, %d pending",
        report.new,
        report.already_handled,
        report.retried,
        report.sent,
        report.messages,
        report.pending,
    )
    return report


def notify_stalled_orders(
    orders: DataFrame,
    payments: DataFrame,
    settings: NotificationSettings,
    notifier: Notifier,
    now: dt.datetime | None = None,
) -> DeliveryReport:
    """The scheduled check: stalled orders as of ``now`` (default: this moment) and pending retries."""
    if not settings.enabled:
        return notifier.retry_pending()
    frame = stalled_orders(
        orders,
        payments,
        now=now or dt.datetime.now(dt.UTC),
        stalled_minutes=settings.stalled_minutes,
        minutes_by_payment_method=settings.stalled_minutes_by_payment_method,
        exempt_payment_methods=settings.stalled_exempt_payment_methods,
        lookback_hours=settings.stalled_lookback_hours,
    )
    return notifier.deliver(collect_notifications(frame))


def alert_on_failure(batch_function: BatchFunction, notifier: Notifier, query_name: str) -> BatchFunction:
    """``batch_function`` that, when it raises, first publishes ``pipeline_failure``, then re-raises."""

    def run(df: DataFrame, batch_id: int) -> None:
        try:
            batch_function(df, batch_id)
        except Exception as exc:
            try:
                notifier.notify_failure(query_name, exc, stage="batch", batch_id=batch_id)
            except Exception:
                # The alert path failing must not hide the batch's own error.
                LOG.exception("could not publish pipeline_failure for %s batch %d", query_name, batch_id)
            raise

    return run


class FailureListener(StreamingQueryListener):
    """Publishes ``pipeline_failure`` when a streaming query terminates with an error.

    Spark calls it on its listener bus, after ``awaitTermination`` has already raised in the
    job's thread: a job that then exits at once can end before the alert is out (seen under
    load in CI). The job waits for :meth:`wait_for_failure` before it exits.
    """

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self._failure_handled = threading.Event()

    def wait_for_failure(self, timeout: float = 60.0) -> bool:
        """Block until a failed query's alert has been handled (sent, or its error logged); False on timeout."""
        return self._failure_handled.wait(timeout)

    def onQueryStarted(self, event: object) -> None:
        pass

    def onQueryProgress(self, event: object) -> None:
        pass

    def onQueryIdle(self, event: object) -> None:
        pass

    def onQueryTerminated(self, event: object) -> None:
        exception = getattr(event, "exception", None)
        if not exception:
            return
        query_id = str(getattr(event, "id", "unknown"))
        run_id = str(getattr(event, "runId", "")) or None
        try:
            self.notifier.notify_failure(query_id, str(exception), stage="query", run_id=run_id)
        except Exception:
            LOG.exception("could not publish pipeline_failure for query %s", query_id)
        finally:
            self._failure_handled.set()
