"""The once-only ledger: one DynamoDB item per (notification_type, key), ``pending`` until SNS accepts it.

Why DynamoDB and not a Delta table: every notification needs an atomic "claim this key unless
someone already has" and later a "pending -> sent" transition, from the streaming query and the
scheduled stalled-order check at the same time. Conditional writes give exactly that per item, in
milliseconds, without commit conflicts between concurrent writers or one lake commit per batch.

An item's life: ``claim`` puts it ``pending`` with a lease (``lease_until``) so that no other run
publishes it meanwhile; ``mark_sent`` records the SNS message id; ``release`` keeps it ``pending``
with the error and ends the lease, so the next batch (or the scheduled check) retries it;
``mark_failed`` parks a message SNS rejects as malformed (``failed``), kept and listed, never
retried blindly. Pending items carry a ``pending`` attribute, the hash key of a sparse index,
so finding them never scans the table.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from pipelines.aws.clients import AwsEndpoint, client
from pipelines.notifications.model import InvalidNotificationError, Notification

State = Literal["pending", "sent", "failed"]

PENDING_INDEX = "pending-by-created"
_PENDING_FLAG = "pending"
_GET_BATCH = 100
# DynamoDB's limit of items per BatchWriteItem.
_WRITE_BATCH = 25
_WORKERS = 8


class LedgerError(RuntimeError):
    """The ledger table is missing, unreadable or holds an entry that is not a notification."""


@dataclass(frozen=True)
class LedgerEntry:
    """What the ledger knows about one (notification_type, key)."""

    ledger_key: str
    state: State
    attempts: int
    lease_until: float
    message_id: str | None
    last_error: str | None
    body: str


def _now_iso(now: float) -> str:
    return dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="microseconds")


def _entry(item: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        ledger_key=item["pk"]["S"],
        state=item["state"]["S"],
        attempts=int(item.get("attempts", {}).get("N", "0")),
        lease_until=float(item.get("lease_until", {}).get("N", "0")),
        message_id=item.get("message_id", {}).get("S"),
        last_error=item.get("last_error", {}).get("S"),
        body=item.get("body", {}).get("S", ""),
    )


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Ledger:
    """Records which notifications were claimed, sent or parked, keyed by (type, key)."""

    def __init__(
        self,
        table: str,
        endpoint: AwsEndpoint | None = None,
        lease_seconds: float = 120.0,
        retention_days: int = 400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self.lease_seconds = lease_seconds
        self.retention_days = retention_days
        self._clock = clock
        self._ddb = client("dynamodb", endpoint)
        # Keys this ledger holds the lease of: (body, attempts so far), so marking them sent
        # can rewrite the whole item in batches.
        self._held: dict[str, tuple[str, int]] = {}

    # -- table ---------------------------------------------------------------------------------

    def ensure_table(self, timeout: float = 120.0) -> str:
        """Create the table (on-demand, sparse pending index, TTL on sent entries) unless it exists."""
        created = False
        try:
            self._ddb.create_table(
                TableName=self.table,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "pending", "AttributeType": "S"},
                    {"AttributeName": "created_at", "AttributeType": "S"},
                ],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": PENDING_INDEX,
                        "KeySchema": [
                            {"AttributeName": "pending", "KeyType": "HASH"},
                            {"AttributeName": "created_at", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                    }
                ],
            )
            created = True
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceInUseException":
                raise
        deadline = time.monotonic() + timeout
        while self._ddb.describe_table(TableName=self.table)["Table"]["TableStatus"] != "ACTIVE":
            if time.monotonic() > deadline:
                raise LedgerError(f"DynamoDB table {self.table} not ACTIVE after {timeout}s")
            time.sleep(1)
        if created and self.retention_days:
            self._ddb.update_time_to_live(
                TableName=self.table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
            )
        return f"dynamodb table {self.table}: {'created' if created else 'exists'}"

    # -- reads ---------------------------------------------------------------------------------

    def entries(self, ledger_keys: Sequence[str]) -> dict[str, LedgerEntry]:
        """The entries that exist among ``ledger_keys`` (strongly consistent)."""
        found: dict[str, LedgerEntry] = {}
        for chunk in _chunks(list(dict.fromkeys(ledger_keys)), _GET_BATCH):
            request: dict[str, Any] = {
                self.table: {"Keys": [{"pk": {"S": key}} for key in chunk], "ConsistentRead": True}
            }
            delay = 0.05
            while request:
                try:
                    response = self._ddb.batch_get_item(RequestItems=request)
                except ClientError as exc:
                    if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                        raise LedgerError(
                            f"ledger table {self.table} does not exist: run `orders-pipeline setup`"
                        ) from exc
                    raise
                for item in response["Responses"].get(self.table, []):
                    entry = _entry(item)
                    found[entry.ledger_key] = entry
                request = response.get("UnprocessedKeys") or {}
                if request:
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
        return found

    def entry(self, notification_type: str, key: str) -> LedgerEntry | None:
        return self.entries([f"{notification_type}#{key}"]).get(f"{notification_type}#{key}")

    def summary(self) -> dict[tuple[str, str], int]:
        """How many entries there are per (notification_type, state); scans the table, for reports."""
        counts: dict[tuple[str, str], int] = {}
        request: dict[str, Any] = {
            "TableName": self.table,
            "ProjectionExpression": "pk, #s",
            "ExpressionAttributeNames": {"#s": "state"},
        }
        while True:
            page = self._ddb.scan(**request)
            for item in page.get("Items", []):
                kind = item["pk"]["S"].split("#", 1)[0]
                counts[(kind, item["state"]["S"])] = counts.get((kind, item["state"]["S"]), 0) + 1
            if "LastEvaluatedKey" not in page:
                return counts
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def parked(self) -> list[LedgerEntry]:
        """Entries SNS rejected as malformed (``failed``): for an operator to look at."""
        items: list[LedgerEntry] = []
        paginator = self._ddb.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self.table,
            FilterExpression="#s = :failed",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":failed": {"S": "failed"}},
        ):
            items.extend(_entry(item) for item in page["Items"])
        return items

    # -- claims --------------------------------------------------------------------------------

    def claim(self, notifications: Iterable[Notification]) -> tuple[list[Notification], int]:
        """Take the lease of each notification not yet sent; returns (claimed, already handled).

        A new key is put ``pending``; a ``pending`` one whose lease ran out (a crashed run or an
        outage) is taken over. Keys that are ``sent`` or ``failed``, or leased by another run
        right now, are left alone and counted as handled.

        Each key costs one conditional put: a put that finds the key returns the stored item in
        its error, so nothing is read first.
        """
        first: dict[str, Notification] = {}
        for notification in notifications:
            first.setdefault(notification.ledger_key, notification)
        unique = list(first.values())
        with ThreadPoolExecutor(_WORKERS) as pool:
            results = list(pool.map(self._claim_one, unique))
        claimed = [n for n, ok in zip(unique, results, strict=True) if ok]
        return claimed, len(unique) - len(claimed)

    def _claim_one(self, notification: Notification) -> bool:
        now = self._clock()
        item = {
            "pk": {"S": notification.ledger_key},
            "notification_type": {"S": notification.notification_type},
            "key": {"S": notification.key},
            "state": {"S": "pending"},
            _PENDING_FLAG: {"S": _PENDING_FLAG},
            "body": {"S": json.dumps(notification.to_dict(), separators=(",", ":"))},
            "created_at": {"S": _now_iso(now)},
            "updated_at": {"S": _now_iso(now)},
            "attempts": {"N": "0"},
            "lease_until": {"N": repr(now + self.lease_seconds)},
        }
        try:
            self._ddb.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "ResourceNotFoundException":
                raise LedgerError(f"ledger table {self.table} does not exist: run `orders-pipeline setup`") from exc
            if code != "ConditionalCheckFailedException":
                raise
            stored: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
            entry = _entry(stored) if stored else self.entry(notification.notification_type, notification.key)
            if entry is None or entry.state != "pending" or not self._take_lease(entry.ledger_key):
                return False
            self._held[notification.ledger_key] = entry.body, entry.attempts
            return True
        self._held[notification.ledger_key] = item["body"]["S"], 0
        return True

    def _take_lease(self, ledger_key: str) -> bool:
        now = self._clock()
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key={"pk": {"S": ledger_key}},
                UpdateExpression="SET lease_until = :until, updated_at = :at",
                ConditionExpression="#s = :pending AND lease_until < :now",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={
                    ":until": {"N": repr(now + self.lease_seconds)},
                    ":at": {"S": _now_iso(now)},
                    ":pending": {"S": "pending"},
                    ":now": {"N": repr(now)},
                },
            )
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False

    def claim_pending(self, limit: int = 10_000, exclude: Iterable[str] = ()) -> list[Notification]:
        """Take the lease of pending entries whose lease ran out, oldest first, at most ``limit``."""
        skip = set(exclude)
        keys: list[str] = []
        paginator = self._ddb.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table,
            IndexName=PENDING_INDEX,
            KeyConditionExpression="pending = :p",
            ExpressionAttributeValues={":p": {"S": _PENDING_FLAG}},
        ):
            keys.extend(item["pk"]["S"] for item in page["Items"] if item["pk"]["S"] not in skip)
            if len(keys) >= limit:
                break
        # The index is eventually consistent: re-read each entry before taking it.
        now = self._clock()
        entries = self.entries(keys[:limit])
        candidates = [e for e in entries.values() if e.state == "pending" and e.lease_until < now]
        with ThreadPoolExecutor(_WORKERS) as pool:
            taken = list(pool.map(lambda e: self._take_lease(e.ledger_key), candidates))
        claimed = []
        for entry, ok in zip(candidates, taken, strict=True):
            if not ok:
                continue
            try:
                claimed.append(Notification.from_dict(json.loads(entry.body)))
                self._held[entry.ledger_key] = entry.body, entry.attempts
            except (InvalidNotificationError, json.JSONDecodeError) as exc:
                self.mark_failed(entry.ledger_key, f"unreadable ledger body: {exc}")
        return claimed

    # -- outcomes ------------------------------------------------------------------------------

    def mark_sent(self, ledger_keys: Sequence[str], message_id: str) -> None:
        """Record that SNS accepted the message carrying these keys: they are never sent again."""
        self.mark_sent_many([(ledger_keys, message_id)])

    def mark_sent_many(self, sent: Sequence[tuple[Sequence[str], str]]) -> None:
        """:meth:`mark_sent` for many messages at once: ``(ledger keys, SNS message id)`` each.

        Keys this ledger claimed are rewritten whole, 25 to a BatchWriteItem (their body is known
        from the claim), whatever message carried them; any other key is updated in place.
        """
        now = self._clock()
        expires = str(int(now + self.retention_days * 86_400)) if self.retention_days else None
        whole: list[dict[str, Any]] = []
        in_place: dict[str, list[str]] = {}
        for ledger_keys, message_id in sent:
            for key in dict.fromkeys(ledger_keys):
                held = self._held.pop(key, None)
                if held is None:
                    in_place.setdefault(message_id, []).append(key)
                    continue
                body, attempts = held
                kind, _, note_key = key.partition("#")
                item: dict[str, Any] = {
                    "pk": {"S": key},
                    "notification_type": {"S": kind},
                    "key": {"S": note_key},
                    "state": {"S": "sent"},
                    "body": {"S": body},
                    "message_id": {"S": message_id},
                    "sent_at": {"S": _now_iso(now)},
                    "updated_at": {"S": _now_iso(now)},
                    "attempts": {"N": str(attempts + 1)},
                    "lease_until": {"N": "0"},
                }
                if expires:
                    item["expires_at"] = {"N": expires}
                whole.append({"PutRequest": {"Item": item}})
        # A key is rewritten whole at most once: popping it from _held sends a repeat in place.
        for chunk in _chunks(whole, _WRITE_BATCH):
            self._batch_write(list(chunk))
        for message_id, keys in in_place.items():
            self._update_sent(keys, message_id, now, expires)

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {self.table: requests}
        delay = 0.05
        while pending:
            response = self._ddb.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if pending:
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _update_sent(self, ledger_keys: Sequence[str], message_id: str, now: float, expires: str | None) -> None:
        values: dict[str, Any] = {
            ":sent": {"S": "sent"},
            ":mid": {"S": message_id},
            ":at": {"S": _now_iso(now)},
            ":one": {"N": "1"},
        }
        update = "SET #s = :sent, message_id = :mid, sent_at = :at, updated_at = :at ADD attempts :one REMOVE pending"
        if expires:
            values[":exp"] = {"N": expires}
            update = update.replace("updated_at = :at", "updated_at = :at, expires_at = :exp")
        with ThreadPoolExecutor(_WORKERS) as pool:
            list(
                pool.map(
                    lambda key: self._ddb.update_item(
                        TableName=self.table,
                        Key={"pk": {"S": key}},
                        UpdateExpression=update,
                        ExpressionAttributeNames={"#s": "state"},
                        ExpressionAttributeValues=values,
                    ),
                    ledger_keys,
                )
            )

    def release(self, ledger_keys: Sequence[str], error: str) -> None:
        """Keep these entries pending with ``error`` and end their lease: the next run retries them."""
        self._record_failure(ledger_keys, error, "pending")

    def mark_failed(self, ledger_key: str, error: str) -> None:
        """Park an entry SNS rejected as malformed: kept (``failed``) and listed, not retried."""
        self._record_failure([ledger_key], error, "failed")

    def _record_failure(self, ledger_keys: Sequence[str], error: str, state: State) -> None:
        for key in ledger_keys:
            self._held.pop(key, None)
        now = self._clock()
        update = "SET #s = :state, last_error = :err, lease_until = :zero, updated_at = :at ADD attempts :one"
        if state != "pending":
            update += " REMOVE pending"
        values = {
            ":state": {"S": state},
            ":err": {"S": error[:1000] or "unknown error"},
            ":zero": {"N": "0"},
            ":at": {"S": _now_iso(now)},
            ":one": {"N": "1"},
            ":pending": {"S": "pending"},
        }

        def record(key: str) -> None:
            try:
                self._ddb.update_item(
                    TableName=self.table,
                    Key={"pk": {"S": key}},
                    UpdateExpression=update,
                    # Never turn an entry another run has already sent back into pending.
                    ConditionExpression="#s = :pending",
                    ExpressionAttributeNames={"#s": "state"},
                    ExpressionAttributeValues=values,
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

        with ThreadPoolExecutor(_WORKERS) as pool:
            list(pool.map(record, ledger_keys))


def ensure_ledger(table: str, endpoint: AwsEndpoint | None = None) -> str:
    """`setup`'s step for the ledger table (idempotent), e.g. ``ensure_ledger(settings.notifications.ledger_table)``."""
    return Ledger(table, endpoint).ensure_table()
