"""Idempotent Delta appends and MERGEs through delta-rs, with data files written on the executors.

An append is two steps. The executors write Parquet files straight into the table's folder
(``mapInArrow``; one file per partition value per task) and return only each file's add-action
metadata: path, size, partition values and statistics. The driver collects that metadata and
makes one commit that also records the app transaction ``(app_id, batch_id)``. Before writing,
a table whose recorded version for ``app_id`` is already ``>= batch_id`` is skipped, so a
replayed micro-batch neither duplicates nor loses rows. Files of a failed attempt are never
referenced by the log; ``vacuum`` removes them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Transaction
from deltalake.exceptions import CommitFailedError
from deltalake.transaction import AddAction, RemoveAction
from pyspark.sql import DataFrame
from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias
from pyspark.sql.types import LongType, StringType, StructField, StructType

from pipelines.lake import Lake, arrow_schema
from pipelines.schemas import PARTITIONS, TABLES
from pipelines.workers import freeze_setup

log = logging.getLogger(__name__)

# What each executor task returns per data file; the driver turns these into add actions.
FILE_METADATA = StructType(
    [
        StructField("path", StringType(), False),
        StructField("size", LongType(), False),
        StructField("partition_values", StringType(), False),
        StructField("stats", StringType(), False),
        StructField("num_records", LongType(), False),
        # Which table the file belongs to (one pass can write several: see append_tables).
        StructField("table", StringType(), False),
    ]
)

# Picks the rows of one table out of a task's rows (picklable: it travels to the executors).
RowFilter = Callable[[pa.Table], pa.Table]

# Longer strings get no min/max statistics: a truncated max would be wrong for pruning.
_MAX_STAT_STRING = 64


class DeltaWriteError(RuntimeError):
    """A micro-batch could not be written to or committed on a Delta table."""


@dataclass(frozen=True)
class CommitResult:
    """What one idempotent write did to one table."""

    table: str
    committed: bool
    rows: int = 0
    files: int = 0
    version: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    # The values of the table's partition column the commit added files to (compaction's list).
    partitions: frozenset[str] = frozenset()

    def __str__(self) -> str:
        if not self.committed:
            return f"{self.table}: skipped (batch already committed or nothing to write)"
        return f"{self.table}: {self.rows} rows in {self.files} files, version {self.version}"


def already_committed(table: DeltaTable, app_id: str, batch_id: int) -> bool:
    """True when ``table`` records a commit of ``app_id`` at ``batch_id`` or later."""
    version = table.transaction_version(app_id)
    return version is not None and version >= batch_id


def _stat_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        # Milliseconds, as Spark's Delta writer and delta-rs write them (readers expect that format).
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def file_stats(data: pa.Table) -> str:
    """Delta statistics JSON (numRecords, minValues, maxValues, nullCount) of one data file."""
    minimum: dict[str, Any] = {}
    maximum: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for name, column in zip(data.column_names, data.columns, strict=True):
        kind = column.type
        if pa.types.is_struct(kind):
            continue
        nulls[name] = column.null_count
        comparable = (
            pa.types.is_integer(kind)
            or pa.types.is_floating(kind)
            or pa.types.is_timestamp(kind)
            or pa.types.is_date(kind)
            or pa.types.is_string(kind)
            or pa.types.is_large_string(kind)
        )
        if not comparable or column.null_count == len(column):
            continue
        low, high = pc.min_max(column).values()
        low_value, high_value = low.as_py(), high.as_py()
        if isinstance(low_value, str) and max(len(low_value), len(high_value)) > _MAX_STAT_STRING:
            continue
        if isinstance(low_value, float) and (math.isnan(low_value) or math.isnan(high_value)):
            continue
        minimum[name] = _stat_value(low_value)
        maximum[name] = _stat_value(high_value)
    return json.dumps(
        {"numRecords": data.num_rows, "minValues": minimum, "maxValues": maximum, "nullCount": nulls},
        separators=(",", ":"),
    )


def _partition_text(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _write_table_files(lake: Lake, table: str, rows: pa.Table, out: dict[str, list[Any]]) -> None:
    """Write ``rows`` of ``table`` as one Parquet file per partition value; their metadata into ``out``."""
    partition_by = PARTITIONS[table]
    full_schema = arrow_schema(TABLES[table])
    data_schema = arrow_schema(TABLES[table], drop=partition_by)
    rows = rows.select(full_schema.names).cast(full_schema)
    filesystem, root = lake.filesystem()
    table_path = f"{root}/{table}"
    keys = rows.select(list(partition_by)).group_by(list(partition_by)).aggregate([]).to_pylist()
    for key in keys:
        mask = None
        for column, value in key.items():
            test = pc.is_null(rows[column]) if value is None else pc.equal(rows[column], pa.scalar(value))
            mask = test if mask is None else pc.and_(mask, test)
        part = rows.filter(mask).select(data_schema.names).cast(data_schema)
        values = {column: _partition_text(value) for column, value in key.items()}
        folder = "/".join(
            f"{column}={'__HIVE_DEFAULT_PARTITION__' if text is None else text}" for column, text in values.items()
        )
        relative = f"{folder}/part-{uuid.uuid4()}.snappy.parquet" if folder else f"part-{uuid.uuid4()}.snappy.parquet"
        filesystem.create_dir(f"{table_path}/{folder}" if folder else table_path, recursive=True)
        pq.write_table(part, f"{table_path}/{relative}", filesystem=filesystem, compression="snappy")
        size = filesystem.get_file_info(f"{table_path}/{relative}").size
        out["path"].append(relative)
        out["size"].append(size)
        out["partition_values"].append(json.dumps(values))
        out["stats"].append(file_stats(part))
        out["num_records"].append(part.num_rows)
        out["table"].append(table)


def files_writer(
    lake: Lake, parts: tuple[tuple[str, RowFilter | None], ...], constants: Mapping[str, int] | None = None
) -> Any:
    """The ``mapInArrow`` function writing one task's rows as Parquet files of each table of ``parts``.

    ``parts``: (table, the filter picking its rows, None = all of them). ``constants``: int64
    columns set to one value in every row here, not by a literal in the Spark plan: Spark
    inlines a literal into its generated code, so a value that changes every micro-batch (the
    batch id) makes it compile that stage again each time, and the JVM then compiles it again.
    """
    fixed = dict(constants or {})

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        collected = [batch for batch in batches if batch.num_rows]
        if not collected:
            return
        rows = with_constants(pa.Table.from_batches(collected), fixed)
        out: dict[str, list[Any]] = {field.name: [] for field in FILE_METADATA.fields}
        for table, pick in parts:
            picked = pick(rows) if pick is not None else rows
            if picked.num_rows:
                _write_table_files(lake, table, picked, out)
        freeze_setup("delta-files")
        yield pa.RecordBatch.from_pydict(out, schema=arrow_schema(FILE_METADATA).remove_metadata())

    return write


def with_constants(rows: pa.Table, constants: Mapping[str, int]) -> pa.Table:
    """``rows`` with each column of ``constants`` (added or replaced) holding its int64 value in every row."""
    for name, value in constants.items():
        column = pa.repeat(pa.scalar(value, pa.int64()), rows.num_rows)
        index = rows.schema.get_field_index(name)
        rows = rows.append_column(name, column) if index < 0 else rows.set_column(index, name, column)
    return rows


def file_writer(lake: Lake, table: str) -> Any:
    """The ``mapInArrow`` function writing one task's rows of ``table`` as Parquet files."""
    return files_writer(lake, ((table, None),))


