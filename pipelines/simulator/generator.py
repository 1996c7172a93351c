"""The event simulator: orders from many integrations, their lifecycles, and the bad records.

``generate(config)`` yields exactly ``config.events`` records in arrival order. Everything is
drawn from one ``random.Random(seed)``, so a seed and an end time fix the output byte for byte.
Lifecycle events that would happen after the end time are not emitted (they have not happened
yet); the orders near the end are therefore younger, as on a real stream.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pipelines.simulator.catalog import CATALOG, RETURNS, price_minor
from pipelines.simulator.comments import Mood, make_comment
from pipelines.simulator.events import (
    Customer,
    Line,
    Order,
    chargeback_event,
    encode,
    hex_id,
    new_customer,
    new_order_event,
    payment_event,
    pick,
    return_event,
    update_event,
)
from pipelines.simulator.integrations import (
    FRAUD_CITIES,
    INTEGRATIONS,
    WAREHOUSES,
    Integration,
    PaymentProvider,
    payment_provider_for,
    returns_system_for,
)
from pipelines.simulator.invalid import INVALID_KINDS, InvalidRecipe, recipes_in_rotation

KINDS: tuple[str, ...] = ("valid", "duplicate", "late", *INVALID_KINDS)

# An order's events as (epoch milliseconds, event), in the order they were made.
Timeline = list[tuple[int, dict[str, Any]]]

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# Relative order intensity by local hour (max 1) per channel.
_DAILY: dict[str, tuple[float, ...]] = {
    "web_shop": (
        0.25,
        0.15,
        0.1,
        0.08,
        0.08,
        0.1,
        0.2,
        0.35,
        0.5,
        0.6,
        0.65,
        0.7,
        0.75,
        0.7,
        0.65,
        0.65,
        0.7,
        0.75,
        0.85,
        0.95,
        1.0,
        0.95,
        0.7,
        0.45,
    ),
    "marketplace": (
        0.3,
        0.2,
        0.12,
        0.1,
        0.1,
        0.12,
        0.22,
        0.38,
        0.5,
        0.58,
        0.62,
        0.68,
        0.75,
        0.7,
        0.66,
        0.66,
        0.7,
        0.78,
        0.88,
        0.97,
        1.0,
        0.92,
        0.72,
        0.5,
    ),
    "pos": (0, 0, 0, 0, 0, 0, 0, 0, 0, 0.4, 0.6, 0.75, 0.9, 0.85, 0.7, 0.7, 0.8, 0.95, 1.0, 0.8, 0.5, 0, 0, 0),
    "mobile_app": (
        0.3,
        0.18,
        0.1,
        0.07,
        0.07,
        0.15,
        0.45,
        0.8,
        0.75,
        0.5,
        0.45,
        0.55,
        0.75,
        0.6,
        0.45,
        0.45,
        0.55,
        0.7,
        0.75,
        0.85,
        0.95,
        1.0,
        0.85,
        0.55,
    ),
}
# Relative intensity by local weekday, Monday first (max 1).
_WEEKLY: dict[str, tuple[float, ...]] = {
    "web_shop": (0.82, 0.85, 0.86, 0.88, 0.93, 1.0, 0.97),
    "marketplace": (0.85, 0.86, 0.87, 0.88, 0.92, 1.0, 0.98),
    "pos": (0.62, 0.65, 0.68, 0.75, 0.88, 1.0, 0.42),
    "mobile_app": (0.78, 0.8, 0.8, 0.83, 0.9, 1.0, 1.0),
}
_CHARGEBACK_REASONS = (
    ("product_not_received", 0.3),
    ("not_as_described", 0.2),
    ("fraudulent", 0.2),
    ("duplicate", 0.1),
    ("credit_not_processed", 0.1),
    ("other", 0.1),
)
# Comment moods: orders are mostly content or matter-of-fact, returns mostly unhappy.
_ORDER_MOODS: tuple[tuple[Mood, float], ...] = (("good", 0.45), ("neutral", 0.4), ("bad", 0.15))
_CHANGED_MIND_MOODS: tuple[tuple[Mood, float], ...] = (("good", 0.35), ("neutral", 0.45), ("bad", 0.2))
_RETURN_MOODS: tuple[tuple[Mood, float], ...] = (("bad", 0.8), ("neutral", 0.15), ("good", 0.05))
_CHARGEABLE = frozenset({"card", "paypal", "apple_pay", "google_pay"})


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate; ``end_time`` defaults to the start of the current UTC day."""

    events: int
    seed: int = 7
    days: float = 30.0
    end_time: dt.datetime | None = None
    bad_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.events < 0:
            raise ValueError(f"events must be >= 0, got {self.events}")
        if not self.days > 0:
            raise ValueError(f"days must be > 0, got {self.days}")
        if not 0 <= self.bad_fraction <= 1:
            raise ValueError(f"bad_fraction must be between 0 and 1, got {self.bad_fraction}")
        if self.end_time is not None and self.end_time.tzinfo is None:
            raise ValueError(f"end_time needs a time zone, got {self.end_time.isoformat()}")

    def resolved_end_time(self) -> dt.datetime:
        if self.end_time is not None:
            return self.end_time.astimezone(dt.UTC)
        return default_end_time()


