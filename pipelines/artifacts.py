"""`orders-pipeline package`: the artifacts a deployment on EMR 8, EMR Serverless or Glue 6 runs.

Outputs (under ``--output``, default ``dist/``), laid out as they are uploaded to
``s3://<artifacts bucket>/<prefix>/`` (docs/deploy.md):

- ``orders_pipeline-<version>-py3-none-any.whl``: the project wheel;
- ``requirements-emr.txt`` / ``requirements-glue.txt``: its run-time dependencies pinned to the
  versions of the building environment (never pyspark: EMR and Glue ship their own);
- ``glue/additional-python-modules.txt``: the pins as Glue's comma-separated
  ``--additional-python-modules`` value (the template's ``PinnedPythonModules``);
- ``pyfiles/orders_pipeline.zip``: the ``pipelines`` and ``jobs`` packages for ``--py-files``;
- ``jobs/*.py``, ``conf/{emr,glue}.yaml`` and ``conf/expectations/*.json``: the entry scripts, the
  settings files and the data-quality suites;
- ``emr/`` and ``emr-serverless/``: the step files, job-run requests and bootstrap action of ``deploy/``;
- ``cloudformation/orders-pipeline.yaml``: the stack (pipelines.infra);
- ``emr-serverless/orders-pipeline-venv.tar.gz`` with ``--venv``: a packed Python environment
  (venv-pack) for ``spark.archives``; it holds this machine's Python, so build it on the image's;
- ``glue/python313-wheels.json`` with ``--check-glue-wheels``: which pins have Python 3.13 wheels;
- ``manifest.json``: every file with its sha256 and size.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from pipelines.infra import write_template

DIST_NAME = "orders-pipeline"
# Shipped by EMR and Glue themselves; a pip-installed copy would shadow the cluster's Spark.
PROVIDED_BY_PLATFORM = frozenset({"pyspark", "py4j"})
PACKAGES = ("pipelines", "jobs")
SOURCE_FILES = ("setup.py", "pyproject.toml", "README.md")
DEPLOY_FOLDERS = ("emr", "emr-serverless")
CONF_FILES = ("emr.yaml", "glue.yaml")
GLUE_PYTHON = "3.13"
# Glue 6 runs on Amazon Linux 2023 (glibc 2.34): any manylinux wheel up to glibc 2.34 installs.
GLUE_PLATFORMS = ("manylinux2014_x86_64", *(f"manylinux_2_{minor}_x86_64" for minor in range(17, 35)))
VENV_ARCHIVE = "orders-pipeline-venv.tar.gz"


class PackagingError(RuntimeError):
    """An artifact could not be built."""


@dataclass(frozen=True)
class Artifact:
    """One built file, as listed in the manifest."""

    file: str
    sha256: str
    size: int


@dataclass
class Manifest:
    """What ``package`` built and from what."""

    version: str
    python: str
    artifacts: list[Artifact] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": self.version,
                "built_with_python": self.python,
                "artifacts": [asdict(a) for a in self.artifacts],
            },
            indent=2,
        )


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_requirements(dist_name: str = DIST_NAME, exclude: Iterable[str] = PROVIDED_BY_PLATFORM) -> list[str]:
    """``name==version`` of every run-time dependency of ``dist_name`` (recursively), as installed here.

    Only install_requires count (no extras): what a cluster needs next to its own Spark.
    """
    excluded = {_canonical(name) for name in exclude}
    pins: dict[str, str] = {}
    pending = [_canonical(dist_name)]
    seen = set(pending)
    while pending:
        name = pending.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise PackagingError(f"{name} is required but not installed here: install the project first") from None
        if name != _canonical(dist_name):
            pins[_canonical(dist.metadata["Name"])] = dist.version
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            child = _canonical(requirement.name)
            if child in excluded or child in seen:
                continue
            seen.add(child)
            pending.append(child)
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run(command: list[str], what: str, cwd: Path | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise PackagingError(f"{what} failed (exit {result.returncode}):\n{tail}")
    return result.stdout


def build_wheel(project: Path, output: Path) -> Path:
    """The project wheel, built from ``project`` without its dependencies."""
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="orders-wheel-") as tmp:
        # Build from a copy of the sources only: an in-tree build leaves build/ behind, whose stale
        # files a later build would ship.
        source = Path(tmp) / "source"
        source.mkdir()
        for name in SOURCE_FILES:
            shutil.copy2(project / name, source / name)
        for package in PACKAGES:
            shutil.copytree(
                project / package, source / package, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]")
            )
        wheels_dir = Path(tmp) / "wheels"
        _run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels_dir), str(source)],
            "pip wheel",
        )
        wheels = list(wheels_dir.glob("orders_pipeline-*.whl"))
        if len(wheels) != 1:
            raise PackagingError(f"pip wheel produced {[w.name for w in wheels]}, expected one orders_pipeline wheel")
        target = output / wheels[0].name
        shutil.move(str(wheels[0]), target)
    return target


def build_pyfiles_zip(project: Path, target: Path) -> Path:
    """The ``pipelines`` and ``jobs`` packages (sources and package data) as a ``--py-files`` zip."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for package in PACKAGES:
            for path in sorted((project / package).rglob("*")):
                if path.is_dir() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
                    continue
                archive.write(path, path.relative_to(project).as_posix())
    return target


