from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from jobs.forecast import run
from pipelines import cli
from pipelines.forecast import BASELINE, MODEL, MODEL_NO_TREND, MODEL_SHORT
from pipelines.lake import Lake, LakeError, arrow_schema
from pipelines.local_services import MotoServer
from pipelines.provision import ensure_bucket
from pipelines.schemas import CASH_FLOW_DAILY, CASH_FLOW_DAILY_TABLE, CASH_FLOW_FORECAST_TABLE, FORECAST_BACKTEST_TABLE
from pipelines.settings import Settings, load_settings

LAST_DAY = dt.date(2026, 11, 20)
KPI_RUN = dt.datetime(2026, 11, 21, 0, 30, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 21, 6, tzinfo=dt.UTC)


def _cash_flow_rows(updated_at: dt.datetime = KPI_RUN) -> list[dict[str, object]]:
    """EUR and USD for ten weeks (a weekly shape, a trend, a missing day), JPY for three days."""
    rows: list[dict[str, object]] = []
    for currency, level in (("EUR", 900.0), ("USD", 1500.0)):
        for back in range(70):
            day = LAST_DAY - dt.timedelta(days=back)
            if currency == "EUR" and back == 10:
                continue  # a day without cash flow has no row
            inflow = level + 3 * (70 - back) + 150 * math.sin(day.toordinal() * 2 * math.pi / 7) + 37 * (back % 3)
            rows.append(_row(day, currency, inflow, 0.05 * inflow, updated_at))
    for back in range(3):
        rows.append(_row(LAST_DAY - dt.timedelta(days=back), "JPY", 120_000.0 + 1000 * back, 0.0, updated_at))
    return rows


def _row(day: dt.date, currency: str, inflow: float, refunds: float = 0.0, updated_at: dt.datetime = KPI_RUN) -> dict:
    return {
        "date": day,
        "currency": currency,
        "inflow": inflow,
        "refunds": refunds,
        "chargebacks": 0.0,
        "net": inflow - refunds,
        "updated_at": updated_at,
    }


def _write_cash_flow(lake: Lake, rows: list[dict[str, object]]) -> None:
    lake.ensure_table(CASH_FLOW_DAILY_TABLE)
    write_deltalake(
        lake.uri(CASH_FLOW_DAILY_TABLE),
        pa.Table.from_pylist(rows, schema=arrow_schema(CASH_FLOW_DAILY)),
        mode="append",
        storage_options=lake.storage_options() or None,
    )


def _settings(root: str) -> Settings:
    return load_settings(None, [f"lake.root={root}"])


def test_forecast_job_writes_30_days_per_currency_within_their_bounds(tmp_path: Path) -> None:
    settings = _settings(str(tmp_path))
    lake = Lake.from_settings(settings.lake)
    _write_cash_flow(lake, _cash_flow_rows())

    report = run(settings, now=NOW)

    rows = lake.read_arrow(CASH_FLOW_FORECAST_TABLE).to_pylist()
    by_currency: dict[str, list[dict]] = {}
    for row in rows:
        by_currency.setdefault(row["currency"], []).append(row)
    assert sorted(by_currency) == ["EUR", "JPY", "USD"]
    for currency_rows in by_currency.values():
        assert sorted(row["date"] for row in currency_rows) == [LAST_DAY + dt.timedelta(days=i) for i in range(1, 31)]
        assert all(row["net_lower"] <= row["net_forecast"] <= row["net_upper"] for row in currency_rows)
        assert {row["interval"] for row in currency_rows} == {0.9}
        assert {row["generated_at"] for row in currency_rows} == {NOW}
    assert {row["model"] for row in by_currency["EUR"]} == {MODEL}
    assert {row["model"] for row in by_currency["JPY"]} == {MODEL_SHORT}
    assert report.forecast_rows == 90
    assert report.models == {"EUR": MODEL, "JPY": MODEL_SHORT, "USD": MODEL}
    assert "under two weeks of history (flat recent mean used): JPY" in report.lines()


