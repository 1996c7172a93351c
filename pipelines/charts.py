"""Inline SVG charts for the static report: lines with an optional band, horizontal bars, a world scatter.

Plain strings, no plotting library and nothing fetched: the report must open offline. Every
chart is one ``<svg class="chart" data-chart=NAME>``; a chart with nothing to draw says
"no data" instead.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 760
HEIGHT = 300
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 72, 130, 34, 40


@dataclass(frozen=True)
class Series:
    """One line: a name for the legend and (day, value) points; ``None`` values break the line."""

    name: str
    points: Sequence[tuple[dt.date, float | None]]
    dashed: bool = False


@dataclass(frozen=True)
class Band:
    """A shaded interval, e.g. a forecast's lower and upper bounds, per day."""

    name: str
    points: Sequence[tuple[dt.date, float, float]]


def _svg(name: str, title: str, body: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    return (
        f'<svg class="chart" data-chart="{escape(name)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<text class="chart-title" x="8" y="18" font-size="14" font-weight="600">{escape(title)}</text>{body}</svg>'
    )


def no_data(name: str, title: str) -> str:
    """The placeholder of a chart with nothing to draw."""
    body = (
        f'<rect x="1" y="1" width="{WIDTH - 2}" height="{HEIGHT - 2}" fill="#fafafa" stroke="#ddd"/>'
        f'<text class="no-data" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#888" '
        'font-size="16">no data</text>'
    )
    return _svg(name, title, body)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2 or 5 times a power of ten apart)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def short_number(value: float) -> str:
    """Axis labels: 1.2k, 3.4M, 0.25."""
    size = abs(value)
    if size >= 1e9:
        return f"{value / 1e9:.3g}G"
    if size >= 1e6:
        return f"{value / 1e6:.3g}M"
    if size >= 1e3:
        return f"{value / 1e3:.3g}k"
    return f"{value:.3g}"


class _Frame:
    """Maps days and values onto the plot area of a chart."""

    def __init__(self, days: Sequence[dt.date], values: Sequence[float], zero: bool) -> None:
        self.first, self.last = min(days), max(days)
        low, high = min(values), max(values)
        if zero:
            low, high = min(low, 0.0), max(high, 0.0)
        self.ticks = nice_ticks(low, high)
        self.low, self.high = self.ticks[0], self.ticks[-1]
        self.left, self.right = _MARGIN_LEFT, WIDTH - _MARGIN_RIGHT
        self.top, self.bottom = _MARGIN_TOP, HEIGHT - _MARGIN_BOTTOM

    def x(self, day: dt.date) -> float:
        span = (self.last - self.first).days or 1
        return self.left + (day - self.first).days / span * (self.right - self.left)

    def y(self, value: float) -> float:
        span = (self.high - self.low) or 1.0
        return self.bottom - (value - self.low) / span * (self.bottom - self.top)

    def axes(self, y_format: Callable[[float], str]) -> str:
        parts = []
        for tick in self.ticks:
            y = self.y(tick)
            parts.append(
                f'<line x1="{self.left}" x2="{self.right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                f'<text x="{self.left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#555">'
                f"{escape(y_format(tick))}</text>"
            )
        span = (self.last - self.first).days
        step = max(1, math.ceil(span / 6)) if span else 1
        day = self.first
        while day <= self.last:
            x = self.x(day)
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{self.bottom}" y2="{self.bottom + 4}" stroke="#999"/>'
                f'<text x="{x:.1f}" y="{self.bottom + 18}" text-anchor="middle" font-size="11" fill="#555">'
                f"{day.isoformat()}</text>"
            )
            day += dt.timedelta(days=step)
        parts.append(f'<line x1="{self.left}" x2="{self.right}" y1="{self.bottom}" y2="{self.bottom}" stroke="#999"/>')
        return "".join(parts)


def _legend(entries: Sequence[tuple[str, str, str]]) -> str:
    parts = []
    for i, (label, color, kind) in enumerate(entries):
        y = _MARGIN_TOP + 8 + i * 18
        x = WIDTH - _MARGIN_RIGHT + 12
        mark = (
            f'<rect x="{x}" y="{y - 6}" width="14" height="10" fill="{color}" opacity="0.25"/>'
            if kind == "band"
            else f'<line x1="{x}" x2="{x + 14}" y1="{y}" y2="{y}" stroke="{color}" stroke-width="2"'
            + (' stroke-dasharray="4 3"' if kind == "dashed" else "")
            + "/>"
        )
        parts.append(mark + f'<text x="{x + 20}" y="{y + 4}" font-size="11">{escape(label)}</text>')
    return "".join(parts)


