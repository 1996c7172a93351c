"""Source frames -> one source-independent raw frame (schema ``pipelines.schemas.RAW``), then decoded.

``ingested_at`` is the broker's arrival time (Kinesis ``approximate_arrival_timestamp``, Kafka
``timestamp``), not ``current_timestamp()``: a replayed micro-batch must produce the same rows.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias

from pipelines.schemas import RAW


def _typed(column: Column | str, name: str) -> Column:
    kind = RAW[name].dataType
    source = F.col(column) if isinstance(column, str) else column
    return source.cast(kind).alias(name)


def _null(name: str) -> Column:
    return F.lit(None).cast(RAW[name].dataType).alias(name)


def utc_date(column: str | Column) -> Column:
    """The UTC calendar date of a timestamp, whatever the session time zone."""
    value = F.col(column) if isinstance(column, str) else column
    return F.date_from_unix_date(F.floor(F.unix_micros(value) / 86_400_000_000).cast("int"))


def kinesis_to_raw(df: DataFrame) -> DataFrame:
    """Rows of the ``pykinesis`` source -> the raw frame (Kafka position columns null)."""
    return df.select(
        _typed("data", "data"),
        _typed("approximate_arrival_timestamp", "ingested_at"),
        _typed("stream", "stream"),
        _typed("shard_id", "shard_id"),
        _typed("sequence_number", "sequence_number"),
        _null("topic"),
        _null("partition"),
        _null("offset"),
    )


def kafka_to_raw(df: DataFrame) -> DataFrame:
    """Rows of the ``pykafka`` source -> the raw frame (Kinesis position columns null)."""
    return df.select(
        _typed("value", "data"),
        _typed("timestamp", "ingested_at"),
        _null("stream"),
        _null("shard_id"),
        _null("sequence_number"),
        _typed("topic", "topic"),
        _typed("partition", "partition"),
        _typed("offset", "offset"),
    )


def decode(df: DataFrame) -> DataFrame:
    """Add ``raw`` (UTF-8 text, invalid bytes replaced), ``raw_bytes``, ``utf8_valid`` and ``ingest_date``.

    ``is_valid_utf8``/``make_valid_utf8`` run in the JVM (Spark 4.0+); a cast alone would keep
    invalid bytes in a string that later breaks Arrow and Parquet.
    """
    return df.select(
        "*",
        F.expr("make_valid_utf8(cast(data as string))").alias("raw"),
        F.col("data").alias("raw_bytes"),
        F.coalesce(F.expr("is_valid_utf8(cast(data as string))"), F.lit(False)).alias("utf8_valid"),
        utc_date("ingested_at").alias("ingest_date"),
    ).drop("data")


def to_raw(df: DataFrame) -> DataFrame:
    """Any source's frame -> the raw frame, recognised by its columns (already raw: unchanged)."""
    columns = set(df.columns)
    if {"approximate_arrival_timestamp", "sequence_number", "data"} <= columns:
        return kinesis_to_raw(df)
    if {"value", "topic", "partition", "offset", "timestamp"} <= columns:
        return kafka_to_raw(df)
    if set(RAW.fieldNames()) <= columns:
        return df.select(*RAW.fieldNames())
    raise ValueError(f"not a Kinesis, Kafka or raw frame: columns {sorted(columns)}")