def build_packed_venv(wheel: Path, requirements: Path, target: Path) -> Path:
    """A venv with the wheel and the pinned requirements, packed with venv-pack for ``spark.archives``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="orders-venv-") as tmp:
        env = Path(tmp) / "env"
        _run([sys.executable, "-m", "venv", "--copies", str(env)], "python -m venv")
        python = env / "bin" / "python"
        _run(
            [str(python), "-m", "pip", "install", "--quiet", "-r", str(requirements), str(wheel), "venv-pack>=0.2,<1"],
            "pip install into the packed environment",
        )
        _run(
            [str(python), "-m", "venv_pack", "--prefix", str(env), "--output", str(target), "--force", "--quiet"],
            "venv-pack",
        )
    return target


def check_glue_wheels(pins: Iterable[str], report: Path) -> Path:
    """Whether each pin has a binary for Glue 6 (CPython 3.13, manylinux x86_64, glibc <= 2.34); written as JSON.

    One ``pip download --no-deps --only-binary=:all:`` per pin into a scratch folder: the
    answer pip itself gives Glue's installer, wheel file names included.
    """
    results: dict[str, dict[str, str | bool]] = {}
    with tempfile.TemporaryDirectory(prefix="orders-glue-wheels-") as tmp:
        for pin in pins:
            folder = Path(tmp) / _canonical(pin.split("==")[0])
            command = [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                "--python-version", GLUE_PYTHON, "--implementation", "cp", "-d", str(folder), pin,
                *(option for platform_tag in GLUE_PLATFORMS for option in ("--platform", platform_tag)),
            ]  # fmt: skip
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            files = sorted(p.name for p in folder.glob("*")) if folder.exists() else []
            results[pin] = {
                "available": result.returncode == 0 and bool(files),
                "file": files[0] if files else "",
                "error": "" if result.returncode == 0 else (result.stderr.strip().splitlines() or [""])[-1],
            }
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(
        json.dumps({"python": GLUE_PYTHON, "platforms": list(GLUE_PLATFORMS), "pins": results}, indent=2),
        encoding="utf-8",
    )
    return report


def project_root() -> Path:
    """The checkout the package is installed from (editable installs only: the artifacts need sources)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "setup.py").exists():
        raise PackagingError(f"{root} is not a source checkout: run `package` from a clone of the repository")
    return root


def build_artifacts(
    output: Path,
    project: Path | None = None,
    venv: bool = False,
    glue_wheels: bool = False,
    progress: Callable[[str], None] = print,
) -> Manifest:
    """Build every artifact into ``output`` (emptied first), printing one line per artifact."""
    project = project or project_root()
    if output.resolve() == project.resolve():
        raise PackagingError("the output folder must not be the checkout itself")
    if output.exists():
        # Only ever empty a folder a previous run filled: a mistyped --output must not delete anything else.
        if any(output.iterdir()) and not (output / "manifest.json").exists():
            raise PackagingError(f"{output} is not empty and holds no manifest.json: choose an empty or new folder")
        shutil.rmtree(output)
    output.mkdir(parents=True)
    version = metadata.version(DIST_NAME)
    manifest = Manifest(version=version, python=platform.python_version())
    scripts = sorted(path for path in (project / "jobs").glob("*.py") if path.name != "__init__.py")
    # Step files, job-run requests and the bootstrap action travel with the artifacts they name.
    deploy_files = sorted(
        path for folder in DEPLOY_FOLDERS for path in (project / "deploy" / folder).glob("*") if path.is_file()
    )
    # The settings files and the data-quality suites the jobs read (quality.suites points here).
    conf_files = [project / "conf" / name for name in CONF_FILES]
    conf_files += sorted((project / "conf" / "expectations").glob("*.json"))
    steps = 6 + len(scripts) + len(conf_files) + len(deploy_files) + int(venv) + int(glue_wheels)
    done = 0

    def record(path: Path) -> None:
        nonlocal done
        done += 1
        artifact = Artifact(file=path.relative_to(output).as_posix(), sha256=_sha256(path), size=path.stat().st_size)
        manifest.artifacts.append(artifact)
        progress(f"[{done}/{steps}] {artifact.file} ({artifact.size:,} bytes, sha256 {artifact.sha256[:12]})")

    wheel = build_wheel(project, output)
    record(wheel)
    pins = pinned_requirements()
    header = f"# orders-pipeline {version}: run-time dependencies pinned as built with Python {manifest.python}.\n"
    for name in ("requirements-emr.txt", "requirements-glue.txt"):
        path = output / name
        path.write_text(header + "".join(f"{pin}\n" for pin in pins), encoding="utf-8")
        record(path)
    modules = output / "glue" / "additional-python-modules.txt"
    modules.parent.mkdir()
    modules.write_text(",".join(pins) + "\n", encoding="utf-8")
    record(modules)
    record(build_pyfiles_zip(project, output / "pyfiles" / "orders_pipeline.zip"))
    jobs_dir = output / "jobs"
    jobs_dir.mkdir()
    for script in scripts:
        record(Path(shutil.copy2(script, jobs_dir)))
    conf_dir = output / "conf"
    conf_dir.mkdir()
    for path in conf_files:
        target = conf_dir / path.relative_to(project / "conf")
        target.parent.mkdir(parents=True, exist_ok=True)
        record(Path(shutil.copy2(path, target)))
    record(write_template(output / "cloudformation"))
    for path in deploy_files:
        target = output / path.relative_to(project / "deploy")
        target.parent.mkdir(parents=True, exist_ok=True)
        record(Path(shutil.copy2(path, target)))
    if venv:
        record(build_packed_venv(wheel, output / "requirements-emr.txt", output / "emr-serverless" / VENV_ARCHIVE))
    if glue_wheels:
        record(check_glue_wheels(pins, output / "glue" / "python313-wheels.json"))
    (output / "manifest.json").write_text(manifest.to_json() + "\n", encoding="utf-8")
    progress(f"manifest.json: {len(manifest.artifacts)} artifacts in {output}")
    return manifest
