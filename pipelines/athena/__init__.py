"""Athena: DDL registering the lake's Delta tables in the Glue Data Catalog, and the named queries.

Everything is generated from ``pipelines.schemas.TABLES``, so a table added there is registered
without a change here. The named queries are ``.sql`` files in Athena's dialect (Trino) shipped
as package data under ``pipelines/athena/queries``; each starts with a ``-- name:`` and a
``-- description:`` line. They name tables without a database (``silver_orders``): the named
query's database (CloudFormation ``AWS::Athena::NamedQuery.Database``) or the local engine
supplies it. ``pipelines.athena.local`` runs the same files on this machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from pipelines.schemas import TABLES

DEFAULT_DATABASE = "orders_lake"

# Glue database and table names: lower case letters, digits and underscores.
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_HEADER = re.compile(r"^--\s*(name|description):\s*(.*?)\s*$")


class AthenaError(ValueError):
    """A database name, lake root or named query file that Athena cannot take."""


class UnknownNamedQueryError(AthenaError):
    """No named query has the name asked for."""


@dataclass(frozen=True)
class NamedQuery:
    """One saved query: its name, what it answers, and its SQL in Athena's dialect."""

    name: str
    description: str
    sql: str


def table_name(table: str) -> str:
    """The catalog name of a lake table path: ``silver/orders`` -> ``silver_orders``."""
    return table.replace("/", "_").lower()


def catalog_tables() -> dict[str, str]:
    """Catalog table name -> table path relative to the lake root, for every table in ``TABLES``."""
    return {table_name(table): table for table in TABLES}


def _check_database(database: str) -> str:
    if not _NAME.match(database):
        raise AthenaError(f"database name must be lower case letters, digits and underscores, got {database!r}")
    return database


def athena_location(lake_root: str) -> str:
    """The lake root as Athena wants it: ``s3://`` (``s3a://`` is rewritten), no trailing slash."""
    root = lake_root.strip().rstrip("/")
    if root.startswith("s3a://"):
        root = "s3://" + root[len("s3a://") :]
    if not root.startswith("s3://") or len(root) <= len("s3://"):
        raise AthenaError(f"Athena reads tables on S3 only: lake root must be s3://bucket[/prefix], got {lake_root!r}")
    return root


def ddl(lake_root: str, database: str = DEFAULT_DATABASE) -> list[str]:
    """``CREATE DATABASE`` then one ``CREATE EXTERNAL TABLE`` per lake table, each safe to repeat.

    Athena reads a Delta table's columns and partitions from its transaction log, so the
    statements carry only the location and ``table_type``; a table must exist (``setup``)
    before it is registered.
    """
    root = athena_location(lake_root)
    database = _check_database(database)
    statements = [f"CREATE DATABASE IF NOT EXISTS {database}"]
    for name, table in catalog_tables().items():
        statements.append(
            f"CREATE EXTERNAL TABLE IF NOT EXISTS {database}.{name}\n"
            f"LOCATION '{root}/{table}/'\n"
            "TBLPROPERTIES ('table_type' = 'DELTA')"
        )
    return statements


def parse_named_query(text: str, origin: str = "<text>") -> NamedQuery:
    """A named query from a ``.sql`` file's text: header comments, then the SQL."""
    header: dict[str, str] = {}
    for line in text.splitlines():
        match = _HEADER.match(line)
        if match:
            header[match.group(1)] = match.group(2)
        elif line.strip() and not line.lstrip().startswith("--"):
            break
    missing = [key for key in ("name", "description") if not header.get(key)]
    if missing:
        raise AthenaError(f"{origin}: header comment lacks {', '.join(missing)} ('-- name: ...')")
    if not _NAME.match(header["name"]):
        raise AthenaError(f"{origin}: name must be lower case letters, digits and underscores")
    sql = text.strip().rstrip(";").strip()
    return NamedQuery(header["name"], header["description"], sql)


def named_queries() -> list[NamedQuery]:
    """Every named query shipped with the package, in file name order."""
    folder = resources.files("pipelines.athena") / "queries"
    found = [
        parse_named_query(entry.read_text(encoding="utf-8"), entry.name)
        for entry in sorted(folder.iterdir(), key=lambda item: item.name)
        if entry.name.endswith(".sql")
    ]
    names = [query.name for query in found]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise AthenaError(f"named queries share a name: {', '.join(duplicated)}")
    return found


def named_query(name: str) -> NamedQuery:
    """The named query called ``name``; :class:`UnknownNamedQueryError` lists the known ones."""
    queries = {query.name: query for query in named_queries()}
    try:
        return queries[name]
    except KeyError:
        raise UnknownNamedQueryError(f"no named query {name!r}; known: {', '.join(sorted(queries))}") from None
