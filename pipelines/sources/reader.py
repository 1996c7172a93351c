"""Source selection: the streaming DataFrame of the source ``source.kind`` names.

Kinesis is read with this project's ``pykinesis`` format; Kafka with ``pykafka`` or, where the
cluster ships it and ``source.kafka_reader`` is ``native``, Spark's own ``kafka`` format, cast
to the same columns so the rest of the job does not change. ``source.options`` is passed to the
reader as it is (Kafka SASL/TLS settings for MSK, for example) and wins over derived options.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipelines.aws.clients import AwsEndpoint
from pipelines.settings import SourceSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

KINESIS_FORMAT = "pykinesis"
PYTHON_KAFKA_FORMAT = "pykafka"
NATIVE_KAFKA_FORMAT = "kafka"

KINESIS_COLUMNS = ("data", "stream", "shard_id", "partition_key", "sequence_number", "approximate_arrival_timestamp")
KAFKA_COLUMNS = ("key", "value", "topic", "partition", "offset", "timestamp")

# Spark's own Kafka source, cast to the columns and types of ``pykafka``.
_NATIVE_KAFKA_CASTS = (
    ("key", "binary"),
    ("value", "binary"),
    ("topic", "string"),
    ("partition", "int"),
    ("offset", "bigint"),
    ("timestamp", "timestamp"),
)
_NOT_FOUND_CONDITIONS = frozenset({"DATA_SOURCE_NOT_FOUND", "KAFKA_DATA_SOURCE_NOT_ENABLED", "_LEGACY_ERROR_TEMP_1140"})


class SourceUnavailableError(RuntimeError):
    """The selected reader format is not available on this Spark installation."""


@dataclass(frozen=True)
class ReaderSpec:
    """What ``spark.readStream`` is given: a format and its options."""

    format: str
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def native_kafka(self) -> bool:
        return self.format == NATIVE_KAFKA_FORMAT


def _epoch_millis(timestamp: str) -> int:
    stamp = dt.datetime.fromisoformat(timestamp.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return int(stamp.timestamp() * 1000)


def _kafka_position(starting_position: str) -> str:
    """The settings' position in Kafka's words: TRIM_HORIZON is earliest."""
    return {"TRIM_HORIZON": "earliest", "LATEST": "latest"}.get(starting_position.upper(), starting_position)


def reader_spec(source: SourceSettings, endpoint: AwsEndpoint, *, available_now: bool = False) -> ReaderSpec:
    """Map the source settings to a reader format and options (no Spark needed).

    ``available_now`` tells the Python readers the query runs with the available-now trigger:
    Spark 4.0 asks them for their end only once then, so they must not cap that answer.
    """
    options: dict[str, str]
    if source.kind == "kinesis":
        options = {
            "stream": source.stream,
            "region": endpoint.region,
            "starting_position": source.starting_position,
            "max_records_per_shard": str(source.max_records_per_partition),
            "available_now": str(available_now).lower(),
        }
        if source.max_read_tasks is not None:
            options["max_read_tasks"] = str(source.max_read_tasks)
        if endpoint.endpoint_url:
            options["endpoint_url"] = endpoint.endpoint_url
        return ReaderSpec(KINESIS_FORMAT, {**options, **source.options})
    position = _kafka_position(source.starting_position)
    if source.kafka_reader == "native":
        options = {
            "kafka.bootstrap.servers": source.kafka_bootstrap,
            "subscribe": source.kafka_topic,
            # Spark's cap is per trigger across all partitions.
            "maxOffsetsPerTrigger": str(source.max_records_per_partition * source.kafka_partitions),
        }
        if position in ("earliest", "latest"):
            options["startingOffsets"] = position
        else:
            options["startingTimestamp"] = str(_epoch_millis(position))
        return ReaderSpec(NATIVE_KAFKA_FORMAT, {**options, **source.options})
    options = {
        "kafka.bootstrap.servers": source.kafka_bootstrap,
        "topic": source.kafka_topic,
        "starting_position": position,
        "max_records_per_partition": str(source.max_records_per_partition),
        "available_now": str(available_now).lower(),
    }
    if source.max_read_tasks is not None:
        options["max_read_tasks"] = str(source.max_read_tasks)
    return ReaderSpec(PYTHON_KAFKA_FORMAT, {**options, **source.options})


def _format_missing(exc: Exception) -> bool:
    condition = getattr(exc, "getCondition", None) or getattr(exc, "getErrorClass", None)
    code = condition() if callable(condition) else None
    return code in _NOT_FOUND_CONDITIONS or "Failed to find data source" in str(exc)


def open_stream(
    spark: SparkSession, source: SourceSettings, endpoint: AwsEndpoint, *, available_now: bool = False
) -> DataFrame:
    """The streaming DataFrame of the selected source, with that source's own columns.

    Kinesis: ``data``, ``stream``, ``shard_id``, ``partition_key``, ``sequence_number``,
    ``approximate_arrival_timestamp``. Kafka (either reader): ``key``, ``value``, ``topic``,
    ``partition``, ``offset``, ``timestamp``. Pass ``available_now=True`` when the query will
    run with the available-now trigger (see :func:`reader_spec`).
    """
    from pyspark.errors import AnalysisException
    from pyspark.sql.functions import col

    spec = reader_spec(source, endpoint, available_now=available_now)
    try:
        frame = spark.readStream.format(spec.format).options(**spec.options).load()
    except AnalysisException as exc:
        if not _format_missing(exc):
            raise
        if spec.native_kafka:
            raise SourceUnavailableError(
                "source.kafka_reader is 'native' but Spark's 'kafka' format is not on this cluster "
                "(it comes with the spark-sql-kafka-0-10 package, which EMR and Glue ship); "
                "set source.kafka_reader=python to use this project's reader"
            ) from exc
        raise SourceUnavailableError(
            f"reader format {spec.format!r} is not registered on this session; "
            "build the session with pipelines.session.get_spark, which registers it"
        ) from exc
    if spec.native_kafka:
        return frame.select(*[col(name).cast(kind).alias(name) for name, kind in _NATIVE_KAFKA_CASTS])
    return frame


def _has_python_available_now(version: str) -> bool:
    major, minor = (int(part) for part in version.split(".")[:2])
    return (major, minor) >= (4, 2)


def run_available_now(
    spark: SparkSession, start_query: Callable[[], StreamingQuery], timeout_seconds: int | None = None
) -> int:
    """Run a query started with the available-now trigger until everything there at its start is read.

    Before Spark 4.2, Python sources have no available-now support of their own: Spark runs
    them like Trigger.Once, and when a stopped run left a batch uncommitted, finishing that
    batch is all the run does. So there, a run that executed a batch is followed by one more
    run, which reads the rest (and whatever arrived meanwhile) and stops. Returns the number
    of batches run; a failed query raises its error.
    """
    batches = 0
    for _ in range(2):
        query = start_query()
        # awaitTermination() without a timeout returns None once the query ends (or raises its error).
        if timeout_seconds is None:
            query.awaitTermination()
        elif not query.awaitTermination(timeout_seconds):
            query.stop()
            raise TimeoutError(f"available-now query {query.name or query.id} still running after {timeout_seconds}s")
        # Progress is also reported for triggers that found nothing; those have no addBatch time.
        ran = sum(1 for progress in query.recentProgress if "addBatch" in (progress.durationMs or {}))
        batches += ran
        if ran == 0 or _has_python_available_now(spark.version):
            break
    return batches
