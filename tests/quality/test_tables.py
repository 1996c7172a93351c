"""Batch checks on the silver snapshots, the metrics they append, and `orders-pipeline batch quality`."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from pipelines.cli import main
from pipelines.lake import Lake, arrow_schema
from pipelines.quality import QualityChecker
from pipelines.quality.tables import check_tables
from pipelines.schemas import PAYMENTS_TABLE, QUALITY_METRICS_TABLE, SILVER_PAYMENTS

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SUITES = REPO / "conf" / "expectations"
WHEN = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
AT_MOST_500 = "expect_column_values_to_be_between(amount)"


@pytest.fixture
def strict_suites(tmp_path: Path) -> Path:
    """The default suites, with payments at most 500."""
    folder = tmp_path / "suites"
    shutil.copytree(DEFAULT_SUITES, folder)
    suite = json.loads((folder / "silver_payments.json").read_text())
    for expectation in suite["expectations"]:
        if expectation["type"] == "expect_column_values_to_be_between" and expectation["kwargs"]["column"] == "amount":
            expectation["kwargs"]["max_value"] = 500
    (folder / "silver_payments.json").write_text(json.dumps(suite))
    return folder


def _lake_with_payments(root: Path, amounts: list[float]) -> Lake:
    lake = Lake(str(root))
    lake.ensure_tables()
    schema = arrow_schema(SILVER_PAYMENTS)
    rows = [
        dict.fromkeys(schema.names)
        | {
            "event_id": f"p{i}",
            "order_id": f"o{i}",
            "transaction_id": f"t{i}",
            "amount": amount,
            "currency": "EUR",
            "payment_method": "card",
            "status": "succeeded",
            "event_time": WHEN,
            "source": "stripe-eu",
            "batch_id": 0,
            "event_date": WHEN.date(),
        }
        for i, amount in enumerate(amounts)
    ]
    write_deltalake(lake.uri(PAYMENTS_TABLE), pa.Table.from_pylist(rows, schema=schema), mode="append")
    return lake


def test_a_batch_check_reports_failing_rows_and_appends_their_counts(tmp_path: Path, strict_suites: Path) -> None:
    lake = _lake_with_payments(tmp_path / "lake", [10.0, 600.0, 700.0, 20.0])

    report = check_tables(lake, checker=QualityChecker.from_folder(str(strict_suites)))

    assert not report.success
    assert report.versions[PAYMENTS_TABLE] == 1
    payments = next(r for r in report.results if r.table == PAYMENTS_TABLE)
    assert payments.failures == {"p1": (AT_MOST_500,), "p2": (AT_MOST_500,)}
    assert f"  FAILED {AT_MOST_500}: 2 of 4 rows unexpected; event_ids: p1, p2" in report.lines()
    metrics = lake.read_arrow(QUALITY_METRICS_TABLE).to_pylist()
    row = next(m for m in metrics if m["table_name"] == PAYMENTS_TABLE and m["expectation"] == AT_MOST_500)
    assert (row["run_kind"], row["run_id"], row["batch_id"]) == ("batch", report.run_id, None)
    assert (row["element_count"], row["unexpected_count"], row["success"], row["table_version"]) == (4, 2, False, 1)
    # Every silver table was checked, empty ones too.
    assert {m["table_name"] for m in metrics} == {r.table for r in report.results}
    assert len(report.results) == 5


def test_a_batch_check_reads_the_versions_it_is_given(tmp_path: Path, strict_suites: Path) -> None:
    lake = _lake_with_payments(tmp_path / "lake", [10.0])
    write_deltalake(lake.uri(PAYMENTS_TABLE), _bigger(lake), mode="append")  # version 2 fails the suite

    report = check_tables(lake, {PAYMENTS_TABLE: 1}, QualityChecker.from_folder(str(strict_suites)), record=False)

    assert report.success
    assert report.versions[PAYMENTS_TABLE] == 1
    assert lake.read_arrow(QUALITY_METRICS_TABLE).num_rows == 0


def _bigger(lake: Lake) -> pa.Table:
    rows = lake.read_arrow(PAYMENTS_TABLE).to_pylist()
    return pa.Table.from_pylist(
        [rows[0] | {"event_id": "p-big", "amount": 900.0}], schema=arrow_schema(SILVER_PAYMENTS)
    )


def test_batch_quality_exits_1_when_an_expectation_fails_and_0_when_all_pass(
    tmp_path: Path, strict_suites: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _lake_with_payments(tmp_path / "lake", [10.0, 600.0])
    common = ["--set", f"lake.root={tmp_path / 'lake'}"]

    assert main(["batch", "quality", *common, "--set", f"quality.suites={strict_suites}"]) == 1
    failed = capsys.readouterr().out
    assert "silver/payments (version 1): 2 rows, 18/19 expectations passed" in failed
    assert "FAILED" in failed

    assert main(["batch", "quality", *common, "--set", f"quality.suites={DEFAULT_SUITES}"]) == 0
    assert "passed" in capsys.readouterr().out.splitlines()[-1]


def test_batch_quality_names_a_broken_suite_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "suites"
    folder.mkdir()
    (folder / "silver_orders.json").write_text("{oops")

    code = main(["batch", "quality", "--set", f"lake.root={tmp_path}", "--set", f"quality.suites={folder}"])

    assert code == 1
    assert f"{folder / 'silver_orders.json'}: not valid JSON" in capsys.readouterr().err
