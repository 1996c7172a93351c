from __future__ import annotations

import collections
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from pipelines.forecast import (
    BASELINE,
    MODEL,
    MODEL_NO_TREND,
    MODEL_SHORT,
    ForecastConfig,
    ForecastError,
    backtest,
    backtest_origins,
    backtest_table,
    complete_days,
    daily_series,
    fit_forecast,
    forecast_table,
    huber_fit,
    interval_scale,
    seasonal_naive,
)
from pipelines.simulator import SimulationConfig, generate

WEEKLY = np.array([-120.0, -60.0, -20.0, 0.0, 40.0, 130.0, 30.0])
GENERATED_AT = dt.datetime(2026, 11, 23, 6, tzinfo=dt.UTC)


def _synthetic(days: int, rng: np.random.Generator, noise: float = 25.0, trend: float = 4.0) -> np.ndarray:
    positions = np.arange(days)
    return 1000 + trend * positions + WEEKLY[positions % 7] + rng.normal(0, noise, days)


def _truth(start: int, days: int, trend: float = 4.0) -> np.ndarray:
    positions = np.arange(start, start + days)
    return 1000 + trend * positions + WEEKLY[positions % 7]


def _frame(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": [dt.date.fromisoformat(day) for day, _, _ in rows],
            "currency": [currency for _, currency, _ in rows],
            "net": [net for _, _, net in rows],
        }
    )


# -- the model -----------------------------------------------------------------------------------


def test_model_recovers_a_known_weekly_pattern_and_trend() -> None:
    history = _synthetic(112, np.random.default_rng(1))

    forecast = fit_forecast(history, 30)

    assert forecast.model == MODEL
    assert np.max(np.abs(forecast.mean - _truth(112, 30))) < 30
    # The weekly shape itself: the forecast's day-to-day differences follow the true ones.
    detrended = forecast.mean[:7] - 4.0 * np.arange(112, 119)
    assert np.corrcoef(detrended, WEEKLY[np.arange(112, 119) % 7])[0, 1] > 0.99


def test_intervals_cover_about_the_stated_share_of_new_days() -> None:
    rng = np.random.default_rng(2)
    inside = []
    for _ in range(150):
        history = _synthetic(112, rng, noise=60.0)
        actual = _truth(112, 30) + rng.normal(0, 60.0, 30)
        forecast = fit_forecast(history, 30, interval=0.9)
        inside.extend((actual >= forecast.lower) & (actual <= forecast.upper))

    assert 0.86 <= np.mean(inside) <= 0.94


def test_a_wider_interval_is_requested_a_wider_interval_is_given() -> None:
    history = _synthetic(112, np.random.default_rng(3))

    narrow, wide = fit_forecast(history, 30, interval=0.5), fit_forecast(history, 30, interval=0.98)

    assert np.all(wide.upper - wide.lower > narrow.upper - narrow.lower)
    assert np.all(wide.lower <= wide.mean)
    assert np.all(wide.mean <= wide.upper)


def test_a_few_extreme_days_do_not_drag_the_forecast() -> None:
    history = _synthetic(112, np.random.default_rng(4), noise=10.0)
    # A burst of chargebacks on four days.
    history[[20, 55, 90, 105]] -= 20_000

    forecast = fit_forecast(history, 30)

    # Least squares would move the level by about 80,000 / 112 = 714 a day.
    assert np.max(np.abs(forecast.mean - _truth(112, 30))) < 40


def test_huber_fit_equals_least_squares_on_clean_data() -> None:
    design = np.column_stack([np.ones(7), np.arange(7.0)])
    target = 3 + 2 * np.arange(7.0)

    assert np.allclose(huber_fit(design, target), [3, 2])


def test_two_to_four_weeks_of_history_get_no_trend() -> None:
    forecast = fit_forecast(_synthetic(21, np.random.default_rng(5), trend=0.0), 30)

    assert forecast.model == MODEL_NO_TREND
    assert np.max(np.abs(forecast.mean - _truth(21, 30, trend=0.0))) < 60


def test_three_days_of_history_fall_back_to_the_recent_mean() -> None:
    forecast = fit_forecast(np.array([100.0, 140.0, 120.0]), 30)

    assert forecast.model == MODEL_SHORT
    assert np.allclose(forecast.mean, 120.0)
    assert np.all(forecast.lower < 120.0)
    assert np.all(forecast.upper > 120.0)


