"""Cash-flow forecast: daily net per currency, 30 days ahead, with prediction intervals and a backtest.

Pure functions on pandas and numpy: the series are tiny (days x currencies), so no Spark and no
model library is needed (the cluster images need nothing beyond numpy and pandas for it).

The model (``weekly_trend_huber``) is a regression of daily net on a level, a linear trend and
the day of the week, fitted with Huber weights (iteratively reweighted least squares) on the
last ``fit_window_days`` days, so a few extreme days (a burst of chargebacks, a big refund) do
not drag the whole forecast. Intervals come from the fitted residuals' empirical quantiles,
widened for the fitted parameters, the extrapolated trend and the growing volume, then
calibrated on the rolling-origin backtest; docs/forecast.md has the details and the backtest
figures against the seasonal-naive baseline.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

MODEL = "weekly_trend_huber"
# 2-4 weeks of history: a weekly pattern but too little to trust a trend 30 days out.
MODEL_NO_TREND = "weekly_level_huber"
# Under 2 weeks: not even two of each weekday; the mean of the last week, flat.
MODEL_SHORT = "recent_mean"
BASELINE = "seasonal_naive"

SEASON = 7
MIN_SEASONAL_DAYS = 2 * SEASON
MIN_TREND_DAYS = 4 * SEASON
# Below this many fitted days the residual quantiles are too coarse; a normal quantile of their spread is used.
MIN_EMPIRICAL_DAYS = 8 * SEASON
_HUBER_K = 1.345
_HUBER_ITERATIONS = 50
# Backtest-calibrated intervals: widen by at most this factor, and only with four weeks of backtest points.
MAX_INTERVAL_SCALE = 3.0
MIN_CALIBRATION_POINTS = 4 * SEASON

FORECAST_COLUMNS: tuple[str, ...] = (
    "date",
    "currency",
    "net_forecast",
    "net_lower",
    "net_upper",
    "model",
    "interval",
    "generated_at",
)
BACKTEST_COLUMNS: tuple[str, ...] = (
    "generated_at",
    "currency",
    "model",
    "origins",
    "horizon_days",
    "points",
    "mase",
    "smape",
    "wape",
    "coverage",
    "interval",
    "interval_scale",
    "history_days",
)


class ForecastError(ValueError):
    """The daily cash-flow input cannot be forecast (missing columns, null keys, duplicate days) or a bad config."""


@dataclass(frozen=True)
class ForecastConfig:
    """How far ahead, how wide, and how the model is fitted and backtested."""

    horizon_days: int = 30
    interval: float = 0.9
    fit_window_days: int = 112
    backtest_origins: int = 8
    backtest_step_days: int = 7
    calibrate_intervals: bool = True

    def __post_init__(self) -> None:
        if self.horizon_days < 1:
            raise ForecastError(f"horizon_days must be >= 1, got {self.horizon_days}")
        if not 0 < self.interval < 1:
            raise ForecastError(f"interval must be between 0 and 1, got {self.interval}")
        if self.fit_window_days < MIN_SEASONAL_DAYS:
            raise ForecastError(f"fit_window_days must be >= {MIN_SEASONAL_DAYS}, got {self.fit_window_days}")
        if self.backtest_origins < 0 or self.backtest_step_days < 1:
            raise ForecastError("backtest_origins must be >= 0 and backtest_step_days >= 1")


@dataclass(frozen=True)
class Forecast:
    """Point forecasts and interval bounds for the days after a series' last day."""

    model: str
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


@dataclass(frozen=True)
class Score:
    """Backtest accuracy of one model on one series (metrics are None where undefined)."""

    model: str
    origins: int
    horizon_days: int
    points: int
    mase: float | None
    smape: float | None
    wape: float | None
    coverage: float | None
    interval_scale: float | None = None


# -- input ---------------------------------------------------------------------------------------


