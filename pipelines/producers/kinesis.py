"""Kinesis PutRecords with the service's limits, partial-failure retries and throttling backoff."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from pipelines.aws.clients import client as aws_client
from pipelines.producers import DestinationMissingError, OutRecord, ProducerError

log = logging.getLogger(__name__)

MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024
MAX_KEY_CHARS = 256
# Errors of a whole call worth retrying: the stream is busy, not wrong.
_RETRYABLE_CALL_ERRORS = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "ThrottlingException",
        "InternalFailure",
        "ServiceUnavailable",
        "KMSThrottlingException",
    }
)


def batches(records: Sequence[OutRecord], max_records: int = MAX_BATCH_RECORDS) -> Iterator[list[OutRecord]]:
    """Consecutive batches of at most ``max_records`` records and 5 MiB (data plus keys) each."""
    batch: list[OutRecord] = []
    size = 0
    for record in records:
        record_size = len(record.data) + len(record.key.encode("utf-8"))
        if record_size > MAX_RECORD_BYTES:
            raise ProducerError(
                f"record with key {record.key!r} is {record_size} bytes; Kinesis takes at most {MAX_RECORD_BYTES}"
            )
        if batch and (len(batch) >= max_records or size + record_size > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += record_size
    if batch:
        yield batch


class KinesisProducer:
    """Sends records to one stream; partition key = the record's key (the order_id)."""

    def __init__(
        self,
        stream: str,
        *,
        batch_size: int = MAX_BATCH_RECORDS,
        max_attempts: int = 8,
        base_delay: float = 0.1,
        max_delay: float = 5.0,
        kinesis: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH_RECORDS:
            raise ValueError(f"batch_size must be 1..{MAX_BATCH_RECORDS}, got {batch_size}")
        self.stream = stream
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.retried_records = 0
        self._kinesis = kinesis if kinesis is not None else aws_client("kinesis")
        self._sleep = sleep
        # Backoff jitter only: it never touches what is sent.
        self._jitter = random.Random()
        self._check_stream()

    @property
    def destination(self) -> str:
        return f"kinesis stream {self.stream}"

    def _check_stream(self) -> None:
        try:
            summary = self._kinesis.describe_stream_summary(StreamName=self.stream)["StreamDescriptionSummary"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                raise DestinationMissingError(
                    f"Kinesis stream {self.stream!r} does not exist; create it with `orders-pipeline setup`"
                ) from None
            raise ProducerError(f"cannot describe Kinesis stream {self.stream!r}: {exc}") from exc
        if summary["StreamStatus"] not in ("ACTIVE", "UPDATING"):
            raise ProducerError(f"Kinesis stream {self.stream!r} is {summary['StreamStatus']}, not ACTIVE")

    def send(self, records: list[OutRecord]) -> None:
        for batch in batches(records, self.batch_size):
            self._put(batch)

    def close(self) -> None:
        """Nothing is buffered: every ``send`` returns once Kinesis has accepted all its records."""

    def _backoff(self, attempt: int) -> None:
        # Full jitter keeps many producers that were throttled together from retrying together.
        ceiling = min(self.max_delay, self.base_delay * 2**attempt)
        self._sleep(self._jitter.uniform(ceiling / 2, ceiling))

    def _put(self, batch: list[OutRecord]) -> None:
        pending = batch
        last_errors: dict[str, int] = {}
        for attempt in range(self.max_attempts):
            if attempt:
                self._backoff(attempt - 1)
                self.retried_records += len(pending)
            entries = [{"Data": record.data, "PartitionKey": record.key} for record in pending]
            try:
                response = self._kinesis.put_records(StreamName=self.stream, Records=entries)
            except ClientError as exc:
                code = exc.response["Error"]["Code"]
                if code == "ResourceNotFoundException":
                    raise DestinationMissingError(f"Kinesis stream {self.stream!r} disappeared while sending") from None
                if code not in _RETRYABLE_CALL_ERRORS:
                    raise ProducerError(f"PutRecords to {self.stream!r} failed: {exc}") from exc
                last_errors = {code: len(pending)}
                log.debug("PutRecords throttled (%s), attempt %d", code, attempt + 1)
                continue
            if not response.get("FailedRecordCount"):
                return
            failed: list[OutRecord] = []
            last_errors = {}
            for record, result in zip(pending, response["Records"], strict=True):
                if "ErrorCode" in result:
                    failed.append(record)
                    last_errors[result["ErrorCode"]] = last_errors.get(result["ErrorCode"], 0) + 1
            log.debug("PutRecords: %d of %d records failed (%s), retrying them", len(failed), len(pending), last_errors)
            pending = failed
        summary = ", ".join(f"{count} x {code}" for code, count in sorted(last_errors.items()))
        raise ProducerError(
            f"gave up on {len(pending)} records to Kinesis stream {self.stream!r} after {self.max_attempts} "
            f"attempts ({summary}); nothing was dropped silently, the stream may need more shards"
        )
