"""The notification message: what subscribers receive and how SNS filter policies see it.

The body follows the contract (section 5): ``notification_type``, ``severity``, ``order_id``,
``event_id``, ``occurred_at``, ``detail``; ``key`` is added so a subscriber can deduplicate too.
Customer e-mail addresses never leave the pipeline: a ``detail`` key naming an e-mail is refused
and e-mail-like text inside free text (comments) is masked.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")

NOTIFICATION_TYPES: tuple[str, ...] = (
    "order_confirmed",
    "payment_failed",
    "order_packed",
    "high_value_order",
    "suspected_fraud",
    "negative_feedback",
    "chargeback_received",
    "return_decision",
    "order_stalled",
    "pipeline_failure",
)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# SNS limits a message (and a whole PublishBatch request) to 256 KiB.
MAX_MESSAGE_BYTES = 256 * 1024

# Bounded repeats keep the scan linear on long text without an "@".
EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}\.[A-Za-z]{2,24}")
EMAIL_MASK = "[email removed]"


class InvalidNotificationError(ValueError):
    """A notification lacks a required field or has a value the contract does not allow."""


class PersonalDataError(InvalidNotificationError):
    """A notification's detail carries a field that names customer e-mail."""


def mask_emails(text: str) -> str:
    """``text`` with every e-mail-like substring replaced."""
    return EMAIL_PATTERN.sub(EMAIL_MASK, text) if "@" in text else text


def _clean(value: Any, path: str) -> Any:
    if isinstance(value, Mapping):
        cleaned = {}
        for name, item in value.items():
            if "email" in str(name).lower():
                raise PersonalDataError(f"detail field {path}{name} would carry customer e-mail")
            cleaned[str(name)] = _clean(item, f"{path}{name}.")
        return cleaned
    if isinstance(value, str):
        return mask_emails(value)
    if isinstance(value, list | tuple):
        return [_clean(item, path) for item in value]
    if isinstance(value, dt.datetime):
        return format_time(value)
    return value


def format_time(value: dt.datetime) -> str:
    """RFC 3339 in UTC with milliseconds and a ``Z``; naive values are taken as UTC."""
    stamp = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Notification:
    """One notification; ``(notification_type, key)`` identifies it for once-only delivery."""

    notification_type: str
    key: str
    severity: Severity
    occurred_at: dt.datetime
    order_id: str | None = None
    event_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.notification_type not in NOTIFICATION_TYPES:
            raise InvalidNotificationError(f"unknown notification_type {self.notification_type!r}")
        if self.severity not in SEVERITIES:
            raise InvalidNotificationError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")
        if not self.key:
            raise InvalidNotificationError(f"{self.notification_type} notification needs a non-empty key")
        object.__setattr__(self, "detail", _clean(dict(self.detail), ""))

    @property
    def ledger_key(self) -> str:
        """The ledger's primary key: type and key together."""
        return f"{self.notification_type}#{self.key}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "notification_type": self.notification_type,
            "severity": self.severity,
            "order_id": self.order_id,
            "event_id": self.event_id,
            "occurred_at": format_time(self.occurred_at),
            "key": self.key,
            "detail": dict(self.detail),
        }

    def body(self) -> str:
        """The SNS message body (compact JSON, keys in a fixed order)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    def message_attributes(self) -> dict[str, dict[str, str]]:
        """SNS message attributes that subscription filter policies can match."""
        return message_attributes(self.notification_type, self.severity, digest=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notification:
        """The inverse of :meth:`to_dict` (the ledger stores bodies and rebuilds notifications)."""
        try:
            occurred = dt.datetime.fromisoformat(str(data["occurred_at"]).replace("Z", "+00:00"))
            return cls(
                notification_type=data["notification_type"],
                key=data["key"],
                severity=data["severity"],
                occurred_at=occurred,
                order_id=data.get("order_id"),
                event_id=data.get("event_id"),
                detail=data.get("detail") or {},
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidNotificationError(f"not a notification: {exc}") from exc

    @classmethod
    def from_row(cls, row: Any) -> Notification:
        """A notification from a row of the rules' ``NOTIFICATION`` schema (``detail`` is JSON text).

        ``occurred_at`` may be epoch microseconds (see ``collect_notifications``): PySpark turns
        timestamps into naive datetimes in the driver's local time zone, which need not be UTC.
        """
        values = row.asDict() if hasattr(row, "asDict") else dict(row)
        detail = values.get("detail")
        try:
            parsed = json.loads(detail) if isinstance(detail, str) else (detail or {})
        except json.JSONDecodeError as exc:
            raise InvalidNotificationError(f"detail of {values.get('key')!r} is not JSON: {exc}") from exc
        occurred = values.get("occurred_at")
        if isinstance(occurred, int):
            occurred = _EPOCH + dt.timedelta(microseconds=occurred)
        if not isinstance(occurred, dt.datetime):
            raise InvalidNotificationError(f"occurred_at of {values.get('key')!r} is missing")
        return cls(
            notification_type=values["notification_type"],
            key=values["key"],
            severity=values["severity"],
            occurred_at=occurred,
            order_id=values.get("order_id"),
            event_id=values.get("event_id"),
            detail=parsed,
        )


def message_attributes(notification_type: str, severity: str, digest: bool) -> dict[str, dict[str, str]]:
    """The attributes every message carries: ``notification_type``, ``severity`` and ``digest``."""
    return {
        "notification_type": {"DataType": "String", "StringValue": notification_type},
        "severity": {"DataType": "String", "StringValue": severity},
        "digest": {"DataType": "String", "StringValue": "true" if digest else "false"},
    }


def highest_severity(severities: Sequence[Severity]) -> Severity:
    """The most severe of ``severities`` (``info`` for none)."""
    return max(severities, key=SEVERITIES.index, default="info")


def digest_body(notifications: Sequence[Notification]) -> str:
    """One message carrying several notifications of one type in full (see docs/notifications.md)."""
    if not notifications:
        raise InvalidNotificationError("a digest needs at least one notification")
    kinds = {n.notification_type for n in notifications}
    if len(kinds) != 1:
        raise InvalidNotificationError(f"a digest holds one notification_type, got {sorted(kinds)}")
    items = [
        {
            "key": n.key,
            "severity": n.severity,
            "order_id": n.order_id,
            "event_id": n.event_id,
            "occurred_at": format_time(n.occurred_at),
            "detail": dict(n.detail),
        }
        for n in notifications
    ]
    body = {
        "notification_type": notifications[0].notification_type,
        "severity": highest_severity([n.severity for n in notifications]),
        "order_id": None,
        "event_id": None,
        "occurred_at": format_time(max(n.occurred_at for n in notifications)),
        "key": None,
        "detail": {"digest": True, "count": len(items), "items": items},
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def pipeline_failure(
    scope: str,
    error: str,
    occurred_at: dt.datetime,
    *,
    stage: Literal["batch", "query"],
    error_kind: str,
    batch_id: int | None = None,
    run_id: str | None = None,
) -> Notification:
    """A ``pipeline_failure``: once per (scope, run, batch, kind of error), so a replayed failure alerts once."""
    parts = [scope, run_id or "-", "-" if batch_id is None else str(batch_id), error_kind]
    return Notification(
        notification_type="pipeline_failure",
        key=":".join(parts),
        severity="critical",
        occurred_at=occurred_at,
        detail={
            "stage": stage,
            "query": scope,
            "run_id": run_id,
            "batch_id": batch_id,
            "error_kind": error_kind,
            "error": error[:4000],
        },
    )
