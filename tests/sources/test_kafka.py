"""The ``pykafka`` streaming source against the local Kafka-protocol broker (Tansu), 4 partitions."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyspark
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from pyspark.errors import StreamingQueryException

from pipelines.local_services import KafkaBroker
from pipelines.sources.kafka import (
    KafkaPartitionRange,
    KafkaReadError,
    KafkaReadOptions,
    KafkaSourceError,
    KafkaStreamReader,
    cap_ends,
    offsets_from_json,
    offsets_to_json,
    parse_starting_position,
    plan_ranges,
    read_range,
)
from pipelines.sources.reader import run_available_now

PARTITIONS = 4
BASE_MILLIS = 1_790_000_000_000  # 2026-09-21T14:13:20Z
# Spark 4.2 gave Python sources admission control and their own available-now support.
ADMISSION_CONTROL = tuple(int(part) for part in pyspark.__version__.split(".")[:2]) >= (4, 2)


def _create_topic(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(30)


def _produce(
    bootstrap: str,
    topic: str,
    values: list[bytes],
    first_index: int = 0,
    timestamps: list[int] | None = None,
    keys: list[bytes | None] | None = None,
) -> None:
    """Record ``first_index + i`` goes to partition ``(first_index + i) % 4``: the expected layout is known."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.num.messages": 2000})
    for i, value in enumerate(values):
        index = first_index + i
        extra: dict[str, Any] = {}
        if timestamps is not None:
            extra["timestamp"] = timestamps[i]
        producer.produce(
            topic,
            value=value,
            key=keys[i] if keys is not None else str(index).encode(),
            partition=index % PARTITIONS,
            **extra,
        )
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0


def _options(bootstrap: str, topic: str, **extra: str) -> dict[str, str]:
    return {"kafka.bootstrap.servers": bootstrap, "topic": topic, **extra}


@pytest.fixture
def topic(kafka_broker: KafkaBroker, unique_name: str) -> str:
    _create_topic(kafka_broker.bootstrap, unique_name)
    return unique_name


@pytest.fixture
def reader_factory() -> Iterator[Any]:
    readers: list[KafkaStreamReader] = []

    def make(options: dict[str, str]) -> KafkaStreamReader:
        reader = KafkaStreamReader(KafkaReadOptions.from_options(options))
        readers.append(reader)
        return reader

    yield make
    for reader in readers:
        reader.stop()


# --- options and offset arithmetic (no broker) -----------------------------------------------


def test_trim_horizon_and_earliest_both_mean_the_start_of_each_partition() -> None:
    assert parse_starting_position("TRIM_HORIZON") == ("earliest", None)
    assert parse_starting_position("earliest") == ("earliest", None)
    assert parse_starting_position("LATEST") == ("latest", None)


def test_timestamp_starting_position_becomes_epoch_millis_in_utc() -> None:
    assert parse_starting_position("2026-09-21T16:13:20+02:00") == ("timestamp", BASE_MILLIS)
    assert parse_starting_position("2026-09-21T14:13:20Z") == ("timestamp", BASE_MILLIS)


@pytest.mark.parametrize("text", ["2026-09-21T14:13:20", "yesterday", ""])
def test_starting_position_without_offset_or_unreadable_is_rejected(text: str) -> None:
    with pytest.raises(KafkaSourceError, match="starting_position"):
        parse_starting_position(text)


def test_missing_bootstrap_servers_is_a_clear_error() -> None:
    with pytest.raises(KafkaSourceError, match=r"kafka\.bootstrap\.servers"):
        KafkaReadOptions.from_options({"topic": "orders"})


def test_missing_topic_is_a_clear_error() -> None:
    with pytest.raises(KafkaSourceError, match="'topic'"):
        KafkaReadOptions.from_options({"kafka.bootstrap.servers": "127.0.0.1:9092"})


@pytest.mark.parametrize("cap", ["0", "many"])
def test_cap_below_one_or_not_a_number_is_rejected(cap: str) -> None:
    with pytest.raises(KafkaSourceError, match="max_records_per_partition"):
        KafkaReadOptions.from_options(_options("h:1", "t", max_records_per_partition=cap))


@pytest.mark.parametrize("tasks", ["0", "some"])
def test_max_read_tasks_below_one_or_not_a_number_is_rejected(tasks: str) -> None:
    with pytest.raises(KafkaSourceError, match="max_read_tasks"):
        KafkaReadOptions.from_options(_options("h:1", "t", max_read_tasks=tasks))


