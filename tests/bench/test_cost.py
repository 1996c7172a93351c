"""The cost model: shards, cores and nodes from the load and the measured rate."""

from __future__ import annotations

from pipelines.bench.cost import Load, cost_model


def test_shards_are_sized_by_records_and_cores_by_the_measured_rate_per_cpu_second() -> None:
    cost = cost_model(events_per_cpu_second=2500, files_per_batch=10, load=Load(peak_events_per_second=10_000))
    # 10,000 records/s need 10 shards by count; at 700 B each (7 MB/s) fewer by bytes.
    assert cost["kinesis_shards"] == 10
    # 10,000 x 1.5 headroom / 2,500 per CPU-second = 6 vCPUs: 2 Glue DPUs, 2 EMR core nodes + the primary.
    assert cost["vcpus_at_peak"] == 6
    assert cost["glue_dpus"] == 2
    assert cost["emr_nodes"] == 3


def test_large_records_need_shards_by_bytes() -> None:
    cost = cost_model(events_per_cpu_second=2500, files_per_batch=10, load=Load(bytes_per_event=5000))
    assert cost["kinesis_shards"] == 50


def test_a_slower_rate_needs_more_cores_and_more_money() -> None:
    fast = cost_model(events_per_cpu_second=5000, files_per_batch=10)
    slow = cost_model(events_per_cpu_second=500, files_per_batch=10)
    assert slow["vcpus_at_peak"] == 10 * fast["vcpus_at_peak"]
    assert slow["monthly_usd"]["glue"] > fast["monthly_usd"]["glue"]
