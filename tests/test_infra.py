"""The CloudFormation template: cfn-lint clean, deployable on moto, and declaring what the pipeline needs."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.athena import named_queries, table_name
from pipelines.aws.clients import client
from pipelines.cli import BATCH_JOBS
from pipelines.infra import (
    BATCH_SCHEDULES,
    FAILURE_METRIC_NAME,
    FAILURE_METRIC_NAMESPACE,
    InfraError,
    build_template,
    render_template,
    write_template,
)
from pipelines.monitoring import CLOUDWATCH_METRICS
from pipelines.notifications.ledger import PENDING_INDEX
from pipelines.schemas import TABLES
from pipelines.settings import load_settings

REPO = Path(__file__).resolve().parents[1]

# Resource types moto's CloudFormation skips (with a warning): checked statically below.
NOT_DEPLOYED_BY_MOTO = {
    "AWS::S3::BucketPolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::Glue::Database",
    "AWS::Glue::Table",
    "AWS::Glue::Job",
    "AWS::Glue::Trigger",
    "AWS::Athena::WorkGroup",
    "AWS::Athena::NamedQuery",
    "AWS::CloudWatch::Alarm",
    "AWS::EMRServerless::Application",
}


class _Loader(yaml.SafeLoader):
    """Reads the template back as data (it uses only the long Fn:: forms, no short tags)."""


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.load(render_template(build_template()), Loader=_Loader)


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {key: value for key, value in template["Resources"].items() if value["Type"] == kind}


def _subs(value: Any) -> str:
    """A Fn::Sub string with its placeholders filled by dummy values, for static checks."""
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    return re.sub(r"\$\{([^}]+)\}", lambda m: m.group(1).replace(".", "-").replace(":", "-").lower(), text)


def test_template_passes_cfn_lint_which_reports_a_broken_copy(tmp_path: Path) -> None:
    path = write_template(tmp_path / "good")
    broken = write_template(tmp_path / "broken")
    broken.write_text(broken.read_text().replace("RetentionPeriodHours", "RetentionPeriodHourz"))
    lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or "cfn-lint"
    # One run for both files: cfn-lint's start-up is most of its time.
    result = subprocess.run([lint, str(path), str(broken)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "RetentionPeriodHourz" in result.stdout
    reported = {line.split(":", 1)[0] for line in result.stdout.splitlines() if line.startswith("/")}
    assert reported == {str(broken)}, result.stdout


@pytest.fixture(scope="module")
def stack(moto_server: object) -> dict[str, Any]:
    """The template deployed once into the moto server with deploy/cloudformation/parameters.json."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    cloudformation = client("cloudformation")
    given = json.loads((REPO / "deploy" / "cloudformation" / "parameters.json").read_text())
    parameters = {item["ParameterKey"]: item["ParameterValue"] for item in given}
    assert parameters["PinnedPythonModules"] == "PINNED_PYTHON_MODULES"
    # A unique prefix (shared server), fewer shards (moto's put_record slows with shard size).
    parameters.update(NamePrefix=prefix, PinnedPythonModules="deltalake==1.6.6,pydantic==2.14.3", ShardCount="2")
    cloudformation.create_stack(
        StackName=prefix,
        TemplateBody=render_template(build_template()),
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    deadline = time.monotonic() + 120
    while True:
        described = cloudformation.describe_stacks(StackName=prefix)["Stacks"][0]
        if not described["StackStatus"].endswith("_IN_PROGRESS"):
            break
        assert time.monotonic() < deadline, described["StackStatus"]
        time.sleep(0.5)
    assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
    outputs = {item["OutputKey"]: item["OutputValue"] for item in described.get("Outputs", [])}
    resources = cloudformation.list_stack_resources(StackName=prefix)["StackResourceSummaries"]
    return {"prefix": prefix, "outputs": outputs, "parameters": parameters, "resources": resources}


def test_stack_creates_every_resource_moto_supports(stack: dict[str, Any], template: dict[str, Any]) -> None:
    created = {item["LogicalResourceId"] for item in stack["resources"]}
    supported = {key for key, value in template["Resources"].items() if value["Type"] not in NOT_DEPLOYED_BY_MOTO}
    supported -= {key for key, value in template["Resources"].items() if "Condition" in value}
    assert supported <= created, supported - created
    assert {"LakeBucket", "ArtifactsBucket", "OrdersStream", "AlertsTopic", "LedgerTable"} <= created


def test_deployed_stream_has_the_requested_shards(stack: dict[str, Any]) -> None:
    name = stack["outputs"]["StreamName"]
    summary = client("kinesis").describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["StreamStatus"] == "ACTIVE"
    assert summary["OpenShardCount"] == 2
    assert summary["RetentionPeriodHours"] == 168


def test_deployed_buckets_are_encrypted(stack: dict[str, Any]) -> None:
    s3 = client("s3")
    lake_bucket = stack["outputs"]["LakeRoot"].removeprefix("s3://").split("/")[0]
    for bucket in (lake_bucket, stack["outputs"]["ArtifactsBucketName"]):
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_deployed_topic_has_the_email_subscription(stack: dict[str, Any]) -> None:
    sns = client("sns")
    arn = stack["outputs"]["AlertsTopicArn"]
    assert arn in {topic["TopicArn"] for topic in sns.list_topics()["Topics"]}
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "ops@example.com")]


