from __future__ import annotations

import os
import stat
from pathlib import Path

import boto3
import pytest

from pipelines.local_services import KafkaBroker, LocalServiceError, MotoServer, local_aws


def test_moto_server_answers_over_http_and_frees_its_port_when_stopped() -> None:
    server = MotoServer()
    with server:
        sqs = boto3.client(
            "sqs",
            endpoint_url=server.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        sqs.create_queue(QueueName="ping")
        assert any(url.endswith("/ping") for url in sqs.list_queues()["QueueUrls"])
    assert not server._port_open()


def test_local_aws_starts_a_server_only_when_no_endpoint_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with local_aws() as endpoint:
        assert endpoint is not None
        assert os.environ["AWS_ENDPOINT_URL"] == endpoint
        assert os.environ["AWS_ALLOW_HTTP"] == "true"
    assert "AWS_ENDPOINT_URL" not in os.environ


def test_local_aws_keeps_an_endpoint_that_is_already_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    with local_aws() as endpoint:
        assert endpoint == "http://127.0.0.1:1"


def test_a_broker_that_dies_on_start_reports_its_exit_code_and_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\necho 'cannot bind' >&2\nexit 3\n", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("CALF_TANSU_BIN", str(fake))
    with pytest.raises(LocalServiceError, match=r"exited with code 3(.|\n)*cannot bind"):
        KafkaBroker().start()


def test_kafka_broker_fixture_accepts_clients(kafka_broker: KafkaBroker) -> None:
    from confluent_kafka.admin import AdminClient

    metadata = AdminClient({"bootstrap.servers": kafka_broker.bootstrap}).list_topics(timeout=10)
    assert metadata.brokers
