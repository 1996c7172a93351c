from __future__ import annotations

import pytest

from pipelines.athena import (
    AthenaError,
    UnknownNamedQueryError,
    catalog_tables,
    ddl,
    named_queries,
    named_query,
    parse_named_query,
    table_name,
)
from pipelines.schemas import GOLD_TABLES, TABLES

CONTRACT_KPI_QUERIES = ("daily_kpis", "cash_flow_daily", "cash_flow_forecast")


def test_ddl_registers_every_table_of_the_lake_as_a_delta_table() -> None:
    statements = ddl("s3a://orders-lake/prod/", "analytics")

    assert statements[0] == "CREATE DATABASE IF NOT EXISTS analytics"
    assert len(statements) == 1 + len(TABLES)
    for table, statement in zip(TABLES, statements[1:], strict=True):
        assert statement.startswith(f"CREATE EXTERNAL TABLE IF NOT EXISTS analytics.{table_name(table)}\n")
        assert f"LOCATION 's3://orders-lake/prod/{table}/'" in statement
        assert statement.endswith("TBLPROPERTIES ('table_type' = 'DELTA')")


def test_catalog_names_join_the_table_path_with_underscores() -> None:
    names = catalog_tables()

    assert names["silver_orders"] == "silver/orders"
    assert names["gold_daily_kpis"] == "gold/daily_kpis"
    assert names["quarantine_order_events"] == "quarantine/order_events"
    assert set(names.values()) == set(TABLES)


@pytest.mark.parametrize("root", ["lake", "/data/lake", "s3://", "gs://bucket/lake"])
def test_ddl_refuses_a_lake_athena_cannot_read(root: str) -> None:
    with pytest.raises(AthenaError, match="s3://bucket"):
        ddl(root)


@pytest.mark.parametrize("database", ["Orders", "orders-lake", "1lake", "lake; DROP"])
def test_ddl_refuses_a_database_name_glue_would_not_take(database: str) -> None:
    with pytest.raises(AthenaError, match="database name"):
        ddl("s3://bucket/lake", database)


def test_every_named_query_has_a_unique_name_a_description_and_one_statement() -> None:
    queries = named_queries()
    names = [query.name for query in queries]

    assert len(names) == len(set(names))
    assert set(CONTRACT_KPI_QUERIES) <= set(names)
    for query in queries:
        assert len(query.description) > 20, query.name
        assert not query.sql.rstrip().endswith(";"), query.name
        assert query.sql.count(";") == 0, query.name


def test_the_contract_kpis_and_the_catalog_kpis_have_named_queries() -> None:
    names = {query.name for query in named_queries()}

    assert {
        "payment_method_performance",
        "failed_payment_diagnostics",
        "return_reasons",
        "revenue_by_source",
        "revenue_by_region",
        "sentiment_trend",
        "quarantine_reasons",
    } <= names


def test_named_queries_read_only_tables_of_the_catalog_and_some_read_gold() -> None:
    from pipelines.athena.local import translate

    read: set[str] = set()
    for query in named_queries():
        _, tables = translate(query.sql)
        assert tables, query.name
        read.update(tables)
    assert {table_name(table) for table in GOLD_TABLES[:3]} <= read


def test_a_named_query_without_a_header_is_refused() -> None:
    with pytest.raises(AthenaError, match="lacks name, description"):
        parse_named_query("SELECT 1", "bare.sql")
    with pytest.raises(AthenaError, match="lacks description"):
        parse_named_query("-- name: only_name\nSELECT 1", "half.sql")


def test_an_unknown_named_query_lists_the_known_ones() -> None:
    with pytest.raises(UnknownNamedQueryError, match="daily_kpis"):
        named_query("no_such_query")


def test_docs_list_every_named_query() -> None:
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "athena.md").read_text(encoding="utf-8")

    assert [query.name for query in named_queries() if f"| `{query.name}` |" not in docs] == []
