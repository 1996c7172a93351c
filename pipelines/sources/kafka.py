"""The Kafka streaming source: a PySpark Python data source, format ``pykafka``.

Each topic partition is one input partition (under ``max_read_tasks``, several may share a
Spark task); a micro-batch's offset is, per topic and partition, the next offset to read
(``{"orders": {"0": 1200, "1": 1187}}``, the shape Spark's own Kafka source writes), kept in
Spark's checkpoint. Executors read exactly ``[start, end)`` of their
partition with their own consumer (assign, no group management, nothing committed to Kafka) and
return the records as they are: decoding and validation happen downstream.

End offsets are fixed on the driver when a batch is planned. Brokers report the end of a
partition through ListOffsets (the high watermark); some Kafka-protocol brokers (Tansu, used
locally) report a value below the real end, so the driver does not trust it alone: it fetches
from the reported end (or the end it already knows, if later) until the broker says the
partition is exhausted, and takes the offset after the last record it saw. On Kafka and MSK that
fetch returns nothing (one round trip per trigger); on a lagging broker it reads the tail once.
``docs/sources.md`` has the details and the options.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.types import BinaryType, IntegerType, LongType, StringType, StructField, StructType, TimestampType

from pipelines.sources.grouping import members, pack, parse_max_read_tasks

if TYPE_CHECKING:
    import pyarrow as pa
    from confluent_kafka import Consumer, Message

try:
    from pyspark.sql.streaming.datasource import SupportsTriggerAvailableNow as _AvailableNowBase
except ImportError:  # Spark < 4.2 has no such interface; Spark wraps the source itself there

    class _AvailableNowBase:  # type: ignore[no-redef]
        """Stand-in for Spark 4.2's ``SupportsTriggerAvailableNow`` on older Spark."""


FORMAT_NAME = "pykafka"

KAFKA_SCHEMA = StructType(
    [
        StructField("key", BinaryType()),
        StructField("value", BinaryType()),
        StructField("topic", StringType()),
        StructField("partition", IntegerType()),
        StructField("offset", LongType()),
        StructField("timestamp", TimestampType()),
    ]
)

DEFAULT_GROUP_ID = "orders-pipeline-pykafka"
# Rows per Arrow batch handed to Spark: large enough to amortise the per-batch cost.
ARROW_BATCH_ROWS = 10_000
# A probe that keeps finding new records (heavy production) stops after this many per partition.
PROBE_MAX_RECORDS = 100_000

_log = logging.getLogger(__name__)

TopicPartitionKey = tuple[str, int]


class KafkaSourceError(ValueError):
    """The reader options are missing or invalid, or the topic does not exist."""


class KafkaReadError(RuntimeError):
    """A planned offset range could not be read completely."""


class KafkaDataLossError(KafkaReadError):
    """Offsets planned for reading were deleted (retention) before they were read."""


def _bool_option(options: Mapping[str, str], name: str, default: bool) -> bool:
    text = str(options.get(name, str(default))).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise KafkaSourceError(f"option {name!r} must be true or false, got {text!r}")


def _float_option(options: Mapping[str, str], name: str, default: float) -> float:
    text = options.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise KafkaSourceError(f"option {name!r} must be a number of seconds, got {text!r}") from None
    if value <= 0:
        raise KafkaSourceError(f"option {name!r} must be positive, got {text!r}")
    return value


def parse_starting_position(text: str) -> tuple[str, int | None]:
    """``("earliest", None)``, ``("latest", None)`` or ``("timestamp", epoch_millis)``.

    Accepts Kafka's words and the pipeline's (``TRIM_HORIZON`` is earliest) and an RFC 3339
    timestamp with an offset.
    """
    word = text.strip().upper()
    if word in ("EARLIEST", "TRIM_HORIZON"):
        return "earliest", None
    if word == "LATEST":
        return "latest", None
    try:
        stamp = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise KafkaSourceError(
            f"starting_position must be earliest, latest or an RFC 3339 timestamp with an offset, got {text!r}"
        ) from None
    if stamp.tzinfo is None:
        raise KafkaSourceError(f"starting_position {text!r} needs an offset, e.g. 2026-11-20T10:00:00Z")
    return "timestamp", int(stamp.timestamp() * 1000)


