"""Test helpers for SNS: an SQS queue subscribed to a topic, and a loopback proxy that fails on demand."""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from pipelines.aws.clients import client


@dataclass
class Subscriber:
    """An SQS queue subscribed to a topic: what a downstream team would see."""

    topic_arn: str
    queue_url: str

    def receive(self, quiet_seconds: float = 1.0) -> list[dict[str, Any]]:
        """Every message that arrives until the queue stays empty for ``quiet_seconds``, deleted as read."""
        sqs = client("sqs")
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        idle_since = time.monotonic()
        while time.monotonic() < deadline:
            batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
                "Messages", []
            )
            if not batch:
                if time.monotonic() - idle_since >= quiet_seconds:
                    break
                time.sleep(0.1)
                continue
            idle_since = time.monotonic()
            for message in batch:
                envelope = json.loads(message["Body"])
                attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
                received.append({"body": json.loads(envelope["Message"]), "attributes": attributes})
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )
        return received


def subscribe_queue(topic_arn: str, queue_name: str, fifo: bool = False) -> Subscriber:
    sqs = client("sqs")
    attributes = {"FifoQueue": "true"} if fifo else {}
    queue_url = sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return Subscriber(topic_arn, queue_url)


class FlakyProxy:
    """An HTTP proxy on loopback in front of the moto server that can fail requests with 503 on demand."""

    def __init__(self, target: str) -> None:
        self.target = urlsplit(target)
        self.fail_next = 0
        self.down = False
        self.requests = 0
        self.failed = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with proxy._lock:
                    proxy.requests += 1
                    fail = proxy.down or proxy.fail_next > 0
                    if proxy.fail_next > 0:
                        proxy.fail_next -= 1
                    if fail:
                        proxy.failed += 1
                if fail:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                upstream = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream.request("POST", self.path, body=body, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                upstream.close()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FlakyProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
