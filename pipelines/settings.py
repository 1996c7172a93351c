"""Typed settings: one object loaded from a YAML file in ``conf/`` plus ``--set`` overrides.

Jobs load it once and pass its values down; transformations never read settings or the
environment themselves. The contract fixes the keys ``lake.root``, ``lake.checkpoints``,
``source.*`` (kind, stream, starting_position, kafka_bootstrap, kafka_topic) and
``alerts.topic``; everything else is documented in ``docs/settings.md``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_CONF = Path("conf/local.yaml")


class SettingsError(ValueError):
    """A settings file or override is unreadable, names an unknown key or has a bad value."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _parse_starting_position(value: str) -> str:
    upper = value.strip().upper()
    if upper in ("TRIM_HORIZON", "LATEST", "EARLIEST"):
        return "TRIM_HORIZON" if upper == "EARLIEST" else upper
    try:
        stamp = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            "must be TRIM_HORIZON, LATEST or an RFC 3339 timestamp with an offset "
            f"(e.g. 2026-11-20T10:00:00Z), got {value!r}"
        ) from None
    if stamp.tzinfo is None:
        raise ValueError(f"timestamp {value!r} needs an offset, e.g. 2026-11-20T10:00:00Z")
    return value.strip()


class LakeSettings(_Section):
    """Where the Delta tables and the streaming checkpoints live."""

    root: str = "lake"
    checkpoints: str = "lake/_checkpoints"
    order_lookback_days: int = Field(
        90, ge=1, description="how far before an update's event date its order may lie (bounds the orders MERGE)"
    )
    compact_every: int = Field(
        20, ge=0, description="the stream compacts the partitions it touched every N micro-batches (0 = never)"
    )
    vacuum_retention_hours: int = Field(
        168, ge=24, description="`batch maintenance` deletes unreferenced files older than this"
    )

    @field_validator("root", "checkpoints")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.rstrip("/") if value not in ("/",) else value

    @property
    def on_s3(self) -> bool:
        return self.root.startswith(("s3://", "s3a://"))


class SourceSettings(_Section):
    """The stream the pipeline reads: Kinesis in production, Kafka locally or on MSK."""

    kind: Literal["kinesis", "kafka"] = "kinesis"
    stream: str = "orders-events"
    shards: int = Field(4, ge=1, le=10_000, description="shard count `setup` creates the stream with")
    starting_position: str = "TRIM_HORIZON"
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_topic: str = "orders-events"
    kafka_partitions: int = Field(4, ge=1, le=10_000)
    kafka_reader: Literal["python", "native"] = Field(
        "python", description="python = this project's 'pykafka' reader; native = Spark's 'kafka' format, where present"
    )
    max_records_per_partition: int = Field(
        20_000, ge=1, description="per-trigger cap per shard or partition (backpressure)"
    )
    max_read_tasks: int | None = Field(
        2,
        ge=1,
        description="at most this many Spark tasks read a micro-batch, several shards or partitions "
        "one after another in a task (the cores, where there are more partitions than cores); "
        "none = one task per shard or partition. The project's readers only, not source.kafka_reader=native",
    )
    options: dict[str, str] = Field(
        default_factory=dict,
        description="extra reader options passed through as they are, e.g. Kafka SASL/TLS for MSK",
    )

    @field_validator("starting_position")
    @classmethod
    def _valid_position(cls, value: str) -> str:
        return _parse_starting_position(value)


class AlertsSettings(_Section):
    """Where notifications are published."""

    topic: str = "orders-pipeline-alerts"


class SparkSettings(_Section):
    """Spark session settings for local runs; on EMR and Glue the cluster's own settings win."""

    master: str | None = "local[2]"
    shuffle_partitions: int = Field(4, ge=1)
    driver_memory: str | None = "1536m"
    conf: dict[str, str] = Field(default_factory=dict)


