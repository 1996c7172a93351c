"""Great Expectations suites of the silver tables: one GX suite JSON file per table in one folder.

``silver/orders`` reads ``<folder>/silver_orders.json`` (the table path with ``/`` as ``_``). The
folder is local or an ``s3://`` prefix. Every expectation gets a name, used as the quarantine
reason and in the metrics table: ``meta.name`` when the suite sets it, else the expectation type
with its columns, e.g. ``expect_column_values_to_be_between(amount)``. A suite is checked when it
is loaded (JSON, GX's own parsing, columns that exist in the table, unique names), so a broken file
stops the job at start with the file named, not in the middle of a stream.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.schemas import (
    CHARGEBACKS_TABLE,
    ORDER_UPDATES_TABLE,
    ORDERS_TABLE,
    PAYMENTS_TABLE,
    RETURNS_TABLE,
    TABLES,
)

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite

    from pipelines.aws.clients import AwsEndpoint

# The tables that can have a suite, in the order they are checked and reported.
SILVER_TABLES: tuple[str, ...] = (ORDERS_TABLE, ORDER_UPDATES_TABLE, RETURNS_TABLE, PAYMENTS_TABLE, CHARGEBACKS_TABLE)

# Keyword arguments of GX expectations that name columns.
_COLUMN_KWARGS = ("column", "column_A", "column_B")
_COLUMN_LIST_KWARGS = ("column_list",)


class SuiteError(ValueError):
    """A suite file is unreadable, not a GX suite, or names columns its table does not have."""


def suite_file_name(table: str) -> str:
    """``silver/orders`` -> ``silver_orders.json``."""
    return table.replace("/", "_") + ".json"


def _table_of(file_name: str) -> str | None:
    for table in SILVER_TABLES:
        if suite_file_name(table) == file_name:
            return table
    return None


@dataclass(frozen=True)
class Expectation:
    """One expectation of a suite with the name it is reported under."""

    name: str
    type: str
    columns: tuple[str, ...]
    # Column map expectations judge each row; the others (row counts, means, ...) only the table.
    row_level: bool
    # Columns a row_condition reads: loaded for the check, not judged.
    condition_columns: tuple[str, ...] = ()
    # ``meta.quarantine: false`` reports failures without moving rows to quarantine.
    quarantine: bool = True
    # The keyword arguments as written in the file (GX's parsed ones turn conditions into objects).
    kwargs: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def quarantines_rows(self) -> bool:
        """Whether rows failing it go to quarantine: row-level, and not ``meta.quarantine: false``."""
        return self.row_level and self.quarantine


@dataclass(frozen=True)
class Suite:
    """A table's parsed GX suite, where it came from, and its named expectations (in file order)."""

    table: str
    source: str
    gx_suite: ExpectationSuite
    expectations: tuple[Expectation, ...]

    @property
    def columns(self) -> list[str]:
        """The table columns the suite reads (judged or in row conditions), in table order."""
        wanted = {
            c for expectation in self.expectations for c in (*expectation.columns, *expectation.condition_columns)
        }
        return [name for name in TABLES[self.table].fieldNames() if name in wanted]


def expectation_name(kind: str, kwargs: dict[str, Any], meta: dict[str, Any] | None) -> str:
    """The name an expectation is reported under: ``meta.name``, else ``type(column, ...)``."""
    if meta and isinstance(meta.get("name"), str) and meta["name"].strip():
        return str(meta["name"]).strip()
    columns = _columns(kwargs)
    return f"{kind}({','.join(columns)})" if columns else kind


def _columns(kwargs: dict[str, Any]) -> tuple[str, ...]:
    columns = [str(kwargs[key]) for key in _COLUMN_KWARGS if kwargs.get(key) is not None]
    for key in _COLUMN_LIST_KWARGS:
        columns.extend(str(c) for c in kwargs.get(key) or ())
    return tuple(columns)


