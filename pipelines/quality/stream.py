"""The stream's side of the quality check: the split of a micro-batch by each silver table's suite.

The lake writer collects the batch's silver rows (valid first arrivals as each silver table
would get them, before dropping event_ids earlier batches already wrote; for silver/orders every
new_order event, not only its order's winner, since a rejected one would let another win) and
passes them here as Arrow tables. A record whose row fails a row-level expectation gets
``expectation:<name>`` reasons, so it goes to quarantine and to no silver table; every copy of
its event_id in the batch does too, as copies of an invalid record do. The split depends only on
the batch's rows and the suites, so a replayed batch splits the same.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias

from pipelines.quality.checker import KEY, QualityChecker, TableResult, quarantine_reason

log = logging.getLogger(__name__)

_FAILED = "__expectations"


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


def check_rows(checker: QualityChecker, rows: Mapping[str, pa.Table]) -> tuple[list[TableResult], dict[str, list[str]]]:
    """Run every suite on its table's candidate rows in ``rows`` (table -> Arrow rows of the batch).

    Returns the results and the failures: event_id -> its ``expectation:<name>`` reasons, sorted
    (empty when nothing failed).
    """
    started = time.perf_counter()
    results = []
    for table in checker.tables:
        candidates = rows.get(table)
        if candidates is not None and candidates.num_rows:
            results.append(checker.check(table, candidates))
    log.info(
        "quality: %d rows of %d tables checked in %.2f s",
        sum(result.rows for result in results),
        len(results),
        time.perf_counter() - started,
    )
    failed: dict[str, set[str]] = {}
    for result in results:
        for event_id, names in result.failures.items():
            failed.setdefault(event_id, set()).update(quarantine_reason(name) for name in names)
    return results, {key: sorted(failed[key]) for key in sorted(failed)}


def failure_frame(spark: SparkSession, failed: Mapping[str, list[str]]) -> DataFrame:
    """The failures of :func:`check_rows` as a small frame of ``event_id`` and ``reasons`` (array<string>)."""
    marks = pa.table(
        {
            KEY: pa.array(list(failed), pa.string()),
            "reasons": pa.array(list(failed.values()), pa.list_(pa.string())),
        }
    )
    return spark.createDataFrame(marks)
