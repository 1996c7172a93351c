"""The ``quality/metrics`` table: one row per (run, table, expectation), appended by the stream and batch checks.

The stream's rows commit with the micro-batch's app transaction ``(app_id, batch_id)``, like every
other table the batch writes, so a replayed batch adds nothing. A batch check is one commit of
its own run (``run_id``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, write_deltalake

from pipelines.lake import Lake, arrow_schema
from pipelines.quality.checker import TableResult
from pipelines.schemas import PARTITIONS, QUALITY_METRICS, QUALITY_METRICS_TABLE
from pipelines.sinks.delta import CommitResult, DeltaWriteError, already_committed, commit_properties

RunKind = Literal["stream", "batch"]


def metric_rows(
    results: Sequence[TableResult],
    *,
    run_kind: RunKind,
    run_id: str,
    batch_id: int | None = None,
    versions: Mapping[str, int] | None = None,
    evaluated_at: dt.datetime | None = None,
) -> pa.Table:
    """``results`` as rows of ``quality/metrics`` (``versions``: the table versions a batch check read)."""
    when = evaluated_at or dt.datetime.now(dt.UTC)
    rows = [
        {
            "run_kind": run_kind,
            "run_id": run_id,
            "batch_id": batch_id,
            "table_name": result.table,
            "table_version": (versions or {}).get(result.table),
            "expectation": outcome.expectation.name,
            "expectation_type": outcome.expectation.type,
            "column_name": ",".join(outcome.expectation.columns) or None,
            "row_level": outcome.expectation.row_level,
            "success": outcome.success,
            "element_count": outcome.element_count,
            "unexpected_count": outcome.unexpected_count,
            "missing_count": outcome.missing_count,
            "unexpected_percent": outcome.unexpected_percent,
            "observed_value": outcome.observed_value,
            "evaluated_at": when,
            "evaluated_date": when.astimezone(dt.UTC).date(),
        }
        for result in results
        for outcome in result.outcomes
    ]
    return pa.Table.from_pylist(rows, schema=arrow_schema(QUALITY_METRICS))


def append_metrics(lake: Lake, rows: pa.Table, app_id: str, batch_id: int | None = None) -> CommitResult:
    """Append ``rows`` to ``quality/metrics``; with ``batch_id``, exactly once for ``(app_id, batch_id)``."""
    if rows.num_rows == 0:
        return CommitResult(QUALITY_METRICS_TABLE, committed=False)
    table = lake.table(QUALITY_METRICS_TABLE)
    if batch_id is not None and already_committed(table, app_id, batch_id):
        return CommitResult(QUALITY_METRICS_TABLE, committed=False)
    properties = (
        commit_properties(app_id, batch_id, "quality")
        if batch_id is not None
        else CommitProperties(custom_metadata={"app_id": app_id, "writer": "orders-pipeline quality"})
    )
    try:
        write_deltalake(
            table,
            rows,
            mode="append",
            partition_by=list(PARTITIONS[QUALITY_METRICS_TABLE]),
            commit_properties=properties,
        )
    except Exception as exc:
        raise DeltaWriteError(
            f"cannot commit quality metrics of {app_id} to {lake.uri(QUALITY_METRICS_TABLE)}: {exc}"
        ) from exc
    table.update_incremental()
    (column,) = PARTITIONS[QUALITY_METRICS_TABLE]
    return CommitResult(
        QUALITY_METRICS_TABLE,
        committed=True,
        rows=rows.num_rows,
        files=1,
        version=table.version(),
        partitions=frozenset(str(value) for value in pc.unique(rows[column]).to_pylist() if value is not None),
    )
