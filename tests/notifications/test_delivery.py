from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest
from support.sns import FlakyProxy, Subscriber, subscribe_queue

from pipelines.aws.clients import AwsEndpoint, client, region_name
from pipelines.local_services import free_port
from pipelines.notifications.delivery import Notifier
from pipelines.notifications.ledger import Ledger
from pipelines.notifications.model import Notification
from pipelines.notifications.publisher import SnsPublisher

AT = dt.datetime(2026, 11, 2, 14, 0, tzinfo=dt.UTC)


def _failed(number: int) -> Notification:
    return Notification(
        "payment_failed",
        f"evt-{number}",
        "warning",
        AT + dt.timedelta(seconds=number),
        order_id=f"ord-{number}",
        event_id=f"evt-{number}",
        detail={"failure_code": "card_declined"},
    )


def _notifier(ledger: Ledger, topic_arn: str, endpoint: AwsEndpoint | None = None, **kwargs: int) -> Notifier:
    publisher = SnsPublisher(
        topic_arn, endpoint or AwsEndpoint.from_environment(), max_attempts=2, backoff_seconds=0.01, timeout_seconds=2
    )
    return Notifier(ledger, publisher, **kwargs)


def _keys(received: list[dict[str, object]]) -> Counter[str]:
    keys: Counter[str] = Counter()
    for message in received:
        body = message["body"]
        assert isinstance(body, dict)
        if body["detail"].get("digest"):
            keys.update(item["key"] for item in body["detail"]["items"])
        else:
            keys[body["key"]] += 1
    return keys


def test_each_notification_arrives_once_and_a_replayed_batch_sends_nothing(
    ledger: Ledger, subscriber: Subscriber
) -> None:
    batch = [_failed(i) for i in range(15)]
    first = _notifier(ledger, subscriber.topic_arn).deliver(batch)
    assert (first.new, first.sent, first.pending) == (15, 15, 0)
    replay = _notifier(ledger, subscriber.topic_arn).deliver(batch)
    assert (replay.new, replay.already_handled, replay.sent) == (0, 15, 0)
    received = subscriber.receive()
    assert _keys(received) == Counter({f"evt-{i}": 1 for i in range(15)})
    assert {m["attributes"]["notification_type"] for m in received} == {"payment_failed"}


_CRASHING_RUN = textwrap.dedent(
    """
    import datetime as dt, os, sys
    from pipelines.aws.clients import AwsEndpoint
    from pipelines.notifications.delivery import Notifier
    from pipelines.notifications.ledger import Ledger
    from pipelines.notifications.model import Notification
    from pipelines.notifications.publisher import SnsPublisher

    table, topic, stage, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    at = dt.datetime(2026, 11, 2, 14, 0, tzinfo=dt.UTC)
    batch = [
        Notification("payment_failed", f"evt-{i}", "warning", at + dt.timedelta(seconds=i), order_id=f"ord-{i}",
                     event_id=f"evt-{i}", detail={"failure_code": "card_declined"})
        for i in range(count)
    ]
    endpoint = AwsEndpoint.from_environment()
    notifier = Notifier(Ledger(table, endpoint, lease_seconds=0.5), SnsPublisher(topic, endpoint))
    claimed, _ = notifier.ledger.claim(batch)
    planned = notifier.plan(claimed)
    if stage == "after-publish":
        outcomes = notifier.publisher.publish([message for message, _ in planned])
        assert all(outcome.sent for outcome in outcomes)
    os._exit(17)  # the driver dies here: no ledger update, no cleanup
    """
)


def _crash(ledger: Ledger, topic_arn: str, stage: str, count: int) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _CRASHING_RUN, ledger.table, topic_arn, stage, str(count)],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 17, result.stderr


def test_replay_after_a_crash_between_claim_and_publish_sends_each_notification_once(
    ledger: Ledger, subscriber: Subscriber
) -> None:
    _crash(ledger, subscriber.topic_arn, "after-claim", 12)
    assert subscriber.receive(quiet_seconds=0.3) == []
    time.sleep(0.6)  # the crashed run's lease runs out
    replay = _notifier(ledger, subscriber.topic_arn).deliver([_failed(i) for i in range(12)])
    assert (replay.sent, replay.pending) == (12, 0)
    again = _notifier(ledger, subscriber.topic_arn).deliver([_failed(i) for i in range(12)])
    assert again.sent == 0
    assert _keys(subscriber.receive()) == Counter({f"evt-{i}": 1 for i in range(12)})


def test_a_claim_still_leased_by_a_crashed_run_goes_out_with_a_later_batch(
    ledger: Ledger, subscriber: Subscriber
) -> None:
    _crash(ledger, subscriber.topic_arn, "after-claim", 3)
    notifier = _notifier(ledger, subscriber.topic_arn)
    # Replayed at once: the crashed run's lease is still running, nothing is sent twice meanwhile.
    immediate = notifier.deliver([_failed(i) for i in range(3)])
    time.sleep(0.6)
    later = notifier.deliver([_failed(100)])
    assert immediate.sent + later.sent == 4
    assert _keys(subscriber.receive()) == Counter({**{f"evt-{i}": 1 for i in range(3)}, "evt-100": 1})


