"""The CloudFormation template of a deployment on AWS, generated from the project's own constants.

Generated rather than hand-written so that the Glue tables follow ``pipelines.schemas.TABLES``,
the Athena named queries and table names follow ``pipelines.athena`` and the settings keys the
Glue jobs pass follow ``pipelines.settings``. ``orders-pipeline package`` writes it to
``dist/cloudformation/orders-pipeline.yaml``; docs/deploy.md shows how to deploy it.

What it declares: the Kinesis stream, the lake and artifacts buckets (SSE, public access
blocked, TLS only, lifecycle rules), the SNS alerts topic (+ optional e-mail subscription),
the DynamoDB notification ledger, the Glue database and one Delta table per lake table, the
Athena workgroup and named queries, the Glue streaming job and scheduled batch jobs, an
optional EMR Serverless application, CloudWatch alarms (consumer lag, ``PipelineFailures``),
an EventBridge rule sending failed job runs to the alerts topic, and least-privilege IAM roles.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from pipelines.athena import DEFAULT_DATABASE, NamedQuery, named_queries, table_name
from pipelines.notifications.ledger import PENDING_INDEX
from pipelines.schemas import TABLES

TEMPLATE_NAME = "orders-pipeline.yaml"

# The pipeline's own failure metric: another component publishes it (count, no dimensions).
FAILURE_METRIC_NAMESPACE = "OrdersPipeline"
FAILURE_METRIC_NAME = "PipelineFailures"

GLUE_VERSION = "6.0"
EMR_RELEASE_LABEL = "emr-8.0.0"

# (job key, `orders-pipeline batch` name, Glue schedule). Glue cron runs in UTC.
BATCH_SCHEDULES: tuple[tuple[str, str, str], ...] = (
    ("Kpis", "kpis", "cron(15 * * * ? *)"),
    ("Forecast", "forecast", "cron(30 2 * * ? *)"),
    ("Maintenance", "maintenance", "cron(0 4 * * ? *)"),
    ("Stalled", "stalled", "cron(0/10 * * * ? *)"),
)


class InfraError(ValueError):
    """The template cannot be generated from the project's constants."""


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def _ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def _logical_id(text: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def _parameters() -> dict[str, Any]:
    return {
        "NamePrefix": {
            "Type": "String",
            "Default": "orders-pipeline",
            "AllowedPattern": "^[a-z][a-z0-9-]{2,29}$",
            "Description": "Prefix of every resource name (lower case: it is part of bucket names)",
        },
        "ArtifactsPrefix": {
            "Type": "String",
            "Default": "orders-pipeline/0.1.0",
            "Description": "Key prefix in the artifacts bucket where `orders-pipeline package` output was uploaded",
        },
        "WheelFile": {
            "Type": "String",
            "Default": "orders_pipeline-0.1.0-py3-none-any.whl",
            "Description": "The project wheel's file name under ArtifactsPrefix",
        },
        "PinnedPythonModules": {
            "Type": "String",
            "Description": "dist/glue/additional-python-modules.txt: the pinned dependencies, comma-separated",
        },
        "ShardCount": {"Type": "Number", "Default": 4, "MinValue": 1, "MaxValue": 500},
        "AlertEmail": {
            "Type": "String",
            "Default": "",
            "Description": "E-mail address subscribed to the alerts topic (empty: no subscription)",
        },
        "GlueWorkerType": {"Type": "String", "Default": "G.1X", "AllowedValues": ["G.1X", "G.2X", "G.4X", "G.8X"]},
        "StreamWorkers": {"Type": "Number", "Default": 2, "MinValue": 2},
        "BatchWorkers": {"Type": "Number", "Default": 2, "MinValue": 2},
        "EnableSchedules": {
            "Type": "String",
            "Default": "true",
            "AllowedValues": ["true", "false"],
            "Description": "Start the batch jobs' schedules when the stack is created",
        },
        "IteratorAgeAlarmMillis": {
            "Type": "Number",
            "Default": 900000,
            "Description": "Alarm when the oldest unread record is older than this (consumer lag)",
        },
        "StreamQueryName": {
            "Type": "String",
            "Default": "orders-stream",
            "Description": "stream.query_name: the QueryName dimension of the pipeline's own metrics",
        },
        "FreshnessAlarmSeconds": {"Type": "Number", "Default": 900, "Description": "Alarm when data is staler"},
        "QuarantineRateThreshold": {
            "Type": "Number",
            "Default": 0.05,
            "Description": "Alarm when a larger share of records goes to quarantine",
        },
        "CreateEmrServerlessApplication": {"Type": "String", "Default": "false", "AllowedValues": ["true", "false"]},
        "EmrReleaseLabel": {
            "Type": "String",
            "Default": EMR_RELEASE_LABEL,
            "Description": "EMR Serverless release (Spark 4.0 or later for this project)",
        },
    }


def _bucket(purpose: str, lifecycle: list[dict[str, Any]], versioned: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "BucketName": _sub(f"${{NamePrefix}}-{purpose}-${{AWS::AccountId}}-${{AWS::Region}}"),
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}
            ]
        },
        "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        },
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        "LifecycleConfiguration": {"Rules": lifecycle},
    }
    if versioned:
        properties["VersioningConfiguration"] = {"Status": "Enabled"}
    return {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": properties,
    }


