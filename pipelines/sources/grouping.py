"""Packing a micro-batch's input partitions into at most N Spark tasks.

The readers plan one input partition per Kafka partition or Kinesis shard. When there are more
of them than cores, a small batch runs its read in several waves of small tasks, each paying a
task's fixed cost (scheduling, the Python worker's hand-off, a client of its own). With a cap,
partitions are packed into at most that many tasks, which read theirs one after another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pyspark.sql.datasource import InputPartition

P = TypeVar("P", bound=InputPartition)


@dataclass(frozen=True)
class PartitionGroup(InputPartition):
    """Input partitions one Spark task reads one after another."""

    parts: tuple[InputPartition, ...]


def parse_max_read_tasks(options: Mapping[str, str], error: type[ValueError]) -> int | None:
    """The reader option ``max_read_tasks``: empty or missing = one task per partition.

    ``error``: the reader's own options error, raised when the value is not a positive integer.
    """
    text = options.get("max_read_tasks")
    if text is None or not text.strip():
        return None
    try:
        value = int(text)
    except ValueError:
        raise error(f"option 'max_read_tasks' must be an integer, got {text!r}") from None
    if value < 1:
        raise error(f"option 'max_read_tasks' must be at least 1, got {value}")
    return value


def pack(parts: Sequence[P], max_tasks: int | None, size: Callable[[P], int]) -> list[InputPartition]:
    """``parts`` in at most ``max_tasks`` tasks, balanced by ``size`` (records).

    Largest first onto the task with the fewest records so far; each task keeps its parts in
    their planned order. A batch with no more parts than ``max_tasks`` is left as it is.
    """
    if max_tasks is None or len(parts) <= max_tasks:
        return list(parts)
    order = {id(part): index for index, part in enumerate(parts)}
    tasks: list[list[P]] = [[] for _ in range(max_tasks)]
    loads = [0] * max_tasks
    for part in sorted(parts, key=lambda p: (-size(p), order[id(p)])):
        lightest = loads.index(min(loads))
        tasks[lightest].append(part)
        loads[lightest] += size(part)
    packed: list[InputPartition] = []
    for task in tasks:
        task.sort(key=lambda p: order[id(p)])
        packed.append(task[0] if len(task) == 1 else PartitionGroup(tuple(task)))
    return packed


def members(partition: InputPartition) -> tuple[InputPartition, ...]:
    """The parts one task reads: a group's, or the partition itself."""
    return partition.parts if isinstance(partition, PartitionGroup) else (partition,)