def test_kafka_prefixed_options_reach_the_client_without_the_prefix() -> None:
    options = KafkaReadOptions.from_options(
        {
            "Kafka.Bootstrap.Servers": "b-1.msk:9096",
            "kafka.security.protocol": "SASL_SSL",
            "kafka.sasl.mechanism": "SCRAM-SHA-512",
            "TOPIC": "orders, refunds",
            "max_records_per_partition": "500",
        }
    )
    assert options.topics == ("orders", "refunds")
    assert options.max_records_per_partition == 500
    config = options.consumer_config()
    assert config["bootstrap.servers"] == "b-1.msk:9096"
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["enable.auto.commit"] is False


def test_next_batch_is_capped_per_partition_and_never_moves_back() -> None:
    start = {("t", 0): 100, ("t", 1): 50, ("t", 2): 70}
    latest = {("t", 0): 1_000, ("t", 1): 60, ("t", 2): 40}
    assert cap_ends(start, latest, 200) == {("t", 0): 300, ("t", 1): 60, ("t", 2): 70}
    assert cap_ends(start, latest, None) == {("t", 0): 1_000, ("t", 1): 60, ("t", 2): 70}


def test_partition_that_appears_after_a_batch_is_read_from_offset_zero() -> None:
    ranges = plan_ranges({("t", 0): 10, ("t", 1): 5}, {("t", 0): 12, ("t", 1): 5, ("t", 2): 3})
    assert ranges == [KafkaPartitionRange("t", 0, 10, 12), KafkaPartitionRange("t", 2, 0, 3)]


def test_offsets_are_checkpointed_per_topic_and_partition() -> None:
    offsets = {("orders", 1): 7, ("orders", 0): 3}
    assert offsets_to_json(offsets) == {"orders": {"0": 3, "1": 7}}
    assert offsets_from_json(offsets_to_json(offsets)) == offsets


# --- against the broker, no Spark -----------------------------------------------------------


def test_latest_end_is_found_past_a_lagging_high_watermark(
    kafka_broker: KafkaBroker, topic: str, reader_factory: Any
) -> None:
    # Tansu answers ListOffsets with ~1,400 here (the base offset of each partition's last
    # record batch): a reader trusting that answer would end short of 1,500.
    _produce(kafka_broker.bootstrap, topic, [f"v{i}".encode() for i in range(6_000)])
    reader = reader_factory(_options(kafka_broker.bootstrap, topic, available_now="true"))
    assert reader.latestOffset() == {topic: {str(p): 1_500 for p in range(PARTITIONS)}}


def test_unknown_topic_is_a_clear_error(kafka_broker: KafkaBroker, unique_name: str, reader_factory: Any) -> None:
    reader = reader_factory(_options(kafka_broker.bootstrap, unique_name))
    with pytest.raises(KafkaSourceError, match=f"{unique_name}.*not found"):
        reader.initialOffset()


def test_read_range_returns_exactly_the_planned_offsets_as_they_are(kafka_broker: KafkaBroker, topic: str) -> None:
    values = [f'{{"n": {i}}}'.encode() for i in range(400)]
    values[2] = b"\xff\xfe not utf-8, not json"
    keys: list[bytes | None] = [str(i).encode() for i in range(400)]
    keys[6] = None
    stamps = [BASE_MILLIS + i for i in range(400)]
    _produce(kafka_broker.bootstrap, topic, values, timestamps=stamps, keys=keys)
    options = KafkaReadOptions.from_options(_options(kafka_broker.bootstrap, topic))

    rows = [row for batch in read_range(options, KafkaPartitionRange(topic, 2, 0, 60)) for row in batch.to_pylist()]

    assert [row["offset"] for row in rows] == list(range(60))
    assert [row["value"] for row in rows] == values[2::4][:60]
    assert rows[0]["value"] == b"\xff\xfe not utf-8, not json"
    assert rows[1]["key"] is None  # record 6
    assert {row["topic"] for row in rows} == {topic}
    assert {row["partition"] for row in rows} == {2}
    assert rows[5]["timestamp"] == dt.datetime.fromtimestamp((BASE_MILLIS + 22) / 1000, dt.UTC)


