"""Source selection: settings to reader format and options, and the streaming frame it opens."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.aws.clients import AwsEndpoint
from pipelines.session import DATA_SOURCES
from pipelines.settings import SourceSettings
from pipelines.sources.reader import (
    KAFKA_COLUMNS,
    KINESIS_COLUMNS,
    ReaderSpec,
    SourceUnavailableError,
    open_stream,
    reader_spec,
)

LOCAL = AwsEndpoint(region="eu-west-1", endpoint_url="http://127.0.0.1:5000")


def _kafka(**values: Any) -> SourceSettings:
    return SourceSettings(kind="kafka", kafka_bootstrap="b-1:9092,b-2:9092", kafka_topic="orders", **values)


def test_kafka_python_reader_reads_trim_horizon_as_earliest_with_the_per_partition_cap() -> None:
    spec = reader_spec(_kafka(max_records_per_partition=750), LOCAL)
    assert spec == ReaderSpec(
        "pykafka",
        {
            "kafka.bootstrap.servers": "b-1:9092,b-2:9092",
            "topic": "orders",
            "starting_position": "earliest",
            "max_records_per_partition": "750",
            "available_now": "false",
            "max_read_tasks": "2",
        },
    )


@pytest.mark.parametrize(
    ("position", "expected"),
    [("LATEST", "latest"), ("2026-11-20T10:00:00+01:00", "2026-11-20T10:00:00+01:00")],
)
def test_kafka_python_reader_gets_latest_and_timestamps_in_its_own_words(position: str, expected: str) -> None:
    assert reader_spec(_kafka(starting_position=position), LOCAL).options["starting_position"] == expected


def test_available_now_is_told_to_the_python_readers() -> None:
    assert reader_spec(_kafka(), LOCAL, available_now=True).options["available_now"] == "true"
    assert reader_spec(SourceSettings(kind="kinesis"), LOCAL, available_now=True).options["available_now"] == "true"


def test_source_options_pass_through_and_win_over_derived_ones() -> None:
    source = _kafka(
        options={"kafka.security.protocol": "SASL_SSL", "kafka.sasl.mechanism": "SCRAM-SHA-512", "topic": "other"}
    )
    options = reader_spec(source, LOCAL).options
    assert options["kafka.security.protocol"] == "SASL_SSL"
    assert options["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert options["topic"] == "other"


def test_native_kafka_gets_spark_option_names_and_a_cap_across_all_partitions() -> None:
    spec = reader_spec(_kafka(kafka_reader="native", max_records_per_partition=1_000, kafka_partitions=6), LOCAL)
    assert spec.native_kafka
    assert spec == ReaderSpec(
        "kafka",
        {
            "kafka.bootstrap.servers": "b-1:9092,b-2:9092",
            "subscribe": "orders",
            "maxOffsetsPerTrigger": "6000",
            "startingOffsets": "earliest",
        },
    )


def test_native_kafka_starts_at_a_timestamp_given_in_epoch_millis() -> None:
    options = reader_spec(_kafka(kafka_reader="native", starting_position="2026-09-21T14:13:20Z"), LOCAL).options
    assert options["startingTimestamp"] == "1790000000000"
    assert "startingOffsets" not in options


def test_kinesis_gets_stream_region_endpoint_and_per_shard_cap() -> None:
    source = SourceSettings(kind="kinesis", stream="orders-events", max_records_per_partition=300)
    assert reader_spec(source, LOCAL) == ReaderSpec(
        "pykinesis",
        {
            "stream": "orders-events",
            "region": "eu-west-1",
            "endpoint_url": "http://127.0.0.1:5000",
            "starting_position": "TRIM_HORIZON",
            "max_records_per_shard": "300",
            "available_now": "false",
            "max_read_tasks": "2",
        },
    )


@pytest.mark.parametrize("kind", ["kinesis", "kafka"])
def test_no_read_task_cap_passes_no_option_to_the_readers(kind: str) -> None:
    source = SourceSettings(kind=kind, max_read_tasks=None)
    assert "max_read_tasks" not in reader_spec(source, LOCAL).options


def test_kinesis_on_real_aws_passes_no_endpoint() -> None:
    spec = reader_spec(SourceSettings(kind="kinesis"), AwsEndpoint(region="us-east-1"))
    assert "endpoint_url" not in spec.options


def test_native_kafka_where_spark_lacks_it_fails_with_a_clear_error(spark: Any) -> None:
    with pytest.raises(SourceUnavailableError, match=r"'kafka' format is not on this cluster.*kafka_reader=python"):
        open_stream(spark, _kafka(kafka_reader="native"), LOCAL)


def test_kafka_stream_has_the_kafka_columns(spark: Any) -> None:
    frame = open_stream(spark, _kafka(), LOCAL)
    assert frame.isStreaming
    assert tuple(frame.columns) == KAFKA_COLUMNS


@pytest.mark.skipif(
    ("pipelines.sources.kinesis", "KinesisDataSource") not in DATA_SOURCES, reason="Kinesis source not registered"
)
def test_kinesis_stream_has_the_kinesis_columns(spark: Any) -> None:
    frame = open_stream(spark, SourceSettings(kind="kinesis", stream="orders-events"), LOCAL)
    assert frame.isStreaming
    assert tuple(frame.columns) == KINESIS_COLUMNS
