"""The static HTML report: KPI summary and charts from the gold and silver tables, in one offline file.

Tables are read with delta-rs (column-pruned Arrow, so a folder or an ``s3://`` lake alike) and
summed with pandas; charts are inline SVG (``pipelines.charts``). A table that is missing or
empty gives its charts a "no data" placeholder, never an error: the report of a fresh lake is
still a report.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import pandas as pd

from pipelines import charts
from pipelines.charts import Band, Series
from pipelines.lake import Lake, LakeError
from pipelines.schemas import (
    CASH_FLOW_DAILY_TABLE,
    CASH_FLOW_FORECAST_TABLE,
    DAILY_KPIS_TABLE,
    ORDERS_TABLE,
    PAYMENTS_TABLE,
    RETURNS_TABLE,
)

log = logging.getLogger(__name__)

# Per-currency charts (value, cash flow) show the currencies with the most orders.
TOP_CURRENCIES = 3

# The columns each chart needs; nothing else is read.
_COLUMNS: dict[str, list[str]] = {
    DAILY_KPIS_TABLE: [
        "date",
        "currency",
        "orders",
        "gross_revenue",
        "payment_attempts",
        "payment_failures",
        "chargeback_rate",
        "return_rate",
    ],
    CASH_FLOW_DAILY_TABLE: ["date", "currency", "inflow", "refunds", "chargebacks", "net"],
    CASH_FLOW_FORECAST_TABLE: ["date", "currency", "net_forecast", "net_lower", "net_upper"],
    PAYMENTS_TABLE: ["payment_method", "status"],
    RETURNS_TABLE: ["reason_code"],
    ORDERS_TABLE: ["order_date", "sentiment_label", "lat", "lon"],
}

# The KPI summary's columns, in order, with or without data.
_SUMMARY_COLUMNS = [
    "currency",
    "orders",
    "gross_revenue",
    "net_cash_flow",
    "payment_success_rate",
    "chargeback_rate",
    "return_rate",
]


class ReportError(RuntimeError):
    """The report cannot be written where it was asked to go."""


@dataclass
class ReportData:
    """The frames the report draws; an empty frame means "no data" for its charts."""

    tables: dict[str, pd.DataFrame]
    lake_root: str
    generated_at: dt.datetime
    missing: list[str] = field(default_factory=list)

    def frame(self, table: str) -> pd.DataFrame:
        return self.tables.get(table, pd.DataFrame(columns=_COLUMNS[table]))


def load_report_data(lake: Lake, max_map_points: int = 5000) -> ReportData:
    """Read the columns the report needs; missing tables are listed, not raised."""
    tables: dict[str, pd.DataFrame] = {}
    missing: list[str] = []
    for table, columns in _COLUMNS.items():
        try:
            tables[table] = lake.read_arrow(table, columns=columns).to_pandas()
        except LakeError:
            missing.append(table)
            log.warning("report: no table %s", lake.uri(table))
    orders = tables.get(ORDERS_TABLE)
    if orders is not None and len(orders) > max_map_points:
        # An even sample keeps the map readable and the file small; the sentiment chart counts all rows.
        tables["map"] = orders.sample(n=max_map_points, random_state=7) if max_map_points else orders.iloc[:0]
    return ReportData(tables, lake.root, dt.datetime.now(dt.UTC), missing)


def _day(value: object) -> dt.date:
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(str(value)).date()


def _number(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _percent(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.1%}"


def top_currencies(data: ReportData, count: int = TOP_CURRENCIES) -> list[str]:
    """The currencies with the most orders (by gold/daily_kpis)."""
    kpis = data.frame(DAILY_KPIS_TABLE)
    if kpis.empty:
        return []
    totals = kpis.groupby("currency")["orders"].sum().sort_values(ascending=False, kind="stable")
    return [str(c) for c in totals.index[:count]]


def kpi_summary(data: ReportData) -> pd.DataFrame:
    """Per currency over the whole period: orders, revenue, net cash flow and rates weighted by their counts."""
    kpis = data.frame(DAILY_KPIS_TABLE).copy()
    if kpis.empty:
        return pd.DataFrame(columns=_SUMMARY_COLUMNS)
    kpis["succeeded"] = kpis["payment_attempts"] - kpis["payment_failures"]
    kpis["chargebacks"] = kpis["chargeback_rate"].fillna(0) * kpis["succeeded"]
    kpis["returned"] = kpis["return_rate"].fillna(0) * kpis["orders"]
    summary = kpis.groupby("currency").agg(
        orders=("orders", "sum"),
        gross_revenue=("gross_revenue", "sum"),
        payment_attempts=("payment_attempts", "sum"),
        succeeded=("succeeded", "sum"),
        chargebacks=("chargebacks", "sum"),
        returned=("returned", "sum"),
    )
    cash = data.frame(CASH_FLOW_DAILY_TABLE)
    summary["net_cash_flow"] = cash.groupby("currency")["net"].sum() if not cash.empty else float("nan")

    def ratio(top: pd.Series, bottom: pd.Series) -> pd.Series:
        return (top / bottom.where(bottom > 0)).astype("float64")

    summary["payment_success_rate"] = ratio(summary["succeeded"], summary["payment_attempts"])
    summary["chargeback_rate"] = ratio(summary["chargebacks"], summary["succeeded"])
    summary["return_rate"] = ratio(summary["returned"], summary["orders"])
    summary = summary.reset_index().sort_values(["orders", "currency"], ascending=[False, True], kind="stable")
    return summary[_SUMMARY_COLUMNS].reset_index(drop=True)


def daily_volume_chart(data: ReportData) -> str:
    kpis = data.frame(DAILY_KPIS_TABLE)
    title = "Daily order volume (all currencies)"
    if kpis.empty:
        return charts.no_data("daily-volume", title)
    per_day = kpis.groupby("date")["orders"].sum()
    points = [(_day(day), float(count)) for day, count in per_day.items()]
    return charts.line_chart("daily-volume", title, [Series("orders", points)])


def daily_value_chart(data: ReportData) -> str:
    kpis = data.frame(DAILY_KPIS_TABLE)
    title = "Daily gross revenue by currency"
    currencies = top_currencies(data)
    if not currencies:
        return charts.no_data("daily-value", title)
    series = []
    for currency in currencies:
        rows = kpis[kpis["currency"] == currency].groupby("date")["gross_revenue"].sum()
        series.append(Series(currency, [(_day(day), float(value)) for day, value in rows.items()]))
    return charts.line_chart("daily-value", f"{title} (top {len(currencies)})", series)


def cash_flow_charts(data: ReportData) -> list[str]:
    """Net cash flow per day with the forecast and its band, one chart per top currency."""
    cash = data.frame(CASH_FLOW_DAILY_TABLE)
    forecast = data.frame(CASH_FLOW_FORECAST_TABLE)
    currencies = top_currencies(data) or sorted({str(c) for c in cash["currency"]})[:TOP_CURRENCIES]
    if not currencies:
        return [charts.no_data("cash-flow", "Net cash flow and forecast")]
    drawn = []
    for currency in currencies:
        actual = cash[cash["currency"] == currency].sort_values("date")
        ahead = forecast[forecast["currency"] == currency].sort_values("date")
        series = [
            Series("net (actual)", [(_day(d), float(v)) for d, v in zip(actual["date"], actual["net"], strict=True)])
        ]
        band = None
        if not ahead.empty:
            series.append(
                Series(
                    "net (forecast)",
                    [(_day(d), float(v)) for d, v in zip(ahead["date"], ahead["net_forecast"], strict=True)],
                    dashed=True,
                )
            )
            band = Band(
                "forecast interval",
                [
                    (_day(d), float(lo), float(hi))
                    for d, lo, hi in zip(ahead["date"], ahead["net_lower"], ahead["net_upper"], strict=True)
                ],
            )
        drawn.append(charts.line_chart(f"cash-flow-{currency}", f"Net cash flow, {currency}", series, band=band))
    return drawn


def payment_method_chart(data: ReportData) -> str:
    payments = data.frame(PAYMENTS_TABLE)
    title = "Payment success rate by method"
    if payments.empty:
        return charts.no_data("payment-methods", title)
    grouped = payments.assign(ok=payments["status"].eq("succeeded")).groupby("payment_method")["ok"]
    stats = pd.DataFrame({"attempts": grouped.count(), "rate": grouped.mean()}).sort_values("attempts", ascending=False)
    bars = [
        (str(method), float(row.rate), f"{row.rate:.1%} of {int(row.attempts):,}") for method, row in stats.iterrows()
    ]
    return charts.bar_chart("payment-methods", title, bars, maximum=1.0)


def return_reasons_chart(data: ReportData) -> str:
    returns = data.frame(RETURNS_TABLE)
    title = "Returns by reason"
    if returns.empty:
        return charts.no_data("return-reasons", title)
    counts = returns["reason_code"].fillna("unknown").value_counts()
    total = int(counts.sum())
    bars = [(str(reason), float(n), f"{int(n):,} ({n / total:.0%})") for reason, n in counts.items()]
    return charts.bar_chart("return-reasons", title, bars)


def sentiment_chart(data: ReportData) -> str:
    orders = data.frame(ORDERS_TABLE)
    title = "Order comment sentiment per day"
    labelled = orders[orders["sentiment_label"].notna()] if not orders.empty else orders
    if labelled.empty:
        return charts.no_data("sentiment", title)
    counts = labelled.groupby(["order_date", "sentiment_label"]).size().unstack(fill_value=0)
    series = [
        Series(label, [(_day(day), float(n)) for day, n in counts[label].items()])
        for label in ("Good", "Neutral", "Bad")
        if label in counts.columns
    ]
    return charts.line_chart("sentiment", title, series)


def orders_map(data: ReportData) -> str:
    orders = data.tables.get("map", data.frame(ORDERS_TABLE))
    located = orders.dropna(subset=["lat", "lon"]) if not orders.empty else orders
    points = [(float(lat), float(lon)) for lat, lon in zip(located["lat"], located["lon"], strict=True)]
    total = len(data.frame(ORDERS_TABLE))
    title = f"Orders by delivery location ({len(points):,} of {total:,} orders)"
    return charts.world_scatter("orders-map", title, points)


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem; color: #222; max-width: 1000px; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9rem; } th, td { padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; } thead th { border-bottom: 1px solid #999; }
tbody tr:nth-child(odd) { background: #f6f6f6; } .meta { color: #666; font-size: 0.85rem; }
svg.chart { display: block; margin: 0.5rem 0 1rem; max-width: 100%; height: auto; font-family: inherit; }
"""


