from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from pipelines.charts import Band, Series, bar_chart, line_chart, nice_ticks, no_data, world_scatter

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [dt.date(2026, 11, 1) + dt.timedelta(days=i) for i in range(5)]


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [(0, 97, [0, 20, 40, 60, 80, 100]), (-3, 4, [-4, -2, 0, 2, 4]), (5, 5, [5.0, 6.0, 7.0, 8.0, 9.0, 10.0])],
)
def test_ticks_are_round_numbers_covering_the_range(low: float, high: float, expected: list[float]) -> None:
    ticks = nice_ticks(low, high)

    assert ticks == expected


def test_a_line_chart_draws_each_series_and_the_band_under_them() -> None:
    svg = line_chart(
        "cash",
        "Net cash flow",
        [
            Series("actual", [(d, float(i)) for i, d in enumerate(DAYS[:3])]),
            Series("forecast", [(DAYS[4], 3.0)], dashed=True),
        ],
        band=Band("interval", [(d, 1.0, 5.0) for d in DAYS[3:]]),
    )
    root = _parse(svg)

    assert root.get("data-chart") == "cash"
    assert len(root.findall(f".//{SVG}polygon")) == 1
    assert len(root.findall(f".//{SVG}polyline")) == 1
    # A one-point series is a dot, not an invisible line.
    assert len(root.findall(f".//{SVG}circle")) == 1
    assert "no data" not in svg


def test_a_missing_value_breaks_the_line_instead_of_bridging_it() -> None:
    points: list[tuple[dt.date, float | None]] = [
        (DAYS[0], 1.0),
        (DAYS[1], 2.0),
        (DAYS[2], None),
        (DAYS[3], 1.0),
        (DAYS[4], 2.0),
    ]
    root = _parse(line_chart("gap", "Gap", [Series("s", points)]))

    assert len(root.findall(f".//{SVG}polyline")) == 2


def test_a_day_without_a_row_breaks_the_line() -> None:
    points: list[tuple[dt.date, float | None]] = [(DAYS[0], 1.0), (DAYS[1], 2.0), (DAYS[3], 1.0), (DAYS[4], 2.0)]
    root = _parse(line_chart("gap", "Gap", [Series("s", points)]))

    assert len(root.findall(f".//{SVG}polyline")) == 2


def test_a_chart_with_nothing_to_draw_says_no_data() -> None:
    for svg in (
        line_chart("empty", "Empty", [Series("s", [(DAYS[0], None), (DAYS[1], float("nan"))])]),
        bar_chart("empty", "Empty", []),
        world_scatter("empty", "Empty", [(91.0, 0.0), (0.0, 181.0)]),
        no_data("empty", "Empty"),
    ):
        assert [text.text for text in _parse(svg).iter(f"{SVG}text")][-1] == "no data"


def test_bars_scale_to_the_maximum_given() -> None:
    root = _parse(bar_chart("rates", "Rates", [("card", 0.5, "50%"), ("paypal", 1.0, "100%")], maximum=1.0))
    widths = [float(rect.get("width", "0")) for rect in root.findall(f".//{SVG}rect")]

    assert widths[1] == pytest.approx(2 * widths[0])


def test_the_map_places_points_by_latitude_and_longitude() -> None:
    root = _parse(world_scatter("map", "Map", [(0.0, 0.0), (90.0, -180.0)], width=360))
    circles = [(float(c.get("cx", "")), float(c.get("cy", ""))) for c in root.findall(f".//{SVG}circle")]

    # Below the title band: latitude 90 is the map's top edge.
    top = min(float(r.get("y", "0")) for r in root.findall(f".//{SVG}rect"))
    assert circles == [(180.0, top + 90.0), (0.0, top)]


def test_titles_are_escaped() -> None:
    svg = line_chart("x", "<script>alert(1)</script>", [Series("a&b", [(DAYS[0], 1.0)])])

    assert "<script>" not in svg
    _parse(svg)
