"""`batch kpis`: the gold KPI tables from silver, recomputing only the dates touched since the last run.

Usage on EMR 8 (a step, e.g. hourly; the project installed on the cluster)::

    spark-submit jobs/kpis.py --conf conf/emr.yaml --set lake.root=s3://my-lake/orders [--full]

On Glue 6: a Spark job whose script is this file, with the job parameters
``--conf conf/glue.yaml --set lake.root=s3://my-lake/orders`` (``--additional-python-modules``
installs the project wheel). Locally: ``orders-pipeline batch kpis``.

Every run pins one version of each silver table, and every gold commit records the versions it
consumed (commit metadata). The next run diffs each silver table's files between those
versions and now: the partitions whose files were added or removed are the touched dates (see
:func:`touched_dates`). Only those dates are recomputed and replaced, one commit per gold table.
A gold table without that record (first run, ``--full``, a log too old to diff) is rebuilt whole.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, write_deltalake
from deltalake.exceptions import DeltaError

from pipelines.entry import job_parser, job_settings
from pipelines.lake import Lake, LakeError, arrow_schema
from pipelines.schemas import (
    CASH_FLOW_DAILY_TABLE,
    CHARGEBACKS_TABLE,
    DAILY_KPIS_TABLE,
    FRAUD_DAILY_TABLE,
    ORDERS_TABLE,
    PARTITIONS,
    PAYMENT_FAILURES_DAILY_TABLE,
    PAYMENT_METHODS_DAILY_TABLE,
    PAYMENTS_TABLE,
    PRODUCT_SALES_DAILY_TABLE,
    RETURN_REASONS_DAILY_TABLE,
    RETURNS_BY_CATEGORY_DAILY_TABLE,
    RETURNS_TABLE,
    REVENUE_DAILY_TABLE,
    TABLES,
)
from pipelines.settings import Settings
from pipelines.transforms import gold

log = logging.getLogger(__name__)

APP_ID = "orders-pipeline-kpis"
# Commit metadata key holding the silver versions a gold commit was computed from.
SOURCES_KEY = "orders_pipeline.kpis.silver_versions"
HISTORY_SEARCHED = 100
SILVER_INPUTS: tuple[str, ...] = (ORDERS_TABLE, PAYMENTS_TABLE, RETURNS_TABLE, CHARGEBACKS_TABLE)

# Gold table -> its transform, in the order the job writes them.
GOLD_KPIS: dict[str, gold.GoldTransform] = {
    DAILY_KPIS_TABLE: gold.daily_kpis,
    CASH_FLOW_DAILY_TABLE: gold.cash_flow_daily,
    REVENUE_DAILY_TABLE: gold.revenue_daily,
    PAYMENT_METHODS_DAILY_TABLE: gold.payment_methods_daily,
    PAYMENT_FAILURES_DAILY_TABLE: gold.payment_failures_daily,
    RETURNS_BY_CATEGORY_DAILY_TABLE: gold.returns_by_category_daily,
    RETURN_REASONS_DAILY_TABLE: gold.return_reasons_daily,
    PRODUCT_SALES_DAILY_TABLE: gold.product_sales_daily,
    FRAUD_DAILY_TABLE: gold.fraud_daily,
}


class KpiJobError(RuntimeError):
    """A gold table could not be computed or written."""


@dataclass
class TableRun:
    """What one run did to one gold table."""

    table: str
    dates: list[dt.date] | None  # None: the whole table was rebuilt
    rows: int = 0
    version: int | None = None
    seconds: float = 0.0

    def __str__(self) -> str:
        if self.dates is None:
            scope = "rebuilt whole"
        elif not self.dates:
            return f"{self.table}: up to date, nothing recomputed"
        else:
            scope = f"{len(self.dates)} dates recomputed ({_date_ranges(self.dates)})"
        return f"{self.table}: {scope}, {self.rows} rows written, version {self.version}, {self.seconds:.1f} s"


@dataclass
class KpiReport:
    """What `batch kpis` did: the silver versions read and each gold table's run."""

    silver_versions: dict[str, int]
    tables: list[TableRun] = field(default_factory=list)
    seconds: float = 0.0
    # The data-quality lines of the silver snapshots read (empty when batch checks are off).
    quality: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        pinned = ", ".join(f"{table} v{version}" for table, version in self.silver_versions.items())
        return [
            f"silver read at {pinned}",
            *self.quality,
            *(str(run) for run in self.tables),
            f"kpis done in {self.seconds:.1f} s",
        ]

    @property
    def recomputed_dates(self) -> set[dt.date] | None:
        """Every date any table recomputed; None when some table was rebuilt whole."""
        dates: set[dt.date] = set()
        for run in self.tables:
            if run.dates is None:
                return None
            dates.update(run.dates)
        return dates


