"""`batch kpis` over a silver lake of N events, and the contract's two KPI tables computed by DuckDB as a peer.

The silver tables are generated directly with delta-rs writes (vectorised, not through the
stream), so 10 million events take a minute rather than hours. DuckDB reads the same Delta
tables with its own reader and computes ``daily_kpis`` and ``cash_flow_daily`` in SQL; its
sums are checked against the gold tables the job wrote, so the peer computes the same thing.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import write_deltalake

from pipelines.bench.machine import MemorySampler, Stopwatch
from pipelines.lake import Lake, arrow_schema
from pipelines.schemas import (
    CASH_FLOW_DAILY_TABLE,
    CHARGEBACKS_TABLE,
    DAILY_KPIS_TABLE,
    ORDER_UPDATES_TABLE,
    ORDERS_TABLE,
    PARTITIONS,
    PAYMENTS_TABLE,
    RETURNS_TABLE,
    TABLES,
)
from pipelines.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Share of each event type in the generated silver data (the simulator's mix, roughly).
MIX = {
    ORDERS_TABLE: 0.30,
    PAYMENTS_TABLE: 0.32,
    ORDER_UPDATES_TABLE: 0.25,
    RETURNS_TABLE: 0.09,
    CHARGEBACKS_TABLE: 0.04,
}
CURRENCIES = np.array(["USD", "EUR", "GBP", "CHF", "SEK"])
CHUNK = 1_000_000


def _strings(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pa.array(numbers.astype(str)), "")


def _chunk(
    table: str, *, start: int, rows: int, orders: int, days: int, end: dt.date, rng: np.random.Generator
) -> pa.Table:
    """``rows`` silver rows of ``table``; order ids point into ``orders`` generated orders."""
    schema = arrow_schema(TABLES[table])
    numbers = np.arange(start, start + rows)
    base = np.datetime64(end - dt.timedelta(days=days), "us")
    times = base + rng.integers(0, days * 86_400_000_000, rows).astype("timedelta64[us]")
    stamps = pa.array(times, pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))
    dates = pa.array(times.astype("datetime64[D]"), pa.date32())
    order_numbers = numbers if table == ORDERS_TABLE else rng.integers(0, max(orders, 1), rows)
    currency = pa.array(CURRENCIES[order_numbers % len(CURRENCIES)])
    amount = pa.array(np.round(rng.gamma(2.0, 60.0, rows), 2))
    columns: dict[str, Any] = {
        "event_id": _strings(f"{table}-", numbers),
        "order_id": _strings("o-", order_numbers),
        "currency": currency,
        "source": pa.array(np.array(["shopify", "woocommerce", "magento"])[numbers % 3]),
        "batch_id": pa.array(np.zeros(rows, dtype="int64")),
    }
    if table == ORDERS_TABLE:
        label = np.array(["Good", "Bad", "Neutral", None], dtype=object)[rng.integers(0, 4, rows)]
        columns.update(
            customer_id=_strings("c-", rng.integers(0, max(orders // 5, 1), rows)),
            order_time=stamps,
            amount=amount,
            status=pa.array(np.full(rows, "created")),
            payment_method=pa.array(np.array(["card", "paypal", "bank_transfer"])[numbers % 3]),
            sentiment_label=pa.array(label, pa.string()),
            sentiment_score=pa.array([None if v is None else 0.5 for v in label], pa.float64()),
            order_date=dates,
        )
    else:
        columns.update(event_time=stamps, event_date=dates)
    if table == PAYMENTS_TABLE:
        failed = rng.random(rows) < 0.1
        columns.update(
            transaction_id=_strings("t-", numbers),
            amount=amount,
            payment_method=pa.array(np.array(["card", "paypal", "bank_transfer"])[numbers % 3]),
            status=pa.array(np.where(failed, "failed", "succeeded")),
            failure_code=pc.if_else(pa.array(failed), "card_declined", pa.scalar(None, pa.string())),
        )
    elif table == RETURNS_TABLE:
        columns.update(
            return_id=_strings("r-", numbers), refund_amount=amount, reason_code=pa.array(np.full(rows, "damaged"))
        )
    elif table == CHARGEBACKS_TABLE:
        columns.update(chargeback_id=_strings("cb-", numbers), transaction_id=_strings("t-", numbers), amount=amount)
    elif table == ORDER_UPDATES_TABLE:
        columns.update(status=pa.array(np.array(["packed", "shipped", "delivered"])[numbers % 3]))
    return pa.table({f.name: columns[f.name] if f.name in columns else pa.nulls(rows, f.type) for f in schema}).cast(
        schema
    )


def generate_silver(lake: Lake, events: int, days: int = 90, seed: int = 7) -> dict[str, int]:
    """Write ``events`` silver rows split by :data:`MIX` into ``lake``'s silver tables; rows per table."""
    rng = np.random.default_rng(seed)
    end = dt.datetime.now(dt.UTC).date()
    lake.ensure_tables()
    counts = {table: int(events * share) for table, share in MIX.items()}
    orders = counts[ORDERS_TABLE]
    for table, rows in counts.items():
        for start in range(0, rows, CHUNK):
            data = _chunk(table, start=start, rows=min(CHUNK, rows - start), orders=orders, days=days, end=end, rng=rng)
            write_deltalake(
                lake.uri(table),
                data,
                mode="append",
                partition_by=list(PARTITIONS[table]),
                storage_options=lake.storage_options(),
            )
    return counts


