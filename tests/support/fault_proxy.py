"""A loopback HTTP proxy in front of the moto server that fails or slows some requests, for S3 clients.

Faults are injected before the request is forwarded, so a refused request changed nothing
upstream (as a 503 SlowDown or a throttled connection does). Which requests are hit is seeded,
so a run is reproducible: of the requests whose method is in ``methods``, each fails with
``error_rate`` (an S3 XML error with status 503) and, if let through, is delayed by
``delay_seconds`` with ``delay_rate``. ``down`` refuses everything (an outage).
"""

from __future__ import annotations

import http.client
import random
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate. (injected by the test proxy)</Message></Error>"
)


class FaultProxy:
    """Forwards every request to ``upstream``; fails and delays some as described in the module."""

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
        parts = urlsplit(upstream)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
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
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

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

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _forward(self) -> None:
                try:
                    self._answer()
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up on this connection (its own timeout); it retries on another.
                    self.close_connection = True

            def _answer(self) -> None:
                body = self._read_body()
                fail, delay = proxy._decide(self.command)
                if fail:
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(SLOW_DOWN)))
                    self.send_header("Retry-After", "0")
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(SLOW_DOWN)
                    return
                if delay:
                    threading.Event().wait(delay)
                upstream = http.client.HTTPConnection(proxy._host, proxy._port, timeout=120)
                try:
                    headers = {
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() not in ("host", "connection", "content-length", "transfer-encoding")
                    }
                    headers["Host"] = f"{proxy._host}:{proxy._port}"
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    self.send_response(answer.status)
                    for key, value in answer.getheaders():
                        if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(key, value)
                    # A HEAD answer's length is the object's, not the (empty) body's.
                    length = answer.getheader("Content-Length") if self.command == "HEAD" else None
                    self.send_header("Content-Length", length or str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward  # noqa: N815 - names http.server calls

        return Handler

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
