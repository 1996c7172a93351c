"""The stream's quality check inside the lake writer: real Spark, real Delta tables, real GX."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from lakehouse_traps import INGESTED, Record, actual_tables, build_traps, expected_tables
from pyspark.sql import DataFrame, SparkSession

from pipelines.lake import Lake
from pipelines.quality import QualityChecker
from pipelines.schemas import (
    BRONZE_TABLE,
    ORDERS_TABLE,
    PAYMENTS_TABLE,
    QUALITY_METRICS_TABLE,
    QUARANTINE_TABLE,
    RAW,
    TABLES,
)
from pipelines.simulator import SimulationConfig, generate
from pipelines.sinks.lakehouse import LakehouseWriter

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SUITES = REPO / "conf" / "expectations"
AMOUNT_AT_MOST_500 = "expect_column_values_to_be_between(amount)"


@pytest.fixture(scope="module")
def default_checker() -> QualityChecker:
    return QualityChecker.from_folder(str(DEFAULT_SUITES))


@pytest.fixture(scope="module")
def strict_checker(tmp_path_factory: pytest.TempPathFactory) -> QualityChecker:
    """The default suites, except that orders and payments must not exceed 500."""
    folder = tmp_path_factory.mktemp("suites")
    for source in DEFAULT_SUITES.glob("*.json"):
        shutil.copy(source, folder / source.name)
    for name in ("silver_orders.json", "silver_payments.json"):
        suite = json.loads((folder / name).read_text())
        for expectation in suite["expectations"]:
            if (
                expectation["type"] == "expect_column_values_to_be_between"
                and expectation["kwargs"]["column"] == "amount"
            ):
                expectation["kwargs"]["max_value"] = 500
        (folder / name).write_text(json.dumps(suite))
    return QualityChecker.from_folder(str(folder))


def _batch(spark: SparkSession, records: list[Record], shard: str) -> DataFrame:
    rows = [(r.data, r.ingested_at, "orders", shard, str(i).zfill(6), None, None, None) for i, r in enumerate(records)]
    return spark.createDataFrame(rows, RAW)


def _versions(lake: Lake) -> dict[str, int]:
    return {table: lake.table(table).version() for table in TABLES}


def _event(event_type: str, event_id: str, **fields: object) -> Record:
    base = {
        "event_id": event_id,
        "event_type": event_type,
        "event_time": "2026-11-20T10:00:00Z",
        "source": "shopify-eu-03",
        "order_id": f"o-{event_id}",
    }
    return Record(json.dumps(base | fields).encode(), INGESTED)


def _big_order(event_id: str, amount: float) -> Record:
    return _event(
        "new_order",
        event_id,
        customer={"id": "cus-1", "name": "Grace Hopper"},
        items=[{"product_id": "sku-9", "unit_price": amount, "quantity": 1}],
        amount=amount,
        currency="EUR",
        location={"lat": 52.5, "lon": 13.4},
        payment_method="card",
    )


def _big_payment(event_id: str, amount: float) -> Record:
    return _event(
        "payment",
        event_id,
        transaction_id=f"txn-{event_id}",
        amount=amount,
        currency="EUR",
        payment_method="card",
        status="succeeded",
    )


def test_the_default_suites_keep_the_trap_tables_exactly_as_the_contract_implies(
    spark: SparkSession, tmp_path: Path, default_checker: QualityChecker
) -> None:
    traps = build_traps()
    lake = Lake(str(tmp_path))
    lake.ensure_tables()
    writer = LakehouseWriter(lake, "orders-stream", quality=default_checker)

    for batch_id, run in enumerate(traps.runs):
        writer(_batch(spark, run, f"shard-{batch_id}"), batch_id)

    assert actual_tables(lake) == expected_tables(traps.records)
    metrics = lake.read_arrow(QUALITY_METRICS_TABLE).to_pylist()
    assert metrics, "the metrics table is empty: the check did not run"
    assert all(row["success"] for row in metrics)
    assert {row["batch_id"] for row in metrics} == {0, 1}


def test_rows_failing_a_stricter_suite_move_from_silver_to_quarantine_with_the_expectation_as_reason(
    spark: SparkSession, tmp_path: Path, strict_checker: QualityChecker
) -> None:
    lake = Lake(str(tmp_path))
    lake.ensure_tables()
    writer = LakehouseWriter(lake, "orders-stream", quality=strict_checker)
    big_order, big_payment = _big_order("e-big", 600.0), _big_payment("e-bigpay", 501.0)
    records = [
        _big_order("e-small", 500.0),
        big_order,
        big_order,  # a copy of a rejected record is rejected too
        _big_payment("e-smallpay", 20.0),
        big_payment,
        Record(b"{not json", INGESTED),  # contract failure: keeps its own reason only
    ]

    writer(_batch(spark, records, "shard-0"), 0)

    orders = {row["event_id"] for row in lake.read_arrow(ORDERS_TABLE, columns=["event_id"]).to_pylist()}
    payments = {row["event_id"] for row in lake.read_arrow(PAYMENTS_TABLE, columns=["event_id"]).to_pylist()}
    assert orders == {"e-small"}
    assert payments == {"e-smallpay"}
    quarantine = Counter(
        (row["event_id"], tuple(row["reasons"]))
        for row in lake.read_arrow(QUARANTINE_TABLE, columns=["event_id", "reasons"]).to_pylist()
    )
    reason = (f"expectation:{AMOUNT_AT_MOST_500}",)
    assert quarantine == Counter({("e-big", reason): 2, ("e-bigpay", reason): 1, (None, ("malformed_json",)): 1})
    assert lake.read_arrow(BRONZE_TABLE).num_rows == len(records)

    metrics = {
        (row["table_name"], row["expectation"]): row
        for row in lake.read_arrow(QUALITY_METRICS_TABLE).to_pylist()
        if row["expectation"] == AMOUNT_AT_MOST_500
    }
    orders_metric, payments_metric = (
        metrics[(ORDERS_TABLE, AMOUNT_AT_MOST_500)],
        metrics[(PAYMENTS_TABLE, AMOUNT_AT_MOST_500)],
    )
    assert (orders_metric["element_count"], orders_metric["unexpected_count"], orders_metric["success"]) == (
        2,
        1,
        False,
    )
    assert (payments_metric["element_count"], payments_metric["unexpected_count"]) == (2, 1)
    assert orders_metric["run_kind"] == "stream"
    assert orders_metric["run_id"] == "orders-stream"
    assert orders_metric["batch_id"] == 0
    assert orders_metric["column_name"] == "amount"

    # A replay of the batch (restart from an older checkpoint) commits nothing anywhere.
    before = _versions(lake)
    writer(_batch(spark, records, "shard-0"), 0)
    assert _versions(lake) == before


def test_the_default_suites_pass_the_simulators_valid_events(
    spark: SparkSession, tmp_path: Path, default_checker: QualityChecker
) -> None:
    end = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    simulated = list(generate(SimulationConfig(events=2_000, seed=11, days=3, end_time=end)))
    records = [Record(r.data, end) for r in simulated]
    lake = Lake(str(tmp_path))
    lake.ensure_tables()
    writer = LakehouseWriter(lake, "orders-stream", quality=default_checker)

    writer(_batch(spark, records, "shard-0"), 0)

    assert lake.read_arrow(QUARANTINE_TABLE).num_rows == 0
    metrics = lake.read_arrow(QUALITY_METRICS_TABLE).to_pylist()
    failed = [(row["table_name"], row["expectation"]) for row in metrics if not row["success"]]
    assert failed == []
    checked = {
        row["table_name"]: row["element_count"]
        for row in metrics
        if row["expectation"] == "expect_column_values_to_not_be_null(event_id)"
    }
    assert sum(checked.values()) == len({json.loads(r.data)["event_id"] for r in simulated})
