from __future__ import annotations

import datetime as dt
import json

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import DateType, StringType, StructField, StructType, TimestampType

from pipelines.schemas import RAW, SILVER_ORDER_UPDATES
from pipelines.transforms import silver
from pipelines.transforms.raw import decode
from pipelines.transforms.validation import validate

UTC = dt.UTC
INGESTED = dt.datetime(2026, 11, 21, 12, tzinfo=UTC)


def _accepted(spark: SparkSession, events: list[dict[str, object]]) -> DataFrame:
    rows = [
        (json.dumps(e).encode(), INGESTED, "s", "shard-0", str(i).zfill(4), None, None, None)
        for i, e in enumerate(events)
    ]
    return validate(decode(spark.createDataFrame(rows, RAW))).transform(silver.with_batch_id(7))


def _update(event_id: str, order_id: str, when: str, status: str) -> dict[str, object]:
    return {
        "event_id": event_id,
        "event_type": "update_order",
        "event_time": when,
        "source": "wms",
        "order_id": order_id,
        "status": status,
    }


def test_event_dates_are_utc_dates_of_event_times_with_offsets(spark: SparkSession) -> None:
    events = [
        _update("e1", "o1", "2026-11-20T00:10:00+05:30", "packed"),  # 2026-11-19T18:40Z
        _update("e2", "o1", "2026-11-20T23:30:00-08:00", "shipped"),  # 2026-11-21T07:30Z
    ]

    out = silver.order_updates(_accepted(spark, events)).select("event_id", "event_time", "event_date")

    schema = StructType(
        [
            StructField("event_id", StringType()),
            StructField("event_time", TimestampType()),
            StructField("event_date", DateType()),
        ]
    )
    expected = spark.createDataFrame(
        [
            ("e1", dt.datetime(2026, 11, 19, 18, 40, tzinfo=UTC), dt.date(2026, 11, 19)),
            ("e2", dt.datetime(2026, 11, 21, 7, 30, tzinfo=UTC), dt.date(2026, 11, 21)),
        ],
        schema,
    )
    assert_df_equality(out, expected, ignore_row_order=True)


def test_first_arrivals_keeps_one_copy_per_event_id_the_earliest_received(spark: SparkSession) -> None:
    event = _update("e1", "o1", "2026-11-20T10:00:00Z", "packed")
    accepted = _accepted(spark, [event, event, _update("e2", "o1", "2026-11-20T11:00:00Z", "shipped")])

    kept = silver.first_arrivals(accepted).select("event_id", "sequence_number").orderBy("event_id").collect()

    assert [(r.event_id, r.sequence_number) for r in kept] == [("e1", "0000"), ("e2", "0002")]


def test_latest_status_takes_the_latest_event_time_then_the_larger_event_id(spark: SparkSession) -> None:
    def row(event_id: str, order_id: str, hour: int, status: str) -> tuple[object, ...]:
        when = dt.datetime(2026, 11, 20, hour, tzinfo=UTC)
        return (event_id, order_id, status, when, None, "wms", 1, when.date())

    updates = spark.createDataFrame(
        [
            row("e1", "o1", 10, "shipped"),
            row("e2", "o1", 9, "packed"),
            row("e3", "o2", 9, "packed"),
            row("e4", "o2", 9, "cancelled"),
        ],
        SILVER_ORDER_UPDATES,
    )

    out = silver.latest_status(updates)

    schema = StructType(
        [
            StructField("order_id", StringType()),
            StructField("status", StringType()),
            StructField("status_time", TimestampType()),
            StructField("status_event_id", StringType()),
        ]
    )
    expected = spark.createDataFrame(
        [
            ("o1", "shipped", dt.datetime(2026, 11, 20, 10, tzinfo=UTC), "e1"),
            ("o2", "cancelled", dt.datetime(2026, 11, 20, 9, tzinfo=UTC), "e4"),
        ],
        schema,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_new_orders_are_created_once_per_order_with_their_fields_typed(spark: SparkSession) -> None:
    order = {
        "event_id": "e1",
        "event_type": "new_order",
        "event_time": "2026-11-02T14:03:11.250+01:00",
        "source": "shop",
        "order_id": "o1",
        "customer": {"id": "c1", "name": "Ada"},
        "items": [{"product_id": "p", "unit_price": 12.5, "quantity": 2}],
        "amount": 25,
        "currency": "EUR",
        "location": {"lat": 48.85, "lon": 2.35},
        "payment_method": "card",
    }
    later_copy = dict(order, event_id="e2", event_time="2026-11-02T15:00:00Z")

    rows = silver.new_orders(_accepted(spark, [later_copy, order])).collect()

    assert len(rows) == 1
    row = rows[0]
    assert (row.event_id, row.customer_id, row.amount, row.status, row.status_time) == (
        "e1",
        "c1",
        25.0,
        "created",
        None,
    )
    assert row.order_date == dt.date(2026, 11, 2)
    assert [(i.product_id, i.unit_price, i.quantity) for i in row["items"]] == [("p", 12.5, 2)]
    assert (row.sentiment_label, row.sentiment_score, row.batch_id) == (None, None, 7)


def test_quarantine_rows_carry_the_raw_record_and_its_reasons(spark: SparkSession) -> None:
    validated = _accepted(spark, [_update("e1", "o1", "2026-11-20T10:00:00Z", "lost")])

    rows = silver.to_quarantine(validated).select("raw", "reasons", "ingested_at", "batch_id").collect()

    # collect() gives naive datetimes in the session time zone (UTC here).
    assert [(r.reasons, r.ingested_at, r.batch_id) for r in rows] == [
        (["schema_violation:status"], INGESTED.replace(tzinfo=None), 7)
    ]
    assert json.loads(rows[0].raw)["status"] == "lost"