@dataclass(frozen=True)
class KafkaReadOptions:
    """The reader options, validated once where the source is created.

    ``kafka.<name>`` options go to the Kafka client (librdkafka) as ``<name>``: bootstrap
    servers, security protocol, SASL and TLS settings for MSK, isolation level.
    """

    topics: tuple[str, ...]
    client_config: Mapping[str, str]
    starting_position: str = "earliest"
    starting_timestamp_ms: int | None = None
    max_records_per_partition: int | None = None
    available_now: bool = False
    fail_on_data_loss: bool = True
    read_timeout_seconds: float = 120.0
    probe_timeout_seconds: float = 10.0
    metadata_timeout_seconds: float = 30.0
    max_read_tasks: int | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> KafkaReadOptions:
        """Validate Spark reader options (keys are case-insensitive) into a typed object."""
        lowered = {str(key).lower(): str(value) for key, value in options.items()}
        client_config = {key[len("kafka.") :]: value for key, value in lowered.items() if key.startswith("kafka.")}
        if not client_config.get("bootstrap.servers", "").strip():
            raise KafkaSourceError("option 'kafka.bootstrap.servers' is required (host:port[,host:port...])")
        topics = tuple(name.strip() for name in lowered.get("topic", "").split(",") if name.strip())
        if not topics:
            raise KafkaSourceError("option 'topic' is required (one topic, or several separated by commas)")
        position, stamp = parse_starting_position(lowered.get("starting_position", "earliest"))
        cap_text = lowered.get("max_records_per_partition")
        cap: int | None = None
        if cap_text is not None and cap_text.strip():
            try:
                cap = int(cap_text)
            except ValueError:
                raise KafkaSourceError(
                    f"option 'max_records_per_partition' must be an integer, got {cap_text!r}"
                ) from None
            if cap < 1:
                raise KafkaSourceError(f"option 'max_records_per_partition' must be at least 1, got {cap}")
        return cls(
            topics=topics,
            client_config=client_config,
            starting_position=position,
            starting_timestamp_ms=stamp,
            max_records_per_partition=cap,
            available_now=_bool_option(lowered, "available_now", False),
            fail_on_data_loss=_bool_option(lowered, "fail_on_data_loss", True),
            read_timeout_seconds=_float_option(lowered, "read_timeout_seconds", 120.0),
            probe_timeout_seconds=_float_option(lowered, "probe_timeout_seconds", 10.0),
            metadata_timeout_seconds=_float_option(lowered, "metadata_timeout_seconds", 30.0),
            max_read_tasks=parse_max_read_tasks(lowered, KafkaSourceError),
        )

    def consumer_config(self, **overrides: Any) -> dict[str, Any]:
        """Client settings for a consumer that only assigns partitions and never commits."""
        config: dict[str, Any] = {"group.id": DEFAULT_GROUP_ID, **self.client_config}
        config.update({"enable.auto.commit": False, "enable.auto.offset.store": False})
        config.update(overrides)
        return config


@dataclass(frozen=True)
class KafkaPartitionRange(InputPartition):
    """Offsets ``[start, end)`` of one topic partition: one Spark task."""

    topic: str
    partition: int
    start: int
    end: int


def offsets_to_json(offsets: Mapping[TopicPartitionKey, int]) -> dict[str, dict[str, int]]:
    """``{topic: {"partition": next_offset}}``, the checkpointed form."""
    result: dict[str, dict[str, int]] = {}
    for (topic, partition), offset in sorted(offsets.items()):
        result.setdefault(topic, {})[str(partition)] = int(offset)
    return result


def offsets_from_json(offsets: Mapping[str, Any] | None) -> dict[TopicPartitionKey, int]:
    """The inverse of :func:`offsets_to_json`."""
    result: dict[TopicPartitionKey, int] = {}
    for topic, partitions in (offsets or {}).items():
        for partition, offset in partitions.items():
            result[(topic, int(partition))] = int(offset)
    return result


def plan_ranges(
    start: Mapping[TopicPartitionKey, int], end: Mapping[TopicPartitionKey, int]
) -> list[KafkaPartitionRange]:
    """One range per partition with records between ``start`` and ``end``.

    A partition missing from ``start`` appeared after the previous batch: it is read from 0,
    a fixed point, so a replayed batch reads the same range.
    """
    ranges = []
    for (topic, partition), stop in sorted(end.items()):
        begin = start.get((topic, partition), 0)
        if stop > begin:
            ranges.append(KafkaPartitionRange(topic, partition, begin, stop))
    return ranges


def cap_ends(
    start: Mapping[TopicPartitionKey, int], latest: Mapping[TopicPartitionKey, int], cap: int | None
) -> dict[TopicPartitionKey, int]:
    """End offsets of the next batch: at most ``cap`` records per partition past ``start``, never backwards."""
    ends = dict(start)
    for key, last in latest.items():
        begin = start.get(key, 0)
        stop = last if cap is None else min(last, begin + cap)
        ends[key] = max(begin, stop)
    return ends


