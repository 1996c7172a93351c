"""Orders and the events of their life, as the JSON objects the contract describes."""

from __future__ import annotations

import datetime as dt
import json
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.simulator.catalog import Product, to_amount
from pipelines.simulator.integrations import City, Integration, PaymentProvider, TimeStyle

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_TIMEZONES: dict[int, dt.timezone] = {}

FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "us-east": ("Amelia", "Noah", "Olivia", "Liam", "Ava", "Ethan", "Maya", "Lucas", "Chloe", "Jayden"),
    "us-west": ("Sofia", "Mateo", "Emma", "Daniel", "Grace", "Kai", "Isabella", "Ryan", "Harper", "Leo"),
    "ca": ("Charlotte", "William", "Léa", "Benjamin", "Zoë", "Owen", "Élise", "Jacob"),
    "latam": ("João", "María", "Camila", "José", "Valentina", "Miguel", "Lucía", "Rafael"),
    "uk": ("Oliver", "Amelia", "Harry", "Isla", "George", "Poppy", "Jack", "Freya"),
    "eu": ("Léa", "Lukas", "Sofía", "Matteo", "Anna", "Jan", "Emma", "Søren", "Łukasz", "Chloé", "Björn", "Inès"),
    "jp": ("Haruto", "Yui", "Sota", "Hina", "Ren", "Aoi", "花子", "翔太"),
    "au": ("Charlotte", "Jack", "Olivia", "Noah", "Mia", "Lachlan"),
    "in": ("Aarav", "Priya", "Vivaan", "Ananya", "Arjun", "Diya", "Rohan", "Isha"),
}
LAST_NAMES: dict[str, tuple[str, ...]] = {
    "us-east": ("Hart", "Johnson", "Williams", "Brown", "Davis", "Miller", "Wilson", "Moore"),
    "us-west": ("Garcia", "Nguyen", "Kim", "Lopez", "Anderson", "Chen", "Martinez", "Lee"),
    "ca": ("Tremblay", "Roy", "Smith", "Gagnon", "MacDonald", "Côté"),
    "latam": ("Silva", "Santos", "Hernández", "González", "Oliveira", "Pérez", "Ramírez"),
    "uk": ("Smith", "Jones", "Taylor", "Evans", "Hughes", "O'Brien", "Patel"),
    "eu": ("Müller", "Dubois", "Rossi", "García", "Nowak", "Jansen", "Andersson", "Lefèvre", "Kowalski"),
    "jp": ("Sato", "Suzuki", "Takahashi", "Tanaka", "佐藤", "鈴木"),
    "au": ("Smith", "Wilson", "Taylor", "Brown", "Martin"),
    "in": ("Sharma", "Patel", "Iyer", "Reddy", "Gupta", "Nair"),
}


@dataclass
class Customer:
    """A shopper of one integration; repeat orders come from the same customer."""

    customer_id: str
    name: str
    email: str | None
    home: City
    payment_method: str
    orders: int = 0


@dataclass
class Line:
    """One line of an order."""

    product: Product
    quantity: int
    unit_minor: int


@dataclass
class Order:
    """An order and what the later events need to know about it."""

    order_id: str
    integration: Integration
    customer: Customer
    city: City
    lat: float
    lon: float
    currency: str
    lines: list[Line]
    payment_method: str
    created_ms: int
    comment: str | None
    fraud: bool = False

    @property
    def amount_minor(self) -> int:
        return sum(line.unit_minor * line.quantity for line in self.lines)


def hex_id(rng: random.Random, prefix: str, bits: int = 64) -> str:
    """A random identifier from the simulation's generator (never from the clock or the OS)."""
    return f"{prefix}-{rng.getrandbits(bits):0{bits // 4}x}"


def pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    """One value of a ``(value, weight)`` mix."""
    total = sum(weight for _, weight in weighted)
    point = rng.random() * total
    for value, weight in weighted:
        point -= weight
        if point < 0:
            return value
    return weighted[-1][0]


def _timezone(offset_minutes: int) -> dt.timezone:
    zone = _TIMEZONES.get(offset_minutes)
    if zone is None:
        zone = _TIMEZONES[offset_minutes] = dt.timezone(dt.timedelta(minutes=offset_minutes))
    return zone


