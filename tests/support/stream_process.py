"""The streaming job as a child process that a test can SIGKILL at a chosen moment, and restart.

The job runs exactly as a user runs it (``python -m pipelines stream --trigger available-now``)
in its own process group, so that killing the group takes the driver's JVM down with it, as a
lost machine would. The moment is found from outside the process, never by hooks in the
product: the Delta log of a folder lake (right after the k-th commit of one table), messages
arriving on the subscriber's queue (while notifications are being published), or a delay after
the job said it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class KillPoint:
    """When to kill: ``commit`` (after the ``count``-th new version of ``table``), ``published``
    (once ``count`` messages arrived on the queue) or ``seconds`` (``delay`` after the job started).
    """

    kind: str
    table: str = ""
    count: int = 0
    delay: float = 0.0

    def __str__(self) -> str:
        if self.kind == "commit":
            return f"after commit {self.count} of {self.table}"
        if self.kind == "published":
            return f"after message {self.count} arrived"
        return f"{self.delay:.1f}s after start"


@dataclass
class RunResult:
    """How one run of the job ended."""

    returncode: int | None
    killed: bool
    seconds: float
    stderr: list[str] = field(default_factory=list)

    def tail(self, lines: int = 40) -> str:
        return "".join(self.stderr[-lines:])


def delta_versions(table_dir: Path) -> int:
    """How many commits a folder Delta table's log holds (0 when it does not exist yet)."""
    log = table_dir / "_delta_log"
    if not log.is_dir():
        return 0
    return sum(1 for name in os.listdir(log) if name.endswith(".json") and not name.startswith("."))


class StreamProcess:
    """Runs ``python -m pipelines stream --trigger available-now`` with ``overrides``, in ``workdir``."""

    def __init__(self, workdir: Path, overrides: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.overrides = list(overrides)
        self.env = dict(env if env is not None else os.environ)

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "pipelines", "stream", "--trigger", "available-now"]
        for item in self.overrides:
            args += ["--set", item]
        return args

    def run(
        self,
        kill_when: Callable[[list[str]], bool] | None = None,
        timeout: float = 1200.0,
        poll_seconds: float = 0.02,
    ) -> RunResult:
        """Run to the end, or SIGKILL the process group as soon as ``kill_when(stderr_lines)`` is true."""
        started = time.monotonic()
        process = subprocess.Popen(
            self.command(),
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        lines: list[str] = []

        def drain() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                lines.append(line)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        killed = False
        try:
            while process.poll() is None:
                if time.monotonic() - started > timeout:
                    raise TimeoutError(f"stream run still going after {timeout:.0f}s:\n{''.join(lines[-40:])}")
                if kill_when is not None and kill_when(lines):
                    os.killpg(process.pid, signal.SIGKILL)
                    killed = True
                    break
                time.sleep(poll_seconds)
        finally:
            if process.poll() is None and not killed:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            # The JVM is in the same group; make sure nothing of it outlives the run.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            reader.join(timeout=10)
        return RunResult(process.returncode if not killed else None, killed, time.monotonic() - started, list(lines))