def duckdb_kpis(lake: Lake) -> tuple[pa.Table, pa.Table]:
    """The contract's ``daily_kpis`` and ``cash_flow_daily`` computed by DuckDB from the silver tables."""
    from pipelines.duckdb_engine import connect

    connection = connect()
    connection.execute("SET TimeZone = 'UTC'")
    for name, table in (
        ("orders", ORDERS_TABLE),
        ("payments", PAYMENTS_TABLE),
        ("returns", RETURNS_TABLE),
        ("chargebacks", CHARGEBACKS_TABLE),
    ):
        connection.execute(f"CREATE VIEW {name} AS SELECT * FROM delta_scan('{lake.uri(table)}')")
    cash_flow = connection.execute(
        """
        WITH p AS (SELECT CAST(event_time AS DATE) AS date, currency, sum(amount) AS inflow
                   FROM payments WHERE status = 'succeeded' GROUP BY ALL),
             r AS (SELECT CAST(event_time AS DATE) AS date, currency, sum(refund_amount) AS refunds
                   FROM returns GROUP BY ALL),
             c AS (SELECT CAST(event_time AS DATE) AS date, currency, sum(amount) AS chargebacks
                   FROM chargebacks GROUP BY ALL)
        SELECT date, currency, coalesce(inflow, 0) AS inflow, coalesce(refunds, 0) AS refunds,
               coalesce(chargebacks, 0) AS chargebacks,
               coalesce(inflow, 0) - coalesce(refunds, 0) - coalesce(chargebacks, 0) AS net
        FROM p FULL JOIN r USING (date, currency) FULL JOIN c USING (date, currency)
        """
    ).fetch_arrow_table()
    daily = connection.execute(
        """
        WITH o AS (SELECT order_id, CAST(order_time AS DATE) AS date, currency, amount, sentiment_label FROM orders),
             returned AS (SELECT DISTINCT order_id FROM returns),
             od AS (SELECT date, currency, count(DISTINCT o.order_id) AS orders, sum(amount) AS gross_revenue,
                           count(DISTINCT CASE WHEN returned.order_id IS NOT NULL THEN o.order_id END) AS returned,
                           count(*) FILTER (WHERE sentiment_label = 'Good') AS good,
                           count(*) FILTER (WHERE sentiment_label = 'Bad') AS bad
                    FROM o LEFT JOIN returned USING (order_id) GROUP BY ALL),
             pd AS (SELECT CAST(event_time AS DATE) AS date, currency, count(*) AS payment_attempts,
                           count(*) FILTER (WHERE status = 'failed') AS payment_failures,
                           count(*) FILTER (WHERE status = 'succeeded') AS succeeded
                    FROM payments GROUP BY ALL),
             cd AS (SELECT CAST(event_time AS DATE) AS date, currency, count(*) AS chargebacks
                    FROM chargebacks GROUP BY ALL)
        SELECT date, currency, coalesce(orders, 0) AS orders, coalesce(gross_revenue, 0) AS gross_revenue,
               coalesce(payment_attempts, 0) AS payment_attempts, coalesce(payment_failures, 0) AS payment_failures,
               (payment_attempts - payment_failures) / nullif(payment_attempts, 0) AS payment_success_rate,
               chargebacks / nullif(succeeded, 0) AS chargeback_rate,
               returned / nullif(orders, 0) AS return_rate,
               good / nullif(good + bad, 0) AS satisfaction
        FROM od FULL JOIN pd USING (date, currency) FULL JOIN cd USING (date, currency)
        """
    ).fetch_arrow_table()
    connection.close()
    return daily, cash_flow


