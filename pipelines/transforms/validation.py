"""Validation of decoded records against the contract (section 2), entirely in the JVM.

``validate`` parses each record once into a VARIANT (``try_parse_json``, Spark 4.0+) and checks
exact JSON types with ``schema_of_variant``: ``variant_get(..., 'double')`` alone would accept
``"12.5"`` (a string) as a number. Every rule is a SQL boolean built from the declarative
``RULES`` below; each failed rule adds its reason, so a record carries every reason that applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pyspark.sql import DataFrame
from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias

from pipelines.schemas import EVENT_TYPES

MALFORMED_JSON = "malformed_json"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
AMOUNT_MISMATCH = "amount_mismatch"
FUTURE_EVENT_TIME = "future_event_time"
SCHEMA_VIOLATION = "schema_violation:"

AMOUNT_TOLERANCE = 0.01
FUTURE_TOLERANCE_MINUTES = 5

PAYMENT_METHODS = ("card", "paypal", "apple_pay", "google_pay", "bank_transfer", "gift_card", "cash_on_delivery")
CURRENCY_PATTERN = "^[A-Z]{3}$"
# RFC 3339 date-time with a mandatory offset; the cast afterwards rejects impossible dates.
RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"

_INTEGER_TYPES = "('TINYINT', 'SMALLINT', 'INT', 'BIGINT')"
_NUMBER_TYPES = "('TINYINT', 'SMALLINT', 'INT', 'BIGINT', 'FLOAT', 'DOUBLE')"

Kind = Literal["string", "number", "integer", "object", "array", "enum", "datetime"]


@dataclass(frozen=True)
class Rule:
    """One field of the JSON schema: its type, whether it must be there, and its constraints."""

    name: str
    kind: Kind
    required: bool = True
    nullable: bool = False
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    values: tuple[str, ...] = ()
    min_items: int | None = None
    children: tuple[Rule, ...] = field(default_factory=tuple)


def _text(name: str, required: bool = True) -> Rule:
    return Rule(name, "string", required=required, min_length=1)


def _optional_text(name: str) -> Rule:
    return Rule(name, "string", required=False, nullable=True)


def _currency() -> Rule:
    return Rule("currency", "string", pattern=CURRENCY_PATTERN)


def _money(name: str) -> Rule:
    return Rule(name, "number", minimum=0)


COMMON_RULES: tuple[Rule, ...] = (
    Rule("event_id", "string", min_length=1, max_length=64),
    Rule("event_time", "datetime"),
    _text("source"),
    _text("order_id"),
    Rule("schema_version", "integer", required=False, minimum=1),
)

RULES: dict[str, tuple[Rule, ...]] = {
    "new_order": (
        Rule("customer", "object", children=(_text("id"), _text("name"), _optional_text("email"))),
        Rule(
            "items",
            "array",
            min_items=1,
            children=(
                _text("product_id"),
                _optional_text("product_name"),
                _optional_text("category"),
                _money("unit_price"),
                Rule("quantity", "integer", minimum=1),
            ),
        ),
        _money("amount"),
        _currency(),
        Rule(
            "location",
            "object",
            children=(
                Rule("lat", "number", minimum=-90, maximum=90),
                Rule("lon", "number", minimum=-180, maximum=180),
            ),
        ),
        Rule("payment_method", "enum", values=PAYMENT_METHODS),
        _optional_text("comment"),
    ),
    "update_order": (
        Rule("status", "enum", values=("confirmed", "packed", "shipped", "delivered", "cancelled")),
        _optional_text("comment"),
    ),
    "return_order": (
        _text("return_id"),
        Rule(
            "items",
            "array",
            min_items=1,
            children=(_text("product_id"), Rule("quantity", "integer", minimum=1)),
        ),
        _money("refund_amount"),
        _currency(),
        Rule(
            "reason_code",
            "enum",
            values=(
                "damaged",
                "wrong_item",
                "missing_item",
                "not_as_described",
                "changed_mind",
                "late_delivery",
                "other",
            ),
        ),
        _optional_text("comment"),
    ),
    "payment": (
        _text("transaction_id"),
        _money("amount"),
        _currency(),
        Rule("payment_method", "enum", values=PAYMENT_METHODS),
        Rule("status", "enum", values=("succeeded", "failed")),
        Rule(
            "failure_code",
            "enum",
            required=False,
            nullable=True,
            values=(
                "insufficient_funds",
                "card_declined",
                "expired_card",
                "fraud_suspected",
                "processing_error",
                "timeout",
            ),
        ),
    ),
    "chargeback": (
        _text("chargeback_id"),
        _text("transaction_id"),
        _money("amount"),
        _currency(),
        Rule(
            "reason_code",
            "enum",
            values=(
                "fraudulent",
                "product_not_received",
                "not_as_described",
                "duplicate",
                "credit_not_processed",
                "other",
            ),
        ),
    ),
}


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _name(path: str) -> str:
    return "__" + path.replace(".", "__")


@dataclass(frozen=True)
class _Access:
    """SQL expressions giving one field's JSON type (null when missing), text and number."""

    kind: str
    text: str
    number: str


