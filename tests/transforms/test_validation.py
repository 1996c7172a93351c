from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import ArrayType, StringType, StructField, StructType

from pipelines.schemas import RAW
from pipelines.transforms.raw import decode
from pipelines.transforms.validation import validate

INGESTED = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)


def _examples(contract_dir: Path) -> dict[str, dict[str, Any]]:
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8")) for path in (contract_dir / "examples").glob("*.json")
    }


def _validated(spark: SparkSession, records: list[bytes]) -> DataFrame:
    rows = [(data, INGESTED, "s", "shard-0", str(i).zfill(4), None, None, None) for i, data in enumerate(records)]
    return validate(decode(spark.createDataFrame(rows, RAW)))


def _reasons(spark: SparkSession, records: list[bytes]) -> list[set[str]]:
    rows = _validated(spark, records).orderBy("sequence_number").select("reasons").collect()
    return [set(row.reasons) for row in rows]


def _changed(event: dict[str, Any], path: str, value: Any) -> bytes:
    """``event`` with the value at the dotted ``path`` replaced (``...`` deletes it); items[0] for items."""
    copy = json.loads(json.dumps(event))
    node = copy
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[part][0] if isinstance(node[part], list) else node[part]
    if value is ...:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return json.dumps(copy).encode()


def test_the_contract_examples_are_valid(spark: SparkSession, contract_dir: Path) -> None:
    examples = list(_examples(contract_dir).values())

    assert _reasons(spark, [json.dumps(e).encode() for e in examples]) == [set()] * len(examples)


def test_each_broken_field_is_reported_by_its_dotted_path(spark: SparkSession, contract_dir: Path) -> None:
    ex = _examples(contract_dir)
    cases: list[tuple[bytes, set[str]]] = [
        (_changed(ex["new_order"], "customer", ...), {"schema_violation:customer"}),
        (_changed(ex["new_order"], "customer.name", ""), {"schema_violation:customer.name"}),
        (_changed(ex["new_order"], "customer.email", 5), {"schema_violation:customer.email"}),
        (_changed(ex["new_order"], "location.lat", 91), {"schema_violation:location.lat"}),
        (_changed(ex["new_order"], "location.lon", "2.35"), {"schema_violation:location.lon"}),
        (_changed(ex["new_order"], "items.quantity", 0), {"schema_violation:items.quantity"}),
        (_changed(ex["new_order"], "items.quantity", 1.5), {"schema_violation:items.quantity"}),
        (_changed(ex["new_order"], "items.unit_price", -1), {"schema_violation:items.unit_price"}),
        (_changed(ex["new_order"], "items.product_id", ...), {"schema_violation:items.product_id"}),
        (_changed(ex["new_order"], "items", []), {"schema_violation:items"}),
        (_changed(ex["new_order"], "items", ["sku"]), {"schema_violation:items"}),
        (_changed(ex["new_order"], "amount", "114.90"), {"schema_violation:amount"}),
        (_changed(ex["new_order"], "amount", -1), {"schema_violation:amount"}),
        (_changed(ex["new_order"], "currency", "eur"), {"schema_violation:currency"}),
        (_changed(ex["new_order"], "payment_method", "cheque"), {"schema_violation:payment_method"}),
        (_changed(ex["new_order"], "comment", 3), {"schema_violation:comment"}),
        (_changed(ex["new_order"], "schema_version", 0), {"schema_violation:schema_version"}),
        (_changed(ex["new_order"], "event_id", "x" * 65), {"schema_violation:event_id"}),
        (_changed(ex["new_order"], "event_time", "2026-11-02 14:03:11"), {"schema_violation:event_time"}),
        (_changed(ex["new_order"], "event_time", "2026-13-02T14:03:11Z"), {"schema_violation:event_time"}),
        (_changed(ex["new_order"], "source", ""), {"schema_violation:source"}),
        (_changed(ex["new_order"], "order_id", 8841), {"schema_violation:order_id"}),
        (_changed(ex["update_order"], "status", "lost"), {"schema_violation:status"}),
        (_changed(ex["return_order"], "items.quantity", "1"), {"schema_violation:items.quantity"}),
        (_changed(ex["return_order"], "reason_code", "meh"), {"schema_violation:reason_code"}),
        (_changed(ex["return_order"], "refund_amount", ...), {"schema_violation:refund_amount"}),
        (_changed(ex["payment"], "status", "failed"), {"schema_violation:failure_code"}),
        (_changed(ex["payment"], "failure_code", "stolen"), {"schema_violation:failure_code"}),
        (_changed(ex["chargeback"], "transaction_id", None), {"schema_violation:transaction_id"}),
        (_changed(ex["chargeback"], "reason_code", "fraud"), {"schema_violation:reason_code"}),
    ]

    assert _reasons(spark, [data for data, _ in cases]) == [reasons for _, reasons in cases]


