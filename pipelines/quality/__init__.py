"""Data quality: Great Expectations suites of the silver tables, run by the stream and the batch jobs."""

from __future__ import annotations

from pipelines.quality.checker import QualityChecker, QualityError, TableResult, quarantine_reason
from pipelines.quality.suites import SILVER_TABLES, SuiteError, load_suites

__all__ = [
    "SILVER_TABLES",
    "QualityChecker",
    "QualityError",
    "SuiteError",
    "TableResult",
    "load_suites",
    "quarantine_reason",
]
