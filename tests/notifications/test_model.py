from __future__ import annotations

import datetime as dt
import json

import pytest

from pipelines.notifications.model import (
    InvalidNotificationError,
    Notification,
    PersonalDataError,
    digest_body,
    pipeline_failure,
)

AT = dt.datetime(2026, 11, 2, 14, 3, 15, tzinfo=dt.UTC)


def _payment_failed(key: str = "evt-1", severity: str = "warning") -> Notification:
    return Notification(
        notification_type="payment_failed",
        key=key,
        severity=severity,  # type: ignore[arg-type]
        occurred_at=AT,
        order_id="ord-1",
        event_id=key,
        detail={"failure_code": "card_declined", "amount": 10.5},
    )


def test_body_carries_every_field_the_contract_names() -> None:
    body = json.loads(_payment_failed().body())
    assert body == {
        "notification_type": "payment_failed",
        "severity": "warning",
        "order_id": "ord-1",
        "event_id": "evt-1",
        "occurred_at": "2026-11-02T14:03:15.000Z",
        "key": "evt-1",
        "detail": {"failure_code": "card_declined", "amount": 10.5},
    }


def test_message_attributes_let_subscribers_filter_on_type_and_severity() -> None:
    assert _payment_failed().message_attributes() == {
        "notification_type": {"DataType": "String", "StringValue": "payment_failed"},
        "severity": {"DataType": "String", "StringValue": "warning"},
        "digest": {"DataType": "String", "StringValue": "false"},
    }


def test_occurred_at_in_another_offset_is_written_in_utc() -> None:
    paris = dt.datetime(2026, 11, 2, 15, 3, 15, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    notification = Notification("order_packed", "ord-1", "info", paris, order_id="ord-1")
    assert json.loads(notification.body())["occurred_at"] == "2026-11-02T14:03:15.000Z"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"notification_type": "order_lost"}, "unknown notification_type"),
        ({"severity": "fatal"}, "severity must be one of"),
        ({"key": ""}, "non-empty key"),
    ],
)
def test_invalid_notification_is_refused_with_the_reason(kwargs: dict[str, str], message: str) -> None:
    values = {"notification_type": "payment_failed", "key": "evt-1", "severity": "warning", "occurred_at": AT}
    values.update(kwargs)
    with pytest.raises(InvalidNotificationError, match=message):
        Notification(**values)  # type: ignore[arg-type]


def test_a_detail_field_naming_email_is_refused() -> None:
    with pytest.raises(PersonalDataError, match="customer_email"):
        Notification("high_value_order", "ord-1", "info", AT, detail={"customer_email": "amelia@example.com"})


def test_email_addresses_inside_free_text_are_masked() -> None:
    notification = Notification(
        "negative_feedback",
        "order:ord-1",
        "warning",
        AT,
        detail={"comment": "Broken! write to amelia.hart+shop@example.co.uk now", "nested": ["x@y.io"]},
    )
    body = notification.body()
    assert "@" not in body
    assert json.loads(body)["detail"]["comment"] == "Broken! write to [email removed] now"


def test_round_trip_through_the_ledger_form_is_lossless() -> None:
    original = _payment_failed()
    assert Notification.from_dict(original.to_dict()) == original


def test_digest_carries_every_item_in_full_and_the_highest_severity() -> None:
    items = [_payment_failed("evt-1"), _payment_failed("evt-2", "critical")]
    body = json.loads(digest_body(items))
    assert body["notification_type"] == "payment_failed"
    assert body["severity"] == "critical"
    assert body["order_id"] is None
    assert body["detail"]["count"] == 2
    assert [item["key"] for item in body["detail"]["items"]] == ["evt-1", "evt-2"]
    assert body["detail"]["items"][0]["detail"] == {"failure_code": "card_declined", "amount": 10.5}


def test_digest_of_two_types_is_refused() -> None:
    other = Notification("order_packed", "ord-1", "info", AT)
    with pytest.raises(InvalidNotificationError, match="one notification_type"):
        digest_body([_payment_failed(), other])


def test_pipeline_failure_has_no_order_and_a_key_stable_across_replays() -> None:
    first = pipeline_failure(
        "orders-stream", "ValueError: boom", AT, stage="batch", error_kind="ValueError", batch_id=7
    )
    again = pipeline_failure(
        "orders-stream", "ValueError: boom", AT, stage="batch", error_kind="ValueError", batch_id=7
    )
    assert first.ledger_key == again.ledger_key == "pipeline_failure#orders-stream:-:7:ValueError"
    assert first.order_id is None
    assert first.severity == "critical"
