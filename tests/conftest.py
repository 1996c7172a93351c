"""Shared fixtures: one SparkSession, one moto server and one Kafka-protocol broker per test session.

The servers are real processes on free loopback ports. Tests keep out of each other's way by
naming their streams, topics and buckets uniquely (see ``unique_name``), never by resetting state.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.local_services import KafkaBroker, MotoServer

REPO_ROOT = Path(__file__).resolve().parents[1]
CONTRACT_DIR = Path(os.environ.get("ORDERS_CONTRACT_DIR", REPO_ROOT.parent / "shared" / "contract"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="also run the long variants")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="long variant: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """A moto server for the whole session; the standard AWS variables point at it."""
    server = MotoServer()
    server.start()
    saved = {key: os.environ.get(key) for key in [*server.environment(), "AWS_REGION", "AWS_DEFAULT_REGION"]}
    os.environ.update(server.environment())
    os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    try:
        yield server
    finally:
        server.stop()
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """A Tansu Kafka-protocol broker for the whole session."""
    broker = KafkaBroker()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def spark(moto_server: MotoServer):  # type: ignore[no-untyped-def]
    """The one SparkSession of the test session.

    It depends on the moto server so that the AWS environment is in place before the JVM
    starts: Spark's Python workers inherit the environment of that moment.
    """
    from pipelines.session import get_spark
    from pipelines.settings import SparkSettings

    session = get_spark(
        "orders-pipeline-tests",
        SparkSettings(
            master="local[2]",
            shuffle_partitions=2,
            driver_memory="2g",
            conf={"spark.sql.streaming.schemaInference": "false"},
        ),
    )
    yield session
    session.stop()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name no other test uses, for streams, topics, buckets and tables."""
    base = "".join(ch if ch.isalnum() else "-" for ch in request.node.name.lower())[:30].strip("-")
    return f"{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def contract_dir() -> Path:
    """The shared contract folder beside the checkout (schema and example events)."""
    if not (CONTRACT_DIR / "order-event.schema.json").exists():
        pytest.fail(f"contract not found at {CONTRACT_DIR}; set ORDERS_CONTRACT_DIR")
    return CONTRACT_DIR
