"""Loading the suite files: the shipped defaults, and clear errors for broken files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.quality import SILVER_TABLES, SuiteError, load_suites
from pipelines.quality.suites import suite_file_name

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SUITES = REPO / "conf" / "expectations"


def _write(folder: Path, name: str, content: str | dict[str, object]) -> Path:
    path = folder / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def _suite(*expectations: dict[str, object]) -> dict[str, object]:
    return {"name": "silver_payments", "expectations": list(expectations)}


def test_every_silver_table_has_a_default_suite_with_named_expectations() -> None:
    suites = load_suites(str(DEFAULT_SUITES))

    assert tuple(suites) == SILVER_TABLES
    names = [e.name for e in suites["silver/payments"].expectations]
    assert "expect_column_values_to_be_between(amount)" in names
    assert "failed_payment_has_failure_code" in names
    # The row condition's column is loaded even though no expectation judges it alone.
    assert "status" in suites["silver/payments"].columns


def test_suite_files_are_named_after_their_tables() -> None:
    assert suite_file_name("silver/order_updates") == "silver_order_updates.json"


def test_a_file_that_is_not_json_is_reported_with_its_path_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "silver_payments.json", '{"name": "x",\n "expectations": [,]}')

    with pytest.raises(SuiteError, match=rf"{path}: not valid JSON \(line 2"):
        load_suites(str(tmp_path))


def test_an_unknown_expectation_type_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "silver_payments.json", _suite({"type": "expect_the_moon", "kwargs": {}}))

    with pytest.raises(SuiteError, match=rf"{path}: expectation 1 \(expect_the_moon\) is not a valid"):
        load_suites(str(tmp_path))


def test_a_column_the_table_does_not_have_is_named_with_the_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "silver_payments.json",
        _suite({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "amout"}}),
    )

    with pytest.raises(SuiteError, match=rf"{path}: expectation 1 .* names column\(s\) amout that silver/payments"):
        load_suites(str(tmp_path))


def test_two_expectations_with_one_name_are_rejected(tmp_path: Path) -> None:
    between = {"type": "expect_column_values_to_be_between", "kwargs": {"column": "amount", "min_value": 0}}
    _write(
        tmp_path, "silver_payments.json", _suite(between, between | {"kwargs": {"column": "amount", "max_value": 9}})
    )

    with pytest.raises(SuiteError, match="two expectations are named 'expect_column_values_to_be_between"):
        load_suites(str(tmp_path))


def test_a_file_named_after_no_silver_table_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "silver_payment.json", _suite())

    with pytest.raises(SuiteError, match=r"silver_payment\.json: names no silver table"):
        load_suites(str(tmp_path))


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="does not exist"):
        load_suites(str(tmp_path / "nowhere"))


def test_suites_load_from_an_s3_prefix(moto_server: object, unique_name: str) -> None:
    from pipelines.aws.clients import client

    s3 = client("s3")
    s3.create_bucket(Bucket=unique_name)
    body = (DEFAULT_SUITES / "silver_payments.json").read_bytes()
    s3.put_object(Bucket=unique_name, Key="conf/expectations/silver_payments.json", Body=body)

    suites = load_suites(f"s3://{unique_name}/conf/expectations/")

    assert list(suites) == ["silver/payments"]
    assert suites["silver/payments"].source == f"s3://{unique_name}/conf/expectations/silver_payments.json"