def _date_ranges(dates: Iterable[dt.date]) -> str:
    """``2026-11-01..2026-11-03, 2026-11-07``: consecutive dates folded into ranges."""
    ordered = sorted(set(dates))
    spans: list[tuple[dt.date, dt.date]] = []
    for day in ordered:
        if spans and day - spans[-1][1] == dt.timedelta(days=1):
            spans[-1] = (spans[-1][0], day)
        else:
            spans.append((day, day))
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in spans)


def consumed_versions(lake: Lake, table: str) -> dict[str, int] | None:
    """The silver versions the latest `batch kpis` commit of ``table`` consumed; None when there is none."""
    # Maintenance commits (optimize, vacuum) come between two runs; 100 back is far enough, and past
    # that a rebuild is the safe answer.
    for commit in lake.table(table).history(limit=HISTORY_SEARCHED):
        recorded = commit.get(SOURCES_KEY)
        if recorded:
            return {name: int(version) for name, version in json.loads(recorded).items()}
    return None


def _file_partitions(lake: Lake, table: str, version: int) -> dict[str, dt.date | None]:
    """Data file path -> its partition date, at ``version``."""
    actions = pa.table(lake.table(table, version).get_add_actions(flatten=True))
    column = f"partition.{PARTITIONS[table][0]}"
    dates = actions[column].to_pylist() if column in actions.column_names else [None] * actions.num_rows
    return dict(zip(actions["path"].to_pylist(), dates, strict=True))


def changed_partitions(lake: Lake, table: str, since: int, until: int) -> set[dt.date] | None:
    """Partition dates whose files differ between two versions of ``table``; None when it cannot tell.

    A file added or removed (append, MERGE rewrite, delete, compaction) marks its partition.
    Compaction changes no data, so it only costs a needless recomputation.
    """
    if since == until:
        return set()
    if since > until:
        return None
    try:
        before = _file_partitions(lake, table, since)
    except (DeltaError, LakeError, OSError) as exc:
        log.info("cannot load %s at version %d (%s): rebuilding", table, since, exc)
        return None
    after = _file_partitions(lake, table, until)
    changed = before.keys() ^ after.keys()
    dates = {(before.get(path) or after.get(path)) for path in changed}
    if None in dates:
        return None
    return {day for day in dates if day is not None}


def touched_dates(lake: Lake, since: dict[str, int], until: dict[str, int]) -> set[dt.date] | None:
    """The gold dates that silver changes between two sets of versions can alter; None = everything.

    Orders, payments and chargebacks touch their own partition date. A return of date R
    touches R (refunds) and the order date of its order (return rate, satisfaction and the
    category tables are cohorts of the order date), looked up in silver/orders.
    """
    dates: set[dt.date] = set()
    for table in SILVER_INPUTS:
        if table not in since:
            return None
        changed = changed_partitions(lake, table, since[table], until[table])
        if changed is None:
            return None
        dates |= changed
        if table == RETURNS_TABLE and changed:
            dates |= _order_dates_of_returns(lake, changed, since[table], until[table], until[ORDERS_TABLE])
    return dates