def test_one_day_of_history_still_gets_a_forecast_and_an_interval() -> None:
    forecast = fit_forecast(np.array([80.0]), 5)

    assert np.allclose(forecast.mean, 80.0)
    assert np.all(forecast.lower < 80.0)
    assert np.all(forecast.upper > 80.0)


@pytest.mark.parametrize("days", [3, 20, 60])
def test_an_all_zero_history_forecasts_zero_with_no_width(days: int) -> None:
    forecast = fit_forecast(np.zeros(days), 30)

    assert np.allclose(forecast.mean, 0)
    assert np.allclose(forecast.lower, 0)
    assert np.allclose(forecast.upper, 0)


def test_an_empty_history_is_an_error() -> None:
    with pytest.raises(ForecastError, match="at least one day"):
        fit_forecast(np.array([]), 30)


def test_seasonal_naive_repeats_the_last_week() -> None:
    history = np.arange(1.0, 15.0)

    assert seasonal_naive(history, 9).tolist() == [8, 9, 10, 11, 12, 13, 14, 8, 9]
    assert seasonal_naive(np.array([5.0, 6.0]), 3).tolist() == [6, 6, 6]


# -- the input -----------------------------------------------------------------------------------


def test_missing_days_are_zero_cash_flow_up_to_the_last_day_of_any_currency() -> None:
    frame = _frame(
        [
            ("2026-11-01", "EUR", 10.0),
            ("2026-11-04", "EUR", 40.0),
            ("2026-11-03", "USD", 7.0),
            ("2026-11-06", "USD", 9.0),
        ]
    )

    series = daily_series(frame)

    assert list(series) == ["EUR", "USD"]
    assert series["EUR"].tolist() == [10.0, 0.0, 0.0, 40.0, 0.0, 0.0]
    assert series["USD"].tolist() == [7.0, 0.0, 0.0, 9.0]
    assert series["EUR"].index[-1] == pd.Timestamp("2026-11-06")


def test_a_currency_with_no_rows_gets_no_forecast() -> None:
    series = daily_series(_frame([("2026-11-01", "EUR", 10.0)]))

    table = forecast_table(series, ForecastConfig(horizon_days=30), GENERATED_AT)

    assert set(table["currency"]) == {"EUR"}
    assert len(table) == 30
    assert daily_series(_frame([])) == {}
    assert forecast_table({}, ForecastConfig(), GENERATED_AT).empty


def test_one_currency_gets_one_row_per_day_ahead_with_the_bounds_around_it() -> None:
    start = dt.date(2026, 7, 1)
    values = _synthetic(84, np.random.default_rng(6))
    frame = pd.DataFrame({"date": [start + dt.timedelta(days=i) for i in range(84)], "currency": "GBP", "net": values})

    table = forecast_table(daily_series(frame), ForecastConfig(horizon_days=30, interval=0.8), GENERATED_AT)

    assert table["date"].tolist() == [start + dt.timedelta(days=84 + i) for i in range(30)]
    assert (table["net_lower"] <= table["net_forecast"]).all()
    assert (table["net_forecast"] <= table["net_upper"]).all()
    assert set(table["model"]) == {MODEL}
    assert set(table["interval"]) == {0.8}
    assert set(table["generated_at"]) == {GENERATED_AT}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("2026-11-01", "EUR", 1.0), ("2026-11-01", "EUR", 2.0)], "duplicate"),
        ([("2026-11-01", None, 1.0)], "null 'currency'"),
        ([("2026-11-01", "EUR", float("inf"))], "non-finite"),
    ],
)
def test_input_that_cannot_be_forecast_is_rejected_with_the_reason(rows: list, message: str) -> None:
    with pytest.raises(ForecastError, match=message):
        daily_series(_frame(rows))


def test_the_unfinished_day_of_the_latest_kpi_run_is_left_out() -> None:
    frame = _frame([("2026-11-21", "EUR", 10.0), ("2026-11-22", "EUR", 20.0), ("2026-11-23", "EUR", 1.0)])
    frame["updated_at"] = [
        dt.datetime(2026, 11, 22, 0, 5, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC),
    ]

    assert complete_days(frame)["net"].tolist() == [10.0, 20.0]


# -- the backtest --------------------------------------------------------------------------------


def test_origins_step_back_from_the_last_full_horizon() -> None:
    config = ForecastConfig(horizon_days=30, backtest_origins=4, backtest_step_days=7)

    assert backtest_origins(120, config) == [69, 76, 83, 90]
    # Too short for a full horizon: two weeks of training, tested on what is left.
    assert backtest_origins(30, config) == [14]
    assert backtest_origins(14, config) == []
    assert backtest_origins(120, ForecastConfig(backtest_origins=0)) == []


