"""The contract's traps as two runs of records, and the silver tables they imply, computed in plain Python.

Shared by the writer test (static micro-batches), the streaming job test (a folder source) and
the Kinesis end-to-end test. The expected tables are derived from the events' own fields and
the labels given here, never from the pipeline's code.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

UTC = dt.UTC
INGESTED = dt.datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@dataclass
class Record:
    """One record on the stream: bytes, when it was ingested, and what the contract says about it."""

    data: bytes
    ingested_at: dt.datetime
    reasons: frozenset[str] = frozenset()
    event: dict[str, Any] | None = None


@dataclass
class Traps:
    runs: list[list[Record]] = field(default_factory=list)

    @property
    def records(self) -> list[Record]:
        return [record for run in self.runs for record in run]


def _json(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode("utf-8")


def _order(order_id: str, event_id: str, when: str, amount: float = 30.0, comment: str | None = None) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": "new_order",
        "event_time": when,
        "source": "shopify-eu-03",
        "order_id": order_id,
        "customer": {"id": f"cus-{order_id}", "name": "Ada Lovelace", "email": None},
        "items": [
            {"product_id": "sku-1", "product_name": "Mug", "category": "home", "unit_price": 10.0, "quantity": 2},
            {"product_id": "sku-2", "unit_price": amount - 20.0, "quantity": 1},
        ],
        "amount": amount,
        "currency": "EUR",
        "location": {"lat": 48.85, "lon": 2.35},
        "payment_method": "card",
        "comment": comment,
    }


def _update(order_id: str, event_id: str, when: str, status: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": "update_order",
        "event_time": when,
        "source": "wms-paris",
        "order_id": order_id,
        "status": status,
        "comment": None,
    }


def _payment(
    order_id: str, event_id: str, when: str, status: str = "succeeded", code: str | None = None
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": "payment",
        "event_time": when,
        "source": "stripe-eu",
        "order_id": order_id,
        "transaction_id": f"txn-{event_id}",
        "amount": 30.0,
        "currency": "EUR",
        "payment_method": "card",
        "status": status,
        "failure_code": code,
    }


def _return(order_id: str, event_id: str, when: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": "return_order",
        "event_time": when,
        "source": "returns-portal",
        "order_id": order_id,
        "return_id": f"ret-{event_id}",
        "items": [{"product_id": "sku-1", "quantity": 1}],
        "refund_amount": 10.0,
        "currency": "EUR",
        "reason_code": "damaged",
        "comment": "Broken on arrival.",
    }


def _chargeback(order_id: str, event_id: str, when: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": "chargeback",
        "event_time": when,
        "source": "stripe-eu",
        "order_id": order_id,
        "chargeback_id": f"cb-{event_id}",
        "transaction_id": "txn-p1",
        "amount": 30.0,
        "currency": "EUR",
        "reason_code": "fraudulent",
    }


def build_traps(ingested: dt.datetime = INGESTED) -> Traps:
    """Two runs of records exercising every trap of the contract, ingested at ``ingested``.

    Event times lie before 2026-11-21T12:00Z except the future one (``ingested`` + 1 hour).
    """

    def _good(event: dict[str, Any]) -> Record:
        return Record(_json(event), ingested, frozenset(), event)

    def _bad(data: bytes | dict[str, Any], *reasons: str) -> Record:
        raw = _json(data) if isinstance(data, dict) else data
        return Record(raw, ingested, frozenset(reasons))

    # o1: 2026-11-20T23:30-08:00 is 2026-11-21 in UTC.
    o1 = _order("o1", "e-o1", "2026-11-20T23:30:00-08:00", comment="Love it, great service!")
    # o2: just after midnight at +05:30 is the previous day in UTC.
    o2 = _order("o2", "e-o2", "2026-11-20T00:10:00+05:30", amount=25.0)
    o3 = _order("o3", "e-o3", "2026-11-19T10:00:00Z")
    bad_lat = dict(_order("ob", "e-ob", "2026-11-19T10:00:00Z"), location={"lat": 91, "lon": 2.0})
    string_amount = dict(_order("oc", "e-oc", "2026-11-19T10:00:00Z"), amount="30.0")
    zero_quantity = _order("od", "e-od", "2026-11-19T10:00:00Z")
    zero_quantity["items"] = [{"product_id": "sku-1", "unit_price": 30.0, "quantity": 0}]
    no_items = dict(_order("oe", "e-oe", "2026-11-19T10:00:00Z"), items=[])
    mismatch = dict(_order("of", "e-of", "2026-11-19T10:00:00Z"), amount=31.5)
    many = dict(_order("og", "e-og", "2026-11-19T10:00:00Z"), currency="eur", customer={"id": "c"})
    many.pop("payment_method")
    future = _order("oh", "e-oh", (ingested + dt.timedelta(hours=1)).isoformat())
    failed_no_code = _payment("o1", "e-pf", "2026-11-21T08:00:00Z", status="failed")
    run1 = [
        _good(o1),
        _good(o1),  # duplicate within the batch
        _good(o3),
        _good(_update("o2", "e-u2a", "2026-11-20T09:00:00Z", "packed")),  # before its order arrives
        _good(_update("o1", "e-u1b", "2026-11-21T10:00:00Z", "shipped")),
        _good(_payment("o1", "e-p1", "2026-11-21T08:00:00+01:00")),
        _good(_payment("o3", "e-p3", "2026-11-19T11:00:00Z", status="failed", code="card_declined")),
        _good(_return("o3", "e-r3", "2026-11-20T01:00:00+02:00")),
        _bad(b"\xff\xfe not utf-8", "malformed_json"),
        _bad(b"{not json", "malformed_json"),
        _bad(b'["an", "array"]', "malformed_json"),
        _bad({**_update("o1", "e-x1", "2026-11-21T09:00:00Z", "packed"), "event_type": "refund"}, "unknown_event_type"),
        _bad(bad_lat, "schema_violation:location.lat"),
        _bad(string_amount, "schema_violation:amount"),
    ]
    run2 = [
        _good(o1),  # duplicate from the first run: counts once
        _good(o2),  # its update came in run 1
        _good(_update("o1", "e-u1a", "2026-11-21T09:00:00Z", "packed")),  # older than 'shipped': no rollback
        _good(_update("o3", "e-u3", "2026-11-19T12:00:00Z", "cancelled")),
        _good(_payment("o1", "e-p1", "2026-11-21T08:00:00+01:00")),  # duplicate payment
        _good(_chargeback("o1", "e-c1", "2026-11-21T11:00:00Z")),
        _good(_return("o3", "e-r3", "2026-11-20T01:00:00+02:00")),  # duplicate return
        _bad(zero_quantity, "schema_violation:items.quantity"),
        _bad(no_items, "schema_violation:items"),
        _bad(mismatch, "amount_mismatch"),
        _bad(
            many,
            "schema_violation:currency",
            "schema_violation:customer.name",
            "schema_violation:payment_method",
        ),
        _bad(future, "future_event_time"),
        _bad(failed_no_code, "schema_violation:failure_code"),
        _bad(
            {"event_type": "payment"},
            *[
                f"schema_violation:{name}"
                for name in (
                    "event_id",
                    "event_time",
                    "source",
                    "order_id",
                    "transaction_id",
                    "amount",
                    "currency",
                    "payment_method",
                    "status",
                )
            ],
        ),
    ]
    return Traps([run1, run2])


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def accepted_events(records: list[Record]) -> list[dict[str, Any]]:
    """Valid events, each event_id once (first arrival)."""
    seen: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.event is not None and record.event["event_id"] not in seen:
            seen[record.event["event_id"]] = record.event
    return list(seen.values())


def expected_tables(records: list[Record]) -> dict[str, Counter[tuple[Any, ...]]]:
    """The silver and quarantine rows the contract implies, each once (key columns only)."""
    return {table: Counter(rows) for table, rows in _expected_rows(records).items()}


def _expected_rows(records: list[Record]) -> dict[str, set[tuple[Any, ...]]]:
    events = accepted_events(records)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_type.setdefault(event["event_type"], []).append(event)
    updates = by_type.get("update_order", [])
    orders = set()
    for order in by_type.get("new_order", []):
        mine = [u for u in updates if u["order_id"] == order["order_id"]]
        latest = max(mine, key=lambda u: (_time(u["event_time"]), u["event_id"]), default=None)
        orders.add(
            (
                order["order_id"],
                order["customer"]["id"],
                order["amount"],
                _time(order["event_time"]),
                _time(order["event_time"]).date(),
                latest["status"] if latest else "created",
                _time(latest["event_time"]) if latest else None,
            )
        )
    return {
        "silver/orders": orders,
        "silver/order_updates": {
            (u["event_id"], u["order_id"], u["status"], _time(u["event_time"]), _time(u["event_time"]).date())
            for u in updates
        },
        "silver/payments": {
            (p["event_id"], p["order_id"], p["status"], p["failure_code"], _time(p["event_time"]).date())
            for p in by_type.get("payment", [])
        },
        "silver/returns": {
            (r["event_id"], r["order_id"], r["refund_amount"], _time(r["event_time"]).date())
            for r in by_type.get("return_order", [])
        },
        "silver/chargebacks": {
            (c["event_id"], c["order_id"], c["amount"], _time(c["event_time"]).date())
            for c in by_type.get("chargeback", [])
        },
        "quarantine/order_events": {(r.data, r.reasons) for r in records if r.reasons},
    }


# Columns of each table compared against expected_tables, in the same order.
COMPARED: dict[str, tuple[str, ...]] = {
    "silver/orders": ("order_id", "customer_id", "amount", "order_time", "order_date", "status", "status_time"),
    "silver/order_updates": ("event_id", "order_id", "status", "event_time", "event_date"),
    "silver/payments": ("event_id", "order_id", "status", "failure_code", "event_date"),
    "silver/returns": ("event_id", "order_id", "refund_amount", "event_date"),
    "silver/chargebacks": ("event_id", "order_id", "amount", "event_date"),
    "quarantine/order_events": ("raw_bytes", "reasons"),
}


def actual_tables(lake: Any) -> dict[str, Counter[tuple[Any, ...]]]:
    """The same views read back from the lake (``pipelines.lake.Lake``) through delta-rs.

    Counted, not collected into sets, so that a row written twice shows up as a difference.
    """
    out: dict[str, Counter[tuple[Any, ...]]] = {}
    for table, columns in COMPARED.items():
        rows = lake.read_arrow(table, columns=list(columns)).to_pylist()
        values: Counter[tuple[Any, ...]] = Counter()
        for row in rows:
            if table == "quarantine/order_events":
                values[(row["raw_bytes"], frozenset(row["reasons"]))] += 1
            else:
                values[tuple(row[c] for c in columns)] += 1
        out[table] = values
    return out


# What the traps imply (docs/notifications.md): e-p1 of o1 succeeded, e-p3 of o3 failed, o1 and o2
# were packed, o3's return e-r3 ("Broken on arrival.") needs a decision and is negative, o1 had a
# chargeback. An uninterrupted run sends exactly these, whatever the source and the batching.
TRAP_NOTIFICATIONS = Counter(
    {
        ("order_confirmed", "o1"): 1,
        ("payment_failed", "e-p3"): 1,
        ("order_packed", "o1"): 1,
        ("order_packed", "o2"): 1,
        ("return_decision", "e-r3"): 1,
        ("negative_feedback", "return:e-r3"): 1,
        ("chargeback_received", "e-c1"): 1,
    }
)
