from __future__ import annotations

import datetime as dt
import time

import pytest

from pipelines.aws.clients import AwsEndpoint
from pipelines.local_services import MotoServer
from pipelines.notifications.ledger import Ledger, LedgerError
from pipelines.notifications.model import Notification

AT = dt.datetime(2026, 11, 2, 14, 0, tzinfo=dt.UTC)


def _confirmed(order_id: str) -> Notification:
    return Notification("order_confirmed", order_id, "info", AT, order_id=order_id, event_id=f"evt-{order_id}")


def test_new_notifications_are_claimed_pending(ledger: Ledger) -> None:
    claimed, handled = ledger.claim([_confirmed("o1"), _confirmed("o2")])
    assert [n.key for n in claimed] == ["o1", "o2"]
    assert handled == 0
    entry = ledger.entry("order_confirmed", "o1")
    assert entry is not None
    assert entry.state == "pending"


def test_summary_counts_entries_by_type_and_state(ledger: Ledger) -> None:
    claimed, _ = ledger.claim([_confirmed("o1"), _confirmed("o2"), _confirmed("o3")])
    ledger.mark_sent([claimed[0].ledger_key], "mid-1")
    assert ledger.summary() == {("order_confirmed", "sent"): 1, ("order_confirmed", "pending"): 2}


def test_the_same_key_twice_in_one_call_is_claimed_once(ledger: Ledger) -> None:
    claimed, handled = ledger.claim([_confirmed("o1"), _confirmed("o1")])
    assert len(claimed) == 1
    assert handled == 0


def test_a_sent_key_is_never_claimed_again(ledger: Ledger) -> None:
    claimed, _ = ledger.claim([_confirmed("o1")])
    ledger.mark_sent([claimed[0].ledger_key], "mid-1")
    time.sleep(ledger.lease_seconds + 0.2)  # past the lease: only the state keeps it from being claimed
    again, handled = ledger.claim([_confirmed("o1")])
    assert again == []
    assert handled == 1
    entry = ledger.entry("order_confirmed", "o1")
    assert entry is not None
    assert (entry.state, entry.message_id, entry.attempts) == ("sent", "mid-1", 1)
    assert ledger.claim_pending() == []


def test_many_messages_are_marked_sent_in_one_call_each_key_with_its_own_message_id(ledger: Ledger) -> None:
    claimed, _ = ledger.claim([_confirmed(f"o{i}") for i in range(60)])
    # o-late was claimed by another run: this ledger does not hold its body and updates it in place.
    Ledger(ledger.table, AwsEndpoint.from_environment()).claim([_confirmed("o-late")])
    sent = [([n.ledger_key], f"mid-{n.key}") for n in claimed]
    ledger.mark_sent_many([*sent, (["order_confirmed#o-late"], "mid-late")])
    assert ledger.summary() == {("order_confirmed", "sent"): 61}
    for key, message_id in {"o0": "mid-o0", "o59": "mid-o59", "o-late": "mid-late"}.items():
        entry = ledger.entry("order_confirmed", key)
        assert entry is not None
        assert (entry.state, entry.message_id, entry.attempts) == ("sent", message_id, 1)


def test_a_leased_pending_key_is_not_taken_by_another_run_until_the_lease_ends(ledger: Ledger) -> None:
    ledger.claim([_confirmed("o1")])
    other_run = Ledger(ledger.table, AwsEndpoint.from_environment(), lease_seconds=ledger.lease_seconds)
    assert other_run.claim([_confirmed("o1")]) == ([], 1)
    assert other_run.claim_pending() == []
    time.sleep(ledger.lease_seconds + 0.2)
    assert [n.key for n in other_run.claim_pending()] == ["o1"]


def test_a_released_key_stays_pending_with_its_error_and_is_retried_at_once(ledger: Ledger) -> None:
    claimed, _ = ledger.claim([_confirmed("o1"), _confirmed("o2")])
    ledger.release([n.ledger_key for n in claimed], "EndpointConnectionError: refused")
    entry = ledger.entry("order_confirmed", "o2")
    assert entry is not None
    assert (entry.state, entry.attempts, entry.last_error) == ("pending", 1, "EndpointConnectionError: refused")
    retried = ledger.claim_pending()
    assert sorted(n.key for n in retried) == ["o1", "o2"]
    assert retried[0] == _confirmed(retried[0].key)


def test_a_parked_key_is_listed_and_not_retried(ledger: Ledger) -> None:
    claimed, _ = ledger.claim([_confirmed("o1")])
    ledger.mark_failed(claimed[0].ledger_key, "InvalidParameter: too long")
    assert ledger.claim_pending() == []
    assert [e.ledger_key for e in ledger.parked()] == ["order_confirmed#o1"]


def test_release_does_not_turn_a_sent_key_back_to_pending(ledger: Ledger) -> None:
    claimed, _ = ledger.claim([_confirmed("o1")])
    ledger.mark_sent([claimed[0].ledger_key], "mid-1")
    ledger.release([claimed[0].ledger_key], "late error from a slow run")
    entry = ledger.entry("order_confirmed", "o1")
    assert entry is not None
    assert entry.state == "sent"


def test_ensure_table_is_safe_to_repeat(ledger: Ledger) -> None:
    assert ledger.ensure_table() == f"dynamodb table {ledger.table}: exists"


def test_a_missing_table_names_the_fix(moto_server: MotoServer, unique_name: str) -> None:
    missing = Ledger(f"nope-{unique_name}", AwsEndpoint.from_environment())
    with pytest.raises(LedgerError, match="orders-pipeline setup"):
        missing.claim([_confirmed("o1")])
