"""`batch forecast`: daily net cash flow per currency, 30 days ahead with intervals, and its backtest.

Usage on EMR 8 (a step, e.g. daily after ``batch kpis``; the project installed on the cluster)::

    spark-submit jobs/forecast.py --conf conf/emr.yaml --set lake.root=s3://my-lake/orders

On Glue 6: a Python shell job (or a Spark job) whose script is this file, with the job
parameters ``--conf conf/glue.yaml --set lake.root=s3://my-lake/orders``
(``--additional-python-modules`` installs the project wheel). Locally: ``orders-pipeline batch
forecast``.

It needs no Spark: ``gold/cash_flow_daily`` is days x currencies (a few thousand rows), read
through delta-rs into pandas on the driver, fitted with numpy (``pipelines.forecast``), and
written back through delta-rs. Each run replaces ``gold/cash_flow_forecast`` and appends its
backtest (the model against a weekly seasonal-naive baseline) to ``gold/forecast_backtest``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
from deltalake import write_deltalake
from deltalake.exceptions import DeltaError

from pipelines.entry import job_parser, job_settings
from pipelines.forecast import (
    BASELINE,
    ForecastConfig,
    backtest_scales,
    backtest_table,
    complete_days,
    daily_series,
    forecast_table,
)
from pipelines.lake import Lake, arrow_schema
from pipelines.schemas import CASH_FLOW_DAILY_TABLE, CASH_FLOW_FORECAST_TABLE, FORECAST_BACKTEST_TABLE, TABLES
from pipelines.settings import ForecastSettings, Settings

log = logging.getLogger(__name__)


class ForecastJobError(RuntimeError):
    """The forecast or its backtest cannot be written to the lake."""


@dataclass
class ForecastReport:
    """What `batch forecast` did: the history it saw, the models it used and the backtest's scores."""

    history_from: dt.date | None
    history_to: dt.date | None
    partial_rows_skipped: int
    models: dict[str, str]
    forecast_rows: int
    backtest: pd.DataFrame
    forecast_version: int | None = None
    backtest_version: int | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def backtest_lines(self) -> list[str]:
        """The backtest as a table: per currency, MASE / sMAPE / WAPE of the model and of seasonal naive."""
        if self.backtest.empty:
            return ["backtest: not enough history (needs more than 14 days)"]
        header = (
            f"{'currency':<8} {'model':<20} {'MASE':>6} {'sMAPE%':>7} {'WAPE%':>7} {'coverage':>8} {'scale':>5}   "
            f"{'naive MASE':>10} {'naive WAPE%':>11}  {'origins':>7} x {'days':<4}"
        )
        lines = [header, "-" * len(header)]
        for currency, rows in self.backtest.groupby("currency", sort=True):
            model = rows.loc[rows["model"] != BASELINE].iloc[0]
            naive = rows.loc[rows["model"] == BASELINE].iloc[0]
            lines.append(
                f"{currency:<8} {model['model']:<20} {_num(model['mase'], 6, 2)} {_num(model['smape'], 7, 1)} "
                f"{_num(model['wape'], 7, 1)} {_num(model['coverage'], 8, 2)} {_num(model['interval_scale'], 5, 2)}   "
                f"{_num(naive['mase'], 10, 2)} "
                f"{_num(naive['wape'], 11, 1)}  {int(model['origins']):>7} x {int(model['horizon_days']):<4}"
            )
        mase = self.mean_mase()
        if mase is not None:
            model_mase, naive_mase = mase
            lines.append(
                f"mean MASE over currencies: model {model_mase:.2f}, seasonal naive {naive_mase:.2f} "
                f"({'beats' if model_mase < naive_mase else 'does not beat'} the baseline)"
            )
        coverage = self.backtest.loc[self.backtest["model"] != BASELINE, ["coverage", "interval"]].mean()
        lines.append(
            f"interval coverage before calibration: {coverage['coverage']:.2f} (stated {coverage['interval']:.2f}); "
            "the published intervals are widened by each currency's scale"
        )
        return lines

    def mean_mase(self) -> tuple[float, float] | None:
        """Mean MASE over the currencies where both the model's and the baseline's are defined."""
        if self.backtest.empty:
            return None
        wide = self.backtest.assign(kind=(self.backtest["model"] == BASELINE).map({True: "naive", False: "model"}))
        table = wide.pivot_table(index="currency", columns="kind", values="mase", aggfunc="first").dropna()
        if table.empty or not {"model", "naive"} <= set(table.columns):
            return None
        return float(table["model"].mean()), float(table["naive"].mean())

    def lines(self) -> list[str]:
        if self.history_to is None:
            history = "no complete days of cash flow: nothing to forecast"
        else:
            history = f"history {self.history_from}..{self.history_to}"
        skipped = (
            f" ({self.partial_rows_skipped} rows of the unfinished day skipped)" if self.partial_rows_skipped else ""
        )
        by_model: dict[str, list[str]] = {}
        for currency, model in sorted(self.models.items()):
            by_model.setdefault(model, []).append(currency)
        models = "; ".join(f"{model}: {', '.join(currencies)}" for model, currencies in sorted(by_model.items()))
        return [
            f"{CASH_FLOW_DAILY_TABLE}: {history}{skipped}",
            *self.notes,
            f"{CASH_FLOW_FORECAST_TABLE}: {self.forecast_rows} rows for {len(self.models)} currencies"
            + (f" ({models})" if models else "")
            + f", version {self.forecast_version}",
            *self.backtest_lines(),
            f"{FORECAST_BACKTEST_TABLE}: {len(self.backtest)} rows appended, version {self.backtest_version}",
            f"forecast done in {self.seconds:.1f} s",
        ]


