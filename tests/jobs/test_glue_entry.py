"""The Glue entry script turns Glue job parameters into an `orders-pipeline` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.glue_entry import GlueArgumentsError, cli_arguments, main
from pipelines.aws.clients import client
from pipelines.cli import build_parser
from pipelines.settings import load_settings

REPO = Path(__file__).resolve().parents[2]

# What Glue itself adds to a run's arguments.
GLUE_OWN = [
    "--JOB_ID",
    "j_1",
    "--JOB_RUN_ID",
    "jr_1",
    "--job-bookmark-option",
    "job-bookmark-disable",
    "--JOB_NAME",
    "x",
]


def test_stream_command_with_overrides_and_glue_own_arguments() -> None:
    overrides = {"lake.root": "s3://lake/lake", "source.stream": "orders", "notifications.enabled": False}
    arguments = cli_arguments(
        [
            *GLUE_OWN,
            "--pipeline-command", "stream",
            "--pipeline-settings", "conf/glue.yaml",
            "--pipeline-overrides", json.dumps(overrides),
            "--pipeline-trigger", "available-now",
            "--TempDir", "s3://tmp/",
        ]
    )  # fmt: skip
    assert arguments == [
        "--conf", "conf/glue.yaml",
        "--set", "lake.root=s3://lake/lake",
        "--set", "source.stream=orders",
        "--set", "notifications.enabled=false",
        "stream",
        "--trigger", "available-now",
    ]  # fmt: skip
    parsed = build_parser().parse_args(arguments)
    assert (parsed.command, parsed.trigger) == ("stream", "available-now")
    settings = load_settings(REPO / "conf" / "glue.yaml", parsed.overrides)
    assert (settings.lake.root, settings.notifications.enabled) == ("s3://lake/lake", False)


def test_batch_command_names_its_job() -> None:
    arguments = cli_arguments([*GLUE_OWN, "--pipeline-command", "batch maintenance"])
    assert arguments == ["batch", "maintenance"]
    assert build_parser().parse_args(arguments).name == "maintenance"


@pytest.mark.parametrize("command", ["", "batch", "query x", "stream now"])
def test_a_command_other_than_stream_or_batch_name_is_refused(command: str) -> None:
    with pytest.raises(GlueArgumentsError, match="--pipeline-command"):
        cli_arguments(["--pipeline-command", command])


@pytest.mark.parametrize("overrides", ["[1]", "{lake.root: x}"])
def test_overrides_must_be_a_json_object(overrides: str) -> None:
    with pytest.raises(GlueArgumentsError, match="pipeline-overrides"):
        cli_arguments(["--pipeline-command", "stream", "--pipeline-overrides", overrides])


def test_trigger_is_refused_for_a_batch_job() -> None:
    with pytest.raises(GlueArgumentsError, match="stream command only"):
        cli_arguments(["--pipeline-command", "batch kpis", "--pipeline-trigger", "available-now"])


def test_settings_on_s3_are_downloaded_first(moto_server: object, unique_name: str) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket=unique_name)
    s3.put_object(Bucket=unique_name, Key="conf/glue.yaml", Body=(REPO / "conf" / "glue.yaml").read_bytes())
    arguments = cli_arguments(
        ["--pipeline-command", "stream", "--pipeline-settings", f"s3://{unique_name}/conf/glue.yaml"]
    )
    local = Path(arguments[1])
    assert local.read_bytes() == (REPO / "conf" / "glue.yaml").read_bytes()
    assert load_settings(local).source.max_records_per_partition == 50000


def test_bad_parameters_exit_with_usage_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--pipeline-command", "deploy"]) == 2
    assert "--pipeline-command" in capsys.readouterr().err
