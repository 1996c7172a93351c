"""A Python worker's one-time setup leaves the per-task garbage collections."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from pipelines.workers import freeze_setup


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_reused_worker_freezes_its_heap_once_per_setup(monkeypatch: pytest.MonkeyPatch, unfrozen: None) -> None:
    monkeypatch.setenv("SPARK_REUSE_WORKER", "1")

    first, again = freeze_setup("test-setup"), freeze_setup("test-setup")

    assert (first, again) == (True, False)
    assert gc.get_freeze_count() > 10_000  # this process's modules, as a worker's would be


def test_the_driver_or_a_one_task_worker_is_left_alone(monkeypatch: pytest.MonkeyPatch, unfrozen: None) -> None:
    monkeypatch.delenv("SPARK_REUSE_WORKER", raising=False)

    assert freeze_setup("test-driver") is False
    assert gc.get_freeze_count() == 0
