"""Records as raw stream rows in JSON-lines files, and a streaming query over such a folder.

The folder stands in for Kinesis: each file is one micro-batch (``maxFilesPerTrigger`` 1), its
rows carry the raw source columns with the Kafka ones null.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

from lakehouse_traps import Record
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias

_SCHEMA = "data STRING, ingested_at TIMESTAMP, stream STRING, shard_id STRING, sequence_number STRING"


def write_raw_lines(
    folder: Path, name: str, records: list[Record], *, shard: str = "shard-0", sequence_prefix: str = ""
) -> None:
    """Writes ``records`` as file ``name`` of ``folder``, sequence numbers ``{sequence_prefix}000000`` on."""
    lines = [
        json.dumps(
            {
                "data": base64.b64encode(r.data).decode("ascii"),
                "ingested_at": r.ingested_at.isoformat(),
                "stream": "orders",
                "shard_id": shard,
                "sequence_number": f"{sequence_prefix}{i:06d}",
            }
        )
        for i, r in enumerate(records)
    ]
    staging = folder.parent / f".{name}"
    staging.write_text("\n".join(lines) + "\n", encoding="utf-8")
    staging.rename(folder / name)  # appear whole to the file source


def run_file_stream(
    spark: SparkSession, folder: Path, checkpoint: Path, batch_function: Callable[[DataFrame, int], None]
) -> None:
    """Runs ``batch_function`` on each new file of ``folder`` as raw rows, until none is left."""
    source = spark.readStream.schema(_SCHEMA).option("maxFilesPerTrigger", 1).json(str(folder))
    raw = source.select(
        F.unbase64("data").alias("data"),
        "ingested_at",
        "stream",
        "shard_id",
        "sequence_number",
        F.lit(None).cast("string").alias("topic"),
        F.lit(None).cast("int").alias("partition"),
        F.lit(None).cast("long").alias("offset"),
    )
    query = (
        raw.writeStream.foreachBatch(batch_function)
        .option("checkpointLocation", str(checkpoint))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination(600)
    assert query.exception() is None
