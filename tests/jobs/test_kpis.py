from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from lakehouse_traps import INGESTED, Record, accepted_events, build_traps
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias
from pyspark.sql.types import DateType, StringType

from jobs.kpis import GOLD_KPIS, KpiReport, kpi_summary, run
from pipelines.lake import Lake
from pipelines.schemas import CASH_FLOW_DAILY_TABLE, DAILY_KPIS_TABLE, RAW, TABLES
from pipelines.settings import Settings
from pipelines.sinks.lakehouse import LakehouseWriter

UTC = dt.UTC


def keyword_sentiment(df: DataFrame) -> DataFrame:
    """A deterministic stand-in for VADER: the reference below labels comments by the same words."""
    text = F.lower(F.col("comment"))
    label = (
        F.when(F.col("comment").isNull(), F.lit(None))
        .when(text.contains("love"), "Good")
        .when(text.contains("broken") | text.contains("never"), "Bad")
        .otherwise("Neutral")
    )
    score = F.when(label == "Good", 0.8).when(label == "Bad", -0.8).when(label == "Neutral", 0.0)
    return df.withColumns({"sentiment_label": label, "sentiment_score": score})


def keyword_label(comment: str | None) -> str | None:
    if comment is None:
        return None
    text = comment.lower()
    if "love" in text:
        return "Good"
    if "broken" in text or "never" in text:
        return "Bad"
    return "Neutral"


def _event(event_type: str, event_id: str, order_id: str, when: str, **fields: Any) -> Record:
    event = {
        "event_id": event_id,
        "event_type": event_type,
        "event_time": when,
        "source": "test-shop",
        "order_id": order_id,
    }
    event.update(fields)

    return Record(json.dumps(event).encode(), INGESTED + dt.timedelta(days=3), frozenset(), event)


def _usd_order() -> Record:
    items = [
        {"product_id": "sku-9", "product_name": "Lamp", "category": "home", "unit_price": 19.99, "quantity": 3},
        {"product_id": "sku-7", "product_name": "Cable", "category": "electronics", "unit_price": 0.05, "quantity": 1},
    ]
    return _event(
        "new_order",
        "e-o4",
        "o4",
        "2026-11-22T03:00:00+09:00",  # 2026-11-21 in UTC
        customer={"id": "cus-o4", "name": "Grace Hopper", "email": None},
        items=items,
        amount=60.02,
        currency="USD",
        location={"lat": 40.7, "lon": -74.0},
        payment_method="paypal",
        comment="It never came, box broken",
    )


def _payment(event_id: str, order_id: str, when: str, currency: str, amount: float, status: str) -> Record:
    return _event(
        "payment",
        event_id,
        order_id,
        when,
        transaction_id=f"txn-{event_id}",
        amount=amount,
        currency=currency,
        payment_method="paypal",
        status=status,
        failure_code="insufficient_funds" if status == "failed" else None,
    )


def _late_return(event_id: str, order_id: str, when: str, comment: str | None) -> Record:
    return _event(
        "return_order",
        event_id,
        order_id,
        when,
        return_id=f"ret-{event_id}",
        items=[{"product_id": "sku-1", "quantity": 1}],
        refund_amount=10.1,
        currency="EUR",
        reason_code="wrong_item",
        comment=comment,
    )


# Later batches: one touching only 2026-11-19, then one touching 2026-11-21 (directly and as
# the order date of a late return) and 2026-11-23.
ONE_DATE = [_payment("e-p5", "o3", "2026-11-19T15:00:00Z", "EUR", 30.0, "succeeded")]
LATE = [
    _usd_order(),
    _payment("e-p6", "o4", "2026-11-21T18:05:00Z", "USD", 60.02, "failed"),
    _payment("e-p7", "o4", "2026-11-21T18:06:00Z", "USD", 60.02, "succeeded"),
    _late_return("e-r9", "o1", "2026-11-23T10:00:00Z", "The second one arrived broken"),
]


def _date(text: str) -> dt.date:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).date()


