from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from support.kpi_lake import build_kpi_lake

from pipelines.athena import named_queries
from pipelines.cli import main
from pipelines.lake import Lake


@pytest.fixture(scope="session")
def kpi_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return build_kpi_lake(spark, tmp_path_factory.mktemp("kpi-lake"))


def _query(lake: Lake, *args: str) -> list[str]:
    return ["query", "--set", f"lake.root={lake.root}", *args]


@pytest.mark.spark
def test_query_prints_an_aligned_table_with_the_row_count(kpi_lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(_query(kpi_lake, "SELECT status, count(*) AS n FROM orders_lake.silver_payments GROUP BY 1 ORDER BY 1"))
    lines = capsys.readouterr().out.splitlines()

    assert code == 0
    assert lines[0].split() == ["status", "n"]
    assert set(lines[1]) == {"-", " "}
    assert [line.split()[0] for line in lines[2:4]] == ["failed", "succeeded"]
    # Numbers are right-aligned under their header.
    assert lines[2].rstrip().endswith(lines[2].split()[-1])
    assert len(lines[2]) == len(lines[3])
    assert lines[-1] == "(2 rows)"


@pytest.mark.spark
def test_query_writes_csv_and_json_lines(kpi_lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    sql = "SELECT order_date, count(*) AS orders FROM silver_orders GROUP BY 1 ORDER BY 1"
    assert main(_query(kpi_lake, sql, "--format", "csv")) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert main(_query(kpi_lake, sql, "--format", "json")) == 0
    objects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    assert len(rows) == len(objects) > 5
    assert rows[0] == {"order_date": objects[0]["order_date"], "orders": str(objects[0]["orders"])}
    assert objects[0]["order_date"] == "2026-10-18"


@pytest.mark.spark
def test_query_runs_a_named_query_and_a_file(
    kpi_lake: Lake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = next(q for q in named_queries() if q.name == "return_reasons")
    sql_file = tmp_path / "reasons.sql"
    sql_file.write_text(query.sql + ";\n", encoding="utf-8")

    assert main(_query(kpi_lake, "--named", "return_reasons")) == 0
    named = capsys.readouterr().out
    assert main(_query(kpi_lake, "--file", str(sql_file))) == 0
    from_file = capsys.readouterr().out

    assert named == from_file
    assert "reason_code" in named


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["SELECT * FROM silver_ordrs"], "unknown table 'silver_ordrs'"),
        (["SELECT FROM WHERE"], "not valid Athena SQL"),
        (["DELETE FROM silver_orders"], "only queries"),
        (["--named", "nope"], "no named query 'nope'"),
        (["--file", "/no/such/file.sql"], "cannot read /no/such/file.sql"),
        ([], "give exactly one of"),
        (["--ddl"], "lake root must be s3://"),
    ],
)
def test_query_errors_exit_1_with_one_line_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = main(["query", "--set", f"lake.root={tmp_path}", *args])
    err = capsys.readouterr().err

    assert code == 1
    assert err.startswith("orders-pipeline query: ")
    assert message in err
    assert "Traceback" not in err


def test_query_ddl_prints_one_statement_per_table_for_an_s3_lake(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["query", "--ddl", "--set", "lake.root=s3://lake-bucket/orders", "--set", "athena.database=analytics"])
    out = capsys.readouterr().out

    assert code == 0
    assert out.startswith("CREATE DATABASE IF NOT EXISTS analytics;")
    assert "LOCATION 's3://lake-bucket/orders/silver/orders/'" in out
    assert out.count("TBLPROPERTIES ('table_type' = 'DELTA');") == out.count("CREATE EXTERNAL TABLE")


def test_query_list_shows_every_named_query(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "--list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]

    assert listed == [query.name for query in named_queries()]