def test_backtest_of_a_short_history_uses_the_available_part() -> None:
    scores = backtest(_synthetic(30, np.random.default_rng(7)), ForecastConfig(horizon_days=30))

    assert {score.model for score in scores} == {MODEL_NO_TREND, BASELINE}
    assert all(score.horizon_days == 16 and score.points == 16 for score in scores)


def test_backtest_of_an_all_zero_history_has_no_undefined_numbers() -> None:
    scores = backtest(np.zeros(60), ForecastConfig())

    for score in scores:
        assert score.mase is None
        assert score.wape is None
        assert score.smape == 0.0
    assert next(score for score in scores if score.model != BASELINE).coverage == 1.0


def test_backtest_scores_the_model_better_than_naive_on_a_noisy_seasonal_series() -> None:
    scores = {
        score.model: score for score in backtest(_synthetic(120, np.random.default_rng(8), 80.0), ForecastConfig())
    }

    assert scores[MODEL].mase is not None
    assert scores[BASELINE].mase is not None
    assert scores[MODEL].mase < scores[BASELINE].mase
    assert scores[MODEL].points == 8 * 30


@pytest.fixture(scope="module")
def simulated_cash_flow() -> pd.DataFrame:
    """120 days of simulated events aggregated per UTC date and currency as the contract defines net."""
    net: dict[tuple[dt.date, str], float] = collections.defaultdict(float)
    config = SimulationConfig(events=60_000, seed=11, days=120, end_time=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    for record in generate(config):
        event = json.loads(record.data)
        when = dt.datetime.fromisoformat(event["event_time"].replace("Z", "+00:00")).astimezone(dt.UTC).date()
        kind = event["event_type"]
        if kind == "payment" and event["status"] == "succeeded":
            net[(when, event["currency"])] += event["amount"]
        elif kind == "return_order":
            net[(when, event["currency"])] -= event["refund_amount"]
        elif kind == "chargeback":
            net[(when, event["currency"])] -= event["amount"]
    return pd.DataFrame(
        {"date": [day for day, _ in net], "currency": [cur for _, cur in net], "net": list(net.values())}
    )


def test_backtest_beats_seasonal_naive_on_the_simulators_cash_flow(simulated_cash_flow: pd.DataFrame) -> None:
    scores = backtest_table(daily_series(simulated_cash_flow), ForecastConfig(), GENERATED_AT)

    wide = scores.assign(kind=np.where(scores["model"] == BASELINE, "naive", "model")).pivot(
        index="currency", columns="kind", values="mase"
    )
    assert len(wide) == 12
    assert (wide["model"] < wide["naive"]).all(), wide
    assert wide["model"].mean() < 0.85 * wide["naive"].mean()
    coverage = scores.loc[scores["model"] != BASELINE, "coverage"]
    assert 0.8 <= coverage.mean() <= 0.97


def test_intervals_calibrated_on_the_backtest_cover_the_stated_share_of_later_simulated_days(
    simulated_cash_flow: pd.DataFrame,
) -> None:
    config = ForecastConfig()
    raw, calibrated = [], []
    for values in daily_series(simulated_cash_flow).values():
        history, later = values.to_numpy()[:90], values.to_numpy()[90:]
        scale = next(score for score in backtest(history, config) if score.model != BASELINE).interval_scale
        assert scale is not None
        plain, widened = fit_forecast(history, later.size), fit_forecast(history, later.size, interval_scale=scale)
        raw.extend((later >= plain.lower) & (later <= plain.upper))
        calibrated.extend((later >= widened.lower) & (later <= widened.upper))

    assert np.mean(calibrated) >= np.mean(raw)
    assert 0.85 <= np.mean(calibrated) <= 0.95


def test_the_interval_scale_is_the_stated_quantile_of_the_misses_and_only_widens() -> None:
    misses = np.concatenate([np.full(80, 0.5), np.linspace(1.1, 2.0, 20)])

    scale = interval_scale(misses, 0.9)

    assert np.mean(misses <= scale) >= 0.9
    assert 1.5 < scale < 1.6
    assert interval_scale(np.full(100, 0.3), 0.9) == 1.0
    assert interval_scale(np.full(100, np.inf), 0.9) == 3.0
    # Too few backtest days to calibrate on.
    assert interval_scale(np.full(10, 2.0), 0.9) == 1.0