def _tls_only_policy(bucket: str) -> dict[str, Any]:
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": _ref(bucket),
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [
                            {"Fn::GetAtt": [bucket, "Arn"]},
                            _sub(f"${{{bucket}.Arn}}/*"),
                        ],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            },
        },
    }


def _storage() -> dict[str, Any]:
    abort_uploads: dict[str, Any] = {
        "Id": "abort-incomplete-uploads",
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }
    lake_rules: list[dict[str, Any]] = [
        abort_uploads,
        # Bronze keeps every record (nothing is lost) but is rarely read after a month.
        {
            "Id": "bronze-to-intelligent-tiering",
            "Status": "Enabled",
            "Prefix": "lake/bronze/",
            "Transitions": [{"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": 30}],
        },
        {
            "Id": "quarantine-to-intelligent-tiering",
            "Status": "Enabled",
            "Prefix": "lake/quarantine/",
            "Transitions": [{"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": 30}],
        },
    ]
    artifact_rules: list[dict[str, Any]] = [
        abort_uploads,
        {"Id": "old-artifact-versions", "Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 90}},
        {"Id": "athena-results", "Status": "Enabled", "Prefix": "athena-results/", "ExpirationInDays": 30},
        {"Id": "glue-temp", "Status": "Enabled", "Prefix": "glue-temp/", "ExpirationInDays": 7},
    ]
    return {
        "LakeBucket": _bucket("lake", lake_rules, versioned=False),
        "LakeBucketPolicy": _tls_only_policy("LakeBucket"),
        "ArtifactsBucket": _bucket("artifacts", artifact_rules, versioned=True),
        "ArtifactsBucketPolicy": _tls_only_policy("ArtifactsBucket"),
    }


def _alerts_key() -> dict[str, Any]:
    # A customer managed key: CloudWatch alarms and EventBridge cannot publish to a topic encrypted
    # with the AWS managed aws/sns key, whose policy no one can extend.
    services = ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
    return {
        "Type": "AWS::KMS::Key",
        "Properties": {
            "Description": _sub("${NamePrefix} alerts topic"),
            "EnableKeyRotation": True,
            "KeyPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        # The account administers the key through IAM (the default key policy).
                        "Sid": "AccountAdministers",
                        "Effect": "Allow",
                        "Principal": {"AWS": _sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    {
                        "Sid": "AlarmsAndRulesPublish",
                        "Effect": "Allow",
                        "Principal": {"Service": services},
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                        "Resource": "*",
                        "Condition": {"StringEquals": {"aws:SourceAccount": _ref("AWS::AccountId")}},
                    },
                ],
            },
        },
    }


def _messaging() -> dict[str, Any]:
    return {
        "AlertsKey": _alerts_key(),
        "OrdersStream": {
            "Type": "AWS::Kinesis::Stream",
            "Properties": {
                "Name": _sub("${NamePrefix}-events"),
                "ShardCount": _ref("ShardCount"),
                "RetentionPeriodHours": 168,
                "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
            },
        },
        "AlertsTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": _sub("${NamePrefix}-alerts"),
                "KmsMasterKeyId": _ref("AlertsKey"),
                "Subscription": {
                    "Fn::If": [
                        "HasAlertEmail",
                        [{"Protocol": "email", "Endpoint": _ref("AlertEmail")}],
                        _ref("AWS::NoValue"),
                    ]
                },
            },
        },
        # EventBridge publishes failed job runs; it needs the topic's permission as well as the key's.
        "AlertsTopicPolicy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [_ref("AlertsTopic")],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "EventBridgePublishesJobFailures",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": _ref("AlertsTopic"),
                            "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["JobFailuresRule", "Arn"]}}},
                        }
                    ],
                },
            },
        },
        "LedgerTable": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": _sub("${NamePrefix}-notifications"),
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "pending", "AttributeType": "S"},
                    {"AttributeName": "created_at", "AttributeType": "S"},
                ],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": PENDING_INDEX,
                        "KeySchema": [
                            {"AttributeName": "pending", "KeyType": "HASH"},
                            {"AttributeName": "created_at", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                    }
                ],
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            },
        },
    }