def complete_days(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of days that were over at the latest KPI run: ``date`` before the UTC date of max ``updated_at``.

    A KPI run during the day writes that day's partial cash flow; fitting it as a whole day
    would pull the forecast down. Earlier days are complete: late events touching them make the
    KPI job recompute them. Without ``updated_at`` values every row is kept.
    """
    if "updated_at" not in frame.columns or frame.empty:
        return frame
    updated = pd.to_datetime(frame["updated_at"], utc=True)
    if updated.isna().all():
        return frame
    latest_run_day = updated.max().date()
    keep = pd.to_datetime(frame["date"]).dt.date < latest_run_day
    return frame.loc[keep.to_numpy()]


def daily_series(frame: pd.DataFrame, as_of: dt.date | None = None) -> dict[str, pd.Series]:
    """Daily net per currency, from the currency's first day to ``as_of`` (default: the last day of any).

    Missing days are zero cash flow. A currency without rows gets no series.
    """
    missing = {"date", "currency", "net"} - set(frame.columns)
    if missing:
        raise ForecastError(f"cash-flow input lacks columns {sorted(missing)}")
    if frame.empty:
        return {}
    for column in ("date", "currency", "net"):
        if frame[column].isna().any():
            raise ForecastError(f"cash-flow input has null {column!r} in {int(frame[column].isna().sum())} rows")
    data = pd.DataFrame(
        {
            "date": pd.to_datetime(frame["date"]).dt.normalize(),
            "currency": frame["currency"].astype(str),
            "net": frame["net"].astype(float),
        }
    )
    if not np.isfinite(data["net"].to_numpy()).all():
        raise ForecastError("cash-flow input has non-finite 'net' values")
    duplicated = data.duplicated(["date", "currency"])
    if duplicated.any():
        first = data.loc[duplicated].iloc[0]
        raise ForecastError(
            f"cash-flow input has {int(duplicated.sum())} duplicate (date, currency) rows, "
            f"e.g. {first['date'].date()} {first['currency']}"
        )
    end = pd.Timestamp(as_of) if as_of is not None else data["date"].max()
    data = data.loc[data["date"] <= end]
    series: dict[str, pd.Series] = {}
    for currency, rows in sorted(data.groupby("currency"), key=lambda item: str(item[0])):
        days = pd.date_range(rows["date"].min(), end, freq="D")
        series[str(currency)] = rows.set_index("date")["net"].reindex(days, fill_value=0.0)
    return series


# -- models --------------------------------------------------------------------------------------


def seasonal_naive(values: np.ndarray, horizon: int) -> np.ndarray:
    """Each day ahead repeats the same weekday of the last week (the last value with under a week)."""
    history = np.asarray(values, dtype=float)
    if history.size == 0:
        raise ForecastError("seasonal naive needs at least one day")
    if history.size < SEASON:
        return np.full(horizon, history[-1])
    last_week = history[-SEASON:]
    return np.array([last_week[step % SEASON] for step in range(horizon)])


def _design(positions: np.ndarray, with_trend: bool, center: float, scale: float) -> np.ndarray:
    """Level, optional trend and six effect-coded weekday columns (the seventh is minus their sum)."""
    weekday = positions % SEASON
    columns = [np.ones(positions.size)]
    if with_trend:
        columns.append((positions - center) / scale)
    for day in range(1, SEASON):
        columns.append(np.where(weekday == day, 1.0, np.where(weekday == 0, -1.0, 0.0)))
    return np.column_stack(columns)


def huber_fit(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Coefficients minimising the Huber loss (k = 1.345 robust standard deviations), by IRLS."""
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    tolerance = 1e-9 * max(1.0, float(np.abs(target).max(initial=0.0)))
    for _ in range(_HUBER_ITERATIONS):
        residuals = target - design @ coef
        scale = float(np.median(np.abs(residuals - np.median(residuals)))) / 0.6745
        if scale <= tolerance:
            break
        ratio = np.abs(residuals) / (_HUBER_K * scale)
        root = np.sqrt(np.where(ratio <= 1.0, 1.0, 1.0 / np.maximum(ratio, 1e-12)))
        updated, *_ = np.linalg.lstsq(design * root[:, None], target * root, rcond=None)
        if np.allclose(updated, coef, rtol=1e-8, atol=tolerance):
            coef = updated
            break
        coef = updated
    return np.asarray(coef, dtype=float)


def _recent_mean(history: np.ndarray, horizon: int, interval: float, interval_scale: float) -> Forecast:
    recent = history[-SEASON:]
    level = float(recent.mean())
    spread = float(history.std(ddof=1)) if history.size > 1 else abs(level)
    half = NormalDist().inv_cdf(0.5 + interval / 2) * spread * math.sqrt(1 + 1 / recent.size) * interval_scale
    mean = np.full(horizon, level)
    return Forecast(MODEL_SHORT, mean, mean - half, mean + half)


def _relative_volume(
    coef: np.ndarray, with_trend: bool, design: np.ndarray, future: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Level plus trend of each fitted and future day relative to the window's mean level (1 without trend)."""
    past, ahead = np.ones(design.shape[0]), np.ones(future.shape[0])
    if not with_trend or coef[0] <= 0:
        return past, ahead
    past_level, future_level = design[:, :2] @ coef[:2], future[:, :2] @ coef[:2]
    if past_level.min() <= 0 or future_level.min() <= 0:
        return past, ahead
    return np.clip(past_level / coef[0], 0.25, 4.0), np.clip(future_level / coef[0], 0.25, 4.0)


def fit_forecast(
    values: np.ndarray, horizon: int, interval: float = 0.9, window: int = 112, interval_scale: float = 1.0
) -> Forecast:
    """Forecast ``horizon`` days after ``values`` (one value per consecutive day, oldest first).

    Under two weeks: the mean of the last (up to) seven days, flat, with a normal interval of
    the history's spread. Two to four weeks: level and weekday, no trend. From four weeks:
    level, trend and weekday on the last ``window`` days. ``interval_scale`` widens the
    interval around the forecast (see :func:`interval_scale`).
    """
    history = np.asarray(values, dtype=float)
    if history.size == 0:
        raise ForecastError("a forecast needs at least one day of history")
    if horizon < 1:
        raise ForecastError(f"horizon must be >= 1, got {horizon}")
    if history.size < MIN_SEASONAL_DAYS:
        return _recent_mean(history, horizon, interval, interval_scale)

    fitted = history[-window:]
    first = history.size - fitted.size
    # Absolute positions keep the weekday columns aligned between the fitted and the future days.
    positions = np.arange(first, history.size, dtype=float)
    ahead = np.arange(history.size, history.size + horizon, dtype=float)
    with_trend = fitted.size >= MIN_TREND_DAYS
    center, scale = float(positions.mean()), max(1.0, float(fitted.size))
    design = _design(positions, with_trend, center, scale)
    coef = huber_fit(design, fitted)
    future = _design(ahead, with_trend, center, scale)
    mean = future @ coef

    # Daily net is a sum over orders: its spread grows with volume, roughly as the square root
    # of the trend's level. Residuals are put on the scale of the window's mean level, and the
    # future days' spread follows their level (only when the level stays positive).
    past_volume, future_volume = _relative_volume(coef, with_trend, design, future)
    residuals = (fitted - design @ coef) / np.sqrt(past_volume)
    params = design.shape[1]
    # In-sample residuals are smaller than errors on new days: correct for the fitted parameters,
    # and for the leverage of each future day (how far the trend is extrapolated).
    inflate = math.sqrt(fitted.size / (fitted.size - params))
    leverage = np.einsum("ij,jk,ik->i", future, np.linalg.pinv(design.T @ design), future)
    widen = inflate * np.sqrt(1.0 + leverage) * np.sqrt(future_volume) * interval_scale
    tail = (1.0 - interval) / 2
    if fitted.size >= MIN_EMPIRICAL_DAYS:
        low, high = np.quantile(residuals, [tail, 1.0 - tail])
    else:
        half = NormalDist().inv_cdf(1.0 - tail) * float(np.sqrt(np.mean(residuals**2)))
        low, high = -half, half
    lower = np.minimum(mean + low * widen, mean)
    upper = np.maximum(mean + high * widen, mean)
    return Forecast(MODEL if with_trend else MODEL_NO_TREND, mean, lower, upper)


# -- backtest ------------------------------------------------------------------------------------


def backtest_origins(days: int, config: ForecastConfig) -> list[int]:
    """Training lengths of the rolling origins, oldest first: every step back from the last full horizon.

    With less than two weeks plus a horizon of history, the last origin keeps two weeks of
    training and tests on what is left (a shorter horizon); under 15 days there is no backtest.
    """
    if config.backtest_origins == 0 or days <= MIN_SEASONAL_DAYS:
        return []
    last = max(MIN_SEASONAL_DAYS, days - config.horizon_days)
    origins = [last - config.backtest_step_days * k for k in range(config.backtest_origins)]
    return sorted(origin for origin in origins if origin >= MIN_SEASONAL_DAYS)


def _seasonal_scale(history: np.ndarray) -> float:
    """MASE's denominator: mean absolute weekly difference in the training days."""
    lag = SEASON if history.size > SEASON else 1
    if history.size <= lag:
        return 0.0
    return float(np.mean(np.abs(history[lag:] - history[:-lag])))


def interval_scale(misses: np.ndarray, interval: float) -> float:
    """The factor that makes ``interval`` of the backtest's actual days fall inside the model's intervals.

    ``misses`` are each backtest day's distance from the forecast in units of its interval's
    half-width on that side (1 = on the bound). Their ``interval`` quantile is the scale
    (split-conformal calibration); it only widens, up to :data:`MAX_INTERVAL_SCALE`, and needs
    :data:`MIN_CALIBRATION_POINTS` days, else 1.
    """
    if misses.size < MIN_CALIBRATION_POINTS:
        return 1.0
    return float(np.clip(np.quantile(misses, interval, method="higher"), 1.0, MAX_INTERVAL_SCALE))


def _misses(actual: np.ndarray, forecast: Forecast) -> np.ndarray:
    above = actual >= forecast.mean
    half = np.where(above, forecast.upper - forecast.mean, forecast.mean - forecast.lower)
    distance = np.abs(actual - forecast.mean)
    ratio = np.divide(distance, half, out=np.full(actual.size, np.inf), where=half > 0)
    return np.where(distance == 0, 0.0, ratio)


def backtest(values: np.ndarray, config: ForecastConfig) -> list[Score]:
    """Rolling-origin accuracy of the model and of the seasonal-naive baseline on one series.

    MASE scales each origin's absolute errors by that training window's mean absolute weekly
    difference (origins with an all-flat history are left out of it). MAPE is undefined on days
    with zero or negative net, so sMAPE (``2|e| / (|y| + |f|)``, 0 when both are 0, in percent)
    and WAPE (``sum |e| / sum |y|``, percent) stand in for it. Coverage is the share of actual
    days inside the model's uncalibrated interval; ``interval_scale`` is the calibration the
    forecast applies from these days (1 when ``config.calibrate_intervals`` is off).
    """
    history = np.asarray(values, dtype=float)
    origins = backtest_origins(history.size, config)
    if not origins:
        return []
    results: dict[str, dict[str, list[float]]] = {
        name: {"scaled": [], "errors": [], "actuals": [], "smape": [], "inside": [], "misses": []}
        for name in (MODEL, BASELINE)
    }
    model_names: set[str] = set()
    horizon = 0
    for origin in origins:
        train, test = history[:origin], history[origin : origin + config.horizon_days]
        horizon = max(horizon, test.size)
        fitted = fit_forecast(train, test.size, config.interval, config.fit_window_days)
        model_names.add(fitted.model)
        scale = _seasonal_scale(train)
        for name, predicted in ((MODEL, fitted.mean), (BASELINE, seasonal_naive(train, test.size))):
            errors = np.abs(test - predicted)
            bucket = results[name]
            if scale > 0:
                bucket["scaled"].extend(errors / scale)
            bucket["errors"].extend(errors)
            bucket["actuals"].extend(np.abs(test))
            denominator = np.abs(test) + np.abs(predicted)
            bucket["smape"].extend(2 * np.divide(errors, denominator, out=np.zeros(test.size), where=denominator > 0))
            if name == MODEL:
                bucket["inside"].extend((test >= fitted.lower) & (test <= fitted.upper))
                bucket["misses"].extend(_misses(test, fitted))
    label = "+".join(sorted(model_names))
    scores = []
    for name, bucket in results.items():
        actual_total = float(np.sum(bucket["actuals"]))
        is_model = name == MODEL
        calibration = interval_scale(np.array(bucket["misses"]), config.interval) if config.calibrate_intervals else 1.0
        scores.append(
            Score(
                model=label if is_model else BASELINE,
                origins=len(origins),
                horizon_days=horizon,
                points=len(bucket["errors"]),
                mase=float(np.mean(bucket["scaled"])) if bucket["scaled"] else None,
                smape=100 * float(np.mean(bucket["smape"])),
                wape=100 * float(np.sum(bucket["errors"])) / actual_total if actual_total > 0 else None,
                coverage=float(np.mean(bucket["inside"])) if is_model else None,
                interval_scale=calibration if is_model else None,
            )
        )
    return scores


# -- tables --------------------------------------------------------------------------------------


def forecast_table(
    series: dict[str, pd.Series],
    config: ForecastConfig,
    generated_at: dt.datetime,
    interval_scales: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """``horizon_days`` rows per currency after its last day, in the columns of gold/cash_flow_forecast.

    ``interval_scales`` (per currency, from :func:`backtest_scales`) widen the intervals; 1 where missing.
    """
    scales = interval_scales or {}
    frames = []
    for currency, values in series.items():
        fitted = fit_forecast(
            values.to_numpy(),
            config.horizon_days,
            config.interval,
            config.fit_window_days,
            scales.get(currency, 1.0),
        )
        last = values.index[-1].date()
        frames.append(
            pd.DataFrame(
                {
                    "date": [last + dt.timedelta(days=step) for step in range(1, config.horizon_days + 1)],
                    "currency": currency,
                    "net_forecast": np.round(fitted.mean, 2),
                    "net_lower": np.round(fitted.lower, 2),
                    "net_upper": np.round(fitted.upper, 2),
                    "model": fitted.model,
                    "interval": config.interval,
                    "generated_at": generated_at,
                }
            )
        )
    if not frames:
        return pd.DataFrame({column: [] for column in FORECAST_COLUMNS})
    return pd.concat(frames, ignore_index=True)[list(FORECAST_COLUMNS)]


def backtest_table(series: dict[str, pd.Series], config: ForecastConfig, generated_at: dt.datetime) -> pd.DataFrame:
    """One row per (currency, model) of the backtest, in the columns of gold/forecast_backtest."""
    rows = []
    for currency, values in series.items():
        for score in backtest(values.to_numpy(), config):
            rows.append(
                {
                    "generated_at": generated_at,
                    "currency": currency,
                    "model": score.model,
                    "origins": score.origins,
                    "horizon_days": score.horizon_days,
                    "points": score.points,
                    "mase": score.mase,
                    "smape": score.smape,
                    "wape": score.wape,
                    "coverage": score.coverage,
                    "interval": config.interval if score.model != BASELINE else None,
                    "interval_scale": score.interval_scale,
                    "history_days": len(values),
                }
            )
    return pd.DataFrame(rows, columns=list(BACKTEST_COLUMNS))


def backtest_scales(backtest: pd.DataFrame) -> dict[str, float]:
    """Per currency, the interval scale the backtest found for the model (see :func:`interval_scale`)."""
    if backtest.empty:
        return {}
    model_rows = backtest.loc[(backtest["model"] != BASELINE) & backtest["interval_scale"].notna()]
    return {str(row.currency): float(row.interval_scale) for row in model_rows.itertuples()}
