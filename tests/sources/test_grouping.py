from __future__ import annotations

import pytest
from pyspark.sql.datasource import InputPartition

from pipelines.sources.grouping import PartitionGroup, members, pack, parse_max_read_tasks
from pipelines.sources.kafka import KafkaPartitionRange


def _range(partition: int, records: int) -> KafkaPartitionRange:
    return KafkaPartitionRange("orders", partition, 100, 100 + records)


def _size(part: KafkaPartitionRange) -> int:
    return part.end - part.start


def _ranges(task: InputPartition) -> list[KafkaPartitionRange]:
    return [part for part in members(task) if isinstance(part, KafkaPartitionRange)]


def test_a_batch_with_no_more_partitions_than_tasks_keeps_one_task_each() -> None:
    ranges = [_range(0, 10), _range(1, 20)]
    assert pack(ranges, 2, _size) == ranges
    assert pack(ranges, None, _size) == ranges


def test_partitions_are_packed_largest_first_onto_the_lightest_task_in_their_planned_order() -> None:
    ranges = [_range(0, 100), _range(1, 900), _range(2, 500), _range(3, 450), _range(4, 10)]

    tasks = pack(ranges, 2, _size)

    assert [[part.partition for part in _ranges(task)] for task in tasks] == [[0, 1], [2, 3, 4]]
    assert [sum(_size(part) for part in _ranges(task)) for task in tasks] == [1000, 960]


def test_every_partition_is_in_exactly_one_task() -> None:
    ranges = [_range(partition, 7) for partition in range(9)]
    tasks = pack(ranges, 4, _size)
    assert len(tasks) == 4
    assert sorted(part.partition for task in tasks for part in _ranges(task)) == list(range(9))


def test_a_task_of_one_partition_is_that_partition_not_a_group() -> None:
    tasks = pack([_range(0, 1_000), _range(1, 1), _range(2, 1)], 2, _size)
    assert tasks[0] == _range(0, 1_000)
    assert isinstance(tasks[1], PartitionGroup)


@pytest.mark.parametrize(("text", "expected"), [(None, None), ("", None), (" 3 ", 3)])
def test_max_read_tasks_is_a_positive_integer_or_unset(text: str | None, expected: int | None) -> None:
    options = {} if text is None else {"max_read_tasks": text}
    assert parse_max_read_tasks(options, ValueError) == expected


@pytest.mark.parametrize("text", ["0", "-2", "two"])
def test_max_read_tasks_below_one_or_not_a_number_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="max_read_tasks"):
        parse_max_read_tasks({"max_read_tasks": text}, ValueError)