def write_files(lake: Lake, table: str, rows: DataFrame, *, cluster: bool = True) -> list[AddAction]:
    """Write ``rows`` (already in ``table``'s schema) as data files on the executors; their add actions.

    ``cluster`` shuffles rows so one task holds each partition value (one file per touched
    partition). Without it every task writes its own rows: no shuffle and full parallelism, for
    tables whose batch touches one partition (bronze: the ingestion date), at one file per task.
    """
    partition_by = PARTITIONS[table]
    spread = rows.repartition(*[F.col(c) for c in partition_by]) if partition_by and cluster else rows
    metadata = spread.mapInArrow(file_writer(lake, table), FILE_METADATA).collect()
    return _add_actions([row.asDict() for row in metadata])


def _add_actions(metadata: list[dict[str, Any]]) -> list[AddAction]:
    now = int(time.time() * 1000)
    return [
        AddAction(
            path=row["path"],
            size=row["size"],
            partition_values=json.loads(row["partition_values"]),
            modification_time=now,
            data_change=True,
            stats=row["stats"],
        )
        for row in metadata
    ]


def commit_properties(app_id: str, batch_id: int, operation: str) -> CommitProperties:
    """Commit properties recording the app transaction ``(app_id, batch_id)``."""
    return CommitProperties(
        custom_metadata={"app_id": app_id, "batch_id": str(batch_id), "writer": f"orders-pipeline {operation}"},
        app_transactions=[Transaction(app_id, batch_id)],
    )


# A write that loses to a concurrent commit this many times in a row gives up.
CONFLICT_ATTEMPTS = 5


def retry_on_conflict(table: DeltaTable, write: Callable[[DeltaTable], Any], attempts: int = CONFLICT_ATTEMPTS) -> Any:
    """``write(table)``, run again on the newest snapshot when a concurrent commit conflicts with it.

    For writes that read the table (MERGE): compaction by the stream or by `batch maintenance`
    can commit between their read and their commit. The last conflict is raised.
    """
    for attempt in range(1, attempts + 1):
        try:
            return write(table)
        except CommitFailedError:
            if attempt == attempts:
                raise
            log.warning(
                "write to %s met a concurrent commit (attempt %d of %d): retrying", table.table_uri, attempt, attempts
            )
            table.update_incremental()
    raise AssertionError("unreachable")


