"""The files in deploy/: EMR steps, EMR Serverless job runs, stack parameters and the bootstrap action.

Each request is checked against the AWS API's own input shape (botocore's service model) and
sent to the moto server; the scripts and settings they name must exist and load.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from botocore.session import get_session
from botocore.validate import ParamValidator

from pipelines.aws.clients import client
from pipelines.infra import build_template
from pipelines.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
ACCOUNT = "123456789012"
STEP_FILES = sorted((DEPLOY / "emr").glob("steps-*.json"))
JOB_RUN_FILES = sorted((DEPLOY / "emr-serverless").glob("*-job-run.json"))


def _filled(path: Path, **values: str) -> Any:
    text = path.read_text()
    for token, value in {
        "ARTIFACTS_BUCKET": "artifacts",
        "LAKE_BUCKET": "lake",
        "ACCOUNT_ID": ACCOUNT,
        **values,
    }.items():
        text = text.replace(token, value)
    return json.loads(text)


def _validate(service: str, operation: str, params: dict[str, Any]) -> None:
    shape = get_session().get_service_model(service).operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    assert not report.has_errors(), report.generate_report()


def _script_and_settings(script_uri: str, arguments: list[str]) -> None:
    """The script exists in jobs/ and its --conf/--set arguments load as settings."""
    assert script_uri.startswith("s3://artifacts/orders-pipeline/0.1.0/jobs/")
    assert (REPO / "jobs" / script_uri.rsplit("/", 1)[1]).exists(), script_uri
    assert arguments[:2] == ["--conf", "emr.yaml"]
    overrides = [arguments[i + 1] for i, arg in enumerate(arguments) if arg == "--set"]
    settings = load_settings(REPO / "conf" / "emr.yaml", overrides)
    assert settings.lake.root == "s3://lake/lake"
    assert settings.source.stream == "orders-pipeline-events"


@pytest.mark.parametrize("path", STEP_FILES, ids=lambda p: p.name)
def test_emr_steps_are_valid_requests_that_moto_accepts(path: Path, moto_server: object, unique_name: str) -> None:
    steps = _filled(path)
    api_steps = [
        {
            "Name": s["Name"],
            "ActionOnFailure": s["ActionOnFailure"],
            "HadoopJarStep": {"Jar": s["Jar"], "Args": s["Args"]},
        }
        for s in steps
    ]
    assert {s["Type"] for s in steps} == {"CUSTOM_JAR"}
    _validate("emr", "AddJobFlowSteps", {"JobFlowId": "j-1", "Steps": api_steps})
    for step in steps:
        args = step["Args"]
        assert args[:3] == ["spark-submit", "--deploy-mode", "cluster"]
        script = next(i for i, arg in enumerate(args) if arg.endswith(".py"))
        assert args[args.index("--files") + 1] == "s3://artifacts/orders-pipeline/0.1.0/conf/emr.yaml"
        _script_and_settings(args[script], args[script + 1 :])
    emr = client("emr")
    cluster = emr.run_job_flow(
        Name=unique_name,
        ReleaseLabel="emr-7.9.0",
        Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]
    emr.add_job_flow_steps(JobFlowId=cluster, Steps=api_steps)
    listed = emr.list_steps(ClusterId=cluster)["Steps"]
    assert sorted(s["Name"] for s in listed) == sorted(s["Name"] for s in steps)


@pytest.mark.parametrize("path", JOB_RUN_FILES, ids=lambda p: p.name)
def test_emr_serverless_job_runs_are_valid_requests_that_moto_accepts(path: Path, moto_server: object) -> None:
    serverless = client("emr-serverless")
    application = serverless.create_application(name="orders-pipeline", releaseLabel="emr-7.9.0", type="SPARK")
    request = _filled(path, APPLICATION_ID=application["applicationId"])
    _validate("emr-serverless", "StartJobRun", {**request, "clientToken": "t"})
    driver = request["jobDriver"]["sparkSubmit"]
    _script_and_settings(driver["entryPoint"], driver["entryPointArguments"])
    parameters = shlex.split(driver["sparkSubmitParameters"])
    confs = dict(parameters[i + 1].split("=", 1) for i, arg in enumerate(parameters) if arg == "--conf")
    # The packed environment is the Python of driver and executors alike.
    assert confs["spark.archives"].endswith("/emr-serverless/orders-pipeline-venv.tar.gz#environment")
    assert confs["spark.emr-serverless.driverEnv.PYSPARK_PYTHON"] == confs["spark.executorEnv.PYSPARK_PYTHON"]
    assert confs["spark.executorEnv.PYSPARK_PYTHON"] == "./environment/bin/python"
    accepted = {key: value for key, value in request.items() if key not in ("mode", "retryPolicy")}
    run = serverless.start_job_run(**accepted)
    described = serverless.get_job_run(applicationId=run["applicationId"], jobRunId=run["jobRunId"])["jobRun"]
    assert described["jobDriver"]["sparkSubmit"]["entryPoint"] == driver["entryPoint"]


def test_stream_job_run_is_a_streaming_job() -> None:
    request = _filled(DEPLOY / "emr-serverless" / "stream-job-run.json")
    assert request["mode"] == "STREAMING"


def test_stack_parameters_name_every_required_template_parameter() -> None:
    declared = build_template()["Parameters"]
    given = {item["ParameterKey"] for item in json.loads((DEPLOY / "cloudformation" / "parameters.json").read_text())}
    assert given <= set(declared)
    assert {name for name, spec in declared.items() if "Default" not in spec} <= given


def test_default_names_in_the_requests_are_the_stacks_default_names() -> None:
    """Steps and job runs name the stream, topic and ledger the stack creates with its default prefix."""
    template = build_template()
    prefix = template["Parameters"]["NamePrefix"]["Default"]
    names = {
        template["Resources"][key]["Properties"][field]["Fn::Sub"].replace("${NamePrefix}", prefix)
        for key, field in (("OrdersStream", "Name"), ("AlertsTopic", "TopicName"), ("LedgerTable", "TableName"))
    }
    for path in [*STEP_FILES, *JOB_RUN_FILES]:
        text = path.read_text()
        found = set(re.findall(r"(?:source\.stream|alerts\.topic|notifications\.ledger_table)=([\w-]+)", text))
        assert found == names, path.name


def test_bootstrap_action_is_valid_bash() -> None:
    result = subprocess.run(
        ["bash", "-n", str(DEPLOY / "emr" / "bootstrap.sh")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
