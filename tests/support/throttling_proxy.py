"""A loopback HTTP proxy in front of the moto server that answers some Kinesis GetRecords calls
with ProvisionedThroughputExceededException or ExpiredIteratorException, as a busy shard would.
"""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

GET_RECORDS = "Kinesis_20131202.GetRecords"
PUT_RECORDS = "Kinesis_20131202.PutRecords"


class ThrottlingProxy:
    """Forwards every request to ``upstream``, refusing GetRecords in bursts.

    Of every ``throttle_period`` GetRecords calls the first ``throttle_burst`` are refused as
    throttled (period 0 = never); of the calls let through, every ``expire_every``-th (0 = never)
    answers that its iterator expired. ``throttled`` and ``expired`` count what was injected.
    """

    def __init__(
        self,
        upstream: str,
        throttle_period: int = 3,
        throttle_burst: int = 1,
        expire_every: int = 0,
        partial_put_calls: int = 0,
    ) -> None:
        parts = urlsplit(upstream)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
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
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="throttling-proxy", daemon=True)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

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

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fault = proxy._fault_for(self.headers.get("X-Amz-Target", ""))
                if fault is not None:
                    payload = json.dumps({"__type": fault, "message": "injected by the test proxy"}).encode()
                    self.send_response(400)
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                refused = proxy._partial_put(self.headers.get("X-Amz-Target", ""), body)
                if refused:
                    request = json.loads(body)
                    kept = [record for index, record in enumerate(request["Records"]) if index not in refused]
                    body = json.dumps({**request, "Records": kept}).encode()
                upstream = http.client.HTTPConnection(proxy._host, proxy._port, timeout=60)
                try:
                    headers = {
                        k: v
                        for k, v in self.headers.items()
                        # moto reads the region from Authorization and does not check signatures, so a
                        # rewritten body can keep it; http.client sets the new Content-Length.
                        if k.lower() not in ("host", "connection", "content-length")
                    }
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    if refused and answer.status == 200:
                        data = _merge_refused(json.loads(data), refused)
                    self.send_response(answer.status)
                    for key, value in answer.getheaders():
                        if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward  # noqa: N815 - names http.server calls

        return Handler

    def __enter__(self) -> ThrottlingProxy:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


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
