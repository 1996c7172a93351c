from __future__ import annotations

import os
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from support.kpi_lake import build_kpi_lake

from pipelines.cli import main
from pipelines.lake import Lake
from pipelines.report import kpi_summary, load_report_data, render, report_location, top_currencies, write_report
from pipelines.schemas import DAILY_KPIS_TABLE

CHROMIUM = "/usr/bin/chromium"
CHARTS = ("daily-volume", "daily-value", "payment-methods", "return-reasons", "sentiment", "orders-map")


@pytest.fixture(scope="session")
def kpi_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return build_kpi_lake(spark, tmp_path_factory.mktemp("kpi-lake"))


@pytest.fixture(scope="module")
def report_file(kpi_lake: Lake, tmp_path_factory: pytest.TempPathFactory) -> Path:
    uri = write_report(kpi_lake, str(tmp_path_factory.mktemp("report") / "report.html"), max_map_points=300)
    return Path(uri.removeprefix("file://"))


def _chart_names(html: str) -> list[str]:
    return re.findall(r'<svg class="chart" data-chart="([^"]+)"', html)


@pytest.mark.spark
def test_the_report_of_a_lake_draws_every_chart_with_data(report_file: Path, kpi_lake: Lake) -> None:
    html = report_file.read_text(encoding="utf-8")
    currencies = top_currencies(load_report_data(kpi_lake))

    assert set(CHARTS) <= set(_chart_names(html))
    assert {f"cash-flow-{currency}" for currency in currencies} <= set(_chart_names(html))
    assert len(currencies) == 3
    assert "no data" not in html
    # The forecast band is drawn on the cash-flow charts.
    assert html.count('class="band"') == len(currencies)
    assert html.count('<table class="kpi-summary">') == 1


@pytest.mark.spark
def test_the_report_is_one_file_that_needs_nothing_from_the_network(report_file: Path) -> None:
    html = report_file.read_text(encoding="utf-8")

    assert "<script" not in html
    assert not re.search(r"""(src|href)\s*=""", html)
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) == {"http://www.w3.org/2000/svg"}


@pytest.mark.spark
def test_the_summary_weights_each_day_by_its_counts(kpi_lake: Lake) -> None:
    data = load_report_data(kpi_lake)
    summary = kpi_summary(data).set_index("currency")
    kpis = kpi_lake.read_arrow(DAILY_KPIS_TABLE).to_pandas()

    assert summary["orders"].sum() == kpis["orders"].sum()
    for currency, rows in kpis.groupby("currency"):
        attempts = rows["payment_attempts"].sum()
        expected = (attempts - rows["payment_failures"].sum()) / attempts if attempts else None
        if expected is not None:
            assert summary.loc[currency, "payment_success_rate"] == pytest.approx(expected)


def test_the_report_of_an_empty_lake_says_no_data_for_every_chart(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    lake.ensure_tables()

    html = render(load_report_data(lake))

    assert set(CHARTS) <= set(_chart_names(html)) | {"cash-flow"}
    assert html.count(">no data</text>") == len(_chart_names(html))
    assert "gold/daily_kpis is empty" in html


def test_the_report_of_a_lake_without_tables_lists_them_and_still_renders(tmp_path: Path) -> None:
    html = render(load_report_data(Lake(str(tmp_path / "nothing-here"))))

    assert "Tables not found" in html
    assert "silver/orders" in html
    assert ">no data</text>" in html


def test_the_report_goes_beside_a_folder_lake_or_under_the_s3_root() -> None:
    assert report_location("/data/lake", None) == "/data/report.html"
    assert report_location("s3://bucket/orders/", None) == "s3://bucket/orders/reports/report.html"
    assert report_location("/data/lake", "/tmp/x.html") == "/tmp/x.html"


def test_batch_report_writes_the_file_and_prints_its_uri(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lake = Lake(str(tmp_path / "lake"))
    lake.ensure_tables()
    target = tmp_path / "out" / "kpis.html"

    code = main(["batch", "report", "--set", f"lake.root={lake.root}", "--output", str(target)])

    assert code == 0
    assert capsys.readouterr().out.strip() == f"report: {target.as_uri()}"
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed on the CI machine (apt-get install -y chromium)")
        pytest.skip("chromium is not installed: apt-get install -y chromium")
    return subprocess.run(
        [
            CHROMIUM if Path(CHROMIUM).exists() else "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the decompressed scanlines of a PNG (enough to tell a blank image)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, width, height = 8, b"", 0, 0
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            width, height = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big")
        elif kind == b"IDAT":
            chunks += body
        position += 12 + length
    return width, height, zlib.decompress(chunks)


@pytest.mark.spark
def test_headless_chromium_renders_every_chart_of_the_report(report_file: Path, tmp_path: Path) -> None:
    dumped = _chromium("--dump-dom", report_file.as_uri(), profile=tmp_path / "profile-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout

    rendered = _chart_names(dom)
    assert set(CHARTS) <= set(rendered)
    assert len(rendered) == len(_chart_names(report_file.read_text(encoding="utf-8")))
    assert dom.count("<circle") > 100
    assert "no data" not in dom
    assert "error" not in dom.lower()

    screenshot = tmp_path / "report.png"
    shot = _chromium(
        f"--screenshot={screenshot}", "--window-size=1100,2400", report_file.as_uri(), profile=tmp_path / "profile-png"
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    width, height, pixels = _png_pixels(screenshot.read_bytes())
    assert (width, height) == (1100, 2400)
    # A blank page compresses to a handful of distinct bytes; charts give many.
    assert len(set(pixels)) > 50