class StreamSettings(_Section):
    """The streaming query."""

    trigger: str = "processing-time=10 seconds"
    query_name: str = "orders-stream"
    small_batch_partitions: int | None = Field(
        2,
        ge=1,
        description="shuffle partitions of a micro-batch after a small one (at most 50,000 records), "
        "as many as the cores (local[2]: 2); none = spark.shuffle_partitions",
    )

    @field_validator("trigger")
    @classmethod
    def _valid_trigger(cls, value: str) -> str:
        text = value.strip()
        if text == "available-now" or (text.startswith("processing-time=") and text.split("=", 1)[1].strip()):
            return text
        raise ValueError(f"must be 'available-now' or 'processing-time=<duration>', got {value!r}")


class ProducerSettings(_Section):
    """Defaults of `orders-pipeline produce`; its command-line flags override them."""

    seed: int = 7
    events: int = Field(10_000, ge=0)
    days: float = Field(30.0, gt=0)
    rate: float | None = Field(None, gt=0, description="events per second; none = as fast as possible")
    bad_fraction: float = Field(0.0, ge=0, le=1)
    batch_size: int = Field(500, ge=1, le=500, description="records per Kinesis PutRecords call")


class DemoSettings(_Section):
    """What `orders-pipeline demo` generates."""

    events: int = Field(20_000, ge=1)
    days: float = Field(30.0, gt=0)
    bad_fraction: float = Field(0.02, ge=0, le=1)


class SentimentSettings(_Section):
    """How comments are scored (see docs/sentiment.md); labels always follow the contract's thresholds."""

    scorer: Literal["vader", "comprehend", "bedrock"] = "vader"
    max_chars: int = Field(1000, ge=1, le=100_000, description="longer comments are cut before scoring")
    language_code: str = Field("en", description="Comprehend LanguageCode")
    comprehend_batch_size: int = Field(25, ge=1, le=25, description="comments per BatchDetectSentiment call")
    max_attempts: int = Field(5, ge=1, le=20, description="attempts for Comprehend documents that fail internally")
    bedrock_model_id: str = "anthropic.claude-3-haiku-20240307-v1:0"
    bedrock_batch_size: int = Field(20, ge=1, le=200, description="comments per InvokeModel prompt")
    bedrock_max_tokens: int = Field(1024, ge=16)


def _default_high_value_thresholds() -> dict[str, float]:
    # Roughly USD 1,000 in each currency the simulator sells in.
    return {
        "USD": 1000.0,
        "EUR": 900.0,
        "GBP": 800.0,
        "CHF": 900.0,
        "SEK": 10000.0,
        "PLN": 4000.0,
        "CAD": 1350.0,
        "AUD": 1500.0,
        "JPY": 150000.0,
        "INR": 80000.0,
        "BRL": 5000.0,
        "MXN": 17000.0,
    }


class NotificationSettings(_Section):
    """Notification rules' thresholds, the once-only ledger and publishing (see docs/notifications.md)."""

    enabled: bool = True
    high_value_thresholds: dict[str, float] = Field(
        default_factory=_default_high_value_thresholds,
        description="order amount at or above which high_value_order fires, per currency (others: never)",
    )
    stalled_minutes: int = Field(60, ge=1, description="minutes after the order with no successful payment")
    stalled_minutes_by_payment_method: dict[str, int] = Field(
        default_factory=lambda: {"bank_transfer": 4320}, description="slower methods get their own wait"
    )
    stalled_exempt_payment_methods: list[str] = Field(
        default_factory=lambda: ["cash_on_delivery"], description="methods paid after delivery: never stalled"
    )
    stalled_lookback_hours: int = Field(168, ge=1, description="orders older than this are not checked")
    fraud_failure_codes: list[str] = Field(default_factory=lambda: ["fraud_suspected"])
    fraud_failed_attempts: int = Field(3, ge=2, description="failed payments of one order that look like fraud")
    fraud_distance_km: float = Field(1000.0, gt=0, description="order this far from every earlier one is suspect")
    fraud_min_history_orders: int = Field(2, ge=1, description="earlier orders needed before distance counts")
    fraud_velocity_orders: int = Field(5, ge=2, description="orders of one customer within the window")
    fraud_velocity_minutes: int = Field(60, ge=1)
    return_window_days: int = Field(30, ge=0, description="return window of categories not listed below")
    return_window_days_by_category: dict[str, int] = Field(
        default_factory=lambda: {"electronics": 14, "beauty": 14, "grocery": 7}
    )
    return_review_reasons: list[str] = Field(default_factory=lambda: ["other"])
    return_review_on_bad_sentiment: bool = True
    max_comment_chars: int = Field(500, ge=0, description="comments in notifications are cut to this length")
    ledger_table: str = Field("orders-pipeline-notifications", description="DynamoDB table of what was sent")
    ledger_retention_days: int = Field(400, ge=0, description="sent entries expire after this (0 = never)")
    lease_seconds: float = Field(120.0, gt=0, description="a claimed entry another run may not take over")
    publish_max_attempts: int = Field(5, ge=1, le=50)
    publish_backoff_seconds: float = Field(0.5, ge=0, description="first retry delay; doubles, capped at 30 s")
    publish_rate: float = Field(200.0, ge=0, description="messages per second at most (0 = no limit)")
    digest_threshold: int = Field(50, ge=1, description="above this many of one type in a batch, send digests")
    digest_size: int = Field(50, ge=1, le=500, description="notifications per digest message")