def _summary_table(summary: pd.DataFrame) -> str:
    if summary.empty:
        return '<p class="no-data">no data: gold/daily_kpis is empty (run <code>orders-pipeline batch kpis</code>)</p>'
    head = (
        "<tr><th>currency</th><th>orders</th><th>gross revenue</th><th>net cash flow</th>"
        "<th>payment success</th><th>chargeback rate</th><th>return rate</th></tr>"
    )
    rows = "".join(
        f"<tr><td>{escape(str(r.currency))}</td><td>{int(r.orders):,}</td><td>{_number(r.gross_revenue)}</td>"
        f"<td>{_number(r.net_cash_flow)}</td><td>{_percent(r.payment_success_rate)}</td>"
        f"<td>{_percent(r.chargeback_rate)}</td><td>{_percent(r.return_rate)}</td></tr>"
        for r in summary.itertuples()
    )
    return f'<table class="kpi-summary"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def render(data: ReportData) -> str:
    """The whole report as one HTML document (no scripts, no external resources)."""
    sections = [
        ("KPI summary", _summary_table(kpi_summary(data))),
        ("Daily volume and value", daily_volume_chart(data) + daily_value_chart(data)),
        ("Cash flow and forecast", "".join(cash_flow_charts(data))),
        ("Payments", payment_method_chart(data)),
        ("Returns", return_reasons_chart(data)),
        ("Customer sentiment", sentiment_chart(data)),
        ("Orders on the map", orders_map(data)),
    ]
    missing = (
        f'<p class="meta">Tables not found (charts show "no data"): {escape(", ".join(data.missing))}</p>'
        if data.missing
        else ""
    )
    body = "".join(f"<section><h2>{escape(title)}</h2>{html}</section>" for title, html in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>orders-pipeline report</title><style>{_STYLE}</style></head><body>"
        "<h1>orders-pipeline report</h1>"
        f'<p class="meta">Lake {escape(data.lake_root)} &middot; generated '
        f"{data.generated_at.strftime('%Y-%m-%d %H:%M UTC')}. Dates are UTC; amounts in each currency.</p>"
        f"{missing}{body}</body></html>\n"
    )


def report_location(lake_root: str, output: str | None) -> str:
    """Where the report goes: ``output``, else ``report.html`` beside a folder lake or under ``<root>/reports``."""
    if output:
        return output
    if lake_root.startswith(("s3://", "s3a://")):
        return f"{lake_root.rstrip('/')}/reports/report.html"
    return str(Path(os.path.abspath(lake_root)).parent / "report.html")


def write_report(lake: Lake, output: str | None = None, max_map_points: int = 5000) -> str:
    """Render the lake's report and write it; returns where (a ``file://`` or ``s3://`` URI)."""
    html = render(load_report_data(lake, max_map_points))
    where = report_location(lake.root, output)
    if where.startswith(("s3://", "s3a://")):
        from pipelines.aws.clients import client

        bucket, _, key = where.split("://", 1)[1].partition("/")
        if not key:
            raise ReportError(f"report.output needs a key after the bucket, got {where!r}")
        client("s3").put_object(Bucket=bucket, Key=key, Body=html.encode("utf-8"), ContentType="text/html")
        return f"s3://{bucket}/{key}"
    path = Path(where).expanduser().resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the report to {path}: {exc}") from exc
    return path.as_uri()
