"""The lake: table locations, delta-rs storage options, table creation and snapshot reads into Spark.

The same code serves a local folder and an ``s3://`` prefix. Spark's own filesystem is never
used for the lake (no hadoop-aws here): delta-rs and pyarrow do all I/O, with the endpoint and
region passed as values (``AwsEndpoint``) so executors and the driver agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructType,
    TimestampType,
)

from pipelines.aws.clients import AwsEndpoint
from pipelines.schemas import PARTITIONS, TABLES

if TYPE_CHECKING:
    import pyarrow.fs as pafs
    from pyspark.sql import DataFrame, SparkSession

    from pipelines.settings import LakeSettings

PartitionFilter = list[tuple[str, str, Any]]


class LakeError(RuntimeError):
    """A lake table is missing or cannot be read or written."""


_ARROW: dict[type[DataType], pa.DataType] = {
    StringType: pa.string(),
    LongType: pa.int64(),
    IntegerType: pa.int32(),
    DoubleType: pa.float64(),
    BooleanType: pa.bool_(),
    BinaryType: pa.binary(),
    DateType: pa.date32(),
    TimestampType: pa.timestamp("us", tz="UTC"),
}


def arrow_type(kind: DataType) -> pa.DataType:
    """The Arrow type delta-rs stores a Spark type as (timestamps: microseconds, UTC)."""
    if isinstance(kind, StructType):
        return pa.struct([pa.field(f.name, arrow_type(f.dataType), nullable=f.nullable) for f in kind.fields])
    if isinstance(kind, ArrayType):
        return pa.list_(pa.field("element", arrow_type(kind.elementType), nullable=kind.containsNull))
    try:
        return _ARROW[type(kind)]
    except KeyError:
        raise LakeError(f"no Arrow mapping for Spark type {kind.simpleString()}") from None


def arrow_schema(schema: StructType, drop: tuple[str, ...] = ()) -> pa.Schema:
    """``schema`` as an Arrow schema, without the columns in ``drop`` (e.g. partition columns)."""
    return pa.schema(
        [pa.field(f.name, arrow_type(f.dataType), nullable=f.nullable) for f in schema.fields if f.name not in drop]
    )


@dataclass(frozen=True)
class Lake:
    """A lake root plus what is needed to reach it; picklable, so it travels to executors."""

    root: str
    endpoint: AwsEndpoint | None = None

    @classmethod
    def from_settings(cls, settings: LakeSettings, endpoint: AwsEndpoint | None = None) -> Lake:
        """The lake of ``settings``; on S3 the endpoint is captured from the driver's environment."""
        root = settings.root
        if root.startswith("s3a://"):
            root = "s3://" + root[len("s3a://") :]
        if root.startswith("s3://"):
            return cls(root.rstrip("/"), endpoint or AwsEndpoint.from_environment())
        return cls(os.path.abspath(root))

    @property
    def on_s3(self) -> bool:
        return self.root.startswith("s3://")

    def uri(self, table: str) -> str:
        """The table's URI: ``s3://bucket/prefix/silver/orders`` or an absolute folder."""
        return f"{self.root}/{table}"

    def storage_options(self) -> dict[str, str]:
        """delta-rs storage options: explicit endpoint and region; credentials from the standard chain."""
        if not self.on_s3 or self.endpoint is None:
            return {}
        options = {"AWS_REGION": self.endpoint.region}
        if self.endpoint.endpoint_url:
            options["AWS_ENDPOINT_URL"] = self.endpoint.endpoint_url
            if self.endpoint.endpoint_url.startswith("http://"):
                options["AWS_ALLOW_HTTP"] = "true"
        return options

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        """A pyarrow filesystem for the lake and the root path inside it (no scheme)."""
        import pyarrow.fs as pafs

        if not self.on_s3:
            return pafs.LocalFileSystem(), self.root
        endpoint = self.endpoint or AwsEndpoint.from_environment()
        options: dict[str, Any] = {"region": endpoint.region}
        if endpoint.endpoint_url:
            scheme, _, host = endpoint.endpoint_url.partition("://")
            options.update(endpoint_override=host.rstrip("/"), scheme=scheme)
        return pafs.S3FileSystem(**options), self.root[len("s3://") :]

    def table(self, table: str, version: int | None = None) -> DeltaTable:
        """The delta-rs table at ``table`` (optionally at ``version``); :class:`LakeError` when missing."""
        try:
            return DeltaTable(self.uri(table), version=version, storage_options=self.storage_options())
        except TableNotFoundError as exc:
            raise LakeError(f"no Delta table at {self.uri(table)}: run 'orders-pipeline setup' first") from exc

    def ensure_table(self, table: str) -> bool:
        """Create ``table`` empty with its schema and partitioning unless it exists; True when created."""
        schema = TABLES[table]
        try:
            DeltaTable(self.uri(table), storage_options=self.storage_options())
            return False
        except TableNotFoundError:
            pass
        DeltaTable.create(
            self.uri(table),
            schema=arrow_schema(schema),
            partition_by=list(PARTITIONS[table]),
            mode="ignore",
            storage_options=self.storage_options(),
            name=table.replace("/", "_"),
        )
        return True

    def ensure_tables(self) -> list[str]:
        """Create every table of the lake that is missing; the names of those created."""
        return [table for table in TABLES if self.ensure_table(table)]

    def read_arrow(
        self,
        table: str,
        version: int | None = None,
        partitions: PartitionFilter | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table:
        """One snapshot of ``table`` as Arrow, pruned to ``partitions`` and ``columns``.

        ``partitions`` are (column, op, value) filters with typed values (``datetime.date`` for
        the date partitions); files outside them are not read.
        """
        return self.table(table, version).to_pyarrow_table(filters=partitions, columns=columns)

    def read(
        self,
        spark: SparkSession,
        table: str,
        version: int | None = None,
        partitions: PartitionFilter | None = None,
        columns: list[str] | None = None,
    ) -> DataFrame:
        """``table`` at one version (the latest by default) as a Spark DataFrame with the table's schema.

        The snapshot is pinned by delta-rs and read through Arrow on the driver: Spark cannot read
        ``s3://`` here (no Hadoop S3 filesystem), and a pinned version keeps multi-table batch
        jobs consistent (read each table's version once, pass it down).
        """
        from pipelines.transforms.silver import conform

        data = self.read_arrow(table, version, partitions, columns)
        schema = TABLES[table]
        wanted = StructType([f for f in schema.fields if columns is None or f.name in columns])
        frame = (
            spark.createDataFrame(data.select(wanted.fieldNames()), schema=wanted)
            if data.num_rows
            else (spark.createDataFrame([], wanted))
        )
        return frame.transform(conform(wanted))

    def versions(self) -> dict[str, int]:
        """The current version of every table: pass to :meth:`read` for a consistent multi-table view."""
        return {table: self.table(table).version() for table in TABLES}


def ensure_lake_step(settings: Any) -> str:
    """The `orders-pipeline setup` step creating the lake's tables (idempotent)."""
    lake = Lake.from_settings(settings.lake)
    created = lake.ensure_tables()
    return f"lake {lake.root}: {len(created)} tables created, {len(TABLES) - len(created)} existed"
