"""Recipes for invalid records, one family per reason of the contract's validation table.

Each recipe takes a valid event (a fresh dict it may change) and returns the record bytes.
Every variant really breaks its rule; the tests check each one.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipelines.simulator.events import EPOCH, encode

INVALID_KINDS: tuple[str, ...] = (
    "malformed_json",
    "unknown_event_type",
    "schema_violation",
    "amount_mismatch",
    "future_event_time",
)

# How far past the simulation's end a future event is dated.
FUTURE_DAYS = 3650

Apply = Callable[[dict[str, Any], random.Random, int], bytes]


@dataclass(frozen=True)
class InvalidRecipe:
    """One way to make a bad record: its kind, a name, the event type it starts from."""

    kind: str
    name: str
    base: str
    apply: Apply


# -- malformed_json ----------------------------------------------------------------------------


def _truncated(event: dict[str, Any], rng: random.Random, end_ms: int) -> bytes:
    data = encode(event)
    # Cut inside the object: without its closing brace no prefix parses as an object.
    return data[: rng.randint(1, len(data) - 2)]


def _json_array(event: dict[str, Any], rng: random.Random, end_ms: int) -> bytes:
    return b"[" + encode(event) + b"]"


def _json_string(event: dict[str, Any], rng: random.Random, end_ms: int) -> bytes:
    return json.dumps(encode(event).decode("utf-8")).encode("utf-8")


def _json_scalar(event: dict[str, Any], rng: random.Random, end_ms: int) -> bytes:
    return rng.choice((b"null", b"42", b"true"))


def _invalid_utf8(event: dict[str, Any], rng: random.Random, end_ms: int) -> bytes:
    data = encode(event)
    # A Latin-1 byte where UTF-8 is expected, as a misconfigured source would send.
    return data.replace(b'"source":"', b'"source":"\xe9\xff', 1)


def _blank(event: dict[str, Any], rng: random.Random, end_ms: int) -> bytes:
    # Whitespace only: a zero-byte record cannot be told from a blank line in a JSON-lines file.
    return rng.choice((b" ", b"  ", b"\t"))


def _trailing_garbage(event: dict[str, Any], rng: random.Random, end_ms: int) -> bytes:
    return encode(event) + b"}"


def _python_repr(event: dict[str, Any], rng: random.Random, end_ms: int) -> bytes:
    return repr(event).encode("utf-8")


# -- unknown_event_type ------------------------------------------------------------------------


def _set(path: str, value: Any) -> Apply:
    """A recipe that sets the dotted ``path`` (``items`` means every item) to ``value``."""

    def apply(event: dict[str, Any], rng: random.Random, end_ms: int) -> bytes:
        _assign(event, path.split("."), value)
        return encode(event)

    return apply


def _drop(path: str) -> Apply:
    """A recipe that removes the dotted ``path``."""

    def apply(event: dict[str, Any], rng: random.Random, end_ms: int) -> bytes:
        _assign(event, path.split("."), _DROP)
        return encode(event)

    return apply


_DROP = object()


def _assign(node: Any, parts: list[str], value: Any) -> None:
    head, rest = parts[0], parts[1:]
    if isinstance(node, list):
        for item in node:
            _assign(item, parts, value)
        return
    if rest:
        _assign(node[head], rest, value)
    elif value is _DROP:
        node.pop(head, None)
    else:
        node[head] = value


def _number_as_string(path: str) -> Apply:
    def apply(event: dict[str, Any], rng: random.Random, end_ms: int) -> bytes:
        parts = path.split(".")
        target: Any = event
        for part in parts[:-1]:
            target = target[part]
        targets = target if isinstance(target, list) else [target]
        for item in targets:
            item[parts[-1]] = str(item[parts[-1]])
        return encode(event)

    return apply


def _no_offset(event: dict[str, Any], rng: random.Random, end_ms: int) -> bytes:
    text = event["event_time"]
    event["event_time"] = text[:-1] if text.endswith("Z") else text[:-6]
    return encode(event)


def _failed_without_code(event: dict[str, Any], rng: random.Random, end_ms: int) -> bytes:
    event["status"] = "failed"
    if rng.random() < 0.5:
        event["failure_code"] = None
    else:
        event.pop("failure_code", None)
    return encode(event)


def _negative(path: str) -> Apply:
    def apply(event: dict[str, Any], rng: random.Random, end_ms: int) -> bytes:
        parts = path.split(".")
        target: Any = event
        for part in parts[:-1]:
            target = target[part]
        targets = target if isinstance(target, list) else [target]
        for item in targets:
            item[parts[-1]] = -abs(item[parts[-1]]) - 1
        return encode(event)

    return apply


# -- amount_mismatch and future_event_time -----------------------------------------------------


def _amount_off(event: dict[str, Any], rng: random.Random, end_ms: int) -> bytes:
    amount = event["amount"]
    delta = round(max(0.5, abs(amount) * rng.uniform(0.05, 0.3)), 2)
    if rng.random() < 0.5 and amount - delta >= 0:
        delta = -delta
    new = amount + delta
    event["amount"] = int(new) if isinstance(amount, int) and delta == int(delta) else round(new, 2)
    return encode(event)


def _in_the_future(event: dict[str, Any], rng: random.Random, end_ms: int) -> bytes:
    future = EPOCH + dt.timedelta(milliseconds=end_ms) + dt.timedelta(days=FUTURE_DAYS, seconds=rng.randint(0, 86_400))
    event["event_time"] = future.isoformat(timespec="seconds").replace("+00:00", "Z")
    return encode(event)


RECIPES: tuple[InvalidRecipe, ...] = (
    InvalidRecipe("malformed_json", "truncated", "new_order", _truncated),
    InvalidRecipe("malformed_json", "array", "payment", _json_array),
    InvalidRecipe("malformed_json", "json_string", "update_order", _json_string),
    InvalidRecipe("malformed_json", "scalar", "payment", _json_scalar),
    InvalidRecipe("malformed_json", "invalid_utf8", "new_order", _invalid_utf8),
    InvalidRecipe("malformed_json", "blank", "update_order", _blank),
    InvalidRecipe("malformed_json", "trailing_garbage", "return_order", _trailing_garbage),
    InvalidRecipe("malformed_json", "python_repr", "payment", _python_repr),
    InvalidRecipe("unknown_event_type", "missing", "new_order", _drop("event_type")),
    InvalidRecipe("unknown_event_type", "unknown_value", "update_order", _set("event_type", "order_updated")),
    InvalidRecipe("unknown_event_type", "wrong_case", "payment", _set("event_type", "PAYMENT")),
    InvalidRecipe("unknown_event_type", "null", "return_order", _set("event_type", None)),
    InvalidRecipe("unknown_event_type", "number", "chargeback", _set("event_type", 3)),
    InvalidRecipe("schema_violation", "customer_missing", "new_order", _drop("customer")),
    InvalidRecipe("schema_violation", "customer_not_object", "new_order", _set("customer", "cus-unknown")),
    InvalidRecipe("schema_violation", "customer_id_missing", "new_order", _drop("customer.id")),
    InvalidRecipe("schema_violation", "customer_name_empty", "new_order", _set("customer.name", "")),
    InvalidRecipe("schema_violation", "location_lat_out_of_range", "new_order", _set("location.lat", 91.5)),
    InvalidRecipe("schema_violation", "location_lat_as_string", "new_order", _number_as_string("location.lat")),
    InvalidRecipe("schema_violation", "location_lon_missing", "new_order", _drop("location.lon")),
    InvalidRecipe("schema_violation", "items_quantity_zero", "new_order", _set("items.quantity", 0)),
    InvalidRecipe("schema_violation", "items_quantity_as_string", "new_order", _number_as_string("items.quantity")),
    InvalidRecipe("schema_violation", "items_quantity_fraction", "new_order", _set("items.quantity", 1.5)),
    InvalidRecipe("schema_violation", "items_empty", "new_order", _set("items", [])),
    InvalidRecipe("schema_violation", "items_unit_price_negative", "new_order", _negative("items.unit_price")),
    InvalidRecipe("schema_violation", "items_product_id_missing", "new_order", _drop("items.product_id")),
    InvalidRecipe("schema_violation", "amount_as_string", "new_order", _number_as_string("amount")),
    InvalidRecipe("schema_violation", "currency_lowercase", "new_order", _set("currency", "eur")),
    InvalidRecipe("schema_violation", "payment_method_unknown", "new_order", _set("payment_method", "bitcoin")),
    InvalidRecipe("schema_violation", "payment_amount_negative", "payment", _negative("amount")),
    InvalidRecipe("schema_violation", "payment_currency_long", "payment", _set("currency", "EURO")),
    InvalidRecipe("schema_violation", "payment_status_unknown", "payment", _set("status", "pending")),
    InvalidRecipe("schema_violation", "failed_without_failure_code", "payment", _failed_without_code),
    InvalidRecipe("schema_violation", "failure_code_unknown", "payment", _set("failure_code", "bank_offline")),
    InvalidRecipe("schema_violation", "transaction_id_missing", "payment", _drop("transaction_id")),
    InvalidRecipe("schema_violation", "event_time_without_offset", "payment", _no_offset),
    InvalidRecipe("schema_violation", "event_time_not_a_time", "update_order", _set("event_time", "yesterday")),
    InvalidRecipe("schema_violation", "event_time_as_number", "update_order", _set("event_time", 1_762_000_000_000)),
    InvalidRecipe("schema_violation", "event_id_missing", "update_order", _drop("event_id")),
    InvalidRecipe("schema_violation", "event_id_too_long", "update_order", _set("event_id", "evt-" + "x" * 80)),
    InvalidRecipe("schema_violation", "order_id_as_number", "update_order", _set("order_id", 8841)),
    InvalidRecipe("schema_violation", "source_empty", "update_order", _set("source", "")),
    InvalidRecipe("schema_violation", "status_unknown", "update_order", _set("status", "lost")),
    InvalidRecipe("schema_violation", "status_missing", "update_order", _drop("status")),
    InvalidRecipe("schema_violation", "refund_amount_negative", "return_order", _negative("refund_amount")),
    InvalidRecipe("schema_violation", "return_reason_unknown", "return_order", _set("reason_code", "too_big")),
    InvalidRecipe("schema_violation", "return_items_quantity_zero", "return_order", _set("items.quantity", 0)),
    InvalidRecipe("schema_violation", "return_id_missing", "return_order", _drop("return_id")),
    InvalidRecipe("schema_violation", "chargeback_reason_unknown", "chargeback", _set("reason_code", "unhappy")),
    InvalidRecipe("schema_violation", "chargeback_amount_negative", "chargeback", _negative("amount")),
    InvalidRecipe("schema_violation", "schema_version_zero", "payment", _set("schema_version", 0)),
    InvalidRecipe("amount_mismatch", "amount_off", "new_order", _amount_off),
    InvalidRecipe("future_event_time", "new_order_in_the_future", "new_order", _in_the_future),
    InvalidRecipe("future_event_time", "payment_in_the_future", "payment", _in_the_future),
    InvalidRecipe("future_event_time", "update_in_the_future", "update_order", _in_the_future),
)

# Kind order of the rotation: schema violations come in the most shapes, so they come most often.
_ROTATION: tuple[str, ...] = (
    "schema_violation",
    "malformed_json",
    "unknown_event_type",
    "amount_mismatch",
    "future_event_time",
    "schema_violation",
    "malformed_json",
    "schema_violation",
)


def recipes_in_rotation(rng: random.Random, count: int) -> list[InvalidRecipe]:
    """``count`` recipes: every kind within the first five, every variant of a kind in turn."""
    by_kind: dict[str, list[InvalidRecipe]] = {kind: [r for r in RECIPES if r.kind == kind] for kind in INVALID_KINDS}
    queues: dict[str, list[InvalidRecipe]] = {kind: [] for kind in INVALID_KINDS}
    chosen: list[InvalidRecipe] = []
    for index in range(count):
        kind = _ROTATION[index % len(_ROTATION)]
        if not queues[kind]:
            queues[kind] = list(by_kind[kind])
            rng.shuffle(queues[kind])
        chosen.append(queues[kind].pop())
    return chosen
