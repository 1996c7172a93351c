"""Batch checks: the suites on the silver tables' snapshots, with their results appended to ``quality/metrics``.

A batch job cannot move rows out of silver (the stream decided them, and gold was built from
them): failing rows are reported, with a sample of their event_ids, and the run fails.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from pipelines.lake import Lake
from pipelines.quality.checker import QualityChecker, TableResult
from pipelines.quality.metrics import append_metrics, metric_rows
from pipelines.sinks.delta import CommitResult

DEFAULT_SUITES = "conf/expectations"
BATCH_APP_ID = "orders-pipeline-quality"


@dataclass
class QualityReport:
    """What one batch check found: per table, the results on the snapshot read (``versions``)."""

    run_id: str
    versions: dict[str, int]
    results: list[TableResult]
    metrics: CommitResult | None = None
    sample_rows: int = 20
    unchecked: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(result.success for result in self.results)

    def lines(self) -> list[str]:
        """A per-table summary: rows checked, expectations passed, and each failure with failing event_ids."""
        out = []
        for result in self.results:
            passed = len(result.outcomes) - len(result.failed())
            version = self.versions.get(result.table)
            out.append(
                f"{result.table} (version {version}): {result.rows} rows, "
                f"{passed}/{len(result.outcomes)} expectations passed"
            )
            for outcome in result.failed():
                rows = [key for key, names in result.failures.items() if outcome.expectation.name in names]
                detail = (
                    f"{outcome.unexpected_count} of {outcome.element_count} rows unexpected"
                    if outcome.expectation.row_level
                    else f"observed {outcome.observed_value}"
                )
                sample = f"; event_ids: {', '.join(rows[: self.sample_rows])}" if rows and self.sample_rows else ""
                more = " ..." if len(rows) > self.sample_rows > 0 else ""
                out.append(f"  FAILED {outcome.expectation.name}: {detail}{sample}{more}")
        out.extend(f"{table}: no suite, not checked" for table in self.unchecked)
        out.append(f"quality run {self.run_id}: {'passed' if self.success else 'FAILED'}")
        return out


def check_tables(
    lake: Lake,
    versions: Mapping[str, int] | None = None,
    checker: QualityChecker | None = None,
    *,
    sample_rows: int = 20,
    record: bool = True,
) -> QualityReport:
    """Run the suites on the silver tables at ``versions`` (default: the latest) and record the results.

    ``checker`` defaults to the suites in ``conf/expectations`` (pass
    ``QualityChecker.from_settings(settings.quality)`` to follow the settings). Only the columns
    the suites read are loaded, on the driver. ``record=False`` skips the metrics commit.
    """
    from pipelines.quality.suites import SILVER_TABLES

    checker = checker or QualityChecker.from_folder(DEFAULT_SUITES)
    pinned = {table: lake.table(table).version() for table in checker.tables}
    pinned.update({table: version for table, version in (versions or {}).items() if table in pinned})
    run_id = f"batch-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    results = [
        checker.check(table, lake.read_arrow(table, pinned[table], columns=checker.columns(table)))
        for table in checker.tables
    ]
    report = QualityReport(
        run_id,
        pinned,
        results,
        sample_rows=sample_rows,
        unchecked=[table for table in SILVER_TABLES if table not in checker.tables],
    )
    if record:
        rows = metric_rows(results, run_kind="batch", run_id=run_id, versions=pinned)
        report.metrics = append_metrics(lake, rows, BATCH_APP_ID)
    return report
