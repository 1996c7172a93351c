from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import SparkSession

from pipelines.schemas import RAW
from pipelines.sources.kafka import KAFKA_SCHEMA
from pipelines.sources.kinesis import KINESIS_SCHEMA
from pipelines.transforms.raw import decode, kafka_to_raw, kinesis_to_raw, to_raw

UTC = dt.UTC
ARRIVAL = dt.datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)

KINESIS = KINESIS_SCHEMA
KAFKA = KAFKA_SCHEMA


def test_kinesis_rows_become_raw_rows_with_kafka_positions_null(spark: SparkSession) -> None:
    source = spark.createDataFrame([(b"{}", "orders", "shard-1", "k", "495", ARRIVAL)], KINESIS)

    expected = spark.createDataFrame([(b"{}", ARRIVAL, "orders", "shard-1", "495", None, None, None)], RAW)
    assert_df_equality(kinesis_to_raw(source), expected, ignore_nullable=True)
    assert_df_equality(to_raw(source), expected, ignore_nullable=True)


def test_kafka_rows_become_raw_rows_with_kinesis_positions_null(spark: SparkSession) -> None:
    source = spark.createDataFrame([(b"k", b"{}", "orders", 3, 42, ARRIVAL)], KAFKA)

    expected = spark.createDataFrame([(b"{}", ARRIVAL, None, None, None, "orders", 3, 42)], RAW)
    assert_df_equality(kafka_to_raw(source), expected, ignore_nullable=True)
    assert_df_equality(to_raw(source), expected, ignore_nullable=True)


def test_decode_keeps_exact_bytes_flags_invalid_utf8_and_dates_by_utc(spark: SparkSession) -> None:
    raw = spark.createDataFrame(
        [
            (b'{"a": "\xc3\xa9"}', ARRIVAL, "s", "sh", "1", None, None, None),
            (b"\xff", ARRIVAL, "s", "sh", "2", None, None, None),
        ],
        RAW,
    )

    rows = decode(raw).orderBy("sequence_number").select("raw", "raw_bytes", "utf8_valid", "ingest_date").collect()

    assert [r.raw for r in rows] == ['{"a": "é"}', "\ufffd"]
    assert [bytes(r.raw_bytes) for r in rows] == [b'{"a": "\xc3\xa9"}', b"\xff"]
    assert [r.utf8_valid for r in rows] == [True, False]
    assert {r.ingest_date for r in rows} == {dt.date(2026, 11, 20)}
