"""`batch maintenance`: compact small files, write checkpoints and vacuum every lake table.

Usage on EMR 8 (a step, daily)::

    spark-submit jobs/maintenance.py --conf conf/emr.yaml --set lake.root=s3://my-lake/orders

On Glue 6: a Python shell or Spark job running this script with the same arguments. It needs
no Spark: delta-rs does the work on the driver, one table at a time.

Vacuum keeps files younger than ``lake.vacuum_retention_hours`` (default 7 days, at least 24
hours): a reader or a streaming micro-batch still using an older snapshot keeps its files.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from pipelines.entry import job_parser, job_settings
from pipelines.lake import Lake, LakeError
from pipelines.schemas import TABLES
from pipelines.settings import Settings

log = logging.getLogger(__name__)


def maintain_table(lake: Lake, table: str, retention_hours: int) -> str:
    """Compact, checkpoint and vacuum one table; a one-line summary."""
    delta = lake.table(table)
    compacted = delta.optimize.compact()
    delta.update_incremental()
    delta.create_checkpoint()
    removed = delta.vacuum(
        retention_hours=retention_hours,
        dry_run=False,
        enforce_retention_duration=retention_hours >= 168,
    )
    delta.cleanup_metadata()
    return (
        f"{table}: {compacted.get('numFilesRemoved', 0)} files compacted into {compacted.get('numFilesAdded', 0)}, "
        f"checkpoint at version {delta.version()}, {len(removed)} unreferenced files vacuumed"
    )


def run(settings: Settings) -> list[str]:
    """Maintain every table of the lake of ``settings``; one summary line per table."""
    lake = Lake.from_settings(settings.lake)
    lines = []
    for table in TABLES:
        try:
            lines.append(maintain_table(lake, table, settings.lake.vacuum_retention_hours))
        except LakeError as exc:
            lines.append(f"{table}: skipped, {exc}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """spark-submit / Glue entry point: ``jobs/maintenance.py [--conf FILE] [--set k=v ...]``."""
    _, settings = job_settings(job_parser("maintenance", __doc__), argv)
    for line in run(settings):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
