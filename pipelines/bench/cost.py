"""A cost model for a stated load, from the throughput measured per CPU core.

The measured input is the stream's events per CPU-second (all of the job's processes: driver,
JVM, Python workers), which stays meaningful on a shared machine where wall-clock throughput
does not. Prices are us-east-1 on-demand list prices, stated here as assumptions to check.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

# Kinesis: a shard takes 1 MB/s or 1,000 records/s of writes.
SHARD_RECORDS_PER_SECOND = 1000
SHARD_BYTES_PER_SECOND = 1_000_000
# A Glue G.1X worker is 1 DPU = 4 vCPU, 16 GB; a Glue streaming job needs at least 2 workers.
GLUE_VCPU_PER_DPU = 4
GLUE_MIN_DPUS = 2
# EMR core nodes of 4 vCPU (m6g.xlarge), plus one primary node.
EMR_VCPU_PER_NODE = 4
HOURS_PER_MONTH = 730

PRICES = {
    "kinesis_shard_hour": 0.015,
    "kinesis_put_million_units": 0.014,
    "glue_dpu_hour": 0.44,
    "emr_m6g_xlarge_hour": 0.154 + 0.0385,
    "s3_put_thousand": 0.005,
    "s3_get_thousand": 0.0004,
}


@dataclass(frozen=True)
class Load:
    """The load to size for: average and peak events/s, and the average record size."""

    average_events_per_second: float = 2000
    peak_events_per_second: float = 10_000
    bytes_per_event: float = 700
    trigger_seconds: float = 10
    headroom: float = 1.5
    """Cores are sized so the peak uses at most 1/headroom of them (room for catch-up after a stall)."""


def cost_model(
    events_per_cpu_second: float,
    files_per_batch: float,
    load: Load | None = None,
) -> dict[str, Any]:
    """Kinesis shards, Glue DPUs or EMR nodes, and S3 requests for ``load`` at the measured rates."""
    chosen = load or Load()
    peak = chosen.peak_events_per_second
    shards = max(
        math.ceil(peak / SHARD_RECORDS_PER_SECOND), math.ceil(peak * chosen.bytes_per_event / SHARD_BYTES_PER_SECOND)
    )
    cores = math.ceil(peak * chosen.headroom / events_per_cpu_second) if events_per_cpu_second else None
    dpus = max(GLUE_MIN_DPUS, math.ceil(cores / GLUE_VCPU_PER_DPU)) if cores else None
    emr_nodes = math.ceil(cores / EMR_VCPU_PER_NODE) + 1 if cores else None
    batches_per_month = HOURS_PER_MONTH * 3600 / chosen.trigger_seconds
    # Each batch writes its data files and one log entry per table it commits (about 7), and reads
    # the log's tail of each (a listing and a GET, about 2 x 7); checkpoints every 100 commits.
    puts = batches_per_month * (files_per_batch + 7)
    gets = batches_per_month * 14
    units_per_event = max(1, math.ceil(chosen.bytes_per_event / 25_000))
    monthly = {
        "kinesis": shards * HOURS_PER_MONTH * PRICES["kinesis_shard_hour"]
        + chosen.average_events_per_second
        * 3600
        * HOURS_PER_MONTH
        * units_per_event
        / 1e6
        * PRICES["kinesis_put_million_units"],
        "glue": dpus * HOURS_PER_MONTH * PRICES["glue_dpu_hour"] if dpus else None,
        "emr": emr_nodes * HOURS_PER_MONTH * PRICES["emr_m6g_xlarge_hour"] if emr_nodes else None,
        "s3_requests": puts / 1000 * PRICES["s3_put_thousand"] + gets / 1000 * PRICES["s3_get_thousand"],
    }
    return {
        "load": asdict(chosen),
        "events_per_cpu_second": round(events_per_cpu_second, 1),
        "kinesis_shards": shards,
        "vcpus_at_peak": cores,
        "glue_dpus": dpus,
        "emr_nodes": emr_nodes,
        "s3_puts_per_month": round(puts),
        "s3_gets_per_month": round(gets),
        "monthly_usd": {name: round(value, 2) if value is not None else None for name, value in monthly.items()},
        "prices_usd": PRICES,
    }
