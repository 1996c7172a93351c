from __future__ import annotations

import json
import time

from support.sns import FlakyProxy, Subscriber

from pipelines.aws.clients import AwsEndpoint, region_name
from pipelines.local_services import free_port
from pipelines.notifications.model import message_attributes
from pipelines.notifications.publisher import Message, SnsPublisher, _batches, dedup_id


def _message(number: int, body_bytes: int = 0) -> Message:
    body = json.dumps({"n": number, "pad": "x" * body_bytes})
    return Message(
        id=f"m{number}",
        body=body,
        attributes=message_attributes("payment_failed", "warning", digest=False),
        dedup_id=dedup_id([f"payment_failed#{number}"]),
        group_id="g",
    )


def test_messages_go_in_batches_of_ten_and_within_the_size_limit() -> None:
    assert [len(b) for b in _batches([_message(i) for i in range(23)])] == [10, 10, 3]
    big = [_message(i, body_bytes=100_000) for i in range(5)]
    assert [len(b) for b in _batches(big)] == [2, 2, 1]


def test_every_message_arrives_with_its_attributes(subscriber: Subscriber) -> None:
    publisher = SnsPublisher(subscriber.topic_arn, AwsEndpoint.from_environment())
    outcomes = publisher.publish([_message(i) for i in range(12)])
    assert all(o.sent for o in outcomes)
    received = subscriber.receive()
    assert sorted(m["body"]["n"] for m in received) == list(range(12))
    assert received[0]["attributes"]["notification_type"] == "payment_failed"
    assert received[0]["attributes"]["severity"] == "warning"


def test_requests_that_fail_transiently_are_retried_until_they_succeed(
    subscriber: Subscriber, flaky_proxy: FlakyProxy
) -> None:
    flaky_proxy.fail_next = 3
    publisher = SnsPublisher(
        subscriber.topic_arn,
        AwsEndpoint(region_name(), flaky_proxy.endpoint_url),
        max_attempts=5,
        backoff_seconds=0.01,
    )
    outcomes = publisher.publish([_message(i) for i in range(5)])
    assert all(o.sent for o in outcomes)
    assert flaky_proxy.failed == 3
    assert sorted(m["body"]["n"] for m in subscriber.receive()) == list(range(5))


def test_an_unreachable_endpoint_returns_every_message_unsent_without_waiting_per_message(
    subscriber: Subscriber,
) -> None:
    closed = AwsEndpoint(region_name(), f"http://127.0.0.1:{free_port()}")
    publisher = SnsPublisher(subscriber.topic_arn, closed, max_attempts=3, backoff_seconds=0.01, timeout_seconds=1)
    started = time.monotonic()
    outcomes = publisher.publish([_message(i) for i in range(35)])
    assert len(outcomes) == 35
    assert not any(o.sent or o.permanent for o in outcomes)
    assert "EndpointConnectionError" in (outcomes[0].error or "")
    # Three attempts for the first batch of ten, none for the other three batches.
    assert time.monotonic() - started < 5
    assert subscriber.receive(quiet_seconds=0.3) == []


def test_a_missing_topic_is_reported_not_retried(subscriber: Subscriber) -> None:
    missing = subscriber.topic_arn + "-missing"
    publisher = SnsPublisher(missing, AwsEndpoint.from_environment(), max_attempts=5, backoff_seconds=5)
    started = time.monotonic()
    outcomes = publisher.publish([_message(1)])
    assert time.monotonic() - started < 3
    assert not outcomes[0].sent
    assert not outcomes[0].permanent
    assert "NotFound" in (outcomes[0].error or "")