# How the quality checker evaluates a suite (``pipelines.quality.checker.QualityChecker``).
QualityEngine = Literal["auto", "gx"]


class QualitySettings(_Section):
    """Data-quality suites on the silver tables (see docs/quality.md)."""

    enabled: bool = True
    suites: str = Field("conf/expectations", description="folder of the suites, one <table>.json per silver table")
    on_stream: bool = Field(True, description="check each micro-batch; failing rows go to quarantine")
    on_batch: bool = Field(True, description="`batch quality` and the batch jobs check the silver snapshots")
    engine: QualityEngine = Field(
        "auto", description="auto: suites of the common expectation types run on Arrow, the others on GX; gx: all on GX"
    )
    sample_rows: int = Field(20, ge=0, le=10_000, description="failing event_ids a batch check lists per expectation")


class ForecastSettings(_Section):
    """`batch forecast`: the daily net cash-flow forecast and its backtest (see docs/forecast.md)."""

    horizon_days: int = Field(30, ge=1, le=366, description="days ahead forecast per currency")
    interval: float = Field(0.9, gt=0, lt=1, description="coverage of the prediction interval")
    fit_window_days: int = Field(112, ge=14, description="the model is fitted on the latest this many days")
    backtest_origins: int = Field(8, ge=0, le=100, description="rolling origins of the backtest (0 = none)")
    backtest_step_days: int = Field(7, ge=1, description="days between backtest origins")
    calibrate_intervals: bool = Field(
        True, description="widen the intervals so the backtest's days would have had the stated coverage"
    )


class AthenaSettings(_Section):
    """Athena: the Glue database the lake's tables are registered in (see docs/athena.md)."""

    database: str = Field(
        "orders_lake", pattern=r"^[a-z_][a-z0-9_]*$", description="Glue/Athena database of the lake's tables"
    )


class ReportSettings(_Section):
    """`batch report`: the static HTML report (see docs/report.md)."""

    output: str | None = Field(
        None,
        description="report file (path or s3:// URI); none = report.html beside a folder lake, "
        "<lake.root>/reports/report.html on S3",
    )
    max_map_points: int = Field(5000, ge=0, le=100_000, description="orders drawn on the map at most (a sample)")


class MonitoringSettings(_Section):
    """The stream's own metrics (see docs/kpis.md): CloudWatch and the gold/pipeline_metrics table."""

    enabled: bool = True
    namespace: str = Field("OrdersPipeline", min_length=1, description="CloudWatch namespace of the metrics")
    metrics_table: bool = Field(True, description="also append each batch's figures to gold/pipeline_metrics")


