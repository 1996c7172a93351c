from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from lakehouse_traps import build_traps
from pyspark.sql import SparkSession
from support.file_stream import run_file_stream, write_raw_lines

from pipelines.aws.clients import AwsEndpoint, client
from pipelines.lake import Lake
from pipelines.local_services import free_port
from pipelines.monitoring import CLOUDWATCH_METRICS, FAILURE_METRIC, CloudWatchPublisher, StreamMonitor
from pipelines.schemas import PIPELINE_METRICS, PIPELINE_METRICS_TABLE, RAW
from pipelines.sinks.lakehouse import LakehouseWriter


def test_a_stream_run_publishes_each_batchs_figures_to_cloudwatch_and_the_metrics_table(
    spark: SparkSession, tmp_path: Path, unique_name: str
) -> None:
    traps = build_traps()
    folder = tmp_path / "incoming"
    folder.mkdir()
    for number, run in enumerate(traps.runs):
        write_raw_lines(folder, f"run-{number}.json", run, sequence_prefix=f"run-{number}.json-")
    lake = Lake(str(tmp_path / "lake"))
    lake.ensure_tables()
    endpoint = AwsEndpoint.from_environment()
    monitor = StreamMonitor("orders-stream", CloudWatchPublisher(unique_name, endpoint), lake)
    writer = LakehouseWriter(lake, "orders-stream")

    run_file_stream(spark, folder, tmp_path / "checkpoint", monitor.instrument(writer))

    cloudwatch = client("cloudwatch", endpoint)
    listed = cloudwatch.list_metrics(Namespace=unique_name)["Metrics"]
    assert {metric["MetricName"] for metric in listed} >= {
        "InputRows",
        "ProcessedRowsPerSecond",
        "BatchDuration",
        "EndToEndLatency",
        "IngestLatency",
        "Freshness",
        "QuarantineRate",
    }
    assert all(metric["Dimensions"] == [{"Name": "QueryName", "Value": "orders-stream"}] for metric in listed)
    now = dt.datetime.now(dt.UTC)
    queries = [
        {
            "Id": name.lower(),
            "MetricStat": {
                "Metric": {
                    "Namespace": unique_name,
                    "MetricName": name,
                    "Dimensions": [{"Name": "QueryName", "Value": "orders-stream"}],
                },
                "Period": 60,
                "Stat": "Sum",
            },
        }
        for name in ("InputRows", "QuarantinedRows")
    ]
    result = cloudwatch.get_metric_data(
        MetricDataQueries=queries, StartTime=now - dt.timedelta(hours=1), EndTime=now + dt.timedelta(minutes=5)
    )
    sums = {item["Id"]: sum(item["Values"]) for item in result["MetricDataResults"]}
    quarantined = sum(1 for record in traps.records if record.reasons)
    assert sums == {"inputrows": len(traps.records), "quarantinedrows": quarantined}

    rows = sorted(lake.read_arrow(PIPELINE_METRICS_TABLE).to_pylist(), key=lambda row: row["batch_id"])
    assert [row["batch_id"] for row in rows] == [0, 1]
    assert [row["input_rows"] for row in rows] == [len(run) for run in traps.runs]
    for row, run in zip(rows, traps.runs, strict=True):
        assert row["quarantine_rate"] == sum(1 for r in run if r.reasons) / len(run)
        assert 0 < row["batch_duration_ms"] < 600_000
        assert row["processed_rows_per_second"] > 0
        # The traps were ingested at 2026-11-21T12:00Z, their newest event is a few hours older.
        ingested = (row["batch_time"] - dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)).total_seconds()
        assert row["ingest_latency_seconds"] == ingested
        assert row["end_to_end_latency_seconds"] > row["ingest_latency_seconds"]
        assert row["freshness_seconds"] <= row["end_to_end_latency_seconds"]
    assert rows[1]["input_rows_per_second"] is not None
    assert set(CLOUDWATCH_METRICS) >= {metric["MetricName"] for metric in listed}
    # A second Delta reader sees the same rows.
    from pipelines.duckdb_engine import connect

    columns = ", ".join(f'"{name}"' for name in PIPELINE_METRICS.fieldNames())
    seen_by_duckdb = connect().execute(f"SELECT {columns} FROM delta_scan('{lake.uri(PIPELINE_METRICS_TABLE)}')")
    assert sorted(seen_by_duckdb.fetchall()) == sorted(tuple(row.values()) for row in rows)


def test_an_unreachable_cloudwatch_is_logged_and_the_batch_goes_on(caplog) -> None:  # type: ignore[no-untyped-def]
    endpoint = AwsEndpoint(region="us-east-1", endpoint_url=f"http://127.0.0.1:{free_port()}")
    publisher = CloudWatchPublisher("orders-test", endpoint)
    monitor = StreamMonitor("orders-stream", publisher)

    metrics = monitor.record(7, started=100.0, finished=102.5, input_rows=50, quarantined_rows=5)

    assert publisher.failures == 1
    assert "could not publish" in caplog.text
    assert metrics.batch_duration_ms == 2500
    assert metrics.processed_rows_per_second == 20.0
    assert metrics.quarantine_rate == 0.1
    assert metrics.end_to_end_latency_seconds is None  # no event seen: unknown, not zero


def test_a_failed_batch_counts_in_pipeline_failures_and_still_fails(
    spark: SparkSession, tmp_path: Path, unique_name: str
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the lake should be")
    writer = LakehouseWriter(Lake(str(blocker / "lake")), "orders-stream")
    endpoint = AwsEndpoint.from_environment()
    monitor = StreamMonitor("orders-stream", CloudWatchPublisher(unique_name, endpoint))
    record = build_traps().runs[0][0]
    batch = spark.createDataFrame([(record.data, record.ingested_at, "orders", "shard-0", "1", None, None, None)], RAW)

    with pytest.raises(Exception):  # noqa: B017 - whatever the lake raised must reach Spark unchanged
        monitor.instrument(writer)(batch, 0)

    listed = client("cloudwatch", endpoint).list_metrics(Namespace=unique_name, MetricName=FAILURE_METRIC)["Metrics"]
    assert [metric["Dimensions"] for metric in listed] == [[{"Name": "QueryName", "Value": "orders-stream"}]]
