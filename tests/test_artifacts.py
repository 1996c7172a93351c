"""`orders-pipeline package` from a clean copy of the checkout: wheel, pins, zip, scripts, template, manifest."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from pipelines.artifacts import PackagingError, build_artifacts, pinned_requirements
from pipelines.cli import main

REPO = Path(__file__).resolve().parents[1]


def _clean_copy(target: Path) -> Path:
    """What a clone holds: the tracked and the new, not ignored, files of the checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (item.decode() for item in listed)):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`python -m pipelines package` run inside a clean copy, with that copy's own sources."""
    clone = _clean_copy(tmp_path_factory.mktemp("clone"))
    output = clone / "dist"
    environment = {**os.environ, "PYTHONPATH": str(clone)}
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "package", "--output", str(output)],
        cwd=clone,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {"clone": clone, "output": output, "stdout": result.stdout}


def test_manifest_lists_every_file_with_its_hash_and_size(built: dict[str, Any]) -> None:
    output: Path = built["output"]
    manifest = json.loads((output / "manifest.json").read_text())
    files = {p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file()} - {"manifest.json"}
    assert {a["file"] for a in manifest["artifacts"]} == files
    for artifact in manifest["artifacts"]:
        data = (output / artifact["file"]).read_bytes()
        assert artifact["size"] == len(data)
        assert artifact["sha256"] == hashlib.sha256(data).hexdigest()


def test_every_artifact_gets_a_progress_line(built: dict[str, Any]) -> None:
    lines = [line for line in built["stdout"].splitlines() if line.startswith("[")]
    total = len(json.loads((built["output"] / "manifest.json").read_text())["artifacts"])
    assert len(lines) == total
    assert lines[-1].startswith(f"[{total}/{total}] ")


def test_wheel_holds_both_packages_and_the_contract_schema(built: dict[str, Any]) -> None:
    (wheel,) = built["output"].glob("orders_pipeline-*-py3-none-any.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "pipelines/cli.py",
        "pipelines/contract/order-event.schema.json",
        "jobs/stream.py",
        "jobs/glue_entry.py",
    } <= names


def test_build_leaves_the_checkout_as_it_was(built: dict[str, Any]) -> None:
    assert not (built["clone"] / "build").exists()


def test_requirements_pin_every_dependency_and_never_pyspark(built: dict[str, Any]) -> None:
    for name in ("requirements-emr.txt", "requirements-glue.txt"):
        pins = [line for line in (built["output"] / name).read_text().splitlines() if not line.startswith("#")]
        assert pins == pinned_requirements()
        assert all("==" in pin for pin in pins)
        assert {pin.split("==")[0] for pin in pins} >= {"deltalake", "pydantic", "boto3", "vadersentiment"}
        assert not {pin.split("==")[0] for pin in pins} & {"pyspark", "py4j"}
    modules = (built["output"] / "glue" / "additional-python-modules.txt").read_text().strip()
    assert modules.split(",") == pinned_requirements()


def test_py_files_zip_imports_without_the_installed_package(built: dict[str, Any], tmp_path: Path) -> None:
    archive = built["output"] / "pyfiles" / "orders_pipeline.zip"
    code = "import pipelines.settings, jobs.glue_entry; print(pipelines.settings.__file__)"
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(archive)!r}); {code}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    # The zip is first on sys.path: the modules must come from it, not from the editable install.
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(archive))


def test_entry_scripts_conf_and_template_are_included(built: dict[str, Any]) -> None:
    output: Path = built["output"]
    scripts = {p.name for p in (REPO / "jobs").glob("*.py")} - {"__init__.py"}
    assert {p.name for p in (output / "jobs").glob("*.py")} == scripts
    assert {p.name for p in (output / "conf").glob("*.yaml")} == {"emr.yaml", "glue.yaml"}
    suites = {p.name for p in (REPO / "conf" / "expectations").glob("*.json")}
    assert suites
    assert {p.name for p in (output / "conf" / "expectations").iterdir()} == suites
    assert (output / "emr" / "bootstrap.sh").exists()
    assert (output / "emr-serverless" / "stream-job-run.json").exists()
    assert (output / "cloudformation" / "orders-pipeline.yaml").read_text().count("AWS::Glue::Job") >= 5


def test_a_folder_not_made_by_package_is_never_emptied(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(PackagingError, match="not empty"):
        build_artifacts(tmp_path, project=REPO, progress=lambda _line: None)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_package_command_reports_a_refused_folder_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["package", "--output", str(tmp_path)]) == 1
    assert "holds no manifest.json" in capsys.readouterr().err


@pytest.mark.slow
def test_packed_environment_runs_the_project(tmp_path: Path) -> None:
    output = tmp_path / "dist"
    build_artifacts(output, project=REPO, venv=True, progress=lambda _line: None)
    unpacked = tmp_path / "environment"
    with tarfile.open(output / "emr-serverless" / "orders-pipeline-venv.tar.gz") as archive:
        archive.extractall(unpacked, filter="tar")
    result = subprocess.run(
        [str(unpacked / "bin" / "python"), "-c", "import deltalake, pipelines.settings, vaderSentiment; print('ok')"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.strip() == "ok", result.stderr
