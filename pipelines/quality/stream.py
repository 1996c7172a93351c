"""The stream's side of the quality check: each silver table's candidate rows of a micro-batch, and the split.

Candidate rows are the batch's valid first arrivals as the silver tables would get them, before
sentiment scoring (``sentiment_*`` are null here: scoring twice would double Comprehend or Bedrock
calls) and before dropping event_ids earlier batches already wrote. A record whose row fails a
row-level expectation gets ``expectation:<name>`` reasons, so it goes to quarantine and to no
silver table; every copy of its event_id in the batch does too, as copies of an invalid record
do. The split depends only on the batch's rows and the suites, so a replayed batch splits the same.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias

from pipelines.quality.checker import KEY, QualityChecker, TableResult, quarantine_reason
from pipelines.schemas import (
    CHARGEBACKS_TABLE,
    ORDER_UPDATES_TABLE,
    ORDERS_TABLE,
    PAYMENTS_TABLE,
    RETURNS_TABLE,
    TABLES,
)
from pipelines.transforms import silver

log = logging.getLogger(__name__)

_FAILED = "__expectations"

_CANDIDATES: dict[str, Callable[[DataFrame], DataFrame]] = {
    # Every new_order event, not only its order's winner: a rejected one would let another win.
    ORDERS_TABLE: silver.new_order_rows,
    ORDER_UPDATES_TABLE: silver.order_updates,
    RETURNS_TABLE: silver.returns,
    PAYMENTS_TABLE: silver.payments,
    CHARGEBACKS_TABLE: silver.chargebacks,
}


def candidate_rows(accepted: DataFrame, table: str, columns: list[str]) -> DataFrame:
    """``table``'s rows from the valid first arrivals ``accepted``, with only ``columns``."""
    return _CANDIDATES[table](accepted).transform(silver.conform(TABLES[table])).select(*columns)


def with_expectation_failures(failures: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """``df.transform`` step: valid records whose event_id is in ``failures`` take its reasons.

    ``failures`` has ``event_id`` and ``reasons`` (array<string>); records already rejected by
    the contract keep their own reasons and are not checked again.
    """

    def transform(df: DataFrame) -> DataFrame:
        marks = F.broadcast(failures.select(F.col(KEY).alias("__failed_id"), F.col("reasons").alias(_FAILED)))
        joined = df.join(marks, df[KEY] == F.col("__failed_id"), "left")
        reasons = F.when((F.size("reasons") == 0) & F.col(_FAILED).isNotNull(), F.col(_FAILED)).otherwise(
            F.col("reasons")
        )
        return joined.withColumn("reasons", reasons).drop("__failed_id", _FAILED)

    return transform


def without_failures(failures: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """``df.transform`` step dropping the rows whose event_id is in ``failures``."""

    def transform(df: DataFrame) -> DataFrame:
        return df.join(F.broadcast(failures.select(KEY)), KEY, "left_anti")

    return transform


def check_batch(checker: QualityChecker, accepted: DataFrame) -> tuple[list[TableResult], DataFrame | None]:
    """Run every suite on its table's candidate rows from ``accepted`` (the batch's valid first arrivals).

    Returns the results and, when rows failed, a small frame of their ``event_id`` and
    ``reasons`` (``expectation:<name>``, sorted) for :func:`with_expectation_failures` and
    :func:`without_failures`; None when nothing failed. ``accepted`` is best persisted: it is
    read once per table.
    """
    spark_seconds = gx_seconds = 0.0
    results = []
    for table in checker.tables:
        started = time.perf_counter()
        rows = candidate_rows(accepted, table, checker.columns(table)).toArrow()
        checked = time.perf_counter()
        spark_seconds += checked - started
        if rows.num_rows:
            results.append(checker.check(table, rows))
            gx_seconds += time.perf_counter() - checked
    log.info(
        "quality: %d rows of %d tables checked (%.2f s collecting candidate rows, %.2f s in GX)",
        sum(result.rows for result in results),
        len(results),
        spark_seconds,
        gx_seconds,
    )
    failed: dict[str, set[str]] = {}
    for result in results:
        for event_id, names in result.failures.items():
            failed.setdefault(event_id, set()).update(quarantine_reason(name) for name in names)
    if not failed:
        return results, None
    marks = pa.table(
        {
            KEY: pa.array(sorted(failed), pa.string()),
            "reasons": pa.array([sorted(failed[key]) for key in sorted(failed)], pa.list_(pa.string())),
        }
    )
    return results, accepted.sparkSession.createDataFrame(marks)