def _glue_columns(schema: Any) -> list[dict[str, str]]:
    return [{"Name": field.name, "Type": field.dataType.simpleString()} for field in schema.fields]


def _catalog(tables: Mapping[str, Any], queries: Sequence[NamedQuery]) -> dict[str, Any]:
    resources: dict[str, Any] = {
        "GlueDatabase": {
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": _ref("AWS::AccountId"),
                "DatabaseInput": {
                    "Name": _sub("${DatabaseName}"),
                    "Description": "Delta Lake tables of the orders pipeline",
                },
            },
        }
    }
    for table, schema in tables.items():
        name = table_name(table)
        resources[f"Table{_logical_id(name)}"] = {
            "Type": "AWS::Glue::Table",
            "Properties": {
                "CatalogId": _ref("AWS::AccountId"),
                "DatabaseName": _ref("GlueDatabase"),
                "TableInput": {
                    "Name": name,
                    "TableType": "EXTERNAL_TABLE",
                    # Athena reads a Delta table's files and partitions from its log: no partition keys here.
                    "Parameters": {"table_type": "DELTA", "classification": "delta", "EXTERNAL": "TRUE"},
                    "StorageDescriptor": {
                        "Location": _sub(f"s3://${{LakeBucket}}/lake/{table}"),
                        "Columns": _glue_columns(schema),
                        "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                        "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                        "SerdeInfo": {
                            "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                        },
                    },
                },
            },
        }
    resources["AthenaWorkGroup"] = {
        "Type": "AWS::Athena::WorkGroup",
        "Properties": {
            "Name": _sub("${NamePrefix}"),
            "State": "ENABLED",
            "WorkGroupConfiguration": {
                "EnforceWorkGroupConfiguration": True,
                "PublishCloudWatchMetricsEnabled": True,
                "BytesScannedCutoffPerQuery": 10 * 1024**3,
                "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
                "ResultConfiguration": {
                    "OutputLocation": _sub("s3://${ArtifactsBucket}/athena-results/"),
                    "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
                },
            },
        },
    }
    for query in queries:
        resources[f"Query{_logical_id(query.name)}"] = {
            "Type": "AWS::Athena::NamedQuery",
            "Properties": {
                "Name": query.name,
                "Description": query.description[:1024],
                "Database": _ref("GlueDatabase"),
                "WorkGroup": _ref("AthenaWorkGroup"),
                "QueryString": query.sql,
            },
        }
    return resources


def _overrides_json() -> dict[str, Any]:
    # Every resource name the jobs need, as settings overrides: the Glue entry applies them over conf/glue.yaml.
    overrides = {
        "lake.root": "s3://${LakeBucket}/lake",
        "lake.checkpoints": "s3://${LakeBucket}/checkpoints",
        "source.kind": "kinesis",
        "source.stream": "${OrdersStream}",
        "alerts.topic": "${AlertsTopic}",
        "notifications.ledger_table": "${LedgerTable}",
        "quality.suites": "s3://${ArtifactsBucket}/${ArtifactsPrefix}/conf/expectations",
        "stream.query_name": "${StreamQueryName}",
    }
    return _sub(json.dumps(overrides, separators=(",", ":")))


def _job_name(command: str) -> dict[str, str]:
    return _sub(f"${{NamePrefix}}-{command.replace(' ', '-')}")


def _glue_job(command: str, glue_command: str, workers: str, description: str) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "--job-language": "python",
        "--additional-python-modules": _sub(
            "s3://${ArtifactsBucket}/${ArtifactsPrefix}/${WheelFile},${PinnedPythonModules}"
        ),
        "--TempDir": _sub("s3://${ArtifactsBucket}/glue-temp/"),
        "--enable-metrics": "true",
        "--enable-continuous-cloudwatch-log": "true",
        "--pipeline-command": command,
        # Read from S3 by the entry script itself: no reliance on where Glue puts --extra-files.
        "--pipeline-settings": _sub("s3://${ArtifactsBucket}/${ArtifactsPrefix}/conf/glue.yaml"),
        "--pipeline-overrides": _overrides_json(),
    }
    properties: dict[str, Any] = {
        "Name": _job_name(command),
        "Description": description,
        "Role": {"Fn::GetAtt": ["GlueJobRole", "Arn"]},
        "GlueVersion": GLUE_VERSION,
        "WorkerType": _ref("GlueWorkerType"),
        "NumberOfWorkers": _ref(workers),
        "ExecutionProperty": {"MaxConcurrentRuns": 1},
        "Command": {
            "Name": glue_command,
            "PythonVersion": "3",
            "ScriptLocation": _sub("s3://${ArtifactsBucket}/${ArtifactsPrefix}/jobs/glue_entry.py"),
        },
        "DefaultArguments": arguments,
    }
    if glue_command == "glueetl":
        properties["Timeout"] = 120
        properties["MaxRetries"] = 1
    return {"Type": "AWS::Glue::Job", "Properties": properties}


