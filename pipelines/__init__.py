"""orders-pipeline: real-time order and transaction pipeline for e-commerce on AWS."""

from __future__ import annotations

__version__ = "0.1.0"