def test_deployed_topic_is_encrypted_with_a_key_alarms_and_rules_may_use(stack: dict[str, Any]) -> None:
    attributes = client("sns").get_topic_attributes(TopicArn=stack["outputs"]["AlertsTopicArn"])["Attributes"]
    kms = client("kms")
    key = attributes["KmsMasterKeyId"]
    assert key in {item["KeyId"] for item in kms.list_keys()["Keys"]}
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is True
    # moto keeps a CloudFormation key policy as the parsed document (and DescribeKey then fails).
    policy = kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    policy = json.loads(policy) if isinstance(policy, str) else policy
    publishers = next(s for s in policy["Statement"] if s["Sid"] == "AlarmsAndRulesPublish")
    assert set(publishers["Principal"]["Service"]) == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}


def test_template_too_large_to_send_inline_is_deployed_through_s3() -> None:
    """CloudFormation takes at most 51,200 bytes inline; docs/deploy.md must pass --s3-bucket then."""
    if len(render_template(build_template()).encode()) > 51_200:
        assert "--s3-bucket" in (REPO / "docs" / "deploy.md").read_text()


def test_deployed_ledger_table_has_the_key_and_pending_index_the_ledger_uses(stack: dict[str, Any]) -> None:
    table = client("dynamodb").describe_table(TableName=stack["outputs"]["LedgerTableName"])["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == [PENDING_INDEX]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_deployed_roles_trust_only_their_service_and_scope_the_stream(stack: dict[str, Any]) -> None:
    iam = client("iam")
    for output, service in (
        ("GlueJobRoleArn", "glue.amazonaws.com"),
        ("EmrServerlessJobRoleArn", "emr-serverless.amazonaws.com"),
    ):
        name = stack["outputs"][output].rsplit("/", 1)[1]
        role = iam.get_role(RoleName=name)["Role"]
        trust = role["AssumeRolePolicyDocument"]
        assert [s["Principal"]["Service"] for s in trust["Statement"]] == [service]
        policy = iam.get_role_policy(RoleName=name, PolicyName="orders-pipeline")["PolicyDocument"]
        if isinstance(policy, str):
            # moto's CloudFormation stores inline policies as the repr of the parsed document.
            policy = json.loads(policy) if policy.startswith('{"') else ast.literal_eval(policy)
        stream = next(s for s in policy["Statement"] if s["Sid"] == "ReadTheStream")
        assert stream["Resource"] == [f"arn:aws:kinesis:us-east-1:123456789012:stream/{stack['prefix']}-events"]


def test_deployed_rule_sends_failed_job_runs_to_the_alerts_topic(stack: dict[str, Any]) -> None:
    events = client("events")
    rule = events.describe_rule(Name=f"{stack['prefix']}-job-failures")
    pattern = json.loads(rule["EventPattern"])
    assert pattern["detail"]["state"] == ["FAILED", "TIMEOUT", "ERROR"]
    assert f"{stack['prefix']}-stream" in pattern["detail"]["jobName"]
    targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert [target["Arn"] for target in targets] == [stack["outputs"]["AlertsTopicArn"]]


def test_stack_outputs_are_the_settings_a_deployment_needs(stack: dict[str, Any]) -> None:
    outputs = stack["outputs"]
    settings = load_settings(
        REPO / "conf" / "glue.yaml",
        [
            f"lake.root={outputs['LakeRoot']}",
            f"lake.checkpoints={outputs['Checkpoints']}",
            f"source.stream={outputs['StreamName']}",
            f"alerts.topic={outputs['AlertsTopicArn']}",
            f"notifications.ledger_table={outputs['LedgerTableName']}",
        ],
    )
    assert settings.lake.on_s3
    assert settings.source.stream == f"{stack['prefix']}-events"


# -- what moto cannot deploy: checked in the template itself ------------------------------------


def test_every_lake_table_is_a_delta_table_in_the_glue_database(template: dict[str, Any]) -> None:
    tables = _resources(template, "AWS::Glue::Table")
    declared = {t["Properties"]["TableInput"]["Name"]: t["Properties"]["TableInput"] for t in tables.values()}
    assert set(declared) == {table_name(table) for table in TABLES}
    orders = declared["silver_orders"]
    assert orders["Parameters"]["table_type"] == "DELTA"
    assert _subs(orders["StorageDescriptor"]["Location"]) == "s3://lakebucket/lake/silver/orders"
    columns = [column["Name"] for column in orders["StorageDescriptor"]["Columns"]]
    assert columns == TABLES["silver/orders"].fieldNames()
    assert all(t["Properties"]["DatabaseName"] == {"Ref": "GlueDatabase"} for t in tables.values())


def test_stream_job_is_a_glue_streaming_job_and_batch_jobs_are_scheduled(template: dict[str, Any]) -> None:
    jobs = _resources(template, "AWS::Glue::Job")
    stream = jobs["StreamJob"]["Properties"]
    assert stream["Command"]["Name"] == "gluestreaming"
    assert stream["DefaultArguments"]["--pipeline-command"] == "stream"
    assert stream["DefaultArguments"]["--job-language"] == "python"
    assert _subs(stream["Command"]["ScriptLocation"]) == "s3://artifactsbucket/artifactsprefix/jobs/glue_entry.py"
    # The entry script downloads its settings: the job role may read them (ReadTheArtifacts).
    assert (
        _subs(stream["DefaultArguments"]["--pipeline-settings"])
        == "s3://artifactsbucket/artifactsprefix/conf/glue.yaml"
    )
    triggers = _resources(template, "AWS::Glue::Trigger")
    scheduled = {
        t["Properties"]["Actions"][0]["JobName"]["Ref"]: t["Properties"]["Schedule"] for t in triggers.values()
    }
    for key, name, schedule in BATCH_SCHEDULES:
        job = jobs[f"{key}Job"]["Properties"]
        assert job["Command"]["Name"] == "glueetl"
        assert job["DefaultArguments"]["--pipeline-command"] == f"batch {name}"
        assert scheduled[f"{key}Job"] == schedule
    assert {name for _, name, _ in BATCH_SCHEDULES} >= {"kpis", "forecast", "maintenance", "stalled"}


def test_scheduled_batch_jobs_are_commands_of_the_cli() -> None:
    assert {name for _, name, _ in BATCH_SCHEDULES} <= set(BATCH_JOBS)


def test_glue_job_overrides_are_valid_settings_of_the_glue_conf(template: dict[str, Any]) -> None:
    for job in _resources(template, "AWS::Glue::Job").values():
        overrides = json.loads(_subs(job["Properties"]["DefaultArguments"]["--pipeline-overrides"]))
        settings = load_settings(REPO / "conf" / "glue.yaml", [f"{key}={value}" for key, value in overrides.items()])
        assert settings.lake.root == "s3://lakebucket/lake"
        assert settings.notifications.ledger_table == "ledgertable"


def test_buckets_block_public_access_expire_leftovers_and_refuse_plain_http(template: dict[str, Any]) -> None:
    buckets = _resources(template, "AWS::S3::Bucket")
    assert set(buckets) == {"LakeBucket", "ArtifactsBucket"}
    for bucket in buckets.values():
        block = bucket["Properties"]["PublicAccessBlockConfiguration"]
        assert block == dict.fromkeys(
            ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
        )
        rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
        assert any("AbortIncompleteMultipartUpload" in rule for rule in rules)
        # Nothing is lost: no rule expires lake data.
        assert not any("ExpirationInDays" in rule and rule.get("Prefix", "").startswith("lake/") for rule in rules)
    policies = _resources(template, "AWS::S3::BucketPolicy")
    assert {p["Properties"]["Bucket"]["Ref"] for p in policies.values()} == set(buckets)
    for policy in policies.values():
        (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Effect"] == "Deny"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_alarms_watch_consumer_lag_and_the_pipeline_failure_metric(template: dict[str, Any]) -> None:
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"] for a in _resources(template, "AWS::CloudWatch::Alarm").values()
    }
    lag = alarms["GetRecords.IteratorAgeMilliseconds"]
    assert lag["Namespace"] == "AWS/Kinesis"
    assert lag["Dimensions"] == [{"Name": "StreamName", "Value": {"Ref": "OrdersStream"}}]
    failures = alarms[FAILURE_METRIC_NAME]
    assert failures["Namespace"] == FAILURE_METRIC_NAMESPACE == "OrdersPipeline"
    # The same namespace and dimension as the stream's other metrics (pipelines.monitoring).
    for metric in (FAILURE_METRIC_NAME, "Freshness", "QuarantineRate"):
        assert alarms[metric]["Namespace"] == "OrdersPipeline"
        assert alarms[metric]["Dimensions"] == [{"Name": "QueryName", "Value": {"Ref": "StreamQueryName"}}]
    assert {"Freshness", "QuarantineRate"} <= set(CLOUDWATCH_METRICS)
    assert (
        template["Parameters"]["StreamQueryName"]["Default"]
        == load_settings(REPO / "conf" / "glue.yaml").stream.query_name
    )
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}]