def _num(value: float | None, width: int, digits: int) -> str:
    if value is None or math.isnan(value):
        return f"{'-':>{width}}"
    return f"{value:>{width}.{digits}f}"


def config_of(settings: ForecastSettings) -> ForecastConfig:
    """The model's configuration from the `forecast` settings section."""
    return ForecastConfig(
        horizon_days=settings.horizon_days,
        interval=settings.interval,
        fit_window_days=settings.fit_window_days,
        backtest_origins=settings.backtest_origins,
        backtest_step_days=settings.backtest_step_days,
        calibrate_intervals=settings.calibrate_intervals,
    )


def _to_arrow(frame: pd.DataFrame, table: str) -> pa.Table:
    schema = arrow_schema(TABLES[table])
    if frame.empty:
        return schema.empty_table()
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)


def _write(lake: Lake, table: str, data: pa.Table, mode: str) -> int:
    try:
        write_deltalake(
            lake.uri(table),
            data,
            mode="overwrite" if mode == "overwrite" else "append",
            storage_options=lake.storage_options() or None,
        )
    except (DeltaError, OSError, ValueError) as exc:
        raise ForecastJobError(f"cannot write {lake.uri(table)}: {exc}") from exc
    return lake.table(table).version()


def run(settings: Settings, now: dt.datetime | None = None) -> ForecastReport:
    """Forecast the lake's daily net cash flow, replace gold/cash_flow_forecast, append the backtest.

    Raises :class:`pipelines.lake.LakeError` when gold/cash_flow_daily is missing and
    :class:`pipelines.forecast.ForecastError` when its rows cannot be forecast.
    """
    started = time.monotonic()
    generated_at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    config = config_of(settings.forecast)
    lake = Lake.from_settings(settings.lake)
    daily = lake.read_arrow(CASH_FLOW_DAILY_TABLE, columns=["date", "currency", "net", "updated_at"]).to_pandas()
    complete = complete_days(daily)
    series = daily_series(complete)
    scores = backtest_table(series, config, generated_at)
    forecast = forecast_table(series, config, generated_at, backtest_scales(scores))
    for table in (CASH_FLOW_FORECAST_TABLE, FORECAST_BACKTEST_TABLE):
        lake.ensure_table(table)
    report = ForecastReport(
        history_from=min((values.index[0].date() for values in series.values()), default=None),
        history_to=max((values.index[-1].date() for values in series.values()), default=None),
        partial_rows_skipped=len(daily) - len(complete),
        models={currency: str(model) for currency, model in forecast.groupby("currency")["model"].first().items()},
        forecast_rows=len(forecast),
        backtest=scores,
    )
    short = sorted(currency for currency, values in series.items() if len(values) < 2 * 7)
    if short:
        report.notes.append(f"under two weeks of history (flat recent mean used): {', '.join(short)}")
    report.forecast_version = _write(
        lake, CASH_FLOW_FORECAST_TABLE, _to_arrow(forecast, CASH_FLOW_FORECAST_TABLE), "overwrite"
    )
    report.backtest_version = (
        _write(lake, FORECAST_BACKTEST_TABLE, _to_arrow(scores, FORECAST_BACKTEST_TABLE), "append")
        if not scores.empty
        else lake.table(FORECAST_BACKTEST_TABLE).version()
    )
    report.seconds = time.monotonic() - started
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """spark-submit / Glue entry point: ``jobs/forecast.py [--conf FILE] [--set k=v ...]``."""
    _, settings = job_settings(job_parser("forecast", __doc__), argv)
    for line in run(settings).lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