def _jobs() -> dict[str, Any]:
    resources: dict[str, Any] = {
        "StreamJob": _glue_job(
            "stream",
            "gluestreaming",
            "StreamWorkers",
            "Kinesis -> bronze, quarantine, silver -> SNS (runs continuously)",
        )
    }
    for key, name, schedule in BATCH_SCHEDULES:
        resources[f"{key}Job"] = _glue_job(f"batch {name}", "glueetl", "BatchWorkers", f"orders-pipeline batch {name}")
        resources[f"{key}Schedule"] = {
            "Type": "AWS::Glue::Trigger",
            "Properties": {
                "Name": _sub(f"${{NamePrefix}}-{name}-schedule"),
                "Type": "SCHEDULED",
                "Schedule": schedule,
                "StartOnCreation": {"Fn::If": ["SchedulesEnabled", True, False]},
                "Actions": [{"JobName": _ref(f"{key}Job")}],
            },
        }
    resources["EmrServerlessApplication"] = {
        "Type": "AWS::EMRServerless::Application",
        "Condition": "WithEmrServerless",
        "Properties": {
            "Name": _sub("${NamePrefix}"),
            "ReleaseLabel": _ref("EmrReleaseLabel"),
            "Type": "SPARK",
            "AutoStartConfiguration": {"Enabled": True},
            "AutoStopConfiguration": {"Enabled": True, "IdleTimeoutMinutes": 15},
        },
    }
    return resources


def _pipeline_alarm(name: str, description: str, metric: str, statistic: str, threshold: Any = None) -> dict[str, Any]:
    """An alarm on one of the stream's own metrics; ``PipelineFailures`` alarms on any failure at all."""
    failures = metric == FAILURE_METRIC_NAME
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": _sub(f"${{NamePrefix}}-{name}"),
            "AlarmDescription": description,
            "Namespace": FAILURE_METRIC_NAMESPACE,
            "MetricName": metric,
            "Dimensions": [{"Name": "QueryName", "Value": _ref("StreamQueryName")}],
            "Statistic": statistic,
            "Period": 300,
            "EvaluationPeriods": 1 if failures else 3,
            "Threshold": 1 if failures else threshold,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold" if failures else "GreaterThanThreshold",
            # Figures come only with batches: silence is the lag alarm's to report.
            "TreatMissingData": "notBreaching",
            "AlarmActions": [_ref("AlertsTopic")],
        },
    }