def _cents(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _rate(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def reference_gold(events: list[dict[str, Any]]) -> tuple[dict[tuple[Any, ...], dict[str, Any]], ...]:
    """daily_kpis and cash_flow_daily by (date, currency), from accepted events in plain Python."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_type.setdefault(event["event_type"], []).append(event)
    orders = {o["order_id"]: o for o in sorted(by_type.get("new_order", []), key=lambda o: o["event_id"])}
    returns = by_type.get("return_order", [])
    payments = by_type.get("payment", [])
    chargebacks = by_type.get("chargeback", [])
    keys = {(_date(e["event_time"]), e["currency"]) for e in [*orders.values(), *payments, *returns, *chargebacks]}
    daily: dict[tuple[Any, ...], dict[str, Any]] = {}
    cash: dict[tuple[Any, ...], dict[str, Any]] = {}
    for key in keys:
        mine = [o for o in orders.values() if (_date(o["event_time"]), o["currency"]) == key]
        ids = {o["order_id"] for o in mine}
        paid = [p for p in payments if (_date(p["event_time"]), p["currency"]) == key]
        failed = [p for p in paid if p["status"] == "failed"]
        succeeded = [p for p in paid if p["status"] == "succeeded"]
        charged = [c for c in chargebacks if (_date(c["event_time"]), c["currency"]) == key]
        refunded = [r for r in returns if (_date(r["event_time"]), r["currency"]) == key]
        labels = [keyword_label(o.get("comment")) for o in mine]
        labels += [keyword_label(r.get("comment")) for r in returns if r["order_id"] in ids]
        good, bad = labels.count("Good"), labels.count("Bad")
        daily[key] = {
            "orders": len(ids),
            "gross_revenue": float(sum((_cents(o["amount"]) for o in mine), Decimal(0))),
            "payment_attempts": len(paid),
            "payment_failures": len(failed),
            "payment_success_rate": _rate(len(paid) - len(failed), len(paid)),
            "chargeback_rate": _rate(len(charged), len(succeeded)),
            "return_rate": _rate(len({r["order_id"] for r in returns} & ids), len(ids)),
            "satisfaction": _rate(good, good + bad),
        }
        inflow = sum((_cents(p["amount"]) for p in succeeded), Decimal(0))
        refunds = sum((_cents(r["refund_amount"]) for r in refunded), Decimal(0))
        charges = sum((_cents(c["amount"]) for c in charged), Decimal(0))
        cash[key] = {
            "inflow": float(inflow),
            "refunds": float(refunds),
            "chargebacks": float(charges),
            "net": float(inflow - refunds - charges),
        }
    return daily, cash


def _key_columns(table: str) -> list[str]:
    """The leading date and text columns of a gold table: its grain (date, currency, breakdown)."""
    key = []
    for column in TABLES[table].fields:
        if not isinstance(column.dataType, DateType | StringType):
            break
        key.append(column.name)
    return key


def _gold(lake: Lake, table: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """A gold table by its key, without ``updated_at``; fails on a key seen twice."""
    rows = lake.read_arrow(table).to_pylist()
    key = _key_columns(table)
    out = {tuple(row.pop(c) for c in key): row for row in rows}
    assert len(out) == len(rows), f"{table} has two rows for one {key}"
    for row in out.values():
        row.pop("updated_at")
    return out


def _write(spark: SparkSession, writer: LakehouseWriter, records: list[Record], batch_id: int) -> None:
    rows = [
        (r.data, r.ingested_at, "orders", "shard-0", f"{batch_id}-{i:06d}", None, None, None)
        for i, r in enumerate(records)
    ]
    writer(spark.createDataFrame(rows, RAW), batch_id)


def _settings(root: Path) -> Settings:
    # Built-in defaults, not conf/local.yaml: the test must not depend on the checkout's settings file.
    return Settings().with_overrides([f"lake.root={root}", f"lake.checkpoints={root / '_checkpoints'}"])


@dataclass
class History:
    """One lake taken through a full run, two incremental ones, an idle one and a full recompute."""

    lake: Lake
    records: list[Record]
    reports: list[KpiReport]
    daily_after: list[list[dict[str, Any]]]
    incremental: dict[str, dict[tuple[Any, ...], dict[str, Any]]]
    idle_versions: tuple[dict[str, int], dict[str, int]]
    full: dict[str, dict[tuple[Any, ...], dict[str, Any]]]


@pytest.fixture(scope="module")
def history(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> History:
    """The traps (two micro-batches) through the stream's writer, then ``batch kpis`` after each later batch.

    Built once for the module: every run of the job is a few dozen small Spark jobs.
    """
    root = tmp_path_factory.mktemp("kpis") / "lake"
    lake = Lake(str(root))
    lake.ensure_tables()
    writer = LakehouseWriter(lake, "orders-stream", sentiment=keyword_sentiment)
    records: list[Record] = []
    for batch_id, records_of_run in enumerate(build_traps().runs):
        _write(spark, writer, records_of_run, batch_id)
        records += records_of_run
    settings = _settings(root)
    reports, daily_after = [], []
    for batch_id, batch in enumerate((None, ONE_DATE, LATE), start=1):
        if batch is not None:
            _write(spark, writer, batch, batch_id)
        reports.append(run(settings, spark=spark))
        daily_after.append(lake.read_arrow(DAILY_KPIS_TABLE).to_pylist())
    incremental = {table: _gold(lake, table) for table in GOLD_KPIS}
    before_idle = {table: lake.table(table).version() for table in GOLD_KPIS}
    reports.append(run(settings, spark=spark))
    after_idle = {table: lake.table(table).version() for table in GOLD_KPIS}
    run(settings, full=True, spark=spark)
    full = {table: _gold(lake, table) for table in GOLD_KPIS}
    return History(
        lake, [*records, *ONE_DATE, *LATE], reports, daily_after, incremental, (before_idle, after_idle), full
    )


def test_gold_tables_of_the_traps_equal_a_plain_python_computation(history: History) -> None:
    daily, cash = reference_gold(accepted_events(history.records))

    assert history.full[DAILY_KPIS_TABLE] == daily
    assert history.full[CASH_FLOW_DAILY_TABLE] == cash
    # The traps reach every formula: rates null for lack of a denominator, both labels, two currencies.
    assert any(row["return_rate"] is None for row in daily.values())
    assert any(row["chargeback_rate"] is None for row in daily.values())
    assert any(row["satisfaction"] not in (None, 0.0, 1.0) for row in daily.values())
    assert {currency for _, currency in daily} == {"EUR", "USD"}


def test_the_first_run_rebuilds_every_gold_table(history: History) -> None:
    assert history.reports[0].recomputed_dates is None
    assert [run.table for run in history.reports[0].tables] == list(GOLD_KPIS)


def test_a_batch_touching_one_date_recomputes_only_that_date(history: History) -> None:
    assert history.reports[1].recomputed_dates == {dt.date(2026, 11, 19)}


def test_a_late_return_recomputes_its_own_date_and_its_order_date(history: History) -> None:
    # o1 was ordered on 2026-11-21: its return on 2026-11-23 changes that date's return rate.
    assert history.reports[2].recomputed_dates == {dt.date(2026, 11, 21), dt.date(2026, 11, 23)}


def test_rows_of_dates_not_recomputed_keep_their_values_and_updated_at(history: History) -> None:
    first, second = history.daily_after[0], history.daily_after[1]
    untouched = [row for row in first if row["date"] != dt.date(2026, 11, 19)]
    assert untouched, "no row outside 2026-11-19: the check would prove nothing"
    assert [row for row in second if row["date"] != dt.date(2026, 11, 19)] == untouched
    assert [row for row in second if row["date"] == dt.date(2026, 11, 19)] != [
        row for row in first if row["date"] == dt.date(2026, 11, 19)
    ]


def test_incremental_runs_end_where_a_full_recompute_does(history: History) -> None:
    assert history.incremental == history.full
    assert all(history.full[table] for table in GOLD_KPIS), "a gold table is empty"


def test_a_run_with_no_silver_change_commits_nothing(history: History) -> None:
    before, after = history.idle_versions
    assert after == before
    assert history.reports[3].recomputed_dates == set()
    assert "up to date" in "\n".join(history.reports[3].lines())


def test_duckdb_reads_the_same_gold_rows_as_delta_rs(history: History) -> None:
    from pipelines.duckdb_engine import connect

    duckdb = connect()
    for table in GOLD_KPIS:
        columns = ", ".join(f'"{f.name}"' for f in TABLES[table].fields)
        seen_by_duckdb = Counter(
            duckdb.execute(f"SELECT {columns} FROM delta_scan('{history.lake.uri(table)}')").fetchall()
        )
        seen_by_delta_rs = Counter(
            tuple(row.values())
            for row in history.lake.read_arrow(table, columns=TABLES[table].fieldNames()).to_pylist()
        )
        assert seen_by_duckdb == seen_by_delta_rs, table
        assert seen_by_duckdb, f"{table} is empty: the comparison would prove nothing"


def test_the_summary_has_one_line_per_currency(history: History) -> None:
    lines = kpi_summary(history.lake)

    assert [line.split()[0] for line in lines[2:]] == ["EUR", "USD"]
    # EUR: o1, o2, o3 for 85.00; USD: o4 for 60.02.
    assert lines[2].split()[1:3] == ["3", "85.00"]
    assert lines[3].split()[1:3] == ["1", "60.02"]
