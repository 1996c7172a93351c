"""The order-event simulator: integrations, order lifecycles and bad records, deterministic per seed."""

from __future__ import annotations

from pipelines.simulator.generator import KINDS, SimRecord, SimulationConfig, default_end_time, generate
from pipelines.simulator.integrations import INTEGRATIONS, all_source_names
from pipelines.simulator.invalid import INVALID_KINDS

__all__ = [
    "INTEGRATIONS",
    "INVALID_KINDS",
    "KINDS",
    "SimRecord",
    "SimulationConfig",
    "all_source_names",
    "default_end_time",
    "generate",
]