def _alarms() -> dict[str, Any]:
    alarm_actions = [_ref("AlertsTopic")]
    # Names, not Refs: the rule stands on its own wherever the jobs are created.
    job_names = [_job_name("stream"), *(_job_name(f"batch {name}") for _, name, _ in BATCH_SCHEDULES)]
    return {
        "ConsumerLagAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": _sub("${NamePrefix}-consumer-lag"),
                "AlarmDescription": "The stream job falls behind: the oldest unread record is older than the threshold",
                "Namespace": "AWS/Kinesis",
                "MetricName": "GetRecords.IteratorAgeMilliseconds",
                "Dimensions": [{"Name": "StreamName", "Value": _ref("OrdersStream")}],
                "Statistic": "Maximum",
                "Period": 300,
                "EvaluationPeriods": 3,
                "Threshold": _ref("IteratorAgeAlarmMillis"),
                "ComparisonOperator": "GreaterThanThreshold",
                # No GetRecords at all (the job is down) is lag too.
                "TreatMissingData": "breaching",
                "AlarmActions": alarm_actions,
                "OKActions": alarm_actions,
            },
        },
        # The stream's own metrics (pipelines.monitoring): namespace OrdersPipeline, dimension QueryName.
        "PipelineFailuresAlarm": _pipeline_alarm(
            "pipeline-failures",
            "The pipeline reported a failed batch, commit or publish",
            FAILURE_METRIC_NAME,
            "Sum",
        ),
        "FreshnessAlarm": _pipeline_alarm(
            "freshness",
            "The newest committed event is older than the threshold",
            "Freshness",
            "Minimum",
            _ref("FreshnessAlarmSeconds"),
        ),
        "QuarantineRateAlarm": _pipeline_alarm(
            "quarantine-rate",
            "A larger share of records than usual is rejected to quarantine",
            "QuarantineRate",
            "Average",
            _ref("QuarantineRateThreshold"),
        ),
        "JobFailuresRule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": _sub("${NamePrefix}-job-failures"),
                "Description": "A Glue job run of the pipeline failed, timed out or stopped with an error",
                "State": "ENABLED",
                "EventPattern": {
                    "source": ["aws.glue"],
                    "detail-type": ["Glue Job State Change"],
                    "detail": {"jobName": job_names, "state": ["FAILED", "TIMEOUT", "ERROR"]},
                },
                "Targets": [{"Id": "alerts-topic", "Arn": _ref("AlertsTopic")}],
            },
        },
    }


