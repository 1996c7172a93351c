"""Checking a table's rows: row-level failures by event_id, table-level results in outcomes only.

The suites here are of types the Arrow engine evaluates, except where GX itself is the subject;
tests/quality/test_arrow_engine.py holds the two engines to the same results.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.quality import QualityChecker, QualityError, quarantine_reason

WHEN = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)


def _payments(*rows: tuple[str, float, str, str | None]) -> pa.Table:
    """(event_id, amount, status, failure_code) rows of silver/payments; the other columns valid."""
    count = len(rows)
    return pa.table(
        {
            "event_id": [r[0] for r in rows],
            "order_id": ["o1"] * count,
            "transaction_id": [f"t-{r[0]}" for r in rows],
            "amount": [r[1] for r in rows],
            "currency": ["EUR"] * count,
            "payment_method": ["card"] * count,
            "status": [r[2] for r in rows],
            "failure_code": [r[3] for r in rows],
            "event_time": [WHEN] * count,
            "source": ["stripe-eu"] * count,
            "event_date": [WHEN.date()] * count,
        }
    )


def _checker(folder: Path, *expectations: dict[str, object], engine: str = "auto") -> QualityChecker:
    suite = {"name": "silver_payments", "expectations": list(expectations)}
    (folder / "silver_payments.json").write_text(json.dumps(suite), encoding="utf-8")
    return QualityChecker.from_folder(str(folder), engine=engine)


AT_MOST_500 = {"type": "expect_column_values_to_be_between", "kwargs": {"column": "amount", "max_value": 500}}


def test_each_failing_row_carries_the_names_of_the_expectations_it_failed(tmp_path: Path) -> None:
    eur_only = {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "status", "value_set": ["succeeded"]}}
    checker = _checker(tmp_path, AT_MOST_500, eur_only)

    result = checker.check(
        "silver/payments",
        _payments(
            ("ok", 10.0, "succeeded", None), ("big", 900.0, "succeeded", None), ("both", 600.0, "failed", "timeout")
        ),
    )

    assert result.failures == {
        "big": ("expect_column_values_to_be_between(amount)",),
        "both": ("expect_column_values_to_be_between(amount)", "expect_column_values_to_be_in_set(status)"),
    }
    between = result.outcomes[0]
    assert (between.success, between.element_count, between.unexpected_count) == (False, 3, 2)
    assert quarantine_reason(between.expectation.name) == "expectation:expect_column_values_to_be_between(amount)"


def test_a_table_level_expectation_is_reported_but_rejects_no_row(tmp_path: Path) -> None:
    at_most_one_row = {"type": "expect_table_row_count_to_be_between", "kwargs": {"max_value": 1}}
    checker = _checker(tmp_path, at_most_one_row)

    result = checker.check("silver/payments", _payments(("a", 1.0, "succeeded", None), ("b", 2.0, "succeeded", None)))

    assert result.failures == {}
    (outcome,) = result.outcomes
    assert not outcome.success
    assert not outcome.expectation.row_level
    assert outcome.observed_value == "2"
    assert not result.success


def test_an_expectation_marked_not_to_quarantine_only_reports(tmp_path: Path) -> None:
    checker = _checker(tmp_path, AT_MOST_500 | {"meta": {"quarantine": False}})

    result = checker.check("silver/payments", _payments(("big", 900.0, "succeeded", None)))

    assert result.failures == {}
    assert not result.outcomes[0].success


def test_the_default_payment_suite_requires_a_failure_code_on_failed_payments() -> None:
    checker = QualityChecker.from_folder(str(Path(__file__).resolve().parents[2] / "conf" / "expectations"))

    result = checker.check(
        "silver/payments",
        _payments(
            ("paid", 10.0, "succeeded", None),
            ("failed", 10.0, "failed", "card_declined"),
            ("bad", 10.0, "failed", None),
        ),
    )

    assert result.failures == {"bad": ("failed_payment_has_failure_code",)}


def test_an_expectation_gx_cannot_evaluate_stops_the_check(tmp_path: Path) -> None:
    text_compared_with_a_number = {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "currency", "min_value": 0},
    }
    checker = _checker(tmp_path, text_compared_with_a_number)

    with pytest.raises(QualityError, match=r"silver_payments.json: expect_column_values_to_be_between\(currency\)"):
        checker.check("silver/payments", _payments(("a", 1.0, "succeeded", None)))


@pytest.mark.parametrize(
    "rows",
    [
        (("a", 10.0, "succeeded", None), ("b", 20.0, "failed", "timeout")),
        (("a", 10.0, "succeeded", None), ("b", 20.0, "pending", None), ("c", 30.0, "failed", None)),
        (("a", 10.0, "succeeded", None), ("big", 900.0, "succeeded", None), ("c", 30.0, "pending", None)),
    ],
    ids=["all pass", "only reported failures", "a row to quarantine"],
)
def test_the_counts_only_check_reports_what_the_complete_check_reports(
    tmp_path: Path, rows: tuple[tuple[str, float, str, str | None], ...]
) -> None:
    """The fast path (GX's BASIC format, COMPLETE only when a row must be quarantined) changes no figure."""
    only_known = {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "status", "value_set": ["succeeded", "failed"]},
    }
    reported_only = only_known | {"meta": {"quarantine": False}}
    rows_between = {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": 2}}
    checker = _checker(tmp_path, AT_MOST_500, reported_only, rows_between, engine="gx")
    table = _payments(*rows)

    fast = checker.check("silver/payments", table)
    complete = checker.check_frame("silver/payments", table.select(checker.columns("silver/payments")).to_pandas())

    assert fast == complete