def _condition_columns(condition: Any, known: set[str]) -> tuple[str, ...]:
    """Columns a row_condition names: GX condition objects as JSON, or (deprecated) a pandas query string."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            column = value.get("column")
            if isinstance(column, dict) and isinstance(column.get("name"), str):
                found.append(column["name"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            found.extend(word for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", value) if word in known)

    walk(condition)
    return tuple(dict.fromkeys(found))


def parse_suite(table: str, text: str, source: str) -> Suite:
    """The suite of ``table`` from the JSON ``text`` of the file ``source``; :class:`SuiteError` naming it."""
    from great_expectations.core import ExpectationSuite
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
        raise SuiteError(f"{source}: a suite is a JSON object with an 'expectations' list (GX suite format)")
    data.setdefault("name", suite_file_name(table)[: -len(".json")])
    # One by one: given a whole list, GX logs and drops an invalid expectation instead of failing.
    built = []
    for position, item in enumerate(data["expectations"], 1):
        if not isinstance(item, dict):
            raise SuiteError(f"{source}: expectation {position} is not a JSON object")
        try:
            built.append(ExpectationConfiguration(**item).to_domain_obj())
        except Exception as exc:  # GX raises many kinds for a bad expectation; all mean the same to the user
            raise SuiteError(
                f"{source}: expectation {position} ({item.get('type')}) is not a valid Great Expectations"
                f" expectation: {exc}"
            ) from exc
    try:
        gx_suite = ExpectationSuite(**{**data, "expectations": built})
    except Exception as exc:  # as above
        raise SuiteError(f"{source}: not a valid Great Expectations suite: {exc}") from exc
    if len(gx_suite.expectations) != len(built):
        raise SuiteError(f"{source}: Great Expectations dropped some expectations of the suite")
    known = set(TABLES[table].fieldNames())
    named: list[Expectation] = []
    for position, configured in enumerate(gx_suite.expectations):
        config = configured.configuration
        kwargs = dict(config.kwargs)
        columns = _columns(kwargs)
        written = dict(data["expectations"][position].get("kwargs") or {})
        raw_condition = written.get("row_condition")
        conditions = _condition_columns(raw_condition, known)
        missing = [c for c in (*columns, *conditions) if c not in known]
        name = expectation_name(config.type, kwargs, config.meta)
        if missing:
            raise SuiteError(
                f"{source}: expectation {position + 1} ({name}) names column(s) {', '.join(missing)}"
                f" that {table} does not have"
            )
        if any(e.name == name for e in named):
            raise SuiteError(f"{source}: two expectations are named {name!r}; give one a distinct meta.name")
        row_level = isinstance(configured, ColumnMapExpectation | ColumnPairMapExpectation | MulticolumnMapExpectation)
        quarantine = (config.meta or {}).get("quarantine", True) is not False
        named.append(Expectation(name, config.type, columns, row_level, conditions, quarantine, written))
    return Suite(table, source, gx_suite, tuple(named))


# A relative folder missing from the working directory is looked up in the checkout the package
# runs from, so `orders-pipeline stream` and the demo find conf/expectations from any folder.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _read_local(folder: str) -> dict[str, tuple[str, str]]:
    path = Path(folder)
    if not path.is_dir() and not path.is_absolute() and (PROJECT_ROOT / path).is_dir():
        path = PROJECT_ROOT / path
    if not path.is_dir():
        raise SuiteError(f"suite folder {folder} does not exist (setting quality.suites)")
    return {file.name: (file.read_text(encoding="utf-8"), str(file)) for file in sorted(path.glob("*.json"))}


def _read_s3(folder: str, endpoint: AwsEndpoint | None) -> dict[str, tuple[str, str]]:
    from pipelines.aws.clients import client

    bucket, _, prefix = folder[len("s3://") :].partition("/")
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    s3 = client("s3", endpoint)
    found: dict[str, tuple[str, str]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith(".json"):
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
                found[key.rsplit("/", 1)[-1]] = (body, f"s3://{bucket}/{key}")
    if not found:
        raise SuiteError(f"no suite files under {folder} (setting quality.suites)")
    return found


def load_suites(folder: str, endpoint: AwsEndpoint | None = None) -> dict[str, Suite]:
    """Table -> suite for every ``<table>.json`` in ``folder``; a silver table without a file is not checked.

    A ``.json`` file that names no silver table is an error too: a typo would silently drop a suite.
    """
    folder = folder.rstrip("/")
    if folder.startswith("s3a://"):
        folder = "s3://" + folder[len("s3a://") :]
    files = _read_s3(folder, endpoint) if folder.startswith("s3://") else _read_local(folder)
    suites: dict[str, Suite] = {}
    for file_name, (text, source) in files.items():
        table = _table_of(file_name)
        if table is None:
            expected = ", ".join(suite_file_name(t) for t in SILVER_TABLES)
            raise SuiteError(f"{source}: names no silver table (expected one of {expected})")
        suites[table] = parse_suite(table, text, source)
    return {table: suites[table] for table in SILVER_TABLES if table in suites}
