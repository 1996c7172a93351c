"""The Arrow engine gives GX's results: same counts, percentages, successes and rejected rows."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pipelines.lake import arrow_schema
from pipelines.quality import QualityChecker
from pipelines.quality.suites import SILVER_TABLES, load_suites
from pipelines.schemas import PAYMENTS_TABLE, TABLES

SHIPPED = str(Path(__file__).resolve().parents[2] / "conf" / "expectations")
WHEN = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)


def _pair(folder: Path, *expectations: dict[str, Any]) -> tuple[QualityChecker, QualityChecker]:
    """The same payments suite checked by the auto engine and by GX."""
    suite = {"name": "silver_payments", "expectations": list(expectations)}
    (folder / "silver_payments.json").write_text(json.dumps(suite), encoding="utf-8")
    return QualityChecker.from_folder(str(folder)), QualityChecker.from_folder(str(folder), engine="gx")


def _payments(**columns: list[Any]) -> pa.Table:
    """silver/payments rows: the given columns, the others null."""
    count = len(next(iter(columns.values())))
    schema = arrow_schema(TABLES[PAYMENTS_TABLE])
    return pa.table({f.name: pa.array(columns.get(f.name, [None] * count), f.type) for f in schema}, schema=schema)


def _compare(column: str, operator: str, parameter: Any) -> dict[str, Any]:
    return {"type": "comparison", "column": {"name": column}, "operator": operator, "parameter": parameter}


EVERY_RULE = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "currency"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "order_id"}},
    {
        "type": "expect_column_value_lengths_to_be_between",
        "kwargs": {"column": "event_id", "min_value": 1, "max_value": 3},
    },
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "amount", "min_value": 0, "max_value": 10, "mostly": 0.5},
    },
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "amount", "min_value": 1, "max_value": 5, "strict_min": True, "strict_max": True},
        "meta": {"name": "strictly_between_1_and_5"},
    },
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "currency", "regex": "^[A-Z]{3}$"}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "status", "value_set": ["failed", "succeeded"]}},
    {
        "type": "expect_column_values_to_not_be_null",
        "kwargs": {
            "column": "failure_code",
            "row_condition": _compare("status", "==", "failed"),
        },
        "meta": {"name": "failed_has_code"},
    },
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 0, "max_value": 3}},
]

TRAPS = _payments(
    event_id=["a", "bb", "cccc", "", None, "f", "ü€ß"],
    order_id=["o1", "o1", "o2", None, None, "o3", "o4"],
    amount=[1.0, -2.0, None, 20.0, float("nan"), 5.0, 3.0],
    currency=["USD", "usd", None, "EURO", "EUR", "GBP", "xEUR"],
    status=["failed", "failed", "x", None, "succeeded", "failed", "failed"],
    failure_code=["a", None, None, None, None, None, "timeout"],
)


def test_every_supported_rule_gives_gx_figures_on_rows_built_to_break_them(tmp_path: Path) -> None:
    arrow, gx = _pair(tmp_path, *EVERY_RULE)
    assert (arrow.engine(PAYMENTS_TABLE), gx.engine(PAYMENTS_TABLE)) == ("arrow", "gx")

    result = arrow.check(PAYMENTS_TABLE, TRAPS)

    assert result == gx.check(PAYMENTS_TABLE, TRAPS)
    # Not vacuous: every row-level rule rejected something, and mostly let one pass anyway.
    assert {name for names in result.failures.values() for name in names} == {
        o.expectation.name for o in result.outcomes if o.expectation.row_level
    }
    assert [o.success for o in result.outcomes].count(True) == 1


@pytest.mark.parametrize("rows", [0, 1], ids=["no rows", "one row"])
def test_an_empty_or_single_row_batch_gives_gx_figures(tmp_path: Path, rows: int) -> None:
    arrow, gx = _pair(tmp_path, *EVERY_RULE)
    table = TRAPS.slice(0, rows)

    assert arrow.check(PAYMENTS_TABLE, table) == gx.check(PAYMENTS_TABLE, table)


def _on_failed(condition: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "amount", "max_value": 2, "row_condition": condition},
        "meta": {"name": name},
    }


CONDITIONS = {
    "equal": _compare("status", "==", "failed"),
    "not_equal_keeps_nulls": _compare("status", "!=", "failed"),
    "less": _compare("amount", "<", 4.0),
    "at_least": _compare("amount", ">=", 1),
    "in": _compare("status", "IN", ["x", "succeeded"]),
    "not_in_keeps_nulls": _compare("status", "NOT_IN", ["failed"]),
    "is_null": {"type": "nullity", "column": {"name": "failure_code"}, "is_null": True},
    "and": {"type": "and", "conditions": [_compare("status", "==", "failed"), _compare("amount", ">", 0.5)]},
    "or": {
        "type": "or",
        "conditions": [
            _compare("status", "!=", "failed"),
            {"type": "nullity", "column": {"name": "currency"}, "is_null": False},
        ],
    },
}


@pytest.mark.parametrize("name", list(CONDITIONS))
def test_a_row_condition_keeps_the_rows_gx_keeps(tmp_path: Path, name: str) -> None:
    arrow, gx = _pair(tmp_path, _on_failed(CONDITIONS[name], name))
    assert arrow.engine(PAYMENTS_TABLE) == "arrow"

    assert arrow.check(PAYMENTS_TABLE, TRAPS) == gx.check(PAYMENTS_TABLE, TRAPS)


def _random_rows(table: str, count: int, seed: int) -> pa.Table:
    """Rows of ``table`` where each value is often valid and sometimes null, NaN, empty, odd or repeated."""
    rng = random.Random(seed)
    schema = arrow_schema(TABLES[table])
    texts = ["USD", "EUR", "usd", "", "card", "failed", "succeeded", "created", "Good", "Bad", "damaged", "x" * 70]
    columns: dict[str, list[Any]] = {}
    for f in schema:
        values: list[Any] = []
        for _ in range(count):
            pick = rng.random()
            if pick < 0.1:
                values.append(None)
            elif pa.types.is_string(f.type):
                values.append(rng.choice(texts) if pick < 0.6 else f"{f.name[:3]}-{rng.randrange(count)}")
            elif pa.types.is_floating(f.type):
                values.append(float("nan") if pick < 0.15 else rng.uniform(-200, 200))
            elif pa.types.is_integer(f.type):
                values.append(rng.randrange(-5, 5))
            elif pa.types.is_timestamp(f.type):
                values.append(WHEN + dt.timedelta(minutes=rng.randrange(600)))
            elif pa.types.is_date(f.type):
                values.append(WHEN.date())
            else:
                values.append(None)
        columns[f.name] = values
    # Valid rows from the suites' own sets, so in-set rules see both kinds.
    return pa.table({f.name: pa.array(columns[f.name], f.type) for f in schema}, schema=schema)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_shipped_suites_give_gx_figures_on_random_rows(seed: int) -> None:
    suites = load_suites(SHIPPED)
    arrow, gx = QualityChecker(suites), QualityChecker(suites, engine="gx")
    assert [arrow.engine(table) for table in SILVER_TABLES] == ["arrow"] * len(SILVER_TABLES)

    for table in SILVER_TABLES:
        rows = _random_rows(table, 300, seed)
        result = arrow.check(table, rows)

        assert result == gx.check(table, rows), table
        assert result.failures, f"{table}: the random rows broke no rule"


@pytest.mark.parametrize(
    "expectation",
    [
        {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "amount", "min_value": 0}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "status", "min_value": 1}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "amount", "value_set": ["1"]}},
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "failure_code", "row_condition": 'status=="failed"', "condition_parser": "pandas"},
        },
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "event_time", "min_value": "2026-01-01"}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "batch_id", "value_set": [1, 1.5]}},
    ],
    ids=[
        "another type",
        "a range on text",
        "text values of a number",
        "a pandas row condition",
        "a time range",
        "a fraction in a set of integers",
    ],
)
def test_a_suite_with_anything_the_arrow_engine_does_not_evaluate_runs_on_gx(
    tmp_path: Path, expectation: dict[str, Any]
) -> None:
    auto, _ = _pair(tmp_path, EVERY_RULE[0], expectation)

    assert auto.engine(PAYMENTS_TABLE) == "gx"


def test_an_unknown_engine_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="quality engine 'spark'"):
        QualityChecker({}, engine="spark")
