from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def fresh_machine_env() -> dict[str, str]:
    """The environment of a machine where nothing was started: no AWS endpoint, no credentials."""
    return {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}


def test_demo_runs_end_to_end_with_nothing_started_first(tmp_path: Path, fresh_machine_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "demo", "--events", "1500", "--workdir", str(tmp_path)],
        cwd=tmp_path,
        env=fresh_machine_env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "AWS endpoint: http://127.0.0.1:" in result.stdout
    out = result.stdout
    assert "received all 1500 records sent" in out
    # Bronze keeps every record; the rest of the lake and the notifications are filled by the stream.
    assert re.search(r"bronze/order_events\s+1,500 rows", out), out
    assert re.search(r"silver/orders\s+[1-9][\d,]* rows", out), out
    assert re.search(r"order_confirmed\s+sent\s+[1-9]", out), out
    assert "order_stalled check:" in out
    assert "checkpoint at version" in out
    assert "demo finished" in out
    # It ends with the KPI summary and the report's path.
    assert "KPI summary (named query kpi_summary):" in out
    report = re.search(r"report: (file://\S+)", out)
    assert report, out
    assert (tmp_path / "report.html").as_uri() == report.group(1)
    assert (tmp_path / "report.html").read_text(encoding="utf-8").count('<svg class="chart"') >= 6
