from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake
from pyspark.sql import SparkSession
from support.kpi_lake import build_kpi_lake, expected_cash_flow, expected_daily_kpis

from pipelines.athena import named_queries
from pipelines.athena.local import LocalAthena, QueryError, QuerySyntaxError, UnknownTableError, translate
from pipelines.aws.clients import client
from pipelines.lake import Lake, arrow_schema
from pipelines.local_services import MotoServer
from pipelines.schemas import CASH_FLOW_DAILY_TABLE, CASH_FLOW_FORECAST_TABLE, DAILY_KPIS_TABLE, PAYMENTS_TABLE, TABLES

pytestmark = pytest.mark.spark


@pytest.fixture(scope="session")
def kpi_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return build_kpi_lake(spark, tmp_path_factory.mktemp("kpi-lake"))


@pytest.fixture(scope="module")
def engine(kpi_lake: Lake):  # type: ignore[no-untyped-def]
    with LocalAthena(kpi_lake) as athena:
        yield athena


def _frame(engine: LocalAthena, sql: str) -> pd.DataFrame:
    result = engine.run(sql)
    return pd.DataFrame(result.rows, columns=result.columns)


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys).reset_index(drop=True)


@pytest.mark.parametrize("query", named_queries(), ids=lambda query: query.name)
def test_every_named_query_runs_on_the_lake_and_returns_rows(engine: LocalAthena, query) -> None:  # type: ignore[no-untyped-def]
    result = engine.run(query.sql)

    assert result.rows, f"{query.name} returned nothing"
    assert len(result.columns) == len(set(result.columns))


def test_daily_kpis_query_equals_the_gold_table_and_the_pandas_oracle(engine: LocalAthena, kpi_lake: Lake) -> None:
    columns = [
        "date",
        "currency",
        "orders",
        "gross_revenue",
        "payment_attempts",
        "payment_failures",
        "payment_success_rate",
        "chargeback_rate",
        "return_rate",
        "satisfaction",
    ]
    from_query = _sorted(_frame(engine, "SELECT * FROM orders_lake.gold_daily_kpis")[columns], ["date", "currency"])
    named = _sorted(
        _frame(engine, next(q.sql for q in named_queries() if q.name == "daily_kpis")), ["date", "currency"]
    )
    gold = _sorted(kpi_lake.read_arrow(DAILY_KPIS_TABLE, columns=columns).to_pandas(), ["date", "currency"])
    oracle = _sorted(expected_daily_kpis(kpi_lake)[columns], ["date", "currency"])

    assert len(gold) > 20
    assert gold["chargeback_rate"].fillna(0).gt(0).any(), "no chargebacks: the rate is not tested"
    assert gold["return_rate"].fillna(0).gt(0).any(), "no returns: the rate is not tested"
    pd.testing.assert_frame_equal(named[columns], gold, check_dtype=False, rtol=1e-9)
    pd.testing.assert_frame_equal(oracle, gold, check_dtype=False, rtol=1e-9)
    pd.testing.assert_frame_equal(from_query, gold, check_dtype=False, rtol=1e-9)


def test_cash_flow_query_equals_the_gold_table_and_the_pandas_oracle(engine: LocalAthena, kpi_lake: Lake) -> None:
    columns = ["date", "currency", "inflow", "refunds", "chargebacks", "net"]
    named = _sorted(
        _frame(engine, next(q.sql for q in named_queries() if q.name == "cash_flow_daily")), ["date", "currency"]
    )
    gold = _sorted(kpi_lake.read_arrow(CASH_FLOW_DAILY_TABLE, columns=columns).to_pandas(), ["date", "currency"])
    oracle = _sorted(expected_cash_flow(kpi_lake)[columns], ["date", "currency"])

    assert gold["refunds"].gt(0).any()
    assert gold["chargebacks"].gt(0).any()
    pd.testing.assert_frame_equal(named[columns], gold, check_dtype=False, rtol=1e-9)
    pd.testing.assert_frame_equal(oracle, gold, check_dtype=False, rtol=1e-9)


def test_forecast_query_returns_the_gold_forecast_rows(engine: LocalAthena, kpi_lake: Lake) -> None:
    columns = ["date", "currency", "net_forecast", "net_lower", "net_upper"]
    named = _sorted(
        _frame(engine, next(q.sql for q in named_queries() if q.name == "cash_flow_forecast")), ["currency", "date"]
    )
    gold = _sorted(kpi_lake.read_arrow(CASH_FLOW_FORECAST_TABLE, columns=columns).to_pandas(), ["currency", "date"])

    assert len(gold) > 0
    pd.testing.assert_frame_equal(named[columns], gold, check_dtype=False)


