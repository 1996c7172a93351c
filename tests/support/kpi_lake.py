"""A small lake for the query, report and notebook tests: simulated events through the real writer.

The simulator's records (invalid, duplicate and late ones mixed in) go through
``LakehouseWriter`` with VADER sentiment, in two micro-batches. The gold tables come from the
batch jobs (``jobs.kpis``, ``jobs.forecast``); the pandas oracle here recomputes the contract's
gold tables from silver, independently of both the jobs and the named queries' SQL.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
from deltalake import write_deltalake
from pyspark.sql import SparkSession

from pipelines.lake import Lake, arrow_schema
from pipelines.schemas import (
    CASH_FLOW_DAILY_TABLE,
    CASH_FLOW_FORECAST_TABLE,
    CHARGEBACKS_TABLE,
    DAILY_KPIS_TABLE,
    ORDERS_TABLE,
    PAYMENTS_TABLE,
    PIPELINE_METRICS_TABLE,
    QUALITY_METRICS_TABLE,
    RAW,
    RETURNS_TABLE,
    TABLES,
)
from pipelines.settings import Settings

END_TIME = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
EVENTS = 2000
DAYS = 14.0

_built: dict[str, Lake] = {}


def build_kpi_lake(spark: SparkSession, folder: Path) -> Lake:
    """The test lake (built once per test session, whatever folder later callers pass)."""
    if "lake" in _built:
        return _built["lake"]
    from pipelines.sentiment import VaderScorer
    from pipelines.simulator.generator import SimulationConfig, generate
    from pipelines.sinks.lakehouse import LakehouseWriter
    from pipelines.transforms.sentiment import with_sentiment

    lake = Lake(str(folder))
    lake.ensure_tables()
    from lakehouse_traps import build_traps

    simulated = generate(SimulationConfig(events=EVENTS, seed=11, days=DAYS, end_time=END_TIME, bad_fraction=0.05))
    ingested = END_TIME + dt.timedelta(hours=1)
    # The contract's traps add chargebacks and returns, which the simulator makes rare in two weeks.
    traps = build_traps()
    batches = [
        [(r.data, ingested) for r in simulated] + [(r.data, r.ingested_at) for r in traps.runs[0]],
        [(r.data, r.ingested_at) for r in traps.runs[1]],
    ]
    writer = LakehouseWriter(lake, "kpi-lake", sentiment=with_sentiment(scorer=VaderScorer()))
    for batch_id, batch in enumerate(batches):
        rows = [
            (data, at, "orders", f"shard-{batch_id}", str(i).zfill(8), None, None, None)
            for i, (data, at) in enumerate(batch)
        ]
        writer(spark.createDataFrame(rows, RAW), batch_id)
    write_gold(lake, spark)
    _built["lake"] = lake
    return lake


def _frame(lake: Lake, table: str) -> pd.DataFrame:
    return lake.read_arrow(table).to_pandas()


def _write(lake: Lake, table: str, frame: pd.DataFrame) -> None:
    schema = arrow_schema(TABLES[table])
    data = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    write_deltalake(lake.uri(table), data, mode="overwrite")


def _keys(lake: Lake) -> pd.MultiIndex:
    """Every (date, currency) any silver table has: both contract tables have a row for each."""
    frames = [
        _frame(lake, ORDERS_TABLE)[["order_date", "currency"]].rename(columns={"order_date": "date"}),
        *(
            _frame(lake, table)[["event_date", "currency"]].rename(columns={"event_date": "date"})
            for table in (PAYMENTS_TABLE, RETURNS_TABLE, CHARGEBACKS_TABLE)
        ),
    ]
    keys = pd.concat(frames).dropna().drop_duplicates()
    return pd.MultiIndex.from_frame(keys, names=["date", "currency"])


def expected_daily_kpis(lake: Lake) -> pd.DataFrame:
    """gold/daily_kpis computed with pandas from the silver tables (the contract's formulas).

    Satisfaction counts the comments of the orders of the date: the order's own and its returns'.
    """
    orders = _frame(lake, ORDERS_TABLE)
    payments = _frame(lake, PAYMENTS_TABLE)
    returns = _frame(lake, RETURNS_TABLE)
    chargebacks = _frame(lake, CHARGEBACKS_TABLE)
    orders["returned"] = orders["order_id"].isin(set(returns["order_id"]))
    return_comments = returns[["order_id", "sentiment_label"]].merge(
        orders[["order_id", "order_date", "currency"]], on="order_id"
    )
    comments = pd.concat([orders[["order_date", "currency", "sentiment_label"]], return_comments])
    comments["good"] = comments["sentiment_label"].eq("Good")
    comments["bad"] = comments["sentiment_label"].eq("Bad")
    by_order = (
        orders.groupby(["order_date", "currency"])
        .agg(orders=("order_id", "count"), gross_revenue=("amount", "sum"), returned=("returned", "sum"))
        .rename_axis(["date", "currency"])
    )
    by_comment = comments.groupby(["order_date", "currency"])[["good", "bad"]].sum().rename_axis(["date", "currency"])
    payments["failed"] = payments["status"].eq("failed")
    payments["succeeded"] = payments["status"].eq("succeeded")
    by_payment = (
        payments.groupby(["event_date", "currency"])
        .agg(payment_attempts=("event_id", "count"), payment_failures=("failed", "sum"), succeeded=("succeeded", "sum"))
        .rename_axis(["date", "currency"])
    )
    by_chargeback = (
        chargebacks.groupby(["event_date", "currency"])
        .agg(chargebacks=("event_id", "count"))
        .rename_axis(["date", "currency"])
    )
    gold = (
        pd.DataFrame(index=_keys(lake))
        .join([by_order, by_comment, by_payment, by_chargeback], how="left")
        .fillna(0)
        .reset_index()
    )

    def ratio(top: pd.Series, bottom: pd.Series) -> pd.Series:
        return (top / bottom.where(bottom > 0)).astype("float64")

    gold["payment_success_rate"] = ratio(gold["payment_attempts"] - gold["payment_failures"], gold["payment_attempts"])
    gold["chargeback_rate"] = ratio(gold["chargebacks"], gold["succeeded"])
    gold["return_rate"] = ratio(gold["returned"], gold["orders"])
    gold["satisfaction"] = ratio(gold["good"], gold["good"] + gold["bad"])
    for column in ("orders", "payment_attempts", "payment_failures"):
        gold[column] = gold[column].astype("int64")
    gold["updated_at"] = pd.Timestamp(END_TIME)
    return gold.sort_values(["date", "currency"]).reset_index(drop=True)


def expected_cash_flow(lake: Lake) -> pd.DataFrame:
    """gold/cash_flow_daily computed with pandas from the silver tables (zeros where no money moved)."""
    payments = _frame(lake, PAYMENTS_TABLE)
    inflow = payments[payments["status"] == "succeeded"].groupby(["event_date", "currency"])["amount"].sum()
    refunds = _frame(lake, RETURNS_TABLE).groupby(["event_date", "currency"])["refund_amount"].sum()
    charged = _frame(lake, CHARGEBACKS_TABLE).groupby(["event_date", "currency"])["amount"].sum()
    for series in (inflow, refunds, charged):
        series.index.names = ["date", "currency"]
    gold = pd.DataFrame(index=_keys(lake)).join(
        [inflow.rename("inflow"), refunds.rename("refunds"), charged.rename("chargebacks")], how="left"
    )
    gold = gold.fillna(0.0)
    gold["net"] = gold["inflow"] - gold["refunds"] - gold["chargebacks"]
    gold = gold.reset_index()
    gold["updated_at"] = pd.Timestamp(END_TIME)
    return gold.sort_values(["date", "currency"]).reset_index(drop=True)


def expected_forecast(cash_flow: pd.DataFrame, days: int = 7) -> pd.DataFrame:
    """A naive forecast (each currency's mean net, +-2 standard deviations) for the days after the data."""
    rows = []
    last = max(cash_flow["date"])
    for currency, group in cash_flow.groupby("currency"):
        mean, spread = float(group["net"].mean()), float(group["net"].std(ddof=0) or 0.0)
        for ahead in range(1, days + 1):
            rows.append(
                {
                    "date": last + dt.timedelta(days=ahead),
                    "currency": currency,
                    "net_forecast": mean,
                    "net_lower": mean - 2 * spread,
                    "net_upper": mean + 2 * spread,
                    "model": "test-mean",
                    "interval": 0.95,
                    "generated_at": pd.Timestamp(END_TIME),
                }
            )
    return pd.DataFrame(rows)


def settings_for(lake: Lake) -> Settings:
    """Settings pointing at the test lake (defaults otherwise)."""
    return Settings().with_overrides([f"lake.root={lake.root}", f"lake.checkpoints={lake.root}/_checkpoints"])


def write_gold(lake: Lake, spark: SparkSession) -> None:
    """The gold tables, by the batch jobs (`batch kpis`, `batch forecast`)."""
    import jobs.forecast
    import jobs.kpis

    settings = settings_for(lake)
    jobs.kpis.run(settings, full=True, spark=spark)
    try:
        jobs.forecast.run(settings, now=END_TIME + dt.timedelta(days=1))
    except (AttributeError, KeyError, ValueError, RuntimeError) as exc:
        # The forecast is another job's output: its failure is that job's tests' business; the
        # queries here only need forecast rows, so the oracle's naive forecast stands in.
        warnings.warn(f"batch forecast failed ({exc!r}); the test lake uses a naive forecast", stacklevel=1)
        _write(lake, CASH_FLOW_FORECAST_TABLE, expected_forecast(expected_cash_flow(lake)))
    try:
        import jobs.quality

        jobs.quality.run(settings)
    except (AttributeError, KeyError, ValueError, RuntimeError, OSError) as exc:
        warnings.warn(f"batch quality failed ({exc!r}); the test lake uses stand-in metrics", stacklevel=1)
    if lake.table(QUALITY_METRICS_TABLE).count() == 0:
        write_quality_metrics(lake)
    write_pipeline_metrics(lake)


def write_quality_metrics(lake: Lake) -> None:
    """Two expectation results, one failed: stand-ins when the quality job wrote none."""
    at = pd.Timestamp(END_TIME + dt.timedelta(hours=1))
    rows = pd.DataFrame(
        {
            "run_kind": ["batch", "batch"],
            "run_id": ["kpi-lake", "kpi-lake"],
            "batch_id": [None, None],
            "table_name": ["silver/orders", "silver/payments"],
            "table_version": [1, 1],
            "expectation": ["amount_positive", "status_known"],
            "expectation_type": ["expect_column_values_to_be_between", "expect_column_values_to_be_in_set"],
            "column_name": ["amount", "status"],
            "row_level": [True, True],
            "success": [True, False],
            "element_count": [500, 480],
            "unexpected_count": [0, 2],
            "missing_count": [0, 0],
            "unexpected_percent": [0.0, 0.4167],
            "observed_value": [None, None],
            "evaluated_at": [at, at],
            "evaluated_date": [at.date(), at.date()],
        }
    )
    _write(lake, QUALITY_METRICS_TABLE, rows)


def write_pipeline_metrics(lake: Lake) -> None:
    """Two micro-batches' metrics: the running stream's listener writes them, the writer alone does not."""
    at = pd.Timestamp(END_TIME + dt.timedelta(hours=1))
    rows = pd.DataFrame(
        {
            "query_name": ["kpi-lake", "kpi-lake"],
            "batch_id": [0, 1],
            "batch_time": [at, at + pd.Timedelta(seconds=10)],
            "input_rows": [EVENTS, 20],
            "input_rows_per_second": [200.0, 2.0],
            "processed_rows_per_second": [180.0, 20.0],
            "batch_duration_ms": [11_000, 1_000],
            "end_to_end_latency_seconds": [12.5, 2.0],
            "ingest_latency_seconds": [1.5, 0.5],
            "freshness_seconds": [3600.0, 10.0],
            "quarantined_rows": [100, 3],
            "quarantine_rate": [100 / EVENTS, 0.15],
            "notifications": [40, 2],
            "notification_latency_seconds": [0.5, 0.4],
            "date": [at.date(), at.date()],
        }
    )
    _write(lake, PIPELINE_METRICS_TABLE, rows)


def write_oracle_gold(lake: Lake) -> None:
    """The contract's gold tables from the pandas oracle instead of the batch jobs."""
    cash_flow = expected_cash_flow(lake)
    _write(lake, DAILY_KPIS_TABLE, expected_daily_kpis(lake))
    _write(lake, CASH_FLOW_DAILY_TABLE, cash_flow)
    _write(lake, CASH_FLOW_FORECAST_TABLE, expected_forecast(cash_flow))