def test_athena_workgroup_enforces_encrypted_results_and_holds_every_named_query(template: dict[str, Any]) -> None:
    (workgroup,) = _resources(template, "AWS::Athena::WorkGroup").values()
    configuration = workgroup["Properties"]["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["ResultConfiguration"]["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    queries = {
        q["Properties"]["Name"]: q["Properties"] for q in _resources(template, "AWS::Athena::NamedQuery").values()
    }
    assert {name: q["QueryString"] for name, q in queries.items()} == {q.name: q.sql for q in named_queries()}
    assert all(q["WorkGroup"] == {"Ref": "AthenaWorkGroup"} for q in queries.values())
    assert all(q["Database"] == {"Ref": "GlueDatabase"} for q in queries.values())


def test_iam_policies_name_every_action_and_scope_every_resource(template: dict[str, Any]) -> None:
    for key, role in _resources(template, "AWS::IAM::Role").items():
        for policy in role["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                assert statement["Effect"] == "Allow", key
                assert not any("*" in action for action in statement["Action"]), (key, statement["Sid"])
                if "*" in statement["Resource"]:
                    # Only actions without resource-level permissions, and then under a condition.
                    assert statement["Action"] == ["cloudwatch:PutMetricData"], (key, statement["Sid"])
                    assert statement["Condition"]["StringEquals"]["cloudwatch:namespace"] == [
                        FAILURE_METRIC_NAMESPACE,
                        "Glue",
                    ]


def test_an_empty_table_list_is_refused() -> None:
    with pytest.raises(InfraError, match="no lake tables"):
        build_template(tables={})
