"""What the figures were measured on: the machine, its load, and the peak memory of the processes.

The machine may be shared, so the load average is recorded at the start and end of every
benchmark; figures measured under load are not the machine's best and the report says so.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _java_version() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else "java"
    try:
        answer = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "([^"]+)"', answer.stderr)
    return match.group(1) if match else None


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded."""
    return [round(value, 2) for value in os.getloadavg()]


def machine_info() -> dict[str, Any]:
    """Cores, memory, CPU model, OS and the versions of Python, PySpark and Java."""
    import pyspark

    return {
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": _cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "pyspark": pyspark.__version__,
        "java": _java_version(),
    }


def _kind(process: psutil.Process) -> str | None:
    """``jvm``, ``python_workers`` or None (not counted) for a process under the driver."""
    try:
        name = process.name()
        command = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    if name == "java" or command.startswith("java ") or "/bin/java" in command:
        return "jvm"
    if "pyspark.daemon" in command or "pyspark.worker" in command or "pyspark/daemon" in command:
        return "python_workers"
    return None


@dataclass
class MemoryPeaks:
    """Peak resident memory (bytes) per kind of process, and of their sum, over a sampled interval."""

    driver_python: int = 0
    jvm: int = 0
    python_workers: int = 0
    total: int = 0
    samples: int = 0
    cpu_seconds: float = 0.0
    """CPU time (user + system) the driver, its JVM and its Python workers used over the interval."""

    def as_dict(self) -> dict[str, Any]:
        mib = 2**20
        return {
            "cpu_seconds": round(self.cpu_seconds, 1),
            "driver_python_mib": round(self.driver_python / mib),
            "jvm_mib": round(self.jvm / mib),
            "python_workers_mib": round(self.python_workers / mib),
            "total_mib": round(self.total / mib),
            "samples": self.samples,
        }


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


@dataclass
class MemorySampler:
    """Samples the RSS and CPU time of this process, its Spark JVM and the JVM's Python workers in a thread.

    Local servers the benchmark started itself (moto, the broker) are children too but are not
    Spark: only the JVM and its Python workers are counted besides this process. CPU time is
    what makes figures comparable on a shared machine: wall-clock throughput falls with the
    load, CPU seconds per event much less. A worker that exits between two samples loses at
    most one interval of CPU time.
    """

    interval: float = 1.0
    peaks: MemoryPeaks = field(default_factory=MemoryPeaks)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _cpu_start: dict[int, float] = field(default_factory=dict)
    _cpu_last: dict[int, float] = field(default_factory=dict)
    _kinds: dict[int, str | None] = field(default_factory=dict)

    def sample(self) -> None:
        me = psutil.Process()
        sums = {"jvm": 0, "python_workers": 0}
        cpu = {me.pid: _cpu(me)}
        for child in me.children(recursive=True):
            # A process's kind does not change: its command line is read once.
            if child.pid not in self._kinds:
                self._kinds[child.pid] = _kind(child)
            kind = self._kinds[child.pid]
            if kind is None:
                continue
            try:
                sums[kind] += child.memory_info().rss
                cpu[child.pid] = _cpu(child)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        for pid, seconds in cpu.items():
            self._cpu_start.setdefault(pid, seconds if self.peaks.samples == 0 else 0.0)
            self._cpu_last[pid] = seconds
        self.peaks.cpu_seconds = sum(self._cpu_last[pid] - self._cpu_start[pid] for pid in self._cpu_last)
        driver = me.memory_info().rss
        peaks = self.peaks
        peaks.driver_python = max(peaks.driver_python, driver)
        peaks.jvm = max(peaks.jvm, sums["jvm"])
        peaks.python_workers = max(peaks.python_workers, sums["python_workers"])
        peaks.total = max(peaks.total, driver + sums["jvm"] + sums["python_workers"])
        peaks.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()


@dataclass
class Stopwatch:
    """Wall-clock seconds of a block, with the load average before and after it."""

    seconds: float = 0.0
    load_start: list[float] = field(default_factory=list)
    load_end: list[float] = field(default_factory=list)
    _started: float = 0.0

    def __enter__(self) -> Stopwatch:
        self.load_start = load_average()
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._started
        self.load_end = load_average()