def _order_dates_of_returns(
    lake: Lake, return_dates: set[dt.date], since: int, until: int, orders_version: int
) -> set[dt.date]:
    partitions = [("event_date", "in", sorted(return_dates))]
    order_ids: set[str] = set()
    for version in (since, until):
        rows = lake.read_arrow(RETURNS_TABLE, version, partitions, columns=["order_id"])
        order_ids.update(value for value in rows["order_id"].to_pylist() if value is not None)
    if not order_ids:
        return set()
    orders = lake.read_arrow(ORDERS_TABLE, orders_version, columns=["order_id", "order_date"])
    found = orders.filter(pc.is_in(orders["order_id"], value_set=pa.array(sorted(order_ids), pa.string())))
    return {day for day in found["order_date"].to_pylist() if day is not None}


def read_silver(spark: Any, lake: Lake, versions: dict[str, int], dates: set[dt.date] | None) -> gold.Silver:
    """The silver frames at ``versions``, pruned to what ``dates`` need (None: everything).

    Returns are read whole: an order of a recomputed date may have its return on any later date.
    """

    def read(table: str, column: str | None) -> Any:
        partitions = None if dates is None or column is None else [(column, "in", sorted(dates))]
        return lake.read(spark, table, versions[table], partitions)

    return gold.Silver(
        orders=read(ORDERS_TABLE, "order_date").persist(),
        payments=read(PAYMENTS_TABLE, "event_date").persist(),
        returns=read(RETURNS_TABLE, None).persist(),
        chargebacks=read(CHARGEBACKS_TABLE, "event_date").persist(),
    )


def _predicate(dates: list[dt.date]) -> str:
    return '"date" IN (' + ", ".join(f"'{day.isoformat()}'" for day in dates) + ")"


def write_gold(lake: Lake, table: str, data: pa.Table, dates: list[dt.date] | None, sources: dict[str, int]) -> int:
    """Replace ``dates`` of ``table`` (all of it when None) by ``data`` in one commit; the new version."""
    properties = CommitProperties(
        custom_metadata={SOURCES_KEY: json.dumps(sources, sort_keys=True), "app_id": APP_ID},
    )
    try:
        write_deltalake(
            lake.uri(table),
            data.select(arrow_schema(TABLES[table]).names).cast(arrow_schema(TABLES[table])),
            mode="overwrite",
            predicate=None if dates is None else _predicate(dates),
            storage_options=lake.storage_options() or None,
            commit_properties=properties,
        )
    except (DeltaError, OSError, ValueError) as exc:
        raise KpiJobError(f"cannot write {lake.uri(table)}: {exc}") from exc
    return lake.table(table).version()


def _check_silver(settings: Settings, lake: Lake, pinned: dict[str, int]) -> list[str]:
    """Run the silver suites on the snapshots this run reads; failures are reported, not fatal.

    A batch job cannot move rows out of silver (the stream already quarantines what fails), so a
    failing expectation here is a finding for the quality metrics and the log, and the KPIs go on.
    """
    from pipelines.quality import QualityChecker
    from pipelines.quality.tables import check_tables

    checker = QualityChecker.from_settings(settings.quality, lake.endpoint)
    report = check_tables(lake, pinned, checker, sample_rows=settings.quality.sample_rows)
    if not report.success:
        log.warning("silver data quality: expectations failed; see quality/metrics (run %s)", report.run_id)
    return [f"quality: {line}" for line in report.lines()]