def test_a_reader_capped_at_two_tasks_reads_four_partitions_in_two_and_every_offset_once(
    kafka_broker: KafkaBroker, topic: str, reader_factory: Any
) -> None:
    _produce(kafka_broker.bootstrap, topic, [f"v{i}".encode() for i in range(400)])
    reader = reader_factory(_options(kafka_broker.bootstrap, topic, max_read_tasks="2"))

    tasks = reader.partitions(reader.initialOffset(), reader.latestOffset())
    rows = [(row["partition"], row["offset"]) for task in tasks for b in reader.read(task) for row in b.to_pylist()]

    assert len(tasks) == 2
    assert sorted(rows) == [(partition, offset) for partition in range(PARTITIONS) for offset in range(100)]


def test_range_the_broker_cannot_deliver_fails_instead_of_ending_short(kafka_broker: KafkaBroker, topic: str) -> None:
    _produce(kafka_broker.bootstrap, topic, [b"x"] * 8)
    options = KafkaReadOptions.from_options(_options(kafka_broker.bootstrap, topic, read_timeout_seconds="1"))
    with pytest.raises(KafkaReadError, match=r"\[2, 5\)"):
        list(read_range(options, KafkaPartitionRange(topic, 0, 0, 5)))


# --- streaming queries -----------------------------------------------------------------------


class _BatchLog:
    """An idempotent foreachBatch sink: a replayed batch id replaces its earlier rows."""

    def __init__(self) -> None:
        self.batches: dict[int, list[tuple[int, int, bytes]]] = {}

    def __call__(self, frame: Any, batch_id: int) -> None:
        rows = frame.select("partition", "offset", "value").collect()
        self.batches[batch_id] = [(row.partition, row.offset, bytes(row.value)) for row in rows]

    def rows(self) -> list[tuple[int, int, bytes]]:
        return [row for _, rows in sorted(self.batches.items()) for row in rows]


class _CrashOnSecondBatch:
    """A sink that stores its first batch and fails in the second, remembering what that one held."""

    def __init__(self, log: _BatchLog) -> None:
        self.log = log
        self.calls = 0
        self.failed: tuple[int, set[tuple[int, int]]] | None = None

    def __call__(self, frame: Any, batch_id: int) -> None:
        self.calls += 1
        if self.calls == 2:
            rows = frame.select("partition", "offset").collect()
            self.failed = (batch_id, {(row.partition, row.offset) for row in rows})
            raise RuntimeError("simulated crash")
        self.log(frame, batch_id)


def _start_continuous(spark: Any, options: dict[str, str], checkpoint: Path, sink: Any) -> Any:
    writer = _stream(spark, options).writeStream.foreachBatch(sink).trigger(processingTime="0 seconds")
    return writer.option("checkpointLocation", str(checkpoint)).start()


def _stream(spark: Any, options: dict[str, str]) -> Any:
    return spark.readStream.format("pykafka").options(**options).load()


def _drain(spark: Any, options: dict[str, str], checkpoint: Path, log: _BatchLog) -> int:
    """Run the query with the available-now trigger until it stops by itself; the number of batches."""
    frame = _stream(spark, {**options, "available_now": "true"})

    def start() -> Any:
        writer = frame.writeStream.foreachBatch(log).trigger(availableNow=True)
        return writer.option("checkpointLocation", str(checkpoint)).start()

    return run_available_now(spark, start, timeout_seconds=180)


def _assert_capped(log: _BatchLog, batch_ids: list[int], cap: int) -> None:
    for batch_id in batch_ids:
        per_partition = Counter(partition for partition, _, _ in log.batches[batch_id])
        assert max(per_partition.values(), default=0) <= cap, (batch_id, per_partition)


