"""The stream's own effectiveness: per-batch throughput, latency, freshness and quarantine rate.

:class:`StreamMonitor` wraps the lakehouse writer's ``foreachBatch`` call. It times the batch,
takes the row counts from the writer's batch report (bronze = input, quarantine = rejected),
and, through the writer's ``after_commit`` hook, the batch's newest event and ingestion times
and when its notifications were published. Each batch's figures go to CloudWatch in one
``PutMetricData`` call (namespace from settings, dimension ``QueryName``) and, optionally, to
the ``gold/pipeline_metrics`` Delta table. Publishing problems are logged, never raised: the
metrics must not stop the stream.

Everything runs on the driver, synchronously with the batch, so the last batch of an
available-now run is published before the job exits (a query listener's events may not be).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from botocore.exceptions import BotoCoreError, ClientError
from deltalake import write_deltalake
from deltalake.exceptions import DeltaError
from pyspark.sql import DataFrame

from pipelines.aws.clients import AwsEndpoint, client
from pipelines.lake import Lake, arrow_schema
from pipelines.schemas import PIPELINE_METRICS, PIPELINE_METRICS_TABLE, QUARANTINE_TABLE

if TYPE_CHECKING:
    from pipelines.settings import MonitoringSettings
    from pipelines.sinks.lakehouse import LakehouseWriter

log = logging.getLogger(__name__)

BatchFunction = Callable[[DataFrame, int], None]

# CloudWatch metric name -> (BatchMetrics field, unit).
CLOUDWATCH_METRICS: dict[str, tuple[str, str]] = {
    "InputRows": ("input_rows", "Count"),
    "InputRowsPerSecond": ("input_rows_per_second", "Count/Second"),
    "ProcessedRowsPerSecond": ("processed_rows_per_second", "Count/Second"),
    "BatchDuration": ("batch_duration_ms", "Milliseconds"),
    "EndToEndLatency": ("end_to_end_latency_seconds", "Seconds"),
    "IngestLatency": ("ingest_latency_seconds", "Seconds"),
    "Freshness": ("freshness_seconds", "Seconds"),
    "QuarantinedRows": ("quarantined_rows", "Count"),
    "QuarantineRate": ("quarantine_rate", "None"),
    "Notifications": ("notifications", "Count"),
    "NotificationLatency": ("notification_latency_seconds", "Seconds"),
}

# PutMetricData takes at most 1000 data points per call.
MAX_DATA_PER_CALL = 1000


@dataclass(frozen=True)
class BatchMetrics:
    """One micro-batch's figures; the fields are the columns of gold/pipeline_metrics (without ``date``)."""

    query_name: str
    batch_id: int
    batch_time: dt.datetime
    input_rows: int
    input_rows_per_second: float | None
    processed_rows_per_second: float | None
    batch_duration_ms: int
    end_to_end_latency_seconds: float | None
    ingest_latency_seconds: float | None
    freshness_seconds: float | None
    quarantined_rows: int
    quarantine_rate: float | None
    notifications: int | None
    notification_latency_seconds: float | None

    def row(self) -> dict[str, Any]:
        return {**asdict(self), "date": self.batch_time.date()}

    def metric_data(self) -> list[dict[str, Any]]:
        """The batch as CloudWatch data points (figures that are unknown are left out)."""
        data = []
        for name, (attribute, unit) in CLOUDWATCH_METRICS.items():
            value = getattr(self, attribute)
            if value is None:
                continue
            data.append(
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": "QueryName", "Value": self.query_name}],
                    "Timestamp": self.batch_time,
                    "Value": float(value),
                    "Unit": unit,
                }
            )
        return data


# A failed micro-batch counts one; the stack's PipelineFailures alarm fires on any.
FAILURE_METRIC = "PipelineFailures"


@dataclass
class _AfterCommitFigures:
    max_event_time: dt.datetime | None = None
    max_ingested_at: dt.datetime | None = None
    notifications: int | None = None
    notified_at: float | None = None


class CloudWatchPublisher:
    """Sends data points to CloudWatch in batched calls; errors are logged and counted, not raised."""

    def __init__(self, namespace: str, endpoint: AwsEndpoint | None = None) -> None:
        self.namespace = namespace
        self.endpoint = endpoint
        self.failures = 0
        self._client: Any = None

    def publish(self, data: list[dict[str, Any]]) -> bool:
        """PutMetricData ``data`` (in chunks of 1000); False when a call failed."""
        ok = True
        for start in range(0, len(data), MAX_DATA_PER_CALL):
            chunk = data[start : start + MAX_DATA_PER_CALL]
            try:
                if self._client is None:
                    # Few, short attempts: a metric late or lost is better than a stalled batch.
                    self._client = client(
                        "cloudwatch",
                        self.endpoint,
                        retries={"max_attempts": 3, "mode": "standard"},
                        connect_timeout=3,
                        read_timeout=10,
                    )
                self._client.put_metric_data(Namespace=self.namespace, MetricData=chunk)
            except (BotoCoreError, ClientError) as exc:
                self.failures += 1
                ok = False
                log.warning("could not publish %d metrics to CloudWatch %s: %s", len(chunk), self.namespace, exc)
        return ok


