"""A loopback HTTP proxy in front of the moto server that fails or slows some requests, for S3 clients.

Faults are injected before the request is forwarded, so a refused request changed nothing
upstream (as a 503 SlowDown or a throttled connection does). Which requests are hit is seeded,
so a run is reproducible: of the requests whose method is in ``methods``, each fails with
``error_rate`` (an S3 XML error with status 503) and, if let through, is delayed by
``delay_seconds`` with ``delay_rate``. ``down`` refuses everything (an outage).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import ClassVar

from support.loopback_proxy import LoopbackProxy, ProxyHandler

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate. (injected by the test proxy)</Message></Error>"
)


class FaultProxy(LoopbackProxy):
    """Forwards every request to ``upstream``; fails and delays some as described in the module."""

    thread_name: ClassVar[str] = "fault-proxy"
    upstream_timeout: ClassVar[float] = 120.0

    def __init__(
        self,
        upstream: str,
        *,
        error_rate: float = 0.0,
        delay_rate: float = 0.0,
        delay_seconds: float = 0.0,
        methods: frozenset[str] = frozenset({"GET", "PUT", "HEAD", "POST", "DELETE"}),
        seed: int = 0,
    ) -> None:
        self.error_rate = error_rate
        self.delay_rate = delay_rate
        self.delay_seconds = delay_seconds
        self.methods = methods
        self.down = False
        self.requests: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.delayed = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        super().__init__(upstream)

    def _decide(self, method: str) -> tuple[bool, float]:
        with self._lock:
            self.requests[method] += 1
            if self.down:
                self.failed[method] += 1
                return True, 0.0
            if method not in self.methods:
                return False, 0.0
            if self._random.random() < self.error_rate:
                self.failed[method] += 1
                return True, 0.0
            if self._random.random() < self.delay_rate:
                self.delayed += 1
                return False, self.delay_seconds
        return False, 0.0

    def handle(self, request: ProxyHandler, body: bytes) -> None:
        fail, delay = self._decide(request.command)
        if fail:
            request.send_payload(503, "application/xml", SLOW_DOWN, {"Retry-After": "0"})
            return
        if delay:
            threading.Event().wait(delay)
        super().handle(request, body)