def test_a_crash_between_publish_and_ledger_update_repeats_once_on_a_standard_topic(
    ledger: Ledger, subscriber: Subscriber
) -> None:
    # The documented limit of a standard topic: at most one repeat, only for this crash window.
    _crash(ledger, subscriber.topic_arn, "after-publish", 4)
    time.sleep(0.6)
    _notifier(ledger, subscriber.topic_arn).deliver([_failed(i) for i in range(4)])
    _notifier(ledger, subscriber.topic_arn).deliver([_failed(i) for i in range(4)])
    assert _keys(subscriber.receive()) == Counter({f"evt-{i}": 2 for i in range(4)})


def test_a_fifo_topic_drops_the_repeat_of_that_crash_window(ledger: Ledger, unique_name: str) -> None:
    topic_arn = client("sns").create_topic(Name=f"{unique_name}.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    fifo = subscribe_queue(topic_arn, f"q-{unique_name}.fifo", fifo=True)
    _crash(ledger, topic_arn, "after-publish", 4)
    time.sleep(0.6)
    report = _notifier(ledger, topic_arn).deliver([_failed(i) for i in range(4)])
    assert report.sent == 4
    assert _keys(fifo.receive()) == Counter({f"evt-{i}": 1 for i in range(4)})


def test_during_an_sns_outage_notifications_stay_pending_and_all_arrive_once_after_it(
    ledger: Ledger, subscriber: Subscriber, flaky_proxy: FlakyProxy
) -> None:
    through_proxy = AwsEndpoint(region_name(), flaky_proxy.endpoint_url)
    flaky_proxy.down = True
    outage = _notifier(ledger, subscriber.topic_arn, through_proxy).deliver([_failed(i) for i in range(25)])
    assert (outage.new, outage.sent, outage.pending) == (25, 0, 25)
    still_down = _notifier(ledger, subscriber.topic_arn, through_proxy).deliver([_failed(i) for i in range(25, 30)])
    assert (still_down.retried, still_down.pending) == (25, 30)
    assert subscriber.receive(quiet_seconds=0.3) == []
    flaky_proxy.down = False
    recovered = _notifier(ledger, subscriber.topic_arn, through_proxy).deliver([_failed(i) for i in range(30, 33)])
    assert (recovered.new, recovered.retried, recovered.sent, recovered.pending) == (3, 30, 33, 0)
    assert _keys(subscriber.receive()) == Counter({f"evt-{i}": 1 for i in range(33)})
    assert _notifier(ledger, subscriber.topic_arn).retry_pending().sent == 0


def test_an_unreachable_endpoint_keeps_everything_pending_until_the_scheduled_retry(
    ledger: Ledger, subscriber: Subscriber
) -> None:
    closed = AwsEndpoint(region_name(), f"http://127.0.0.1:{free_port()}")
    down = _notifier(ledger, subscriber.topic_arn, closed).deliver([_failed(i) for i in range(5)])
    assert down.pending == 5
    entry = ledger.entry("payment_failed", "evt-0")
    assert entry is not None
    assert entry.state == "pending"
    assert "EndpointConnectionError" in (entry.last_error or "")
    assert _notifier(ledger, subscriber.topic_arn).retry_pending().sent == 5
    assert _keys(subscriber.receive()) == Counter({f"evt-{i}": 1 for i in range(5)})


def test_a_rule_firing_in_bulk_is_sent_as_digests_that_lose_nothing(ledger: Ledger, subscriber: Subscriber) -> None:
    bulk = [_failed(i) for i in range(25)]
    packed = [Notification("order_packed", "ord-x", "info", AT, order_id="ord-x")]
    report = _notifier(ledger, subscriber.topic_arn, digest_threshold=10, digest_size=10).deliver(bulk + packed)
    assert (report.sent, report.messages, report.digests) == (26, 4, 3)
    received = subscriber.receive()
    digests = [m for m in received if m["attributes"]["digest"] == "true"]
    assert sorted(m["body"]["detail"]["count"] for m in digests) == [5, 10, 10]
    assert {m["attributes"]["notification_type"] for m in digests} == {"payment_failed"}
    assert _keys(received) == Counter({**{f"evt-{i}": 1 for i in range(25)}, "ord-x": 1})


def test_a_message_sns_rejects_is_parked_in_the_ledger_not_lost(ledger: Ledger, subscriber: Subscriber) -> None:
    huge = Notification("negative_feedback", "order:o1", "warning", AT, detail={"comment": "x" * 300_000})
    report = _notifier(ledger, subscriber.topic_arn).deliver([huge, _failed(1)])
    assert (report.sent, report.parked) == (1, 1)
    entry = ledger.entry("negative_feedback", "order:o1")
    assert entry is not None
    assert entry.state == "failed"
    assert [e.ledger_key for e in ledger.parked()] == ["negative_feedback#order:o1"]


@pytest.mark.parametrize("severity_filter", ["critical"])
def test_a_subscription_filter_policy_receives_only_its_severity(
    ledger: Ledger, subscriber: Subscriber, unique_name: str, severity_filter: str
) -> None:
    sqs = client("sqs")
    queue_url = sqs.create_queue(QueueName=f"crit-{unique_name}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client("sns").subscribe(
        TopicArn=subscriber.topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"FilterPolicy": json.dumps({"severity": [severity_filter]})},
    )
    chargeback = Notification("chargeback_received", "evt-cb", "critical", AT, order_id="o1", event_id="evt-cb")
    _notifier(ledger, subscriber.topic_arn).deliver([chargeback, _failed(1)])
    critical = Subscriber(subscriber.topic_arn, queue_url).receive()
    assert [m["body"]["notification_type"] for m in critical] == ["chargeback_received"]