def _extract(value: str, suffixes: Iterable[str]) -> dict[str, str]:
    """The SQL expressions extracting type, text or number of a VARIANT ``value``, keyed by suffix."""
    sql = {
        "t": f"schema_of_variant({value})",
        "s": f"try_variant_get({value}, '$', 'string')",
        "n": f"try_variant_get({value}, '$', 'double')",
    }
    return {suffix: sql[suffix] for suffix in _SUFFIXES if suffix in suffixes}


_SUFFIXES = ("t", "s", "n")


def _needs(rule: Rule) -> frozenset[str]:
    """The accessors ``rule``'s checks read: every rule its JSON type, then its text or its number.

    Extracting only these matters: a ``double`` cast of every string field was the dearest part.
    """
    if rule.kind in ("string", "datetime", "enum"):
        return frozenset("ts")
    if rule.kind in ("number", "integer"):
        return frozenset("tn")
    return frozenset("t")


def _leaf_violation(rule: Rule, at: _Access) -> str:
    """SQL true when a present, non-null value breaks ``rule``'s type or constraints."""
    kind = at.kind
    checks: list[str] = []
    if rule.kind in ("string", "datetime", "enum"):
        checks.append(f"{kind} <> 'STRING'")
        if rule.min_length is not None:
            checks.append(f"char_length({at.text}) < {rule.min_length}")
        if rule.max_length is not None:
            checks.append(f"char_length({at.text}) > {rule.max_length}")
        if rule.pattern is not None:
            checks.append(f"NOT rlike({at.text}, {_sql_string(rule.pattern)})")
        if rule.kind == "datetime":
            checks.append(f"NOT rlike({at.text}, {_sql_string(RFC3339_PATTERN)})")
            checks.append(f"try_cast(upper({at.text}) AS TIMESTAMP) IS NULL")
        if rule.kind == "enum":
            checks.append(f"{at.text} NOT IN ({', '.join(_sql_string(v) for v in rule.values)})")
    elif rule.kind in ("number", "integer"):
        decimal = f"{kind} LIKE 'DECIMAL%'"
        if rule.kind == "number":
            checks.append(f"NOT ({kind} IN {_NUMBER_TYPES} OR {decimal})")
        else:
            # JSON Schema counts 2.0 as an integer.
            checks.append(
                f"NOT ({kind} IN {_INTEGER_TYPES} OR (({decimal} OR {kind} IN ('FLOAT', 'DOUBLE'))"
                f" AND {at.number} = floor({at.number})))"
            )
        if rule.minimum is not None:
            checks.append(f"{at.number} < {rule.minimum}")
        if rule.maximum is not None:
            checks.append(f"{at.number} > {rule.maximum}")
    elif rule.kind == "object":
        checks.append(f"{kind} NOT LIKE 'OBJECT%'")
    elif rule.kind == "array":
        checks.append(f"{kind} NOT LIKE 'ARRAY%'")
    # A null inside a check (a failed cast, say) counts as a violation.
    return "(" + " OR ".join(f"coalesce({check}, true)" for check in checks) + ")"


def _presence(rule: Rule, at: _Access, violation: str) -> str:
    missing = f"({at.kind} IS NULL)"
    not_null = f"{at.kind} <> 'VOID' AND " if rule.nullable else ""
    if rule.required:
        return f"({missing} OR ({not_null}{violation}))"
    return f"(NOT {missing} AND {not_null}{violation})"


def _field_access(path: str) -> _Access:
    name = _name(path)
    return _Access(f"{name}_t", f"{name}_s", f"{name}_n")


def _item_access(field_name: str) -> _Access:
    return _Access(f"i.t_{field_name}", f"i.s_{field_name}", f"i.n_{field_name}")


def _items_column(event_type: str) -> str:
    return f"__items_{event_type}"


@dataclass
class _Field:
    """What is extracted of one JSON path, and for which event types (None: every record)."""

    suffixes: set[str] = field(default_factory=set)
    event_types: set[str] | None = field(default_factory=set)

    def need(self, suffixes: Iterable[str], event_type: str | None) -> None:
        self.suffixes.update(suffixes)
        if event_type is None or self.event_types is None:
            self.event_types = None
        else:
            self.event_types.add(event_type)