def run(settings: Settings, full: bool = False, spark: Any = None) -> KpiReport:
    """Recompute the gold tables of the lake of ``settings``: touched dates only, or everything when ``full``."""
    from pipelines.session import get_spark

    started = time.monotonic()
    lake = Lake.from_settings(settings.lake)
    lake.ensure_tables()
    pinned = lake.versions()
    sources = {table: pinned[table] for table in SILVER_INPUTS}
    report = KpiReport(silver_versions=sources)
    if settings.quality.enabled and settings.quality.on_batch:
        report.quality = _check_silver(settings, lake, pinned)

    # Each gold table keeps its own record, so a run that stopped halfway resumes per table.
    plans: dict[str, set[dt.date] | None] = {}
    diffs: dict[str, set[dt.date] | None] = {}
    for table in GOLD_KPIS:
        since = None if full else consumed_versions(lake, table)
        if since is None:
            plans[table] = None
            continue
        key = json.dumps(since, sort_keys=True)
        if key not in diffs:
            diffs[key] = touched_dates(lake, since, sources)
        plans[table] = diffs[key]
    if all(plan is not None and not plan for plan in plans.values()):
        report.tables = [TableRun(table, []) for table in GOLD_KPIS]
        report.seconds = time.monotonic() - started
        return report

    needed: set[dt.date] | None = set()
    for plan in plans.values():
        needed = None if needed is None or plan is None else needed | plan
    spark = spark or get_spark("orders-kpis", settings.spark)
    silver = read_silver(spark, lake, pinned, needed)
    updated_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        for table, transform in GOLD_KPIS.items():
            plan = plans[table]
            table_started = time.monotonic()
            if plan is not None and not plan:
                report.tables.append(TableRun(table, []))
                continue
            dates = None if plan is None else sorted(plan)
            data = transform(silver, updated_at).transform(gold.for_dates(dates)).toArrow()
            version = write_gold(lake, table, data, dates, sources)
            report.tables.append(TableRun(table, dates, data.num_rows, version, time.monotonic() - table_started))
            log.info("%s", report.tables[-1])
    finally:
        for frame in (silver.orders, silver.payments, silver.returns, silver.chargebacks):
            frame.unpersist()
    report.seconds = time.monotonic() - started
    return report


_SUMMED = ("orders", "revenue", "attempts", "ok", "ret", "net")


def kpi_summary(lake: Lake, dates: Iterable[dt.date] | None = None) -> list[str]:
    """A per-currency table over ``dates`` (all by default): orders, revenue, success and return rates, net."""
    wanted = None if dates is None else set(dates)
    kpis = lake.read_arrow(DAILY_KPIS_TABLE).to_pylist()
    cash = lake.read_arrow(CASH_FLOW_DAILY_TABLE).to_pylist()
    totals: dict[str, dict[str, float]] = {}
    for row in kpis:
        if wanted is not None and row["date"] not in wanted:
            continue
        total = totals.setdefault(
            row["currency"], dict.fromkeys(("orders", "revenue", "attempts", "ok", "ret", "net"), 0.0)
        )
        total["orders"] += row["orders"]
        total["revenue"] += row["gross_revenue"]
        total["attempts"] += row["payment_attempts"]
        total["ok"] += row["payment_attempts"] - row["payment_failures"]
        total["ret"] += (row["return_rate"] or 0.0) * row["orders"]
    for row in cash:
        if (wanted is None or row["date"] in wanted) and row["currency"] in totals:
            totals[row["currency"]]["net"] += row["net"]
    header = (
        f"{'currency':<8} {'orders':>8} {'gross revenue':>16} {'success rate':>12} {'return rate':>11} "
        f"{'net cash flow':>16}"
    )
    lines = [header, "-" * len(header)]
    for currency, total in sorted(totals.items()):
        success = f"{total['ok'] / total['attempts']:.1%}" if total["attempts"] else "-"
        returned = f"{total['ret'] / total['orders']:.1%}" if total["orders"] else "-"
        lines.append(
            f"{currency:<8} {int(total['orders']):>8,} {total['revenue']:>16,.2f} {success:>12} {returned:>11} "
            f"{total['net']:>16,.2f}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """spark-submit / Glue entry point: ``jobs/kpis.py [--conf FILE] [--set k=v ...] [--full]``."""
    parser = job_parser("kpis", __doc__)
    parser.add_argument("--full", action="store_true", help="recompute every date of every gold table")
    args, settings = job_settings(parser, argv)
    for line in run(settings, full=args.full).lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