def test_dates_are_utc_dates_whatever_the_local_time_zone(engine: LocalAthena, kpi_lake: Lake) -> None:
    rows = engine.run("SELECT count(*) FROM silver_payments WHERE event_date <> CAST(event_time AS DATE)").rows

    assert rows == [(0,)]


def test_an_unknown_table_is_named_with_the_known_ones(engine: LocalAthena) -> None:
    with pytest.raises(UnknownTableError, match=r"unknown table 'silver_ordrs'.*silver_orders"):
        engine.run("SELECT * FROM silver_ordrs")
    with pytest.raises(UnknownTableError, match=r"other_db\.silver_orders"):
        engine.run("SELECT * FROM other_db.silver_orders")


def test_common_table_expressions_are_not_taken_for_tables() -> None:
    sql, tables = translate("WITH recent AS (SELECT * FROM orders_lake.silver_orders) SELECT count(*) FROM recent")

    assert tables == ["silver_orders"]
    assert "orders_lake" not in sql


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELEC 1", "not valid Athena SQL|only queries"),
        ("DROP TABLE silver_orders", "only queries"),
        ("SELECT 1; SELECT 2", "expected one statement"),
    ],
)
def test_statements_that_are_not_one_query_are_refused(sql: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError, match=message):
        translate(sql)


def test_a_query_the_engine_rejects_says_why(engine: LocalAthena) -> None:
    with pytest.raises(QueryError, match="no_such_column"):
        engine.run("SELECT no_such_column FROM silver_orders")


def test_trino_functions_are_translated_for_the_local_engine(engine: LocalAthena) -> None:
    rows = engine.run(
        "SELECT count_if(status = 'failed') AS failed, approx_percentile(amount, 0.5) > 0 AS positive, "
        "date_add('day', 1, DATE '2026-01-31') AS next_day FROM silver_payments"
    ).rows

    assert rows[0][0] > 0
    assert rows[0][1] is True
    assert str(rows[0][2]).startswith("2026-02-01")


def test_an_s3_lake_is_read_through_delta_rs(moto_server: MotoServer, unique_name: str) -> None:
    bucket = unique_name[:50]
    client("s3").create_bucket(Bucket=bucket)
    lake = Lake.from_settings(_lake_settings(f"s3://{bucket}/lake"))
    lake.ensure_table(PAYMENTS_TABLE)
    rows = pa.table(
        {
            "event_id": ["e1", "e2"],
            "status": ["succeeded", "failed"],
            "amount": [10.0, 5.0],
            "currency": ["EUR", "EUR"],
        }
    )
    schema = arrow_schema(TABLES[PAYMENTS_TABLE])
    full = pa.table({f.name: rows[f.name] if f.name in rows.column_names else pa.nulls(2, f.type) for f in schema})
    write_deltalake(
        lake.uri(PAYMENTS_TABLE), full.cast(pa.schema(schema)), mode="append", storage_options=lake.storage_options()
    )

    with LocalAthena(lake) as athena:
        result = athena.run(
            "SELECT status, sum(amount) AS amount FROM orders_lake.silver_payments GROUP BY 1 ORDER BY 1"
        )

    assert result.rows == [("failed", 5.0), ("succeeded", 10.0)]


def _lake_settings(root: str):  # type: ignore[no-untyped-def]
    from pipelines.settings import LakeSettings

    return LakeSettings(root=root, checkpoints=f"{root}/_checkpoints")


def test_a_missing_table_says_to_run_setup(tmp_path: Path) -> None:
    with LocalAthena(Lake(str(tmp_path))) as athena, pytest.raises(QueryError, match="orders-pipeline setup"):
        athena.run("SELECT * FROM silver_orders")


def test_the_text_table_lines_numbers_up_on_the_decimal_point() -> None:
    from pipelines.athena.local import QueryResult, format_result

    result = QueryResult(["currency", "net", "rate"], [("EUR", 1234.5, 0.25), ("JPY", 150000.0, None)], "")

    assert format_result(result).splitlines() == [
        "currency        net  rate",
        "--------  ---------  ----",
        "EUR         1,234.5  0.25",
        "JPY       150,000.0",
        "(2 rows)",
    ]
    assert format_result(result, "csv").splitlines()[1:] == ["EUR,1234.5,0.25", "JPY,150000.0,"]
    assert format_result(result, "json").splitlines()[1] == '{"currency": "JPY", "net": 150000.0, "rate": null}'