@dataclass
class _Plan:
    """Stage one: columns extracted once per record; stage two: (reason, condition) over them.

    A field only some event types have is extracted only for records of those types (a
    ``CASE`` on the record's ``event_type``): most of a record's rules are not its type's.
    """

    fields: dict[str, _Field] = field(default_factory=dict)
    items: dict[str, tuple[str, str]] = field(default_factory=dict)
    checks: list[tuple[str, str]] = field(default_factory=list)

    def extract_field(self, path: str, suffixes: Iterable[str], event_type: str | None = None) -> _Access:
        self.fields.setdefault(path, _Field()).need(suffixes, event_type)
        return _field_access(path)

    @property
    def extracts(self) -> dict[str, str]:
        """Helper column name -> SQL, over ``v`` and the record's ``__type`` (its event_type text)."""
        out: dict[str, str] = {}
        for path, wanted in self.fields.items():
            value = f"variant_get(v, {_sql_string('$.' + path)})"
            for suffix, sql in _extract(value, wanted.suffixes).items():
                out[f"{_name(path)}_{suffix}"] = _gated(sql, wanted.event_types)
        for name, (event_type, sql) in self.items.items():
            out[name] = _gated(sql, {event_type})
        return out

    def add_rule(self, rule: Rule, gate: str | None, event_type: str | None, prefix: str = "") -> None:
        path = prefix + rule.name
        at = self.extract_field(path, _needs(rule), event_type)
        violation = _leaf_violation(rule, at)
        if rule.kind == "array":
            if event_type is None:
                raise ValueError(f"array rule {path!r} must belong to an event type")
            items = _items_column(event_type)
            extra = [f"exists({items}, i -> NOT i.is_object)"]
            if rule.min_items is not None:
                extra.append(f"coalesce(size({items}), 0) < {rule.min_items}")
            violation = "(" + " OR ".join([violation, *(f"coalesce({e}, true)" for e in extra)]) + ")"
            self._add_items(rule, items, path, gate, event_type)
        condition = _presence(rule, at, violation)
        self._check(SCHEMA_VIOLATION + path, condition, gate)
        if rule.kind == "object":
            for child in rule.children:
                self.add_rule(child, _and(gate, f"{at.kind} LIKE 'OBJECT%'"), event_type, path + ".")

    def _add_items(self, rule: Rule, items: str, path: str, gate: str | None, event_type: str) -> None:
        fields = ["'is_object', schema_of_variant(x) LIKE 'OBJECT%'"]
        for child in rule.children:
            value = f"variant_get(x, {_sql_string('$.' + child.name)})"
            for suffix, sql in _extract(value, _needs(child)).items():
                fields.append(f"'{suffix}_{child.name}', {sql}")
        self.items[items] = (
            event_type,
            f"transform(try_variant_get(v, {_sql_string('$.' + rule.name)}, 'array<variant>'),"
            f" x -> named_struct({', '.join(fields)}))",
        )
        for child in rule.children:
            at = _item_access(child.name)
            condition = f"exists({items}, i -> i.is_object AND {_presence(child, at, _leaf_violation(child, at))})"
            self._check(SCHEMA_VIOLATION + f"{path}.{child.name}", condition, gate)

    def _check(self, reason: str, condition: str, gate: str | None) -> None:
        self.checks.append((reason, _and(gate, condition)))


def _gated(sql: str, event_types: set[str] | None) -> str:
    if event_types is None:
        return sql
    return f"CASE WHEN __type IN ({', '.join(map(_sql_string, sorted(event_types)))}) THEN {sql} END"


def _and(gate: str | None, condition: str) -> str:
    return condition if gate is None else f"({gate}) AND {condition}"


def _build_plan() -> _Plan:
    plan = _Plan()
    plan.extract_field("event_type", "ts")
    for rule in COMMON_RULES:
        plan.add_rule(rule, None, None)
    for event_type, rules in RULES.items():
        for rule in rules:
            plan.add_rule(rule, f"event_type = {_sql_string(event_type)}", event_type)
    plan.checks.append(
        (
            UNKNOWN_EVENT_TYPE,
            "event_type IS NULL OR event_type NOT IN (" + ", ".join(map(_sql_string, EVENT_TYPES)) + ")",
        )
    )
    status = plan.extract_field("status", "s", "payment")
    failure = plan.extract_field("failure_code", "t", "payment")
    plan.checks.append(
        (
            SCHEMA_VIOLATION + "failure_code",
            f"event_type = 'payment' AND {status.text} = 'failed'"
            f" AND ({failure.kind} IS NULL OR {failure.kind} = 'VOID')",
        )
    )
    amount = plan.extract_field("amount", "n", "new_order")
    items = _items_column("new_order")
    total = f"aggregate({items}, 0D, (acc, i) -> acc + i.n_unit_price * i.n_quantity)"
    # Only meaningful when amount and every item are well-typed; those failures have their own reason.
    plan.checks.append(
        (
            AMOUNT_MISMATCH,
            "event_type = 'new_order'"
            " AND NOT exists(__reasons, r -> r = 'schema_violation:amount' OR startswith(r, 'schema_violation:items'))"
            f" AND round(abs({amount.number} - {total}), 6) > {AMOUNT_TOLERANCE}",
        )
    )
    return plan