def _arrow_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("key", pa.binary()),
            pa.field("value", pa.binary()),
            pa.field("topic", pa.string()),
            pa.field("partition", pa.int32()),
            pa.field("offset", pa.int64()),
            pa.field("timestamp", pa.timestamp("us", tz="UTC")),
        ]
    )


class _Columns:
    """Records of one partition collected column by column, then handed over as one Arrow batch."""

    def __init__(self) -> None:
        self.keys: list[bytes | None] = []
        self.values: list[bytes | None] = []
        self.offsets: list[int] = []
        self.micros: list[int | None] = []

    def __len__(self) -> int:
        return len(self.offsets)

    def to_batch(self, topic: str, partition: int) -> pa.RecordBatch:
        import pyarrow as pa

        count = len(self.offsets)
        return pa.RecordBatch.from_arrays(
            [
                pa.array(self.keys, pa.binary()),
                pa.array(self.values, pa.binary()),
                pa.array([topic] * count, pa.string()),
                pa.array([partition] * count, pa.int32()),
                pa.array(self.offsets, pa.int64()),
                pa.array(self.micros, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            ],
            schema=_arrow_schema(),
        )


def _offset_of(message: Message) -> int:
    offset = message.offset()
    if offset is None:
        raise KafkaReadError(f"record of {message.topic()}/{message.partition()} without an offset")
    return int(offset)


def read_range(options: KafkaReadOptions, part: KafkaPartitionRange) -> Iterator[pa.RecordBatch]:
    """Read exactly the offsets ``[start, end)`` of one partition as Arrow batches.

    Offsets the log does not hold (transaction markers, compaction) are skipped; a range that
    stops progressing for ``read_timeout_seconds`` fails rather than ending short.
    """
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    from pipelines.workers import freeze_setup

    freeze_setup("kafka-source")
    if part.end <= part.start:
        return
    consumer = Consumer(
        options.consumer_config(
            **{
                "auto.offset.reset": "error" if options.fail_on_data_loss else "earliest",
                "enable.partition.eof": False,
                "client.id": f"pykafka-{part.topic}-{part.partition}",
            }
        )
    )
    columns = _Columns()
    try:
        consumer.assign([TopicPartition(part.topic, part.partition, part.start)])
        next_offset = part.start
        deadline = time.monotonic() + options.read_timeout_seconds
        while next_offset < part.end:
            messages = consumer.consume(min(ARROW_BATCH_ROWS, part.end - next_offset), 1.0)
            progressed = False
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    if error.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
                        raise KafkaDataLossError(
                            f"offsets from {next_offset} of {part.topic}/{part.partition} are no longer in the log "
                            f"(deleted by retention before they were read): {error.str()}; set the reader option "
                            "fail_on_data_loss=false to skip to the earliest offset still there"
                        )
                    raise KafkaReadError(f"reading {part.topic}/{part.partition}: {error.str()}")
                offset = _offset_of(message)
                if offset >= part.end:
                    next_offset = part.end
                    break
                timestamp_type, millis = message.timestamp()
                columns.keys.append(message.key())
                columns.values.append(message.value())
                columns.offsets.append(offset)
                columns.micros.append(millis * 1000 if timestamp_type != 0 and millis >= 0 else None)
                next_offset = offset + 1
                progressed = True
            if not messages:
                # Gaps at the end of the range (transaction markers) never arrive as messages.
                position = consumer.position([TopicPartition(part.topic, part.partition)])[0].offset
                if position >= part.end:
                    break
            if progressed:
                deadline = time.monotonic() + options.read_timeout_seconds
            elif time.monotonic() > deadline:
                raise KafkaReadError(
                    f"offsets [{next_offset}, {part.end}) of {part.topic}/{part.partition} were planned but not "
                    f"delivered within {options.read_timeout_seconds}s"
                )
            if len(columns) >= ARROW_BATCH_ROWS:
                yield columns.to_batch(part.topic, part.partition)
                columns = _Columns()
        if len(columns):
            yield columns.to_batch(part.topic, part.partition)
    finally:
        consumer.close()


class KafkaStreamReader(DataSourceStreamReader, _AvailableNowBase):
    """Plans offset ranges on the driver and reads them on executors."""

    def __init__(self, options: KafkaReadOptions) -> None:
        self.options = options
        self._consumer: Consumer | None = None
        self._initial: dict[TopicPartitionKey, int] | None = None
        # Spark 4.0 passes no start to latestOffset(): the end of the last planned batch stands in.
        self._position: dict[TopicPartitionKey, int] | None = None
        self._target: dict[TopicPartitionKey, int] | None = None
        self._known_ends: dict[TopicPartitionKey, int] = {}

    # --- driver side -------------------------------------------------------------------------

    def _client(self) -> Consumer:
        if self._consumer is None:
            from confluent_kafka import Consumer

            self._consumer = Consumer(
                self.options.consumer_config(
                    **{
                        "enable.partition.eof": True,
                        "auto.offset.reset": "latest",
                        # The probe waits for an empty fetch; the broker holds those back this long.
                        "fetch.wait.max.ms": 20,
                        "client.id": f"pykafka-driver-{uuid.uuid4().hex[:8]}",
                    }
                )
            )
        return self._consumer

    def _partitions(self) -> list[TopicPartitionKey]:
        metadata = self._client().list_topics(timeout=self.options.metadata_timeout_seconds)
        found: list[TopicPartitionKey] = []
        for topic in self.options.topics:
            described = metadata.topics.get(topic)
            if described is None or described.error is not None or not described.partitions:
                servers = self.options.client_config.get("bootstrap.servers")
                reason = described.error.str() if described is not None and described.error is not None else "not found"
                raise KafkaSourceError(f"Kafka topic {topic!r} on {servers}: {reason}")
            found.extend((topic, partition) for partition in sorted(described.partitions))
        return found

    def _watermarks(self, keys: Sequence[TopicPartitionKey]) -> dict[TopicPartitionKey, tuple[int, int]]:
        from confluent_kafka import TopicPartition

        consumer = self._client()
        marks = {}
        for topic, partition in keys:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=self.options.metadata_timeout_seconds, cached=False
            )
            marks[(topic, partition)] = (int(low), int(high))
        return marks

    def _probe(
        self, start: Mapping[TopicPartitionKey, int], until_timestamp_ms: int | None = None
    ) -> dict[TopicPartitionKey, int]:
        """Fetch from ``start`` until each partition is exhausted; the offset after its last record.

        With ``until_timestamp_ms`` a partition stops at its first record stamped at or after
        that time instead, and the result is that record's offset.
        """
        from confluent_kafka import KafkaError, TopicPartition

        result = {key: int(offset) for key, offset in start.items()}
        if not result:
            return result
        consumer = self._client()
        pending = set(result)
        seen = dict.fromkeys(result, 0)
        consumer.assign([TopicPartition(topic, partition, result[(topic, partition)]) for topic, partition in result])
        try:
            deadline = time.monotonic() + self.options.probe_timeout_seconds
            while pending and time.monotonic() < deadline:
                for message in consumer.consume(10_000, 0.02):
                    key = (message.topic(), message.partition())
                    if key not in pending:
                        continue
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            pending.discard(key)
                            continue
                        raise KafkaReadError(f"probing the end of {key[0]}/{key[1]}: {error.str()}")
                    if until_timestamp_ms is not None and message.timestamp()[1] >= until_timestamp_ms:
                        result[key] = _offset_of(message)
                        pending.discard(key)
                        continue
                    result[key] = max(result[key], _offset_of(message) + 1)
                    seen[key] += 1
                    if seen[key] >= PROBE_MAX_RECORDS:
                        pending.discard(key)
        finally:
            consumer.unassign()
        if pending:
            _log.info(
                "end probe of %s stopped after %.1fs; using the last offsets seen",
                sorted(pending),
                self.options.probe_timeout_seconds,
            )
        return result

    def _latest(self) -> dict[TopicPartitionKey, int]:
        """The verified end of every partition now: past the broker's watermark, never before a known end."""
        keys = self._partitions()
        marks = self._watermarks(keys)
        probe_from = {key: max(marks[key][1], self._known_ends.get(key, 0)) for key in keys}
        ends = self._probe(probe_from)
        self._known_ends.update(ends)
        return ends

    def _resolve_initial(self) -> dict[TopicPartitionKey, int]:
        position = self.options.starting_position
        if position == "latest":
            # Resolved by the first latestOffset() instead: see initialOffset().
            return {}
        keys = self._partitions()
        marks = self._watermarks(keys)
        if position == "earliest":
            return {key: low for key, (low, _high) in marks.items()}
        stamp = self.options.starting_timestamp_ms
        assert stamp is not None
        from confluent_kafka import TopicPartition

        answers = self._client().offsets_for_times(
            [TopicPartition(topic, partition, stamp) for topic, partition in keys],
            timeout=self.options.metadata_timeout_seconds,
        )
        latest = self._latest()
        candidates = {}
        for answer in answers:
            key = (answer.topic, answer.partition)
            # -1: no record at or after the time; some brokers' answers are too early, so the
            # probe below moves forward to the first record at or after the time.
            candidates[key] = latest[key] if answer.offset < 0 else max(answer.offset, marks[key][0])
        found = self._probe(candidates, until_timestamp_ms=stamp)
        return {key: min(found[key], latest[key]) for key in keys}

    def initialOffset(self) -> dict:
        """Where a new query starts; ``{}`` for ``latest``.

        Spark does not checkpoint the initial offset, only batch ends, and a batch runs only when
        the end differs from the start. A ``latest`` resolved here would be resolved again on a
        restart before the first batch, skipping what arrived in between. So ``latest`` starts
        from ``{}``: the first latestOffset() resolves it, and that first (empty) batch writes
        the position to the checkpoint.
        """
        if self._initial is None:
            self._initial = self._resolve_initial()
            _log.info("pykafka starts at %s (%s)", offsets_to_json(self._initial), self.options.starting_position)
        return offsets_to_json(self._initial)

    def getDefaultReadLimit(self) -> Any:
        """Spark 4.2+: the per-trigger cap. Its figure is per partition, as this reader reads it back."""
        from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows

        cap = self.options.max_records_per_partition
        return ReadAllAvailable() if cap is None else ReadMaxRows(cap)

    def prepareForTriggerAvailableNow(self) -> None:
        """Spark 4.2+ with available-now: fix the target to what is there now; batches stay capped."""
        self._target = self._latest()
        _log.info("pykafka available-now target %s", offsets_to_json(self._target))

    def latestOffset(self, start: dict | None = None, limit: Any = None) -> dict:
        """The end of the next batch.

        Spark 4.2+ passes the start and a limit (all available, or the cap from
        :meth:`getDefaultReadLimit`). Spark 4.0 passes nothing: the start is the end of the
        last planned batch, and the cap applies unless the ``available_now`` option says the
        query drains once (Spark 4.0 then asks only once and reads up to that answer).
        """
        if start is None:
            begin = self._position if self._position is not None else offsets_from_json(self.initialOffset())
            cap = None if self.options.available_now else self.options.max_records_per_partition
        else:
            begin = offsets_from_json(start)
            cap = None if type(limit).__name__ == "ReadAllAvailable" else self.options.max_records_per_partition
        latest = dict(self._target) if self._target is not None else self._latest()
        if not begin:
            return offsets_to_json(latest)
        return offsets_to_json(cap_ends(begin, latest, cap))

    def partitions(self, start: dict, end: dict) -> Sequence[InputPartition]:
        begin, stop = offsets_from_json(start), offsets_from_json(end)
        # Spark 4.0 replays the last planned end here on restart (setLatestSeenOffset).
        self._position = stop
        if not begin:
            # The first batch of a query starting at ``latest`` only records where it starts.
            return []
        return pack(plan_ranges(begin, stop), self.options.max_read_tasks, lambda part: part.end - part.start)

    def commit(self, end: dict) -> None:
        """Nothing to do: progress lives in Spark's checkpoint, not in Kafka consumer groups."""

    def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()

    # --- executor side -----------------------------------------------------------------------

    def read(self, partition: InputPartition) -> Iterator[Any]:
        ranges = []
        for part in members(partition):
            if not isinstance(part, KafkaPartitionRange):
                raise KafkaReadError(f"unexpected input partition {part!r}")
            ranges.append(part)
        # A packed task reads its partitions one after another (the ``max_read_tasks`` option).
        return (batch for part in ranges for batch in read_range(self.options, part))

    def __getstate__(self) -> dict[str, Any]:
        # The driver's consumer stays on the driver; executors only need the options.
        return {**self.__dict__, "_consumer": None}


class KafkaDataSource(DataSource):
    """Spark reader format ``pykafka``: ``spark.readStream.format("pykafka").option(...).load()``.

    Options: ``kafka.bootstrap.servers`` and ``topic`` (required), ``starting_position``
    (earliest | latest | RFC 3339 timestamp; TRIM_HORIZON means earliest),
    ``max_records_per_partition``, ``available_now``, ``fail_on_data_loss``,
    ``read_timeout_seconds``, ``probe_timeout_seconds``, ``max_read_tasks`` (at most this many
    Spark tasks read a batch; none = one per partition), and ``kafka.*`` client settings.
    """

    @classmethod
    def name(cls) -> str:
        return FORMAT_NAME

    def schema(self) -> StructType:
        return KAFKA_SCHEMA

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        return KafkaStreamReader(KafkaReadOptions.from_options(self.options))