def append_tables(
    lake: Lake,
    rows: DataFrame,
    parts: tuple[tuple[str, RowFilter | None], ...],
    app_id: str,
    batch_id: int,
    *,
    deltas: Mapping[str, DeltaTable] | None = None,
    constants: Mapping[str, int] | None = None,
) -> list[CommitResult]:
    """Append to each table of ``parts`` its rows of ``rows``, in one pass on the executors, exactly once.

    ``parts``: (table, the filter picking its rows from a task's Arrow rows, None = all). For
    tables filled from the same rows (bronze and quarantine): one Spark job instead of one a
    table. Every task writes its own rows (no shuffle); the commits follow in ``parts``' order,
    each skipped when its table already holds ``(app_id, batch_id)``. ``deltas``: tables already
    opened at their latest version (each opening reads the log). ``constants``: see :func:`files_writer`.
    """
    deltas = {table: (deltas or {}).get(table) or lake.table(table) for table, _ in parts}
    pending = tuple((table, pick) for table, pick in parts if not already_committed(deltas[table], app_id, batch_id))
    metadata: list[dict[str, Any]] = []
    if pending:
        write = files_writer(lake, pending, constants)
        metadata = [row.asDict() for row in rows.mapInArrow(write, FILE_METADATA).collect()]
    written = {table for table, _ in pending}
    return [
        _commit_files(
            table, deltas[table], _add_actions([m for m in metadata if m["table"] == table]), app_id, batch_id
        )
        if table in written
        else CommitResult(table, committed=False)
        for table, _ in parts
    ]


def append(
    lake: Lake, table: str, rows: DataFrame, app_id: str, batch_id: int, *, cluster: bool = True
) -> CommitResult:
    """Append ``rows`` to ``table`` exactly once for ``(app_id, batch_id)`` (``cluster``: see write_files)."""
    delta = lake.table(table)
    if already_committed(delta, app_id, batch_id):
        return CommitResult(table, committed=False)
    return _commit_files(table, delta, write_files(lake, table, rows, cluster=cluster), app_id, batch_id)


def append_arrow(
    lake: Lake, table: str, rows: pa.Table, app_id: str, batch_id: int, *, delta: DeltaTable | None = None
) -> CommitResult:
    """:func:`append` for rows already on the driver: the same files and commit, written from here.

    For the small per-batch silver results that the driver holds anyway (it checks them): a
    Spark job to write them would cost more than the writing. ``delta``: ``table`` already
    opened by the caller (each opening reads the log).
    """
    delta = delta or lake.table(table)
    if already_committed(delta, app_id, batch_id) or rows.num_rows == 0:
        return CommitResult(table, committed=False)
    metadata: list[dict[str, Any]] = []
    for batch in file_writer(lake, table)(iter(rows.to_batches())):
        metadata.extend(batch.to_pylist())
    return _commit_files(table, delta, _add_actions(metadata), app_id, batch_id)


def _commit_files(table: str, delta: DeltaTable, actions: list[AddAction], app_id: str, batch_id: int) -> CommitResult:
    if not actions:
        return CommitResult(table, committed=False)
    try:
        delta.create_write_transaction(
            list[AddAction | RemoveAction](actions),
            mode="append",
            schema=delta.schema(),
            partition_by=list(PARTITIONS[table]) or None,
            commit_properties=commit_properties(app_id, batch_id, "append"),
        )
    except Exception as exc:
        raise DeltaWriteError(f"cannot commit batch {batch_id} of {app_id} to {delta.table_uri}: {exc}") from exc
    delta.update_incremental()
    total = sum(json.loads(action.stats)["numRecords"] for action in actions)
    column = PARTITIONS[table][0] if PARTITIONS[table] else None
    partitions = frozenset(
        value for action in actions if column and (value := action.partition_values.get(column)) is not None
    )
    return CommitResult(
        table, committed=True, rows=total, files=len(actions), version=delta.version(), partitions=partitions
    )


def collect_append(lake: Lake, table: str, rows: DataFrame, app_id: str, batch_id: int) -> CommitResult:
    """The alternative not taken: collect the batch to the driver and ``write_deltalake`` it.

    Kept for the measurement in docs/lakehouse.md; the driver holds the whole batch in memory.
    """
    from deltalake import write_deltalake

    delta = lake.table(table)
    if already_committed(delta, app_id, batch_id):
        return CommitResult(table, committed=False)
    data = rows.toArrow().cast(arrow_schema(TABLES[table]))
    write_deltalake(
        delta,
        data,
        mode="append",
        partition_by=list(PARTITIONS[table]) or None,
        commit_properties=commit_properties(app_id, batch_id, "append"),
    )
    delta.update_incremental()
    return CommitResult(table, committed=True, rows=data.num_rows, files=0, version=delta.version())
