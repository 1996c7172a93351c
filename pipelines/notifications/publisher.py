"""SNS publishing: PublishBatch (10 messages a call), a rate limit, retries with backoff, outage detection.

The publisher never drops a message silently: every message it is given comes back as an
:class:`Outcome` that is either sent (with the SNS message id) or not, with the error and whether
retrying can help. When SNS is unreachable or failing (connection errors, 5xx, throttling) after
the configured attempts, the remaining messages of the call are returned unsent at once instead
of each waiting out its own retries: the caller keeps them pending for the next run.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from pipelines.aws.clients import AwsEndpoint, client
from pipelines.notifications.model import MAX_MESSAGE_BYTES

LOG = logging.getLogger(__name__)

BATCH_ENTRIES = 10
MAX_BACKOFF_SECONDS = 30.0
# Codes SNS (or the network in front of it) returns when a later attempt may succeed.
_RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "Throttled",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "InternalError",
        "InternalFailure",
        "InternalErrorException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "KMSThrottlingException",
        "RequestTimeout",
    }
)


class PublishError(RuntimeError):
    """The alerts topic cannot be found or used (not an outage: configuration)."""


@dataclass(frozen=True)
class Message:
    """One SNS message to publish; ``dedup_id`` is what a FIFO topic deduplicates on."""

    id: str
    body: str
    attributes: dict[str, dict[str, str]]
    dedup_id: str
    group_id: str

    @property
    def size(self) -> int:
        attrs = sum(len(k) + len(v["DataType"]) + len(v["StringValue"]) for k, v in self.attributes.items())
        return len(self.body.encode("utf-8")) + attrs


@dataclass(frozen=True)
class Outcome:
    """What became of one message: ``message_id`` when SNS accepted it, else the error."""

    id: str
    message_id: str | None = None
    error: str | None = None
    # True when SNS rejected the message itself (sender fault): retrying the same bytes cannot help.
    permanent: bool = False

    @property
    def sent(self) -> bool:
        return self.message_id is not None


def dedup_id(parts: Sequence[str]) -> str:
    """A FIFO deduplication id (at most 128 characters) for the ledger keys a message carries."""
    return hashlib.sha256("\n".join(sorted(parts)).encode("utf-8")).hexdigest()


def resolve_topic_arn(name_or_arn: str, endpoint: AwsEndpoint | None = None) -> str:
    """The ARN for ``alerts.topic``: an ARN as it is, a name through CreateTopic (idempotent)."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    attributes = {"FifoTopic": "true"} if name_or_arn.endswith(".fifo") else {}
    try:
        return str(client("sns", endpoint).create_topic(Name=name_or_arn, Attributes=attributes)["TopicArn"])
    except (ClientError, BotoCoreError) as exc:
        raise PublishError(f"cannot resolve SNS topic {name_or_arn!r}: {exc}") from exc


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, BotoCoreError):
        return True  # connection refused or reset, timeouts: the endpoint may come back
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return exc.response["Error"]["Code"] in _RETRYABLE_CODES or status >= 500 or status == 429
    return False


class _RateLimiter:
    """A token bucket: at most ``rate`` messages a second, bursts up to one second's worth."""

    def __init__(self, rate: float, sleep: Callable[[float], None]) -> None:
        self.rate = rate
        self._sleep = sleep
        self._tokens = rate
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self, count: int) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= count
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


class SnsPublisher:
    """Publishes messages to one topic; build it with the endpoint captured on the driver."""

    def __init__(
        self,
        topic_arn: str,
        endpoint: AwsEndpoint | None = None,
        *,
        max_attempts: int = 5,
        backoff_seconds: float = 0.5,
        rate: float = 200.0,
        sleep: Callable[[float], None] = time.sleep,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.topic_arn = topic_arn
        self.fifo = topic_arn.endswith(".fifo")
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep
        self._limiter = _RateLimiter(rate, sleep)
        # One attempt per call at the botocore level: the retry policy is this class's, explicit.
        self._sns = client(
            "sns",
            endpoint,
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=timeout_seconds,
            read_timeout=timeout_seconds,
        )

    def publish(self, messages: Sequence[Message]) -> list[Outcome]:
        """Publish ``messages``; one :class:`Outcome` per message, in no particular order."""
        outcomes: list[Outcome] = []
        chunks = list(_batches(messages))
        for number, chunk in enumerate(chunks):
            chunk_outcomes, outage = self._publish_chunk(chunk)
            outcomes.extend(chunk_outcomes)
            if outage is not None:
                rest = [m for later in chunks[number + 1 :] for m in later]
                if rest:
                    LOG.warning("SNS unavailable (%s): %d more messages kept for the next run", outage, len(rest))
                outcomes.extend(Outcome(m.id, error=f"not attempted: {outage}") for m in rest)
                break
        return outcomes

    def _publish_chunk(self, chunk: Sequence[Message]) -> tuple[list[Outcome], str | None]:
        """Publish one PublishBatch-sized chunk with retries; the second value names an outage."""
        remaining = {m.id: m for m in chunk}
        done: list[Outcome] = []
        last_error = "no attempt made"
        for attempt in range(1, self.max_attempts + 1):
            self._limiter.acquire(len(remaining))
            try:
                response = self._sns.publish_batch(
                    TopicArn=self.topic_arn, PublishBatchRequestEntries=[self._entry(m) for m in remaining.values()]
                )
            except (ClientError, BotoCoreError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                if not _retryable(exc):
                    # Configuration (no topic, no permission): keep pending, say so loudly.
                    LOG.error("SNS publish to %s failed: %s", self.topic_arn, last_error)
                    done.extend(Outcome(mid, error=last_error) for mid in remaining)
                    return done, last_error
            else:
                for success in response.get("Successful", []):
                    message = remaining.pop(success["Id"], None)
                    if message is not None:
                        done.append(Outcome(message.id, message_id=success["MessageId"]))
                for failure in response.get("Failed", []):
                    last_error = f"{failure.get('Code')}: {failure.get('Message')}"
                    if failure.get("SenderFault"):
                        message = remaining.pop(failure["Id"], None)
                        if message is not None:
                            done.append(Outcome(message.id, error=last_error, permanent=True))
                if not remaining:
                    return done, None
            if attempt < self.max_attempts:
                delay = min(MAX_BACKOFF_SECONDS, self.backoff_seconds * 2 ** (attempt - 1))
                self._sleep(delay * random.uniform(0.5, 1.0))
        done.extend(Outcome(mid, error=last_error) for mid in remaining)
        return done, last_error

    def _entry(self, message: Message) -> dict[str, object]:
        entry: dict[str, object] = {
            "Id": message.id,
            "Message": message.body,
            "MessageAttributes": message.attributes,
        }
        if self.fifo:
            entry["MessageGroupId"] = message.group_id
            entry["MessageDeduplicationId"] = message.dedup_id
        return entry


def _batches(messages: Sequence[Message]) -> list[list[Message]]:
    """Chunks of at most 10 messages and 256 KiB in all, as PublishBatch allows."""
    batches: list[list[Message]] = []
    current: list[Message] = []
    size = 0
    for message in messages:
        if message.size > MAX_MESSAGE_BYTES:
            # Sent alone, SNS rejects it with a sender fault and the ledger parks it.
            batches.append([message])
            continue
        if current and (len(current) == BATCH_ENTRIES or size + message.size > MAX_MESSAGE_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(message)
        size += message.size
    if current:
        batches.append(current)
    return batches