def format_time(epoch_ms: int, offset_minutes: int, style: TimeStyle) -> str:
    """RFC 3339 with an offset; ``utc`` style writes Z, ``seconds`` drops the milliseconds."""
    offset = 0 if style == "utc" else offset_minutes
    local = (EPOCH + dt.timedelta(milliseconds=epoch_ms)).astimezone(_timezone(offset))
    text = local.isoformat(timespec="seconds" if style == "seconds" else "milliseconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def encode(event: dict[str, Any]) -> bytes:
    """The record bytes of an event: compact UTF-8 JSON (strings are escaped, so no newline byte)."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def new_customer(rng: random.Random, integration: Integration) -> Customer:
    """A new shopper living in one of the integration's cities."""
    home = rng.choice(integration.cities)
    first = rng.choice(FIRST_NAMES[home.region])
    last = rng.choice(LAST_NAMES[home.region])
    customer_id = hex_id(rng, "cus", 40)
    email: str | None = None
    if integration.channel != "pos" or rng.random() < 0.3:
        local_part = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore").decode().lower()
        local_part = local_part.replace("'", "").strip(".")
        email = f"{local_part or customer_id}{rng.randint(1, 99)}@example.com"
    method = pick(rng, integration.payment_methods)
    return Customer(customer_id, f"{first} {last}", email, home, method)


def _base(
    rng: random.Random, event_type: str, order: Order, epoch_ms: int, *, style: TimeStyle, source: str
) -> dict[str, Any]:
    return {
        "event_id": hex_id(rng, "evt", 96),
        "event_type": event_type,
        "event_time": format_time(epoch_ms, order.city.utc_offset_minutes, style),
        "source": source,
        "order_id": order.order_id,
    }


def new_order_event(rng: random.Random, order: Order) -> dict[str, Any]:
    integration = order.integration
    event = _base(rng, "new_order", order, order.created_ms, style=integration.time_style, source=integration.name)
    if integration.channel != "marketplace":
        event["schema_version"] = 1
    customer = order.customer
    event["customer"] = {"id": customer.customer_id, "name": customer.name, "email": customer.email}
    event["items"] = [
        {
            "product_id": line.product.product_id,
            "product_name": line.product.name,
            "category": line.product.category,
            "unit_price": to_amount(line.unit_minor, order.currency),
            "quantity": line.quantity,
        }
        for line in order.lines
    ]
    event["amount"] = to_amount(order.amount_minor, order.currency)
    event["currency"] = order.currency
    event["location"] = {"lat": order.lat, "lon": order.lon}
    event["payment_method"] = order.payment_method
    if order.comment is not None or integration.time_style != "utc":
        event["comment"] = order.comment
    return event


def payment_event(
    rng: random.Random,
    order: Order,
    *,
    provider: PaymentProvider,
    epoch_ms: int,
    transaction_id: str,
    failure_code: str | None,
) -> dict[str, Any]:
    event = _base(rng, "payment", order, epoch_ms, style="utc", source=provider.name)
    event["transaction_id"] = transaction_id
    event["amount"] = to_amount(order.amount_minor, order.currency)
    event["currency"] = order.currency
    event["payment_method"] = order.payment_method
    event["status"] = "failed" if failure_code else "succeeded"
    event["failure_code"] = failure_code
    return event


def update_event(rng: random.Random, order: Order, source: str, epoch_ms: int, status: str) -> dict[str, Any]:
    event = _base(rng, "update_order", order, epoch_ms, style="millis", source=source)
    event["status"] = status
    event["comment"] = None
    return event


def return_event(
    rng: random.Random,
    order: Order,
    *,
    source: str,
    epoch_ms: int,
    lines: Sequence[tuple[Line, int]],
    refund_minor: int,
    reason: str,
    comment: str | None,
) -> dict[str, Any]:
    event = _base(rng, "return_order", order, epoch_ms, style="seconds", source=source)
    event["return_id"] = hex_id(rng, "ret", 48)
    event["items"] = [{"product_id": line.product.product_id, "quantity": quantity} for line, quantity in lines]
    event["refund_amount"] = to_amount(refund_minor, order.currency)
    event["currency"] = order.currency
    event["reason_code"] = reason
    event["comment"] = comment
    return event


def chargeback_event(
    rng: random.Random,
    order: Order,
    *,
    provider: PaymentProvider,
    epoch_ms: int,
    transaction_id: str,
    amount_minor: int,
    reason: str,
) -> dict[str, Any]:
    event = _base(rng, "chargeback", order, epoch_ms, style="utc", source=provider.name)
    event["chargeback_id"] = hex_id(rng, "cb", 48)
    event["transaction_id"] = transaction_id
    event["amount"] = to_amount(amount_minor, order.currency)
    event["currency"] = order.currency
    event["reason_code"] = reason
    return event
