"""Delivery: claim in the ledger, publish to SNS (grouped), record the outcome; retry what is pending.

Call it only after the batch's Delta commits: then everything it notifies about is in the lake.
A replayed batch produces the same (notification_type, key) pairs, which the ledger already
holds, so nothing is sent twice (see docs/notifications.md for the exact guarantee).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pipelines.aws.clients import AwsEndpoint
from pipelines.notifications.ledger import Ledger
from pipelines.notifications.model import (
    Notification,
    digest_body,
    highest_severity,
    message_attributes,
    pipeline_failure,
)
from pipelines.notifications.publisher import Message, SnsPublisher, dedup_id, resolve_topic_arn
from pipelines.settings import AlertsSettings, NotificationSettings

LOG = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    """Counts of one delivery run; ``pending`` are kept for the next run, ``parked`` need a person."""

    new: int = 0
    already_handled: int = 0
    retried: int = 0
    sent: int = 0
    pending: int = 0
    parked: int = 0
    messages: int = 0
    digests: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.pending == 0 and self.parked == 0


class Notifier:
    """Publishes notifications once per (type, key): the ledger, the publisher and the grouping rule."""

    def __init__(
        self, ledger: Ledger, publisher: SnsPublisher, digest_threshold: int = 50, digest_size: int = 50
    ) -> None:
        self.ledger = ledger
        self.publisher = publisher
        self.digest_threshold = digest_threshold
        self.digest_size = digest_size

    @classmethod
    def from_settings(
        cls, notifications: NotificationSettings, alerts: AlertsSettings, endpoint: AwsEndpoint | None = None
    ) -> Notifier:
        """A notifier for the configured topic and ledger; ``endpoint`` as captured on the driver."""
        where = endpoint or AwsEndpoint.from_environment()
        ledger = Ledger(
            notifications.ledger_table,
            where,
            lease_seconds=notifications.lease_seconds,
            retention_days=notifications.ledger_retention_days,
        )
        publisher = SnsPublisher(
            resolve_topic_arn(alerts.topic, where),
            where,
            max_attempts=notifications.publish_max_attempts,
            backoff_seconds=notifications.publish_backoff_seconds,
            rate=notifications.publish_rate,
        )
        return cls(ledger, publisher, notifications.digest_threshold, notifications.digest_size)

    def deliver(self, notifications: Iterable[Notification], retry_pending: bool = True) -> DeliveryReport:
        """Send what the ledger has not seen, plus (by default) what earlier runs left pending."""
        report = DeliveryReport()
        fresh = list(notifications)
        claimed, report.already_handled = self.ledger.claim(fresh)
        report.new = len(claimed)
        if retry_pending:
            older = self.ledger.claim_pending(exclude={n.ledger_key for n in claimed})
            report.retried = len(older)
            claimed.extend(older)
        self._publish(claimed, report)
        if report.pending or report.parked:
            LOG.warning(
                "notifications: %d sent, %d kept pending, %d parked: %s",
                report.sent,
                report.pending,
                report.parked,
                "; ".join(report.errors[:3]),
            )
        return report

    def retry_pending(self) -> DeliveryReport:
        """Send only what earlier runs left pending (the scheduled check calls this too)."""
        return self.deliver([], retry_pending=True)

    def notify_failure(
        self,
        scope: str,
        error: BaseException | str,
        *,
        stage: Literal["batch", "query"] = "batch",
        batch_id: int | None = None,
        run_id: str | None = None,
    ) -> DeliveryReport:
        """Publish a ``pipeline_failure`` now (pending ones wait: SNS may be what failed)."""
        if isinstance(error, BaseException):
            kind, text = type(error).__name__, f"{type(error).__name__}: {error}"
        else:
            kind, text = error.split(":", 1)[0].strip()[:100] or "error", error
        failure = pipeline_failure(
            scope, text, dt.datetime.now(dt.UTC), stage=stage, error_kind=kind, batch_id=batch_id, run_id=run_id
        )
        return self.deliver([failure], retry_pending=False)

    def plan(self, claimed: Sequence[Notification]) -> list[tuple[Message, list[Notification]]]:
        """The SNS messages for ``claimed``: one each, or digests for a type above the threshold."""
        by_type: dict[str, list[Notification]] = defaultdict(list)
        for notification in claimed:
            by_type[notification.notification_type].append(notification)
        planned: list[tuple[Message, list[Notification]]] = []
        for kind, group in by_type.items():
            if len(group) > self.digest_threshold:
                for start in range(0, len(group), self.digest_size):
                    part = group[start : start + self.digest_size]
                    body = digest_body(part)
                    severity = highest_severity([n.severity for n in part])
                    message = Message(
                        id=f"m{len(planned)}",
                        body=body,
                        attributes=message_attributes(kind, severity, digest=True),
                        dedup_id=dedup_id([n.ledger_key for n in part]),
                        group_id=kind,
                    )
                    planned.append((message, part))
            else:
                for notification in group:
                    message = Message(
                        id=f"m{len(planned)}",
                        body=notification.body(),
                        attributes=notification.message_attributes(),
                        dedup_id=dedup_id([notification.ledger_key]),
                        group_id=notification.order_id or kind,
                    )
                    planned.append((message, [notification]))
        return planned

    def _publish(self, claimed: Sequence[Notification], report: DeliveryReport) -> None:
        if not claimed:
            return
        planned = self.plan(claimed)
        carried = {message.id: (message, group) for message, group in planned}
        sent: list[tuple[list[str], str]] = []
        for outcome in self.publisher.publish([message for message, _ in planned]):
            message, group = carried[outcome.id]
            keys = [n.ledger_key for n in group]
            if outcome.message_id is not None:
                sent.append((keys, outcome.message_id))
                report.sent += len(group)
                report.messages += 1
                report.digests += int(message.attributes["digest"]["StringValue"] == "true")
                continue
            report.errors.append(outcome.error or "unknown error")
            if outcome.permanent:
                for key in keys:
                    self.ledger.mark_failed(key, outcome.error or "rejected by SNS")
                report.parked += len(group)
            else:
                self.ledger.release(keys, outcome.error or "not sent")
                report.pending += len(group)
        # publish() returns once SNS has answered for every message, so marking them one by one
        # would add a round trip each without narrowing the window a crash could hit.
        self.ledger.mark_sent_many(sent)