@pytest.mark.parametrize(
    ("records", "cap", "drain_cap"),
    [(4_000, 100, 500), (50_000, 1_000, 5_000)],
    ids=["4k", "50k"],
)
def test_each_record_is_read_exactly_once_across_a_stop_a_crash_and_restarts(
    spark: Any, kafka_broker: KafkaBroker, topic: str, tmp_path: Path, records: int, cap: int, drain_cap: int
) -> None:
    values = [f'{{"event_id": "e{i}"}}'.encode() for i in range(records)]
    values[17] = b"\x80 not utf-8"
    first_part = records * 3 // 4
    _produce(kafka_broker.bootstrap, topic, values[:first_part])
    options = _options(kafka_broker.bootstrap, topic, max_records_per_partition=str(cap))
    checkpoint = tmp_path / "checkpoint"
    log = _BatchLog()

    # Run 1: stopped from outside after two batches, with records left to read.
    running = _start_continuous(spark, options, checkpoint, log)
    deadline = time.monotonic() + 120
    while len(log.batches) < 2 and running.isActive and time.monotonic() < deadline:
        time.sleep(0.05)
    running.stop()
    assert running.exception() is None
    first_run = sorted(log.batches)
    assert len(first_run) >= 2
    _assert_capped(log, first_run, cap)

    # Run 2: the sink fails in its second batch, which stays planned but uncommitted.
    crashing = _CrashOnSecondBatch(log)
    running = _start_continuous(spark, options, checkpoint, crashing)
    with pytest.raises(StreamingQueryException, match="simulated crash"):
        running.awaitTermination(120)
    assert crashing.failed is not None, "run 2 should have reached its second batch"
    failed_batch, failed_positions = crashing.failed
    assert len(log.rows()) < first_part, "the crash should land in the middle"
    # After a restart Spark 4.0 gives the source no start: the cap must hold all the same.
    _assert_capped(log, [batch for batch in log.batches if batch not in first_run], cap)
    assert max(Counter(p for p, _ in failed_positions).values()) <= cap

    # Run 3: a restart with the available-now trigger replays the failed batch and drains the
    # rest, with a larger cap (fewer batches keep the test fast; the cap is not checkpointed).
    _produce(kafka_broker.bootstrap, topic, values[first_part:], first_index=first_part)
    _drain(spark, {**options, "max_records_per_partition": str(drain_cap)}, checkpoint, log)

    assert {(p, o) for p, o, _ in log.batches[failed_batch]} == failed_positions
    rows = log.rows()
    positions = Counter((partition, offset) for partition, offset, _ in rows)
    assert len(rows) == records
    assert set(positions.values()) == {1}
    assert sorted(value for _, _, value in rows) == sorted(values)
    assert positions.keys() == {(p, o) for p in range(PARTITIONS) for o in range(records // PARTITIONS)}
    if ADMISSION_CONTROL:
        # Spark 4.2+ keeps the cap with available-now too; Spark 4.0 drains in one batch.
        drain_batches = sorted(batch for batch in log.batches if batch > failed_batch)
        assert len(drain_batches) >= 2
        _assert_capped(log, drain_batches, drain_cap)


def test_starting_position_latest_reads_only_what_arrives_after_the_query_starts(
    spark: Any, kafka_broker: KafkaBroker, topic: str, tmp_path: Path
) -> None:
    _produce(kafka_broker.bootstrap, topic, [f"old{i}".encode() for i in range(200)])
    options = _options(kafka_broker.bootstrap, topic, starting_position="LATEST")
    log = _BatchLog()

    _drain(spark, options, tmp_path / "checkpoint", log)
    assert log.rows() == []
    # Arrives while the query is down: the restart must not re-resolve "latest" past it.
    new = [f"new{i}".encode() for i in range(120)]
    _produce(kafka_broker.bootstrap, topic, new, first_index=200)
    _drain(spark, options, tmp_path / "checkpoint", log)

    assert sorted(value for _, _, value in log.rows()) == sorted(new)


def test_starting_position_timestamp_starts_at_the_first_record_stamped_at_or_after_it(
    spark: Any, kafka_broker: KafkaBroker, topic: str, tmp_path: Path
) -> None:
    values = [f"r{i}".encode() for i in range(400)]
    _produce(kafka_broker.bootstrap, topic, values, timestamps=[BASE_MILLIS + i * 1_000 for i in range(400)])
    start = dt.datetime.fromtimestamp((BASE_MILLIS + 250_500) / 1000, dt.UTC).isoformat()
    log = _BatchLog()

    _drain(spark, _options(kafka_broker.bootstrap, topic, starting_position=start), tmp_path / "checkpoint", log)

    assert sorted(value for _, _, value in log.rows()) == sorted(values[251:])


def test_stream_has_the_kafka_columns(spark: Any, kafka_broker: KafkaBroker, topic: str) -> None:
    frame = _stream(spark, _options(kafka_broker.bootstrap, topic))
    assert frame.isStreaming
    assert [(f.name, f.dataType.simpleString()) for f in frame.schema.fields] == [
        ("key", "binary"),
        ("value", "binary"),
        ("topic", "string"),
        ("partition", "int"),
        ("offset", "bigint"),
        ("timestamp", "timestamp"),
    ]