def test_the_backtest_is_appended_per_run_and_the_forecast_replaced(tmp_path: Path) -> None:
    settings = _settings(str(tmp_path))
    lake = Lake.from_settings(settings.lake)
    _write_cash_flow(lake, _cash_flow_rows())

    first = run(settings, now=NOW)
    run(settings, now=NOW + dt.timedelta(days=1))

    assert lake.table(CASH_FLOW_FORECAST_TABLE).count() == 90
    backtest = lake.read_arrow(FORECAST_BACKTEST_TABLE).to_pylist()
    # EUR and USD, the model and the baseline, two runs; JPY is too short to backtest.
    assert len(backtest) == 2 * 2 * 2
    assert {row["currency"] for row in backtest} == {"EUR", "USD"}
    # The earlier origins had under four weeks of training: the model without trend made those.
    mixed = f"{MODEL_NO_TREND}+{MODEL}"
    assert {row["model"] for row in backtest} == {mixed, BASELINE}
    model_rows = [row for row in backtest if row["model"] == mixed]
    assert all(row["origins"] == 4 and row["horizon_days"] == 30 and row["points"] == 120 for row in model_rows)
    assert all(0 <= row["coverage"] <= 1 and row["mase"] > 0 for row in model_rows)
    assert all(1 <= row["interval_scale"] <= 3 for row in model_rows)
    assert any(line.startswith("mean MASE over currencies") for line in first.backtest_lines())


def test_the_unfinished_day_of_the_latest_kpi_run_is_not_forecast_from(tmp_path: Path) -> None:
    settings = _settings(str(tmp_path))
    lake = Lake.from_settings(settings.lake)
    today = LAST_DAY + dt.timedelta(days=1)
    _write_cash_flow(lake, [*_cash_flow_rows(updated_at=NOW), _row(today, "EUR", 3.0, updated_at=NOW)])

    report = run(settings, now=NOW)

    assert report.partial_rows_skipped == 1
    assert report.history_to == LAST_DAY
    dates = {row["date"] for row in lake.read_arrow(CASH_FLOW_FORECAST_TABLE).to_pylist()}
    assert min(dates) == today


def test_an_empty_cash_flow_table_gives_an_empty_forecast(tmp_path: Path) -> None:
    settings = _settings(str(tmp_path))
    lake = Lake.from_settings(settings.lake)
    lake.ensure_tables()

    report = run(settings, now=NOW)

    assert report.forecast_rows == 0
    assert lake.table(CASH_FLOW_FORECAST_TABLE).count() == 0
    assert "nothing to forecast" in report.lines()[0]


def test_a_missing_cash_flow_table_says_to_run_setup(tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="run 'orders-pipeline setup' first"):
        run(_settings(str(tmp_path)), now=NOW)


def test_batch_forecast_command_prints_the_backtest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_cash_flow(Lake(str(tmp_path)), _cash_flow_rows())

    assert cli.main(["batch", "forecast", "--set", f"lake.root={tmp_path}"]) == cli.EXIT_OK

    out = capsys.readouterr().out
    assert "gold/cash_flow_forecast: 90 rows for 3 currencies" in out
    assert "mean MASE over currencies" in out


def test_batch_forecast_command_fails_plainly_without_a_lake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["batch", "forecast", "--set", f"lake.root={tmp_path}"]) == cli.EXIT_FAILURE

    assert "gold/cash_flow_daily: run 'orders-pipeline setup' first" in capsys.readouterr().err


def test_forecast_job_reads_and_writes_an_s3_lake(moto_server: MotoServer, unique_name: str) -> None:
    ensure_bucket(unique_name)
    settings = _settings(f"s3://{unique_name}/lake")
    lake = Lake.from_settings(settings.lake)
    _write_cash_flow(lake, _cash_flow_rows())

    report = run(settings, now=NOW)

    assert report.forecast_rows == 90
    assert lake.table(CASH_FLOW_FORECAST_TABLE).count() == 90
    assert lake.table(FORECAST_BACKTEST_TABLE).count() == 4
