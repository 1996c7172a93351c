"""`orders-pipeline bench`: the quick suite end to end, and the parts that are plain arithmetic."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.bench.suite import BENCHMARKS, BenchUsageError, parse_only

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_only_keeps_suite_order_and_rejects_unknown_names() -> None:
    assert parse_only("kpis,stream") == ["stream", "kpis"]
    assert parse_only(None) == list(BENCHMARKS)
    with pytest.raises(BenchUsageError, match="unknown benchmark"):
        parse_only("stream,warp")


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_quick_suite_writes_every_section_with_sane_figures(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    # Its own process: the suite starts its own servers and Spark session, as a user's run does.
    run = subprocess.run(
        [sys.executable, "-m", "pipelines", "bench", "--quick", "--output", str(output), "--workdir", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=3500,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    record = json.loads(output.read_text())

    assert record["quick"] is True
    assert record["machine"]["cores"] >= 1
    assert record["machine"]["pyspark"]
    assert len(record["load_start"]) == len(record["load_end"]) == 3
    assert record["spark_startup_seconds"] > 0

    drains = {(r["source"], r["notifications"]): r for r in record["stream"]}
    assert set(drains) == {("kafka", True), ("kafka", False), ("kinesis", True)}
    for drain in drains.values():
        assert drain["events"] == record["sizes"]["drain_events" if drain["source"] == "kafka" else "kinesis_events"]
        assert drain["events_per_second"] > 0
        assert drain["events_per_cpu_second"] > 0
        assert drain["tables"]["bronze/order_events"]["rows"] == drain["events"]
        assert drain["tables"]["silver/orders"]["files"] >= 1
        assert drain["bytes_written_per_event"] > 0
        assert 0 < drain["memory"]["jvm_mib"] < drain["memory"]["total_mib"]
    assert drains[("kafka", True)]["notifications_sent"] > 0
    assert drains[("kafka", False)]["notifications_sent"] == 0

    latency = record["latency"]
    silver = latency["ingestion_to_silver_seconds"]
    assert silver["count"] > 0
    assert 0 < silver["p50"] <= silver["p95"] <= silver["p99"] <= silver["max"]
    assert latency["ingestion_to_sns_seconds"]["count"] > 0

    for dataset in ("unique", "simulator"):
        figures = record["sentiment"][dataset]
        assert set(figures["comments_per_second"]) == {"pandas UDF", "row UDF", "plain VADER"}
        assert figures["pandas_vs_row_speedup"] > 0
        assert figures["pandas_vs_plain_time"] > 0

    kpis = record["kpis"]
    assert kpis["duckdb_matches_gold"], kpis["mismatches"]
    assert kpis["batch_kpis_seconds"] > 0
    assert kpis["duckdb_seconds"] > 0

    cost = record["cost"]
    assert cost["kinesis_shards"] >= 10
    assert cost["vcpus_at_peak"] >= 1
    assert "| kafka | on |" in run.stdout