def _total(table: pa.Table, column: str) -> float:
    value = pc.sum(table[column]).as_py()
    return float(value or 0.0)


def _same(first: float, second: float) -> bool:
    return math.isclose(first, second, rel_tol=1e-6, abs_tol=0.01)


def run_kpis(spark: SparkSession, base: Settings, events: int, workdir: Path) -> dict[str, Any]:
    """Generate ``events`` of silver, time `batch kpis` (full) and the DuckDB peer; compare their sums."""
    from jobs.kpis import run as run_kpi_job

    settings = base.with_overrides([f"lake.root={workdir / 'lake'}", f"lake.checkpoints={workdir / 'checkpoints'}"])
    lake = Lake.from_settings(settings.lake)
    print(f"  kpis: generating {events:,} events of silver with delta-rs ...", flush=True)
    with Stopwatch() as generating:
        counts = generate_silver(lake, events)
    print(f"  kpis: generated in {generating.seconds:.1f} s; batch kpis ...", flush=True)
    with MemorySampler() as memory, Stopwatch() as job:
        report = run_kpi_job(settings, full=True, spark=spark)
    with Stopwatch() as peer:
        daily, cash_flow = duckdb_kpis(lake)
    gold_daily = lake.read_arrow(DAILY_KPIS_TABLE)
    gold_cash = lake.read_arrow(CASH_FLOW_DAILY_TABLE)
    checks = {
        "daily_kpis rows": (gold_daily.num_rows, daily.num_rows),
        "orders": (_total(gold_daily, "orders"), _total(daily, "orders")),
        "gross_revenue": (_total(gold_daily, "gross_revenue"), _total(daily, "gross_revenue")),
        "payment_failures": (_total(gold_daily, "payment_failures"), _total(daily, "payment_failures")),
        "cash_flow_daily rows": (gold_cash.num_rows, cash_flow.num_rows),
        "net": (_total(gold_cash, "net"), _total(cash_flow, "net")),
    }
    mismatches = [name for name, (ours, theirs) in checks.items() if not _same(float(ours), float(theirs))]
    result = {
        "events": sum(counts.values()),
        "rows": counts,
        "generate_seconds": round(generating.seconds, 2),
        "batch_kpis_seconds": round(job.seconds, 2),
        "batch_kpis_gold_tables": len(report.tables),
        "duckdb_seconds": round(peer.seconds, 2),
        "spark_vs_duckdb_time": round(job.seconds / peer.seconds, 2) if peer.seconds else None,
        "duckdb_matches_gold": not mismatches,
        "mismatches": mismatches,
        "memory": memory.peaks.as_dict(),
        "load_start": job.load_start,
        "load_end": peer.load_end,
    }
    print(
        f"  kpis: batch kpis {job.seconds:.1f} s ({len(report.tables)} gold tables), DuckDB {peer.seconds:.1f} s "
        f"(contract's 2 tables); results {'match' if not mismatches else 'differ: ' + ', '.join(mismatches)}",
        flush=True,
    )
    return result