def test_a_record_gets_every_reason_that_applies(spark: SparkSession, contract_dir: Path) -> None:
    event = _examples(contract_dir)["new_order"]
    broken = json.loads(_changed(event, "currency", "eur"))
    broken["location"]["lat"] = -91
    broken["event_time"] = "2026-11-21T12:30:00Z"  # 30 minutes after ingestion
    del broken["payment_method"]

    assert _reasons(spark, [json.dumps(broken).encode()]) == [
        {
            "schema_violation:currency",
            "schema_violation:location.lat",
            "schema_violation:payment_method",
            "future_event_time",
        }
    ]


def test_malformed_records_have_only_the_malformed_reason(spark: SparkSession) -> None:
    assert _reasons(spark, [b"\xff\xfe{}", b"{not json", b"[1, 2]", b'"text"', b""]) == [{"malformed_json"}] * 5


@pytest.mark.parametrize(
    ("event_time", "future"),
    [("2026-11-21T12:05:00Z", False), ("2026-11-21T12:05:01Z", True), ("2026-11-21T13:04:00+01:00", False)],
)
def test_future_event_time_means_more_than_five_minutes_after_ingestion(
    spark: SparkSession, contract_dir: Path, event_time: str, future: bool
) -> None:
    event = dict(_examples(contract_dir)["update_order"], event_time=event_time)

    assert _reasons(spark, [json.dumps(event).encode()]) == [{"future_event_time"} if future else set()]


def test_amounts_may_differ_from_the_items_by_at_most_one_cent(spark: SparkSession, contract_dir: Path) -> None:
    event = _examples(contract_dir)["new_order"]  # items sum to 114.90

    reasons = _reasons(spark, [_changed(event, "amount", 114.91), _changed(event, "amount", 114.92)])

    assert reasons == [set(), {"amount_mismatch"}]


def test_unknown_or_missing_event_types_are_reported_with_the_common_fields(spark: SparkSession) -> None:
    records = [
        json.dumps(
            {
                "event_id": "e",
                "event_type": "refund",
                "event_time": "2026-11-20T10:00:00Z",
                "source": "s",
                "order_id": "o",
            }
        ).encode(),
        json.dumps({"event_id": "e", "event_time": "2026-11-20T10:00:00Z", "order_id": "o"}).encode(),
    ]

    assert _reasons(spark, records) == [{"unknown_event_type"}, {"unknown_event_type", "schema_violation:source"}]


def test_parsed_fields_are_typed_and_event_time_is_utc(spark: SparkSession, contract_dir: Path) -> None:
    event = _examples(contract_dir)["new_order"]
    out = _validated(spark, [json.dumps(event).encode()]).select(
        "event_id", "event_type", "order_id", "event_time", "reasons"
    )

    schema = StructType(
        [
            StructField("event_id", StringType()),
            StructField("event_type", StringType()),
            StructField("order_id", StringType()),
            StructField("event_time", out.schema["event_time"].dataType),
            StructField("reasons", ArrayType(StringType())),
        ]
    )
    expected = spark.createDataFrame(
        [
            (
                "evt-0001",
                "new_order",
                "ord-8841",
                dt.datetime(2026, 11, 2, 13, 3, 11, 250000, tzinfo=dt.UTC),
                [],
            )
        ],
        schema,
    )
    assert_df_equality(out, expected, ignore_nullable=True)