class Settings(_Section):
    """All settings of the pipeline."""

    lake: LakeSettings = Field(default_factory=LakeSettings)
    source: SourceSettings = Field(default_factory=SourceSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    producer: ProducerSettings = Field(default_factory=ProducerSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    sentiment: SentimentSettings = Field(default_factory=SentimentSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    athena: AthenaSettings = Field(default_factory=AthenaSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    forecast: ForecastSettings = Field(default_factory=ForecastSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)

    def with_overrides(self, overrides: Sequence[str]) -> Settings:
        """A copy with ``dotted.key=value`` overrides applied and validated."""
        raw = self.model_dump()
        for item in overrides:
            _apply_override(raw, item)
        return _validate(raw, "overrides")


class _NoTimestampLoader(yaml.SafeLoader):
    """YAML that keeps timestamps as strings: settings values are validated by the model."""


_NoTimestampLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _yaml_value(text: str) -> Any:
    if not text.strip():
        return ""
    try:
        return yaml.load(text, Loader=_NoTimestampLoader)
    except yaml.YAMLError as exc:
        raise SettingsError(f"cannot parse value {text!r}: {exc}") from None


def _section_model(annotation: Any) -> type[BaseModel] | None:
    candidates = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _is_mapping_field(annotation: Any) -> bool:
    return typing.get_origin(annotation) is dict


def _apply_override(raw: dict[str, Any], item: str) -> None:
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SettingsError(f"--set needs dotted.key=value, got {item!r}")
    parts = key.split(".")
    model: type[BaseModel] = Settings
    node = raw
    for depth, part in enumerate(parts):
        fields = model.model_fields
        if part not in fields:
            raise SettingsError(_unknown_key_message(".".join(parts[: depth + 1]), model, parts[:depth]))
        annotation = fields[part].annotation
        last = depth == len(parts) - 1
        sub_model = _section_model(annotation)
        if last:
            if sub_model is not None:
                example = next(iter(sub_model.model_fields))
                raise SettingsError(f"{key!r} is a section; set one of its keys, e.g. {key}.{example}=...")
            node[part] = _yaml_value(value)
            return
        if _is_mapping_field(annotation):
            node.setdefault(part, {})
            node[part][".".join(parts[depth + 1 :])] = str(_yaml_value(value))
            return
        if sub_model is None:
            raise SettingsError(f"{'.'.join(parts[: depth + 1])!r} is a value, not a section (in {key!r})")
        node = node.setdefault(part, {})
        model = sub_model


def _unknown_key_message(key: str, model: type[BaseModel], prefix: Sequence[str]) -> str:
    known = [".".join([*prefix, name]) for name in model.model_fields]
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
    return f"unknown setting {key!r}{hint}"


def _validate(raw: Mapping[str, Any], origin: str) -> Settings:
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = ".".join(str(part) for part in error["loc"])
            if error["type"] == "extra_forbidden":
                section = _model_at(error["loc"][:-1])
                lines.append(_unknown_key_message(loc, section, [str(p) for p in error["loc"][:-1]]))
            else:
                message = error["msg"]
                if "got" not in message:
                    message += f" (got {error.get('input')!r})"
                lines.append(f"setting {loc}: {message}")
        raise SettingsError(f"invalid settings in {origin}:\n  " + "\n  ".join(lines)) from None


def _model_at(loc: Sequence[Any]) -> type[BaseModel]:
    model: type[BaseModel] = Settings
    for part in loc:
        field = model.model_fields.get(str(part))
        sub = _section_model(field.annotation) if field else None
        if sub is None:
            break
        model = sub
    return model


def load_settings(conf: str | Path | None = None, overrides: Sequence[str] = ()) -> Settings:
    """Load settings from a YAML file and apply ``dotted.key=value`` overrides.

    With no file named, ``conf/local.yaml`` is used when it exists (run from a checkout) and
    the built-in defaults, which equal it, otherwise.
    """
    path = Path(conf) if conf is not None else DEFAULT_CONF
    raw: Any = {}
    if path.exists():
        try:
            raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_NoTimestampLoader) or {}
        except yaml.YAMLError as exc:
            raise SettingsError(f"cannot parse settings file {path}: {exc}") from None
        if not isinstance(raw, dict):
            raise SettingsError(f"settings file {path} must hold a mapping of sections, got {type(raw).__name__}")
    elif conf is not None:
        raise SettingsError(f"settings file not found: {path}")
    settings = _validate(raw, str(path) if path.exists() else "defaults")
    return settings.with_overrides(overrides) if overrides else settings