_PLAN = _build_plan()
# Derived once: every micro-batch builds its validation frame from the same SQL.
_EXTRACTS = _PLAN.extracts


def validate(df: DataFrame) -> DataFrame:
    """Decoded records (``raw``, ``utf8_valid``, ``ingested_at``) -> the same plus ``v`` and parsed fields.

    Adds ``v`` (VARIANT, null when malformed), ``event_id``, ``event_type``, ``order_id``,
    ``source`` (strings when they are strings, else null), ``event_time`` (timestamp, UTC) and
    ``reasons`` (array<string>, empty for a valid record). Each field is extracted once into a
    helper column and the rules read those, which keeps the expression tree small enough for
    Spark to plan quickly.
    """
    original = df.columns
    parsed = df.select("*", F.expr("CASE WHEN utf8_valid THEN try_parse_json(raw) END").alias("__json")).select(
        # Valid JSON whose first non-blank character is '{' is an object: cheaper than schema_of_variant.
        *original,
        F.expr("CASE WHEN rlike(raw, '^[ \\t\\n\\r]*[{]') THEN __json END").alias("v"),
    )
    # Which type-specific fields to extract; a non-string event_type gates none (the record is rejected).
    parsed = parsed.select("*", F.expr("try_variant_get(v, '$.event_type', 'string')").alias("__type"))
    extracted = parsed.select("*", *[F.expr(sql).alias(name) for name, sql in _EXTRACTS.items()])
    common = {name: _field_access(name) for name in ("event_id", "event_type", "order_id", "source", "event_time")}
    with_fields = extracted.select(
        "*",
        *[
            F.expr(f"CASE WHEN {common[name].kind} = 'STRING' THEN {common[name].text} END").alias(name)
            for name in ("event_id", "event_type", "order_id", "source")
        ],
        F.expr(
            f"CASE WHEN rlike({common['event_time'].text}, {_sql_string(RFC3339_PATTERN)})"
            f" THEN try_cast(upper({common['event_time'].text}) AS TIMESTAMP) END"
        ).alias("event_time"),
    )
    rule_checks = [(r, c) for r, c in _PLAN.checks if r != AMOUNT_MISMATCH]
    reasons_sql = (
        # array_compact, not filter(..., r -> r IS NOT NULL): a lambda is interpreted for every element.
        "array_compact(array("
        + ", ".join(f"CASE WHEN coalesce({c}, false) THEN {_sql_string(r)} END" for r, c in rule_checks)
        + "))"
    )
    checked = with_fields.select(
        "*",
        F.expr(
            f"CASE WHEN v IS NULL THEN array({_sql_string(MALFORMED_JSON)}) ELSE array_distinct({reasons_sql}) END"
        ).alias("__reasons"),
    )
    mismatch = next(c for r, c in _PLAN.checks if r == AMOUNT_MISMATCH)
    future = f"event_time > ingested_at + INTERVAL {FUTURE_TOLERANCE_MINUTES} MINUTES"
    reasons = F.expr(
        "concat(__reasons,"
        f" CASE WHEN coalesce({mismatch}, false) THEN array({_sql_string(AMOUNT_MISMATCH)}) ELSE array() END,"
        f" CASE WHEN coalesce({future}, false) THEN array({_sql_string(FUTURE_EVENT_TIME)}) ELSE array() END)"
    )
    keep = [*original, "v", "event_id", "event_type", "order_id", "source", "event_time"]
    return checked.select(*keep, reasons.cast("array<string>").alias("reasons"))


def valid(df: DataFrame) -> DataFrame:
    """Rows of ``validate``'s output that passed every rule."""
    return df.where(F.size("reasons") == 0)


def rejected(df: DataFrame) -> DataFrame:
    """Rows of ``validate``'s output that failed at least one rule."""
    return df.where(F.size("reasons") > 0)