def _statement(
    sid: str, actions: list[str], resources: list[Any], condition: dict[str, Any] | None = None
) -> dict[str, Any]:
    statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def _pipeline_statements() -> list[dict[str, Any]]:
    """What every job of the pipeline may do, each action on the named resources only."""
    lake = {"Fn::GetAtt": ["LakeBucket", "Arn"]}
    artifacts = {"Fn::GetAtt": ["ArtifactsBucket", "Arn"]}
    ledger = {"Fn::GetAtt": ["LedgerTable", "Arn"]}
    return [
        _statement(
            "ReadTheStream",
            [
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
            ],
            [{"Fn::GetAtt": ["OrdersStream", "Arn"]}],
        ),
        _statement("ListTheLake", ["s3:ListBucket", "s3:GetBucketLocation"], [lake]),
        _statement(
            "ReadWriteTheLake",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            [_sub("${LakeBucket.Arn}/lake/*"), _sub("${LakeBucket.Arn}/checkpoints/*")],
        ),
        _statement("ListTheArtifacts", ["s3:ListBucket", "s3:GetBucketLocation"], [artifacts]),
        _statement("ReadTheArtifacts", ["s3:GetObject"], [_sub("${ArtifactsBucket.Arn}/${ArtifactsPrefix}/*")]),
        _statement(
            "UseGlueTempDir",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [_sub("${ArtifactsBucket.Arn}/glue-temp/*")],
        ),
        _statement("PublishAlerts", ["sns:Publish", "sns:GetTopicAttributes"], [_ref("AlertsTopic")]),
        _statement("EncryptAlerts", ["kms:Decrypt", "kms:GenerateDataKey"], [{"Fn::GetAtt": ["AlertsKey", "Arn"]}]),
        # The stream job's startup makes sure the ledger exists (a no-op on this stack's table).
        _statement(
            "UseTheLedger",
            [
                "dynamodb:BatchGetItem",
                "dynamodb:ConditionCheckItem",
                "dynamodb:CreateTable",
                "dynamodb:DescribeTable",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:Query",
                "dynamodb:Scan",
                "dynamodb:UpdateItem",
                "dynamodb:UpdateTimeToLive",
            ],
            [ledger, _sub("${LedgerTable.Arn}/index/*")],
        ),
        # PutMetricData has no resource ARN: the namespace condition is its only scope. Glue jobs
        # publish their own job metrics (--enable-metrics) with the job's role, in namespace Glue.
        _statement(
            "PublishPipelineMetrics",
            ["cloudwatch:PutMetricData"],
            ["*"],
            {"StringEquals": {"cloudwatch:namespace": [FAILURE_METRIC_NAMESPACE, "Glue"]}},
        ),
        _statement(
            "ReadTheCatalog",
            ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartitions"],
            [
                _sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog"),
                _sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:database/${DatabaseName}"),
                _sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:table/${DatabaseName}/*"),
            ],
        ),
    ]


def _role(service: str, extra: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": _sub(f"${{NamePrefix}}-{service.split('.', maxsplit=1)[0]}-jobs"),
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": service},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"aws:SourceAccount": _ref("AWS::AccountId")}},
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": "orders-pipeline",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [*_pipeline_statements(), *extra]},
                }
            ],
        },
    }


def _roles() -> dict[str, Any]:
    glue_logs = _statement(
        "WriteGlueLogs",
        ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        [_sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws-glue/*")],
    )
    emr_logs = _statement(
        "WriteEmrServerlessLogs",
        ["s3:PutObject"],
        [_sub("${ArtifactsBucket.Arn}/emr-serverless-logs/*")],
    )
    return {
        "GlueJobRole": _role("glue.amazonaws.com", [glue_logs]),
        "EmrServerlessJobRole": _role("emr-serverless.amazonaws.com", [emr_logs]),
    }


def _outputs() -> dict[str, Any]:
    # Only resources every CloudFormation implementation creates are referenced here.
    def output(value: Any, description: str) -> dict[str, Any]:
        return {"Value": value, "Description": description}

    return {
        "LakeRoot": output(_sub("s3://${LakeBucket}/lake"), "lake.root"),
        "Checkpoints": output(_sub("s3://${LakeBucket}/checkpoints"), "lake.checkpoints"),
        "ArtifactsBucketName": output(_ref("ArtifactsBucket"), "Where `orders-pipeline package` output goes"),
        "StreamName": output(_ref("OrdersStream"), "source.stream"),
        "AlertsTopicArn": output(_ref("AlertsTopic"), "alerts.topic"),
        "LedgerTableName": output(_ref("LedgerTable"), "notifications.ledger_table"),
        "GlueJobRoleArn": output({"Fn::GetAtt": ["GlueJobRole", "Arn"]}, "Role of the Glue jobs"),
        "EmrServerlessJobRoleArn": output(
            {"Fn::GetAtt": ["EmrServerlessJobRole", "Arn"]}, "execution-role-arn of EMR Serverless job runs"
        ),
    }


def build_template(
    tables: Mapping[str, Any] | None = None, queries: Sequence[NamedQuery] | None = None
) -> dict[str, Any]:
    """The template as a dictionary; by default every lake table and every named query of pipelines.athena."""
    tables = TABLES if tables is None else tables
    if not tables:
        raise InfraError("no lake tables to register")
    parameters = _parameters()
    parameters["DatabaseName"] = {
        "Type": "String",
        "Default": DEFAULT_DATABASE,
        "AllowedPattern": "^[a-z][a-z0-9_]{0,63}$",
        "Description": "Glue database of the lake tables (Athena)",
    }
    resources: dict[str, Any] = {}
    for part in (
        _storage(),
        _messaging(),
        _catalog(tables, named_queries() if queries is None else queries),
        _jobs(),
        _alarms(),
        _roles(),
    ):
        overlap = resources.keys() & part.keys()
        if overlap:
            raise InfraError(f"duplicate logical ids: {sorted(overlap)}")
        resources.update(part)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "orders-pipeline: Kinesis -> Spark (Glue/EMR) -> Delta Lake on S3 -> SNS; Athena on the lake",
        "Parameters": parameters,
        "Conditions": {
            "HasAlertEmail": {"Fn::Not": [{"Fn::Equals": [_ref("AlertEmail"), ""]}]},
            "SchedulesEnabled": {"Fn::Equals": [_ref("EnableSchedules"), "true"]},
            "WithEmrServerless": {"Fn::Equals": [_ref("CreateEmrServerlessApplication"), "true"]},
        },
        "Resources": resources,
        "Outputs": _outputs(),
    }


class _Dumper(yaml.SafeDumper):
    """Block-style YAML without anchors: templates are read by people and by cfn-lint."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_template(template: Mapping[str, Any]) -> str:
    """The template as YAML text."""
    header = "# Generated by `orders-pipeline package` (pipelines/infra.py): edit the generator, not this file.\n"
    return header + yaml.dump(dict(template), Dumper=_Dumper, sort_keys=False, width=120, default_flow_style=False)


def write_template(directory: Path) -> Path:
    """Write the template into ``directory``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / TEMPLATE_NAME
    path.write_text(render_template(build_template()), encoding="utf-8")
    return path