def line_chart(
    name: str,
    title: str,
    series: Sequence[Series],
    *,
    band: Band | None = None,
    y_format: Callable[[float], str] = short_number,
    zero: bool = True,
) -> str:
    """Lines over days (one per series), with an optional shaded band drawn underneath."""

    def usable(value: float | None) -> bool:
        return value is not None and math.isfinite(value)

    days = [d for s in series for d, v in s.points if usable(v)]
    values = [float(v) for s in series for _, v in s.points if v is not None and usable(v)]
    if band is not None:
        days += [d for d, _, _ in band.points]
        values += [float(v) for _, lo, hi in band.points for v in (lo, hi) if usable(v)]
    if not values:
        return no_data(name, title)
    frame = _Frame(days, values, zero)
    parts = [frame.axes(y_format)]
    legend: list[tuple[str, str, str]] = []
    if band is not None and band.points:
        upper = " ".join(f"{frame.x(d):.1f},{frame.y(hi):.1f}" for d, _, hi in band.points)
        lower = " ".join(f"{frame.x(d):.1f},{frame.y(lo):.1f}" for d, lo, _ in reversed(band.points))
        parts.append(f'<polygon class="band" points="{upper} {lower}" fill="{PALETTE[1]}" opacity="0.2"/>')
        legend.append((band.name, PALETTE[1], "band"))
    for i, line in enumerate(series):
        color = PALETTE[(i + (1 if band is not None and line.dashed else 0)) % len(PALETTE)]
        segments: list[list[str]] = [[]]
        previous: dt.date | None = None
        for day, value in sorted(line.points, key=lambda point: point[0]):
            if value is None or not math.isfinite(value):
                segments.append([])
                continue
            # A day without a row is unknown, not a straight line between its neighbours.
            if previous is not None and (day - previous).days > 1:
                segments.append([])
            previous = day
            segments[-1].append(f"{frame.x(day):.1f},{frame.y(float(value)):.1f}")
        dash = ' stroke-dasharray="5 4"' if line.dashed else ""
        for segment in segments:
            if len(segment) == 1:
                x, y = segment[0].split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{color}"/>')
            elif segment:
                parts.append(
                    f'<polyline class="series" points="{" ".join(segment)}" fill="none" stroke="{color}" '
                    f'stroke-width="2"{dash}/>'
                )
        legend.append((line.name, color, "dashed" if line.dashed else "line"))
    parts.append(_legend(legend))
    return _svg(name, title, "".join(parts))


def bar_chart(
    name: str,
    title: str,
    bars: Sequence[tuple[str, float, str]],
    maximum: float | None = None,
) -> str:
    """Horizontal bars: (label, value, text shown after the bar), largest scale = ``maximum`` or the top value."""
    drawn = [(label, value, text) for label, value, text in bars if value is not None and math.isfinite(value)]
    if not drawn:
        return no_data(name, title)
    top = maximum if maximum is not None else max(value for _, value, _ in drawn) or 1.0
    row, left, right = 26, 170, WIDTH - 150
    height = _MARGIN_TOP + row * len(drawn) + 10
    parts = []
    for i, (label, value, text) in enumerate(drawn):
        y = _MARGIN_TOP + i * row
        length = max(0.0, value) / top * (right - left) if top else 0.0
        parts.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" font-size="12">{escape(label)}</text>'
            f'<rect class="bar" x="{left}" y="{y + 3}" width="{length:.1f}" height="{row - 8}" '
            f'fill="{PALETTE[0]}"/>'
            f'<text x="{left + length + 6:.1f}" y="{y + 15}" font-size="11" fill="#333">{escape(text)}</text>'
        )
    return _svg(name, title, "".join(parts), height=height)


def world_scatter(
    name: str,
    title: str,
    points: Sequence[tuple[float, float]],
    width: int = WIDTH,
) -> str:
    """(lat, lon) points on an equirectangular projection with a 30-degree graticule."""
    valid = [(lat, lon) for lat, lon in points if -90 <= lat <= 90 and -180 <= lon <= 180]
    if not valid:
        return no_data(name, title)
    top, height = _MARGIN_TOP, width // 2

    def x(lon: float) -> float:
        return (lon + 180) / 360 * width

    def y(lat: float) -> float:
        return top + (90 - lat) / 180 * height

    parts = [f'<rect x="0" y="{top}" width="{width}" height="{height}" fill="#eef4fb"/>']
    for lon in range(-180, 181, 30):
        parts.append(f'<line x1="{x(lon):.1f}" x2="{x(lon):.1f}" y1="{top}" y2="{top + height}" stroke="#cdd9e6"/>')
    for lat in range(-90, 91, 30):
        stroke = "#9fb3c8" if lat == 0 else "#cdd9e6"
        parts.append(f'<line x1="0" x2="{width}" y1="{y(lat):.1f}" y2="{y(lat):.1f}" stroke="{stroke}"/>')
        if -90 < lat < 90:
            parts.append(f'<text x="4" y="{y(lat) - 3:.1f}" font-size="10" fill="#6b7f94">{lat}°</text>')
    parts.append('<g class="points" fill="#d62728" fill-opacity="0.45">')
    parts.extend(f'<circle cx="{x(lon):.1f}" cy="{y(lat):.1f}" r="2"/>' for lat, lon in valid)
    parts.append("</g>")
    return _svg(name, title, "".join(parts), width=width, height=top + height)