class _MeasuredAfterCommit:
    """The writer's ``after_commit``, timed: when the batch's notifications went out and how many."""

    def __init__(self, inner: Callable[[DataFrame, int], Any] | None, monitor: StreamMonitor) -> None:
        self.inner = inner
        self.monitor = monitor

    def __call__(self, accepted: DataFrame, batch_id: int) -> None:
        figures = self.monitor.pending.setdefault(batch_id, _AfterCommitFigures())
        if self.inner is None:
            return
        # LakeNotifications.notify returns what it delivered; other hooks are just called.
        result = getattr(self.inner, "notify", self.inner)(accepted, batch_id)
        figures.notified_at = self.monitor.clock()
        sent = getattr(result, "sent", None)
        figures.notifications = int(sent) if sent is not None else None


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class StreamMonitor:
    """Measures every micro-batch of a :class:`LakehouseWriter` and publishes the figures.

    ``publisher`` None: no CloudWatch; ``lake`` None: no gold/pipeline_metrics rows. ``clock``
    returns epoch seconds (tests pass their own). ``recent`` keeps the latest figures.
    """

    def __init__(
        self,
        query_name: str,
        publisher: CloudWatchPublisher | None = None,
        lake: Lake | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.query_name = query_name
        self.publisher = publisher
        self.lake = lake
        self.clock = clock
        self.pending: dict[int, _AfterCommitFigures] = {}
        self.recent: list[BatchMetrics] = []
        self.newest_event: dt.datetime | None = None
        self._previous_start: float | None = None

    @classmethod
    def from_settings(
        cls, settings: MonitoringSettings, query_name: str, endpoint: AwsEndpoint, lake: Lake
    ) -> StreamMonitor | None:
        """The monitor ``settings`` ask for; None when monitoring is off."""
        if not settings.enabled:
            return None
        return cls(
            query_name,
            CloudWatchPublisher(settings.namespace, endpoint),
            lake if settings.metrics_table else None,
        )

    def instrument(self, writer: LakehouseWriter) -> BatchFunction:
        """The ``foreachBatch`` function: ``writer`` measured. Safe to call again for the same writer."""
        hook = writer.after_commit
        if isinstance(hook, _MeasuredAfterCommit):
            hook.monitor = self
        else:
            writer.after_commit = _MeasuredAfterCommit(hook, self)

        def measured(batch: DataFrame, batch_id: int) -> None:
            started = self.clock()
            try:
                writer(batch, batch_id)
            except Exception:
                self.record_failure(batch_id)
                raise
            finished = self.clock()
            report = writer.reports[-1] if writer.reports and writer.reports[-1].batch_id == batch_id else None
            if report is not None:
                # The writer took them from the rows it collected anyway.
                figures = self.pending.setdefault(batch_id, _AfterCommitFigures())
                figures.max_event_time, figures.max_ingested_at = report.newest_event_time, report.newest_ingested_at
            records = report.records if report else 0
            quarantined = report.rows_committed(QUARANTINE_TABLE) if report else 0
            self.record(batch_id, started, finished, records, quarantined)

        return measured

    def record(
        self, batch_id: int, started: float, finished: float, input_rows: int, quarantined_rows: int
    ) -> BatchMetrics:
        """Compute one batch's figures from its times and counts, then publish them."""
        figures = self.pending.pop(batch_id, _AfterCommitFigures())
        committed = dt.datetime.fromtimestamp(finished, dt.UTC)
        duration = max(finished - started, 1e-6)
        since_previous = started - self._previous_start if self._previous_start is not None else None
        self._previous_start = started
        newest_event = _utc(figures.max_event_time)
        newest_ingest = _utc(figures.max_ingested_at)
        if newest_event is not None and (self.newest_event is None or newest_event > self.newest_event):
            self.newest_event = newest_event
        notified = dt.datetime.fromtimestamp(figures.notified_at, dt.UTC) if figures.notified_at is not None else None
        metrics = BatchMetrics(
            query_name=self.query_name,
            batch_id=batch_id,
            batch_time=committed,
            input_rows=input_rows,
            input_rows_per_second=input_rows / since_previous if since_previous else None,
            processed_rows_per_second=input_rows / duration,
            batch_duration_ms=round(duration * 1000),
            end_to_end_latency_seconds=(committed - newest_event).total_seconds() if newest_event else None,
            ingest_latency_seconds=(committed - newest_ingest).total_seconds() if newest_ingest else None,
            freshness_seconds=(committed - self.newest_event).total_seconds() if self.newest_event else None,
            quarantined_rows=quarantined_rows,
            quarantine_rate=quarantined_rows / input_rows if input_rows else None,
            notifications=figures.notifications,
            notification_latency_seconds=(
                (notified - newest_event).total_seconds()
                if notified and newest_event and figures.notifications
                else None
            ),
        )
        self.recent = [*self.recent[-99:], metrics]
        self.publish(metrics)
        return metrics

    def record_failure(self, batch_id: int) -> None:
        """Count one failed batch as ``PipelineFailures`` (the metric the deployed failure alarm watches)."""
        log.warning("batch %d of %s failed; counted in %s", batch_id, self.query_name, FAILURE_METRIC)
        if self.publisher is not None:
            self.publisher.publish(
                [
                    {
                        "MetricName": FAILURE_METRIC,
                        "Dimensions": [{"Name": "QueryName", "Value": self.query_name}],
                        "Timestamp": dt.datetime.fromtimestamp(self.clock(), dt.UTC),
                        "Value": 1.0,
                        "Unit": "Count",
                    }
                ]
            )

    def publish(self, metrics: BatchMetrics) -> None:
        if self.publisher is not None:
            self.publisher.publish(metrics.metric_data())
        if self.lake is not None:
            try:
                write_deltalake(
                    self.lake.uri(PIPELINE_METRICS_TABLE),
                    pa.Table.from_pylist([metrics.row()], schema=arrow_schema(PIPELINE_METRICS)),
                    mode="append",
                    storage_options=self.lake.storage_options() or None,
                )
            except (DeltaError, OSError, ValueError) as exc:
                log.warning("could not append batch %d to %s: %s", metrics.batch_id, PIPELINE_METRICS_TABLE, exc)
