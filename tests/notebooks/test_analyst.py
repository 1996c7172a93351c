from __future__ import annotations

import os
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from support.kpi_lake import build_kpi_lake

from pipelines.lake import Lake

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "analyst.ipynb"

pytestmark = pytest.mark.spark


@pytest.fixture(scope="session")
def kpi_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return build_kpi_lake(spark, tmp_path_factory.mktemp("kpi-lake"))


def test_the_analyst_notebook_runs_every_cell_on_a_lake_and_plots_the_kpis(
    kpi_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv("ORDERS_LAKE_ROOT", kpi_lake.root)

    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.output_type == "error"]
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) >= 3
    tables = [output.data["text/plain"] for output in outputs if "text/html" in output.get("data", {})]
    assert any("daily_kpis" in table for table in tables)
    assert any("payment_success_rate" in table for table in tables)


def test_the_notebook_keeps_no_outputs_in_the_repository() -> None:
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)

    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    assert "ORDERS_LAKE_ROOT" in notebook.cells[1].source
    assert os.path.basename(NOTEBOOK) == "analyst.ipynb"
