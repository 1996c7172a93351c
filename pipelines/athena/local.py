"""Athena-dialect SQL run on this machine: sqlglot translates Trino SQL to DuckDB, which reads the lake.

Catalog names (``silver_orders``, or ``<database>.silver_orders``) become views over the lake's
Delta tables: ``delta_scan`` for a folder lake; for an ``s3://`` lake, a pyarrow dataset from
delta-rs, because DuckDB's S3 reader (httpfs) is not installed offline. Only queries
(``SELECT``/``WITH``) run: this is an analyst's read path, not a way to change the lake.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from pipelines.athena import DEFAULT_DATABASE, catalog_tables, named_query
from pipelines.lake import Lake, LakeError


class QueryError(RuntimeError):
    """A query cannot run; the message says why and is meant for the user as it is."""


class QuerySyntaxError(QueryError):
    """The SQL is not valid Athena (Trino) SQL, or is not a single query."""


class UnknownTableError(QueryError):
    """The SQL names a table that is not in the lake's catalog."""


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows of one query, with the DuckDB SQL it ran as."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    duckdb_sql: str

    def to_pandas(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=self.columns)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def _sqlglot() -> Any:
    try:
        import sqlglot
    except ImportError as exc:
        raise QueryError("sqlglot is not installed: pip install -e '.[local]'") from exc
    return sqlglot


def translate(sql: str, database: str = DEFAULT_DATABASE) -> tuple[str, list[str]]:
    """Trino SQL -> (DuckDB SQL, catalog tables it reads); unknown tables and non-queries are refused."""
    sqlglot = _sqlglot()
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    except (ParseError, TokenError) as exc:
        raise QuerySyntaxError(f"not valid Athena SQL: {exc}") from None
    if len(statements) != 1:
        raise QuerySyntaxError(f"expected one statement, got {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise QuerySyntaxError(f"only queries (SELECT, WITH) run here, got {tree.key.upper()}")
    known = catalog_tables()
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    used: list[str] = []
    for table in tree.find_all(exp.Table):
        name, db = table.name.lower(), table.db.lower()
        if not name or (not db and name in ctes):
            continue
        if table.catalog or (db and db != database) or name not in known:
            full = ".".join(part for part in (table.catalog, table.db, table.name) if part)
            raise UnknownTableError(f"unknown table {full!r}; tables of {database}: {', '.join(sorted(known))}")
        # Views live in DuckDB's default schema: drop the database part.
        table.set("db", None)
        if name not in used:
            used.append(name)
    return tree.sql(dialect="duckdb"), used


class LocalAthena:
    """Runs Athena-dialect queries on one lake with an embedded DuckDB; one connection per instance."""

    def __init__(self, lake: Lake, database: str = DEFAULT_DATABASE) -> None:
        from pipelines.duckdb_engine import connect

        self.lake = lake
        self.database = database
        self._connection = connect()
        # Dates are the UTC date of a timestamp, as in Athena.
        self._connection.execute("SET TimeZone = 'UTC'")
        self._registered: set[str] = set()

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> LocalAthena:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _register(self, name: str) -> None:
        if name in self._registered:
            return
        table = catalog_tables()[name]
        try:
            if self.lake.on_s3:
                dataset = self.lake.table(table).to_pyarrow_dataset()
                self._connection.register(name, dataset)
            else:
                self.lake.table(table)  # a clear error when the table is missing
                uri = self.lake.uri(table).replace("'", "''")
                self._connection.execute(f"CREATE OR REPLACE TEMP VIEW \"{name}\" AS SELECT * FROM delta_scan('{uri}')")
        except LakeError as exc:
            raise QueryError(f"table {name}: {exc}") from None
        self._registered.add(name)

    def run_named(self, name: str) -> QueryResult:
        """Run the named query ``name`` (see ``pipelines.athena.named_queries``)."""
        return self.run(named_query(name).sql)

    def run(self, sql: str) -> QueryResult:
        """Run one Athena-dialect query; :class:`QueryError` subclasses say what is wrong."""
        import duckdb

        duckdb_sql, tables = translate(sql, self.database)
        for name in tables:
            self._register(name)
        try:
            cursor = self._connection.execute(duckdb_sql)
            columns = [column[0] for column in cursor.description or []]
            rows = cursor.fetchall()
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {exc}") from None
        return QueryResult(columns, [tuple(row) for row in rows], duckdb_sql)


def _decimals(values: Sequence[Any]) -> int:
    """Decimals a float column needs (at most 4), so its values line up on the decimal point."""
    needed = 0
    for value in values:
        if isinstance(value, float) and math.isfinite(value):
            text = f"{value:.4f}".rstrip("0")
            needed = max(needed, len(text.split(".")[1]))
    return needed


def _cell(value: Any, decimals: int) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return str(value) if not math.isfinite(value) else f"{value:,.{decimals}f}"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _json_value(value: Any) -> Any:
    converted: Any = value
    if isinstance(value, dt.date | dt.datetime | dt.time):
        converted = value.isoformat()
    elif isinstance(value, Decimal):
        converted = float(value)
    elif isinstance(value, bytes):
        converted = value.hex()
    elif isinstance(value, float) and math.isnan(value):
        converted = None
    elif isinstance(value, list | tuple):
        converted = [_json_value(item) for item in value]
    elif isinstance(value, dict):
        converted = {str(key): _json_value(item) for key, item in value.items()}
    return converted


def format_result(result: QueryResult, style: str = "table", max_rows: int | None = None) -> str:
    """The result as an aligned text table, CSV or JSON lines (one object per row)."""
    rows: Sequence[tuple[Any, ...]] = result.rows if max_rows is None else result.rows[:max_rows]
    if style == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([["" if v is None else _json_value(v) for v in row] for row in rows])
        return out.getvalue().rstrip("\n")
    if style == "json":
        return "\n".join(
            json.dumps({c: _json_value(v) for c, v in zip(result.columns, row, strict=True)}) for row in rows
        )
    if style != "table":
        raise ValueError(f"unknown format {style!r}: table, csv or json")
    decimals = [_decimals([row[i] for row in rows]) for i in range(len(result.columns))]
    cells = [[_cell(v, decimals[i]) for i, v in enumerate(row)] for row in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(result.columns)]
    numeric = [
        all(isinstance(row[i], int | float | Decimal) or row[i] is None for row in rows) and bool(rows)
        for i in range(len(result.columns))
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    lines = [line(result.columns), "  ".join("-" * w for w in widths)]
    lines.extend(line(row) for row in cells)
    shown = len(rows)
    lines.append(
        f"({len(result.rows)} row{'s' if len(result.rows) != 1 else ''}"
        + (f", {shown} shown" if shown < len(result.rows) else "")
        + ")"
    )
    return "\n".join(lines)
