from __future__ import annotations

import datetime as dt
from pathlib import Path

from lakehouse_traps import Record, actual_tables, build_traps, expected_tables
from pyspark.sql import SparkSession

from jobs.stream import lakehouse_writer, start
from pipelines.aws.clients import AwsEndpoint, client
from pipelines.lake import Lake
from pipelines.local_services import MotoServer
from pipelines.provision import ensure_bucket, ensure_kinesis_stream
from pipelines.schemas import BRONZE_TABLE
from pipelines.settings import Settings, load_settings


def _put(stream: str, records: list[Record]) -> None:
    kinesis = client("kinesis")
    entries = [{"Data": r.data, "PartitionKey": f"k{i}"} for i, r in enumerate(records)]
    response = kinesis.put_records(StreamName=stream, Records=entries)
    assert response["FailedRecordCount"] == 0


def _run(spark: SparkSession, settings: Settings) -> list[int]:
    writer = lakehouse_writer(settings, AwsEndpoint.from_environment())
    query = start(spark, settings, trigger="available-now", writer=writer)
    query.awaitTermination(600)
    assert query.exception() is None
    return [report.batch_id for report in writer.reports]


def _traps_through_kinesis(spark: SparkSession, tmp_path: Path, unique_name: str, root: str) -> None:
    settings = load_settings(
        None,
        [
            f"source.stream={unique_name}",
            "source.shards=2",
            f"lake.root={root}",
            f"lake.checkpoints={tmp_path / 'checkpoints'}",
            f"stream.query_name={unique_name}",
        ],
    )
    ensure_kinesis_stream(unique_name, 2)
    # moto stamps arrival with the real clock: the future trap is relative to it.
    traps = build_traps(dt.datetime.now(dt.UTC))

    _put(unique_name, traps.runs[0])
    first = _run(spark, settings)
    _put(unique_name, traps.runs[1])
    second = _run(spark, settings)  # a new query on the same checkpoint: a restart

    assert first
    assert second
    assert min(second) > max(first)
    lake = Lake.from_settings(settings.lake)
    assert actual_tables(lake) == expected_tables(traps.records)
    bronze = lake.read_arrow(BRONZE_TABLE, columns=["stream", "shard_id", "sequence_number", "topic"]).to_pylist()
    assert len(bronze) == len(traps.records)
    assert all(row["stream"] == unique_name and row["sequence_number"] and row["topic"] is None for row in bronze)
    # The sentiment hook is wired: o1's comment is glowing.
    orders = lake.read_arrow("silver/orders", columns=["order_id", "sentiment_label"]).to_pylist()
    assert {row["order_id"]: row["sentiment_label"] for row in orders}["o1"] == "Good"


def test_traps_through_kinesis_into_an_s3_lake_over_two_runs_match_the_contract(
    spark: SparkSession, moto_server: MotoServer, tmp_path: Path, unique_name: str
) -> None:
    ensure_bucket(unique_name)
    _traps_through_kinesis(spark, tmp_path, unique_name, f"s3://{unique_name}/lake")


def test_traps_through_kinesis_into_a_folder_lake_over_two_runs_match_the_contract(
    spark: SparkSession, moto_server: MotoServer, tmp_path: Path, unique_name: str
) -> None:
    _traps_through_kinesis(spark, tmp_path, unique_name, str(tmp_path / "lake"))
