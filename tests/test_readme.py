from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _quick_start_commands() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the quick start has a bash block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_is_exactly_install_demo_test() -> None:
    assert _quick_start_commands() == ['pip install -e ".[dev]"', "orders-pipeline demo", "pytest"]


def test_ci_runs_the_readme_install_and_test_commands_in_a_fresh_venv() -> None:
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    install, _, test = _quick_start_commands()
    assert "python3 -m venv" in script
    lines = [line.strip() for line in script.splitlines()]
    assert any(line.startswith("pip install") and line.endswith('-e ".[dev]"') for line in lines), install
    assert test in lines
