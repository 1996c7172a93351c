"""The streaming job: source -> bronze -> validation -> quarantine | silver -> silver/orders.

Usage on EMR 8 (the project installed on the cluster, e.g. by a bootstrap action)::

    spark-submit --deploy-mode cluster jobs/stream.py --conf conf/emr.yaml \\
        --set lake.root=s3://my-lake/orders --set lake.checkpoints=s3://my-lake/_checkpoints

On Glue 6 (a Spark streaming job whose script is this file; ``--additional-python-modules``
installs the project wheel)::

    --conf conf/glue.yaml --set lake.root=s3://my-lake/orders --trigger available-now

Locally: ``orders-pipeline stream [--trigger available-now]``. The checkpoint lives under
``lake.checkpoints`` (a Spark/Hadoop path: a local folder, or ``s3://`` where the cluster's
filesystem handles S3, as EMRFS and Glue do); the lake itself is written through delta-rs.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pipelines.aws.clients import AwsEndpoint
from pipelines.entry import job_parser, job_settings
from pipelines.lake import Lake
from pipelines.monitoring import StreamMonitor
from pipelines.notifications.delivery import Notifier
from pipelines.notifications.ledger import ensure_ledger
from pipelines.settings import Settings
from pipelines.sinks.lakehouse import AfterCommit, LakehouseWriter

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import StreamingQuery

log = logging.getLogger(__name__)


def checkpoint_location(settings: Settings) -> str:
    """Where the query's checkpoint lives: one folder per query name under ``lake.checkpoints``."""
    return f"{settings.lake.checkpoints.rstrip('/')}/{settings.stream.query_name}"


def lakehouse_writer(
    settings: Settings,
    endpoint: AwsEndpoint,
    after_commit: AfterCommit | None = None,
    notifier: Notifier | None = None,
) -> LakehouseWriter:
    """The foreachBatch writer of ``settings``: quality suites, sentiment, then notifications after every commit.

    ``after_commit`` replaces the notification rules (tests); ``notifier`` is the job's one notifier.
    """
    from pipelines.notifications.lake import LakeNotifications
    from pipelines.sentiment import scorer_from_settings
    from pipelines.transforms.sentiment import with_sentiment

    lake = Lake.from_settings(settings.lake, endpoint)
    quality = None
    if settings.quality.enabled and settings.quality.on_stream:
        from pipelines.quality import QualityChecker

        # Built once per job: loading GX and the suites takes seconds, a check of a batch does not.
        quality = QualityChecker.from_settings(settings.quality, endpoint)
    if after_commit is None:
        notifier = notifier or Notifier.from_settings(settings.notifications, settings.alerts, endpoint)
        after_commit = LakeNotifications(lake, settings.notifications, notifier)
    return LakehouseWriter(
        lake=lake,
        app_id=settings.stream.query_name,
        sentiment=with_sentiment(scorer=scorer_from_settings(settings.sentiment, endpoint)),
        order_lookback_days=settings.lake.order_lookback_days,
        compact_every=settings.lake.compact_every,
        after_commit=after_commit,
        quality=quality,
        small_batch_partitions=settings.stream.small_batch_partitions,
    )


def start(
    spark: SparkSession,
    settings: Settings,
    trigger: str | None = None,
    writer: LakehouseWriter | None = None,
    notifier: Notifier | None = None,
) -> StreamingQuery:
    """Start the query of ``settings`` (tables created first when missing); ``trigger`` overrides stream.trigger."""
    from pipelines.notifications.stream import alert_on_failure
    from pipelines.sources.reader import open_stream

    endpoint = AwsEndpoint.from_environment()
    chosen = (trigger or settings.stream.trigger).strip()
    available_now = chosen == "available-now"
    notifier = notifier or Notifier.from_settings(settings.notifications, settings.alerts, endpoint)
    writer = writer or lakehouse_writer(settings, endpoint, notifier=notifier)
    writer.lake.ensure_tables()
    ensure_ledger(settings.notifications.ledger_table, endpoint)
    # Throughput, latency, freshness and quarantine rate of every batch, to CloudWatch (docs/kpis.md).
    monitor = StreamMonitor.from_settings(settings.monitoring, settings.stream.query_name, endpoint, writer.lake)
    batch_function = monitor.instrument(writer) if monitor is not None else writer
    # Validation and the silver fields go in the streaming plan: analysed once, not per micro-batch.
    source = open_stream(spark, settings.source, endpoint, available_now=available_now).transform(writer.prepare)
    stream = (
        source.writeStream.queryName(settings.stream.query_name)
        .option("checkpointLocation", checkpoint_location(settings))
        # A failing batch publishes pipeline_failure before its error stops the query.
        .foreachBatch(alert_on_failure(batch_function, notifier, settings.stream.query_name))
    )
    if available_now:
        stream = stream.trigger(availableNow=True)
    else:
        stream = stream.trigger(processingTime=chosen.split("=", 1)[1].strip())
    return stream.start()


def run(settings: Settings, trigger: str | None = None) -> int:
    """Run the streaming job until it stops (available-now: until the source is drained)."""
    from pyspark.errors import StreamingQueryException

    from pipelines.notifications.stream import FailureListener
    from pipelines.session import get_spark
    from pipelines.sources.reader import run_available_now

    spark = get_spark(settings.stream.query_name, settings.spark)
    endpoint = AwsEndpoint.from_environment()
    notifier = Notifier.from_settings(settings.notifications, settings.alerts, endpoint)
    # A query that dies for any reason outside a batch (source errors, checkpoint trouble) is reported too.
    listener = FailureListener(notifier)
    spark.streams.addListener(listener)
    chosen = (trigger or settings.stream.trigger).strip()
    log.info(
        "stream %s starting (trigger %s, checkpoint %s)",
        settings.stream.query_name,
        chosen,
        checkpoint_location(settings),
    )
    # One writer and one notifier for the job, also when available-now starts the query twice.
    writer = lakehouse_writer(settings, endpoint, notifier=notifier)
    try:
        if chosen == "available-now":
            batches = run_available_now(spark, lambda: start(spark, settings, chosen, writer, notifier))
            log.info("stream %s drained what was there (micro-batches run: %d)", settings.stream.query_name, batches)
            return 0
        start(spark, settings, chosen, writer, notifier).awaitTermination()
    except StreamingQueryException:
        # The listener hears of the failure after this thread does: exit once its alert is out.
        if not listener.wait_for_failure(timeout=60):
            log.error("the pipeline_failure alert of %s was not handled within 60 s", settings.stream.query_name)
        raise
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """spark-submit entry point: ``jobs/stream.py [--conf FILE] [--set k=v ...] [--trigger T]``."""
    parser = job_parser("stream", __doc__)
    parser.add_argument("--trigger", help="'available-now' or 'processing-time=<duration>'")
    args, settings = job_settings(parser, argv)
    if args.trigger:
        settings = settings.with_overrides([f"stream.trigger={args.trigger}"])
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
