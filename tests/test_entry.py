from __future__ import annotations

import pytest

from pipelines.entry import job_parser, job_settings


def test_a_job_loads_its_overrides_and_ignores_arguments_the_platform_adds() -> None:
    parser = job_parser("kpis", "Build the gold tables.\n\nMore text.")
    parser.add_argument("--full", action="store_true")

    args, settings = job_settings(parser, ["--set", "source.kind=kafka", "--full", "--JOB_NAME", "orders-kpis"])

    assert args.full is True
    assert settings.source.kind == "kafka"
    assert parser.description == "Build the gold tables."


def test_a_strict_job_rejects_arguments_it_does_not_know() -> None:
    with pytest.raises(SystemExit):
        job_settings(job_parser("notify_stalled"), ["--JOB_NAME", "orders-stalled"], strict=True)
