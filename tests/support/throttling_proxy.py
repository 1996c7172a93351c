"""A loopback HTTP proxy in front of the moto server that answers some Kinesis GetRecords calls
with ProvisionedThroughputExceededException or ExpiredIteratorException, as a busy shard would.
"""

from __future__ import annotations

import json
import threading
from typing import ClassVar

from support.loopback_proxy import LoopbackProxy, ProxyHandler

GET_RECORDS = "Kinesis_20131202.GetRecords"
PUT_RECORDS = "Kinesis_20131202.PutRecords"


class ThrottlingProxy(LoopbackProxy):
    """Forwards every request to ``upstream``, refusing GetRecords in bursts.

    Of every ``throttle_period`` GetRecords calls the first ``throttle_burst`` are refused as
    throttled (period 0 = never); of the calls let through, every ``expire_every``-th (0 = never)
    answers that its iterator expired. ``throttled`` and ``expired`` count what was injected.
    """

    thread_name: ClassVar[str] = "throttling-proxy"

    def __init__(
        self,
        upstream: str,
        throttle_period: int = 3,
        throttle_burst: int = 1,
        expire_every: int = 0,
        partial_put_calls: int = 0,
    ) -> None:
        self.throttle_period = throttle_period
        self.throttle_burst = throttle_burst
        self.expire_every = expire_every
        # The first ``partial_put_calls`` PutRecords calls store only every other record and answer the
        # rest as throttled entries, as Kinesis does for a hot shard.
        self.partial_put_calls = partial_put_calls
        self.put_records_calls: list[int] = []
        self.get_records_calls = 0
        self._passed = 0
        self.throttled = 0
        self.expired = 0
        self._lock = threading.Lock()
        super().__init__(upstream)

    def _fault_for(self, target: str) -> str | None:
        if target != GET_RECORDS:
            return None
        with self._lock:
            self.get_records_calls += 1
            if self.throttle_period and self.get_records_calls % self.throttle_period < self.throttle_burst:
                self.throttled += 1
                return "ProvisionedThroughputExceededException"
            self._passed += 1
            if self.expire_every and self._passed % self.expire_every == 0:
                self.expired += 1
                return "ExpiredIteratorException"
        return None

    def _partial_put(self, target: str, body: bytes) -> list[int] | None:
        """Indexes of the records of this PutRecords call to refuse, or None to pass it through."""
        if target != PUT_RECORDS:
            return None
        records = json.loads(body)["Records"]
        with self._lock:
            self.put_records_calls.append(len(records))
            if len(self.put_records_calls) > self.partial_put_calls:
                return None
        return list(range(1, len(records), 2))

    def handle(self, request: ProxyHandler, body: bytes) -> None:
        target = request.headers.get("X-Amz-Target", "")
        fault = self._fault_for(target)
        if fault is not None:
            payload = json.dumps({"__type": fault, "message": "injected by the test proxy"}).encode()
            request.send_payload(400, "application/x-amz-json-1.1", payload)
            return
        refused = self._partial_put(target, body)
        if refused:
            sent = json.loads(body)
            kept = [record for index, record in enumerate(sent["Records"]) if index not in refused]
            body = json.dumps({**sent, "Records": kept}).encode()
        answer = request.fetch(body)
        if refused and answer.status == 200:
            answer.body = _merge_refused(json.loads(answer.body), refused)
        request.send_upstream(answer)


def _merge_refused(answer: dict[str, object], refused: list[int]) -> bytes:
    """The upstream PutRecords answer for the kept records, with throttled entries where records were refused."""
    stored = iter(answer["Records"])  # type: ignore[call-overload]
    total = len(answer["Records"]) + len(refused)  # type: ignore[arg-type]
    entries = [
        {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded for shard"}
        if index in refused
        else next(stored)
        for index in range(total)
    ]
    failed = int(answer.get("FailedRecordCount", 0)) + len(refused)  # type: ignore[call-overload]
    return json.dumps({**answer, "Records": entries, "FailedRecordCount": failed}).encode()