def default_end_time() -> dt.datetime:
    """The start of the current UTC day: reruns on one day match and no valid event is in the future."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class SimRecord:
    """One stream record: its partition key, its exact bytes, and what kind of record it is."""

    partition_key: str
    data: bytes
    kind: str


@dataclass
class _Pending:
    arrival_ms: int
    seq: int
    kind: str
    key: str
    data: bytes
    event_type: str
    event_ms: int


@dataclass
class _Budget:
    lifecycle: int
    duplicates: int
    late: int
    invalid: int

    @classmethod
    def split(cls, events: int, bad_fraction: float) -> _Budget:
        bad = min(events, round(events * bad_fraction))
        invalid = math.ceil(bad * 0.5)
        duplicates = round(bad * 0.25)
        late = bad - invalid - duplicates
        lifecycle = events - invalid - duplicates
        if lifecycle <= 0:
            # Nothing valid to resend or delay: all the bad records are invalid ones.
            return cls(0, 0, 0, events)
        return cls(lifecycle, duplicates, min(late, lifecycle), invalid)


@dataclass
class _Simulation:
    rng: random.Random
    start_ms: int
    end_ms: int
    customers: dict[str, list[Customer]] = field(default_factory=dict)
    records: list[_Pending] = field(default_factory=list)
    seq: int = 0

    @property
    def span_ms(self) -> int:
        return self.end_ms - self.start_ms

    # -- order arrival ----------------------------------------------------------------------

    def draw_integration(self) -> Integration:
        rng = self.rng
        return INTEGRATIONS[_pick_index(rng, _VOLUMES)]

    def draw_time(self, integration: Integration) -> int:
        """An order time with the integration's daily and weekly shape and an upward trend."""
        rng = self.rng
        growth = min(0.6, 0.01 * self.span_ms / DAY)
        daily = _DAILY[integration.channel]
        weekly = _WEEKLY[integration.channel]
        offset_ms = integration.cities[0].utc_offset_minutes * MINUTE
        while True:
            epoch_ms = self.start_ms + int(rng.random() * self.span_ms)
            local_ms = epoch_ms + offset_ms
            hour = (local_ms // HOUR) % 24
            weekday = (local_ms // DAY + 3) % 7  # 1970-01-01 was a Thursday
            trend = (1 + growth * (epoch_ms - self.start_ms) / self.span_ms) / (1 + growth)
            if rng.random() < daily[hour] * weekly[weekday] * trend:
                return epoch_ms

    def customer(self, integration: Integration) -> Customer:
        """A new or returning customer; returning ones favour the integration's regulars."""
        rng = self.rng
        known = self.customers.setdefault(integration.name, [])
        if not known or rng.random() < 0.35:
            known.append(new_customer(rng, integration))
            return known[-1]
        return known[int(len(known) * rng.random() ** 1.5)]

    def make_order(self, integration: Integration, created_ms: int, customer: Customer, fraud: bool = False) -> Order:
        rng = self.rng
        customer.orders += 1
        currency = pick(rng, integration.currencies)
        if fraud:
            categories: tuple[tuple[str, float], ...] = (("electronics", 1.0),)
            city = rng.choice(FRAUD_CITIES)
            method = "card"
        else:
            categories = integration.categories
            travelling = rng.random() < 0.03
            city = rng.choice(integration.cities) if travelling else customer.home
            method = customer.payment_method if rng.random() < 0.8 else pick(rng, integration.payment_methods)
        if integration.channel == "pos":
            lat, lon = city.lat + rng.gauss(0, 0.0004), city.lon + rng.gauss(0, 0.0004)
        else:
            lat, lon = city.lat + rng.gauss(0, 0.04), city.lon + rng.gauss(0, 0.06)
        lines: list[Line] = []
        count = 1 + _pick_index(rng, (0.55, 0.28, 0.12, 0.05))
        seen: set[str] = set()
        for _ in range(count):
            product = rng.choice(CATALOG[pick(rng, categories)])
            if product.product_id in seen:
                continue
            seen.add(product.product_id)
            quantity = 1 + _pick_index(rng, (0.8, 0.13, 0.04, 0.02, 0.01))
            if product.category == "grocery":
                quantity += rng.randint(0, 3)
            lines.append(Line(product, quantity, price_minor(product, currency)))
        comment = None
        if not fraud and rng.random() < integration.comment_rate:
            comment = make_comment(rng, pick_mood(rng, _ORDER_MOODS), long=rng.random() < 0.1)
        return Order(
            order_id=hex_id(rng, "ord"),
            integration=integration,
            customer=customer,
            city=city,
            lat=round(max(-90.0, min(90.0, lat)), 6),
            lon=round(max(-180.0, min(180.0, lon)), 6),
            currency=currency,
            lines=lines,
            payment_method=method,
            created_ms=created_ms,
            comment=comment,
            fraud=fraud,
        )

    def candidate_orders(self) -> list[Order]:
        """One order, or a burst of card-testing orders from one customer on a risky integration."""
        rng = self.rng
        integration = self.draw_integration()
        created_ms = self.draw_time(integration)
        if integration.channel != "pos" and rng.random() < 0.004 * integration.risk:
            customer = new_customer(rng, integration) if rng.random() < 0.5 else self.customer(integration)
            orders = []
            for _ in range(rng.randint(3, 6)):
                orders.append(self.make_order(integration, created_ms, customer, fraud=True))
                created_ms += rng.randint(MINUTE // 2, 4 * MINUTE)
            return orders
        return [self.make_order(integration, created_ms, self.customer(integration))]

    # -- lifecycle --------------------------------------------------------------------------

    def lifecycle(self, order: Order) -> Timeline:
        """Every event of the order's life, as ``(epoch_ms, event)``, including ones after the end."""
        rng = self.rng
        integration = order.integration
        events: Timeline = [(order.created_ms, new_order_event(rng, order))]
        provider = payment_provider_for(integration, order.payment_method, order.currency)
        store = integration.channel == "pos"
        warehouse = WAREHOUSES[order.customer.home.region]
        ship_source = integration.name if store else warehouse.name
        now = order.created_ms

        if not order.fraud and rng.random() < integration.abandon_rate:
            # Never paid: half are cancelled by the shop a day or more later, the rest stall.
            if rng.random() < 0.5:
                at = now + int(rng.uniform(24, 72) * HOUR)
                events.append((at, update_event(rng, order, integration.name, at, "cancelled")))
            return events

        cash_on_delivery = order.payment_method == "cash_on_delivery"
        paid_txn: str | None = None
        if not cash_on_delivery:
            now, paid_txn = self._pay(order, provider, now, events)
            if paid_txn is None:
                if rng.random() < 0.6:
                    at = now + int(rng.uniform(12, 48) * HOUR)
                    events.append((at, update_event(rng, order, integration.name, at, "cancelled")))
                return events

        if store:
            now += rng.randint(10_000, 90_000)
            events.append((now, update_event(rng, order, ship_source, now, "confirmed")))
            now += rng.randint(30_000, 5 * MINUTE)
            events.append((now, update_event(rng, order, ship_source, now, "delivered")))
        else:
            now += rng.randint(MINUTE, 30 * MINUTE)
            events.append((now, update_event(rng, order, ship_source, now, "confirmed")))
            if rng.random() < warehouse.cancel_rate:
                now += int(rng.uniform(1, 12) * HOUR)
                events.append((now, update_event(rng, order, ship_source, now, "cancelled")))
                return events
            for status, (low, high) in (
                ("packed", warehouse.pack_hours),
                ("shipped", warehouse.ship_hours),
                ("delivered", warehouse.deliver_hours),
            ):
                now += int(rng.uniform(low, high) * HOUR)
                if status == "delivered" and cash_on_delivery:
                    now, paid_txn = self._pay(
                        order, provider, now - rng.randint(MINUTE, 10 * MINUTE), events, retries=False
                    )
                    if paid_txn is None:
                        now += rng.randint(5 * MINUTE, HOUR)
                        events.append((now, update_event(rng, order, ship_source, now, "cancelled")))
                        return events
                events.append((now, update_event(rng, order, ship_source, now, status)))

        self._maybe_return(order, now, events)
        if paid_txn is not None:
            self._maybe_chargeback(order, provider, paid_txn, now, events)
        return events

    def _pay(
        self, order: Order, provider: PaymentProvider, now: int, events: Timeline, retries: bool = True
    ) -> tuple[int, str | None]:
        """Payment attempts until one succeeds or the buyer gives up; returns (time, paid transaction)."""
        rng = self.rng
        integration = order.integration
        low, high = provider.delay_seconds
        now += int(rng.uniform(low, high) * 1000)
        failure_rate = 0.4 if order.fraud else min(0.5, provider.failure_rate * integration.risk)
        for attempt in range(3):
            transaction_id = hex_id(rng, "txn")
            if rng.random() < failure_rate:
                code = "fraud_suspected" if order.fraud and rng.random() < 0.6 else pick(rng, provider.failure_codes)
                events.append(
                    (
                        now,
                        payment_event(
                            rng,
                            order,
                            provider=provider,
                            epoch_ms=now,
                            transaction_id=transaction_id,
                            failure_code=code,
                        ),
                    )
                )
                if not retries or attempt == 2 or rng.random() > integration.retry_rate or code == "fraud_suspected":
                    return now, None
                now += rng.randint(20_000, 20 * MINUTE)
                continue
            events.append(
                (
                    now,
                    payment_event(
                        rng, order, provider=provider, epoch_ms=now, transaction_id=transaction_id, failure_code=None
                    ),
                )
            )
            return now, transaction_id
        return now, None

    def _maybe_return(self, order: Order, delivered_ms: int, events: Timeline) -> None:
        rng = self.rng
        returned = [line for line in order.lines if rng.random() < RETURNS[line.product.category].rate]
        if not returned:
            return
        reason = pick(rng, RETURNS[returned[0].product.category].reasons)
        chosen = [(line, rng.randint(1, line.quantity)) for line in returned]
        refund = sum(line.unit_minor * quantity for line, quantity in chosen)
        if reason == "changed_mind" and rng.random() < 0.3:
            refund = refund * 9 // 10  # restocking fee
        comment = None
        if rng.random() < 0.55:
            moods = _CHANGED_MIND_MOODS if reason == "changed_mind" else _RETURN_MOODS
            mood = pick_mood(rng, moods)
            comment = make_comment(rng, mood, about="return", long=rng.random() < 0.05)
        at = delivered_ms + int(rng.uniform(1, 21) * DAY)
        source = returns_system_for(order.integration).name
        events.append(
            (
                at,
                return_event(
                    rng,
                    order,
                    source=source,
                    epoch_ms=at,
                    lines=chosen,
                    refund_minor=refund,
                    reason=reason,
                    comment=comment,
                ),
            )
        )

    def _maybe_chargeback(
        self, order: Order, provider: PaymentProvider, transaction_id: str, paid_ms: int, events: Timeline
    ) -> None:
        rng = self.rng
        if order.payment_method not in _CHARGEABLE:
            return
        chance = 0.6 if order.fraud else 0.012 * order.integration.risk
        if rng.random() >= chance:
            return
        reason = "fraudulent" if order.fraud else pick(rng, _CHARGEBACK_REASONS)
        amount = order.amount_minor if rng.random() < 0.7 else order.amount_minor * rng.randint(2, 9) // 10
        at = paid_ms + int(rng.uniform(3, 45) * DAY)
        events.append(
            (
                at,
                chargeback_event(
                    rng,
                    order,
                    provider=provider,
                    epoch_ms=at,
                    transaction_id=transaction_id,
                    amount_minor=amount,
                    reason=reason,
                ),
            )
        )

    # -- records ----------------------------------------------------------------------------

    def add(self, kind: str, key: str, data: bytes, *, arrival_ms: int, event_type: str, event_ms: int) -> _Pending:
        self.seq += 1
        record = _Pending(arrival_ms, self.seq, kind, key, data, event_type, event_ms)
        self.records.append(record)
        return record

    def jitter(self) -> int:
        return int(self.rng.expovariate(1 / 800))

    def emit_lifecycles(self, count: int) -> None:
        remaining = count
        while remaining > 0:
            for order in self.candidate_orders():
                happened = sorted(
                    ((at, event) for at, event in self.lifecycle(order) if at < self.end_ms), key=lambda pair: pair[0]
                )
                for at, event in happened[:remaining]:
                    self.add(
                        "valid",
                        order.order_id,
                        encode(event),
                        arrival_ms=at + self.jitter(),
                        event_type=event["event_type"],
                        event_ms=at,
                    )
                remaining -= min(remaining, len(happened))
                if remaining == 0:
                    return

    def emit_duplicates(self, count: int) -> None:
        rng = self.rng
        originals = [record for record in self.records if record.kind in ("valid", "late")]
        for _ in range(count):
            original = rng.choice(originals)
            # Producer retries resend within seconds; replays from a source's outbox come hours later.
            delay = rng.randint(1000, 5 * MINUTE) if rng.random() < 0.5 else rng.randint(HOUR, 8 * HOUR)
            self.add(
                "duplicate",
                original.key,
                original.data,
                arrival_ms=original.arrival_ms + delay,
                event_type=original.event_type,
                event_ms=original.event_ms,
            )

    def delay_late(self, count: int) -> None:
        """Make ``count`` records late: half out-of-order (an update before its new_order), half hours late."""
        rng = self.rng
        by_order: dict[str, list[_Pending]] = {}
        for record in self.records:
            if record.kind == "valid":
                by_order.setdefault(record.key, []).append(record)
        reorderable = [
            records
            for records in by_order.values()
            if any(r.event_type == "update_order" for r in records) and records[0].event_type == "new_order"
        ]
        rng.shuffle(reorderable)
        done = 0
        for records in reorderable[: count // 2]:
            first_update = next(r for r in records if r.event_type == "update_order")
            records[0].arrival_ms = first_update.arrival_ms + rng.randint(MINUTE, 3 * HOUR)
            records[0].kind = "late"
            done += 1
        candidates = [record for record in self.records if record.kind == "valid"]
        for record in rng.sample(candidates, min(len(candidates), count - done)):
            record.arrival_ms = record.event_ms + rng.randint(HOUR, 12 * HOUR)
            record.kind = "late"

    def emit_invalid(self, count: int) -> None:
        rng = self.rng
        recipes = recipes_in_rotation(rng, count)
        for recipe in recipes:
            self._emit_invalid(recipe)

    def _emit_invalid(self, recipe: InvalidRecipe) -> None:
        rng = self.rng
        event, event_ms, order_id = self.scratch_event(recipe.base)
        data = recipe.apply(event, rng, self.end_ms)
        self.add(
            recipe.kind, order_id, data, arrival_ms=event_ms + self.jitter(), event_type=recipe.base, event_ms=event_ms
        )

    def scratch_event(self, event_type: str) -> tuple[dict[str, Any], int, str]:
        """A valid event of ``event_type`` of a fresh order, for a bad record to be made from."""
        rng = self.rng
        integration = self.draw_integration()
        created_ms = self.draw_time(integration)
        order = self.make_order(integration, created_ms, self.customer(integration))
        provider = payment_provider_for(integration, order.payment_method, order.currency)
        at = created_ms
        if event_type == "new_order":
            event = new_order_event(rng, order)
        elif event_type == "payment":
            at = created_ms + rng.randint(2000, 60_000)
            event = payment_event(
                rng, order, provider=provider, epoch_ms=at, transaction_id=hex_id(rng, "txn"), failure_code=None
            )
        elif event_type == "update_order":
            at = created_ms + rng.randint(MINUTE, DAY)
            event = update_event(rng, order, WAREHOUSES[order.customer.home.region].name, at, "packed")
        elif event_type == "return_order":
            at = created_ms + rng.randint(DAY, 10 * DAY)
            line = order.lines[0]
            event = return_event(
                rng,
                order,
                source=returns_system_for(integration).name,
                epoch_ms=at,
                lines=[(line, 1)],
                refund_minor=line.unit_minor,
                reason="damaged",
                comment=None,
            )
        else:
            at = created_ms + rng.randint(DAY, 30 * DAY)
            event = chargeback_event(
                rng,
                order,
                provider=provider,
                epoch_ms=at,
                transaction_id=hex_id(rng, "txn"),
                amount_minor=order.amount_minor,
                reason="other",
            )
        return event, min(at, self.end_ms - 1), order.order_id


_VOLUMES: tuple[float, ...] = tuple(integration.volume for integration in INTEGRATIONS)


def pick_mood(rng: random.Random, moods: tuple[tuple[Mood, float], ...]) -> Mood:
    return moods[_pick_index(rng, tuple(weight for _, weight in moods))][0]


def _pick_index(rng: random.Random, weights: tuple[float, ...]) -> int:
    point = rng.random() * sum(weights)
    for index, weight in enumerate(weights):
        point -= weight
        if point < 0:
            return index
    return len(weights) - 1


def generate(config: SimulationConfig) -> Iterator[SimRecord]:
    """Exactly ``config.events`` records in arrival order (event time plus jitter, late ones later)."""
    end = config.resolved_end_time()
    end_ms = int((end - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).total_seconds() * 1000)
    sim = _Simulation(random.Random(config.seed), end_ms - int(config.days * DAY), end_ms)
    budget = _Budget.split(config.events, config.bad_fraction)
    sim.emit_lifecycles(budget.lifecycle)
    # Late first, so that a resend of a late record still arrives after it.
    sim.delay_late(budget.late)
    sim.emit_duplicates(budget.duplicates)
    sim.emit_invalid(budget.invalid)
    sim.records.sort(key=lambda record: (record.arrival_ms, record.seq))
    for record in sim.records:
        yield SimRecord(record.key, record.data, record.kind)
