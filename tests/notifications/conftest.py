"""Fixtures for the notification tests: an SNS topic with an SQS queue subscribed, a ledger table, a flaky proxy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.sns import FlakyProxy, Subscriber, subscribe_queue

from pipelines.aws.clients import AwsEndpoint, client
from pipelines.local_services import MotoServer
from pipelines.notifications.ledger import Ledger


@pytest.fixture
def subscriber(moto_server: MotoServer, unique_name: str) -> Subscriber:
    """A fresh standard topic with a fresh queue subscribed."""
    topic_arn = client("sns").create_topic(Name=unique_name)["TopicArn"]
    return subscribe_queue(topic_arn, f"q-{unique_name}")


# Short, so a "crashed" run's claims expire within a test; long enough that a loaded machine
# does not let a lease run out between two calls that must both see it held.
LEASE_SECONDS = 2.0


@pytest.fixture
def ledger(moto_server: MotoServer, unique_name: str) -> Ledger:
    """A fresh ledger table with a short lease, so a "crashed" run's claims expire within a test."""
    table = Ledger(f"ledger-{unique_name}", AwsEndpoint.from_environment(), lease_seconds=LEASE_SECONDS)
    table.ensure_table()
    return table


@pytest.fixture
def flaky_proxy(moto_server: MotoServer) -> Iterator[FlakyProxy]:
    proxy = FlakyProxy(moto_server.endpoint_url).start()
    try:
        yield proxy
    finally:
        proxy.stop()
