"""The relay under the test proxies: a loopback HTTP server that forwards each request to the moto server.

A subclass decides per request in ``handle``: answer it itself (an injected fault), or relay it,
possibly with a rewritten body or answer. The proxy runs in a daemon thread while its ``with``
block is open.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import ClassVar, Self
from urllib.parse import urlsplit

# Hop-by-hop or recomputed here: http.client and the handler set their own.
_REQUEST_HEADERS_DROPPED = ("host", "connection", "content-length", "transfer-encoding")
_ANSWER_HEADERS_DROPPED = ("transfer-encoding", "connection", "content-length")


@dataclass
class Upstream:
    """One answer of the upstream server, read whole."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ", ".join(values) if values else None


class ProxyHandler(BaseHTTPRequestHandler):
    """Reads a request whole and hands it to its proxy; helpers to answer it."""

    protocol_version = "HTTP/1.1"
    proxy: ClassVar[LoopbackProxy]

    def log_message(self, format: str, *args: object) -> None:
        return

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        try:
            self.proxy.handle(self, self.read_body())
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up on this connection (its own timeout); it retries on another.
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve  # noqa: N815 - names http.server calls

    def fetch(self, body: bytes) -> Upstream:
        """This request, with ``body``, as the upstream server answers it."""
        proxy = self.proxy
        upstream = http.client.HTTPConnection(proxy.host, proxy.port, timeout=proxy.upstream_timeout)
        try:
            # moto reads the region from Authorization and does not check signatures, so a
            # rewritten body can keep it; http.client sets the new Content-Length.
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _REQUEST_HEADERS_DROPPED}
            headers["Host"] = f"{proxy.host}:{proxy.port}"
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            return Upstream(answer.status, answer.getheaders(), answer.read())
        finally:
            upstream.close()

    def send_upstream(self, answer: Upstream) -> None:
        self.send_response(answer.status)
        for key, value in answer.headers:
            if key.lower() not in _ANSWER_HEADERS_DROPPED:
                self.send_header(key, value)
        # A HEAD answer's length is the object's, not the (empty) body's.
        length = answer.header("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def send_payload(
        self, status: int, content_type: str, payload: bytes, headers: dict[str, str] | None = None
    ) -> None:
        """Answers this request here, without forwarding it."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class LoopbackProxy:
    """Forwards every request to ``upstream``; subclasses override ``handle`` to inject faults."""

    thread_name: ClassVar[str] = "loopback-proxy"
    upstream_timeout: ClassVar[float] = 60.0

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        handler = type("Handler", (ProxyHandler,), {"proxy": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.thread_name, daemon=True)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def handle(self, request: ProxyHandler, body: bytes) -> None:
        """Answers one request read whole; the default relays it unchanged."""
        request.send_upstream(request.fetch(body))

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
