from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from pipelines.simulator import INTEGRATIONS, INVALID_KINDS, KINDS, SimRecord, SimulationConfig, generate
from pipelines.simulator.generator import _Simulation
from pipelines.simulator.invalid import FUTURE_DAYS, RECIPES

END = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def validator(contract_dir: Path) -> Draft202012Validator:
    schema = json.loads((contract_dir / "order-event.schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=FormatChecker())


def _records(events: int, bad_fraction: float = 0.0, seed: int = 7, days: float = 30.0) -> list[SimRecord]:
    return list(
        generate(SimulationConfig(events=events, seed=seed, days=days, end_time=END, bad_fraction=bad_fraction))
    )


@pytest.fixture(scope="module")
def clean() -> list[SimRecord]:
    return _records(4000)


@pytest.fixture(scope="module")
def mixed() -> list[SimRecord]:
    return _records(4000, bad_fraction=0.2, seed=11)


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _items_total(event: dict[str, Any]) -> float:
    return sum(item["unit_price"] * item["quantity"] for item in event["items"])


def _contract_problems(validator: Draft202012Validator, event: Any) -> list[str]:
    """Schema errors plus the rule the schema states only in words: a failed payment has a failure_code."""
    problems = [error.message for error in validator.iter_errors(event)]
    if (
        isinstance(event, dict)
        and event.get("event_type") == "payment"
        and event.get("status") == "failed"
        and event.get("failure_code") is None
    ):
        problems.append("failed payment without failure_code")
    return problems


def _parses_as_object(data: bytes) -> bool:
    try:
        return isinstance(json.loads(data.decode("utf-8")), dict)
    except ValueError:
        return False


def test_every_generated_event_validates_against_the_contract_schema(
    clean: list[SimRecord], validator: Draft202012Validator
) -> None:
    assert len(clean) == 4000
    for record in clean:
        event = json.loads(record.data.decode("utf-8"))
        assert _contract_problems(validator, event) == [], record.data
        assert _time(event["event_time"]) < END
        assert record.partition_key == event["order_id"]
        if event["event_type"] == "new_order":
            assert abs(event["amount"] - _items_total(event)) <= 0.01
    assert Counter(json.loads(r.data)["event_type"] for r in clean).keys() == {
        "new_order",
        "update_order",
        "payment",
        "return_order",
        "chargeback",
    }


def test_events_means_exactly_that_many_records() -> None:
    for events, bad_fraction in ((0, 0.0), (1, 0.0), (7, 0.5), (10, 1.0), (1000, 0.03)):
        assert len(_records(events, bad_fraction)) == events


def test_the_same_seed_gives_identical_bytes_and_another_seed_does_not() -> None:
    first = [(r.partition_key, r.data, r.kind) for r in _records(1500, 0.1, seed=3)]
    second = [(r.partition_key, r.data, r.kind) for r in _records(1500, 0.1, seed=3)]
    other = [(r.partition_key, r.data, r.kind) for r in _records(1500, 0.1, seed=4)]
    assert first == second
    assert first != other
    assert not {data for _, data, kind in first if kind == "valid"} & {
        data for _, data, kind in other if kind == "valid"
    }


def test_at_least_32_integrations_appear_with_several_utc_offsets(clean: list[SimRecord]) -> None:
    events = [json.loads(r.data) for r in clean]
    sources = {event["source"] for event in events}
    assert len(sources) >= 32
    assert {integration.name for integration in INTEGRATIONS} <= sources
    offsets = {_time(event["event_time"]).utcoffset() for event in events}
    assert len(offsets) >= 6


def test_no_record_contains_a_newline_byte(mixed: list[SimRecord]) -> None:
    assert all(b"\n" not in record.data for record in mixed)


def test_every_kind_appears_with_about_the_bad_fraction_of_records(mixed: list[SimRecord]) -> None:
    kinds = Counter(record.kind for record in mixed)
    assert set(kinds) == set(KINDS)
    bad = sum(count for kind, count in kinds.items() if kind != "valid")
    assert bad == round(0.2 * len(mixed))


def test_each_invalid_record_really_breaks_its_rule(mixed: list[SimRecord], validator: Draft202012Validator) -> None:
    seen: Counter[str] = Counter()
    for record in mixed:
        if record.kind not in INVALID_KINDS:
            continue
        seen[record.kind] += 1
        if record.kind == "malformed_json":
            assert not _parses_as_object(record.data), record.data
            continue
        event = json.loads(record.data.decode("utf-8"))
        assert isinstance(event, dict)
        if record.kind == "unknown_event_type":
            assert event.get("event_type") not in {"new_order", "update_order", "return_order", "payment", "chargeback"}
        elif record.kind == "schema_violation":
            assert event.get("event_type") in {"new_order", "update_order", "return_order", "payment", "chargeback"}
            assert _contract_problems(validator, event), record.data
        elif record.kind == "amount_mismatch":
            assert _contract_problems(validator, event) == []
            assert abs(event["amount"] - _items_total(event)) > 0.01
        else:
            assert _contract_problems(validator, event) == []
            assert _time(event["event_time"]) >= END + dt.timedelta(days=FUTURE_DAYS)
    assert set(seen) == set(INVALID_KINDS)


def test_every_invalid_recipe_breaks_its_rule(validator: Draft202012Validator) -> None:
    end_ms = int(END.timestamp() * 1000)
    sim = _Simulation(random.Random(5), end_ms - 86_400_000, end_ms)
    for recipe in RECIPES:
        for _ in range(5):
            event, _, _ = sim.scratch_event(recipe.base)
            assert _contract_problems(validator, event) == []
            data = recipe.apply(json.loads(json.dumps(event)), sim.rng, sim.end_ms)
            assert b"\n" not in data
            if recipe.kind == "malformed_json":
                assert not _parses_as_object(data), (recipe.name, data)
                continue
            broken = json.loads(data)
            problems = _contract_problems(validator, broken)
            if recipe.kind == "schema_violation":
                assert problems, recipe.name
                assert broken.get("event_type") == recipe.base
            elif recipe.kind == "unknown_event_type":
                assert broken.get("event_type") != recipe.base, recipe.name
            elif recipe.kind == "amount_mismatch":
                assert problems == []
                assert abs(broken["amount"] - _items_total(broken)) > 0.01
            else:
                assert problems == []
                assert _time(broken["event_time"]) > END + dt.timedelta(days=FUTURE_DAYS - 1)


def test_duplicates_are_byte_identical_resends_arriving_after_the_original(mixed: list[SimRecord]) -> None:
    first_position: dict[bytes, int] = {}
    duplicates = 0
    for position, record in enumerate(mixed):
        if record.kind == "duplicate":
            duplicates += 1
            assert record.data in first_position
            assert first_position[record.data] < position
        else:
            first_position.setdefault(record.data, position)
    assert duplicates > 0
    ids = Counter(json.loads(r.data)["event_id"] for r in mixed if r.kind in ("valid", "late", "duplicate"))
    assert sum(count - 1 for count in ids.values()) == duplicates


def test_late_records_include_updates_that_arrive_before_their_new_order(mixed: list[SimRecord]) -> None:
    newest = END - dt.timedelta(days=400)
    late_by_hours = 0
    first_seen: dict[str, str] = {}
    updates_first = 0
    for record in mixed:
        if record.kind in INVALID_KINDS:
            continue
        event = json.loads(record.data)
        when = _time(event["event_time"])
        if record.kind == "late" and newest - when > dt.timedelta(hours=1):
            late_by_hours += 1
        newest = max(newest, when)
        if event["order_id"] not in first_seen:
            first_seen[event["order_id"]] = event["event_type"]
            updates_first += event["event_type"] == "update_order"
    assert late_by_hours > 0
    assert updates_first > 0


def test_order_lifecycles_are_consistent(clean: list[SimRecord]) -> None:
    orders: dict[str, dict[str, Any]] = {}
    succeeded: dict[str, dict[str, Any]] = {}
    by_order: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in clean:
        event = json.loads(record.data)
        by_order[event["order_id"]].append(event)
        if event["event_type"] == "new_order":
            orders[event["order_id"]] = event
        if event["event_type"] == "payment" and event["status"] == "succeeded":
            succeeded[event["transaction_id"]] = event
    failures: Counter[str] = Counter()
    for events in by_order.values():
        for event in events:
            order = orders.get(event["order_id"])
            if event["event_type"] == "payment":
                assert order is not None
                assert event["amount"] == order["amount"]
                assert event["currency"] == order["currency"]
                if event["status"] == "failed":
                    failures[event["failure_code"]] += 1
            elif event["event_type"] == "return_order" and order is not None:
                assert event["refund_amount"] <= order["amount"]
                assert event["currency"] == order["currency"]
                assert {item["product_id"] for item in event["items"]} <= {i["product_id"] for i in order["items"]}
            elif event["event_type"] == "chargeback":
                payment = succeeded[event["transaction_id"]]
                assert payment["order_id"] == event["order_id"]
                assert event["amount"] <= payment["amount"]
    assert len(failures) >= 4
    customers = Counter(order["customer"]["id"] for order in orders.values())
    assert customers.most_common(1)[0][1] >= 3
    comments = [str(order["comment"]) for order in orders.values() if order.get("comment")]
    assert len(comments) > 0.08 * len(orders)
    assert any(len(comment) > 200 for comment in comments)


def test_order_volume_follows_the_day_the_week_and_a_trend() -> None:
    orders = [
        json.loads(r.data) for r in _records(30_000, days=28, seed=2) if json.loads(r.data)["event_type"] == "new_order"
    ]
    local = [_time(order["event_time"]) for order in orders if not order["event_time"].endswith("Z")]
    by_hour = Counter(when.hour for when in local)
    assert by_hour[20] > 3 * by_hour[4]
    by_weekday = Counter(when.weekday() for when in local)
    assert by_weekday[5] > 1.1 * by_weekday[0]
    utc = sorted(_time(order["event_time"]) for order in orders)
    middle = END - dt.timedelta(days=14)
    first_half = sum(when < middle for when in utc)
    assert len(utc) - first_half > 1.05 * first_half
