"""The ``pykinesis`` streaming source against a real moto server over HTTP."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from support.throttling_proxy import ThrottlingProxy

from pipelines.aws.clients import client
from pipelines.sources.kinesis import FORMAT_NAME, KinesisOptions, KinesisOptionsError, SupportsTriggerAvailableNow

pytestmark = pytest.mark.spark

HASH_SPACE = 2**128
# Spark 4.2+ drives a Python source through several capped available-now batches itself.
NATIVE_AVAILABLE_NOW = SupportsTriggerAvailableNow is not None


def _create_stream(name: str, shards: int) -> Any:
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    return kinesis


def _put(kinesis: Any, stream: str, payloads: Sequence[bytes]) -> None:
    for first in range(0, len(payloads), 500):
        entries = [
            {"Data": payload, "PartitionKey": f"key-{i}"}
            for i, payload in enumerate(payloads[first : first + 500], start=first)
        ]
        answer = kinesis.put_records(StreamName=stream, Records=entries)
        assert answer["FailedRecordCount"] == 0


def _payloads(prefix: str, count: int) -> list[bytes]:
    return [f'{{"event_id": "{prefix}-{i}"}}'.encode() for i in range(count)]


def _filled_stream(name: str, shards: int, records: int) -> list[bytes]:
    """A new stream of ``shards`` shards holding ``records`` payloads; returns them."""
    payloads = _payloads("t", records)
    _put(_create_stream(name, shards), name, payloads)
    return payloads


def _options(stream: str, **extra: object) -> dict[str, str]:
    values = {"stream": stream, "idle_poll_seconds": "0.3", "backoff_initial_seconds": "0.05"}
    values.update({key: str(value) for key, value in extra.items()})
    return values


class Collector:
    """foreachBatch target keeping each batch's rows by batch id: a replayed batch replaces itself."""

    def __init__(self) -> None:
        self.batches: dict[int, list[tuple[str, str, bytes, dt.datetime]]] = {}
        self.fail_on_batch: int | None = None

    def __call__(self, frame: Any, batch_id: int) -> None:
        if batch_id == self.fail_on_batch:
            raise RuntimeError(f"sink fails on batch {batch_id}")
        rows = frame.select("shard_id", "sequence_number", "data", "approximate_arrival_timestamp").collect()
        self.batches[batch_id] = [
            (r.shard_id, r.sequence_number, bytes(r.data), r.approximate_arrival_timestamp) for r in rows
        ]

    @property
    def rows(self) -> list[tuple[str, str, bytes, dt.datetime]]:
        return [row for batch in self.batches.values() for row in batch]

    @property
    def payloads(self) -> Counter[bytes]:
        return Counter(row[2] for row in self.rows)


def _start(spark: Any, options: dict[str, str], checkpoint: Path, sink: Collector, trigger: dict[str, Any]) -> Any:
    frame = spark.readStream.format(FORMAT_NAME).options(**options).load()
    return frame.writeStream.foreachBatch(sink).option("checkpointLocation", str(checkpoint)).trigger(**trigger).start()


def _drain(spark: Any, options: dict[str, str], checkpoint: Path, sink: Collector) -> int:
    """Run the query with the available-now trigger (as the stream job does) until a run finds nothing.

    Returns how many runs read records. On Spark 4.2+ one run drains everything (the checks that
    follow prove it). Spark 4.0 runs a Python source's available-now query as a single batch,
    and after an interrupted run that batch is the one left uncommitted: the rest needs a rerun.
    """
    if NATIVE_AVAILABLE_NOW:
        query = _start(spark, {**options, "available_now": "true"}, checkpoint, sink, {"availableNow": True})
        assert query.awaitTermination(300), "available-now query did not finish"
        assert query.exception() is None
        return 1
    for runs in range(4):
        query = _start(spark, {**options, "available_now": "true"}, checkpoint, sink, {"availableNow": True})
        assert query.awaitTermination(300), "available-now query did not finish"
        assert query.exception() is None
        if not any(progress["numInputRows"] for progress in query.recentProgress):
            return runs
    raise AssertionError("available-now runs keep finding records")


def _assert_each_once(sink: Collector, expected: Iterable[bytes]) -> None:
    expected_counts = Counter(expected)
    assert max(expected_counts.values()) == 1
    got = sink.payloads
    assert sorted(got - expected_counts) == [], "records read that were not expected or read twice"
    assert sorted(expected_counts - got) == [], "records not read"
    positions = [(shard, seq) for shard, seq, _, _ in sink.rows]
    assert len(positions) == len(set(positions))


def test_options_without_a_stream_are_rejected() -> None:
    with pytest.raises(KinesisOptionsError, match="stream"):
        KinesisOptions.parse({"region": "us-east-1"})


def test_max_read_tasks_below_one_is_rejected() -> None:
    with pytest.raises(KinesisOptionsError, match="max_read_tasks"):
        KinesisOptions.parse({"stream": "s", "max_read_tasks": "0"})


def test_starting_position_must_be_a_known_name_or_a_timestamp_with_offset() -> None:
    with pytest.raises(KinesisOptionsError, match="RFC 3339"):
        KinesisOptions.parse({"stream": "s", "starting_position": "2026-11-20T10:00:00"})
    parsed = KinesisOptions.parse({"stream": "s", "starting_position": "2026-11-20T11:00:00+01:00"})
    assert parsed.starting_position == "2026-11-20T10:00:00.000000Z"


def _last_offset(checkpoint: Path) -> dict[str, Any]:
    """The source's end offset of the last planned batch, from the checkpoint's offset log."""
    last = max((checkpoint / "offsets").glob("[0-9]*"), key=lambda path: int(path.name))
    return dict(json.loads(last.read_text(encoding="utf-8").splitlines()[-1]))


def _exactly_once_across_restart_and_reshard(
    spark: Any, moto_server: Any, name: str, tmp_path: Path, total: int
) -> None:
    shards = 4
    kinesis = _create_stream(name, shards)
    first = _payloads("first", total // 2)
    second = _payloads("second", total - total // 2)
    _put(kinesis, name, first)
    cap = max(1, len(first) // shards // 3)
    options = _options(name, max_records_per_shard=cap)
    checkpoint = tmp_path / "checkpoint"

    sink = Collector()
    query = _start(spark, options, checkpoint, sink, {"processingTime": "0 seconds"})
    deadline = time.monotonic() + 120
    while len(sink.batches) < 2 and time.monotonic() < deadline and query.isActive:
        time.sleep(0.1)
    query.stop()
    assert query.exception() is None
    read_before_restart = len(sink.rows)
    assert 0 < read_before_restart < len(first), "the query should stop in the middle of the stream"

    # moto (5.2) keeps a split parent's records and even routes new records to it, where Kinesis
    # would send them to the children; the parent must still be read to its end and then dropped
    # from polling, and its children picked up.
    parent = "shardId-000000000003"
    kinesis.split_shard(StreamName=name, ShardToSplit=parent, NewStartingHashKey=str(7 * (HASH_SPACE // 8)))
    _put(kinesis, name, second)

    runs = _drain(spark, options, checkpoint, sink)

    assert runs >= 1
    _assert_each_once(sink, first + second)
    positions = _last_offset(checkpoint)["shards"]
    children = {
        s["ShardId"] for s in kinesis.list_shards(StreamName=name)["Shards"] if s.get("ParentShardId") == parent
    }
    assert len(children) == 2
    assert children <= set(positions)
    assert positions[parent].get("done") is True


def test_fifty_thousand_records_are_read_once_across_a_restart_and_a_reshard(
    spark: Any, moto_server: Any, unique_name: str, tmp_path: Path
) -> None:
    _exactly_once_across_restart_and_reshard(spark, moto_server, unique_name, tmp_path, total=50_000)


def test_replayed_batch_reads_the_same_range_as_planned(
    spark: Any, moto_server: Any, unique_name: str, tmp_path: Path
) -> None:
    kinesis = _create_stream(unique_name, 2)
    first = _payloads("a", 1_000)
    _put(kinesis, unique_name, first)
    options = _options(unique_name, max_records_per_shard=200)
    checkpoint = tmp_path / "checkpoint"

    failing = Collector()
    failing.fail_on_batch = 1
    query = _start(spark, options, checkpoint, failing, {"processingTime": "0 seconds"})
    with pytest.raises(Exception, match="sink fails on batch 1"):
        query.awaitTermination(120)
    # Records added after batch 1 was planned must not leak into its replay.
    later = _payloads("b", 300)
    _put(kinesis, unique_name, later)

    sink = Collector()
    sink.batches.update(failing.batches)
    _drain(spark, options, checkpoint, sink)

    assert len(sink.batches[0]) == 400
    assert len(sink.batches[1]) == 400
    _assert_each_once(sink, first + later)


class TaskCounter(Collector):
    """A :class:`Collector` that also notes how many Spark tasks read each batch."""

    def __init__(self) -> None:
        super().__init__()
        self.tasks: list[int] = []

    def __call__(self, frame: Any, batch_id: int) -> None:
        self.tasks.append(frame.rdd.getNumPartitions())
        super().__call__(frame, batch_id)


def test_four_shards_capped_at_two_read_tasks_are_read_in_two_tasks_each_record_once(
    spark: Any, moto_server: Any, unique_name: str, tmp_path: Path
) -> None:
    payloads = _filled_stream(unique_name, 4, 2_000)
    sink = TaskCounter()

    _drain(spark, _options(unique_name, max_read_tasks=2), tmp_path / "checkpoint", sink)

    assert sink.tasks, "no batch ran"
    assert max(sink.tasks) == 2
    _assert_each_once(sink, payloads)


def test_latest_reads_only_records_put_after_the_query_started(
    spark: Any, moto_server: Any, unique_name: str, tmp_path: Path
) -> None:
    kinesis = _create_stream(unique_name, 2)
    _put(kinesis, unique_name, _payloads("old", 200))
    time.sleep(1.0)
    sink = Collector()
    query = _start(
        spark, _options(unique_name, starting_position="LATEST"), tmp_path / "cp", sink, {"processingTime": "0 seconds"}
    )
    deadline = time.monotonic() + 60
    while not query.recentProgress and time.monotonic() < deadline:
        time.sleep(0.1)
    new = _payloads("new", 200)
    _put(kinesis, unique_name, new)
    query.processAllAvailable()
    # A shard polled empty just before the put waits idle_poll_seconds before its next poll, and
    # Spark 4.0 may call the query caught up in between: wait for the records, then judge.
    deadline = time.monotonic() + 60
    while sum((sink.payloads & Counter(new)).values()) < len(new) and time.monotonic() < deadline:
        time.sleep(0.2)
    query.stop()
    _assert_each_once(sink, new)


def test_timestamp_start_reads_records_that_arrived_from_that_time_on(
    spark: Any, moto_server: Any, unique_name: str, tmp_path: Path
) -> None:
    kinesis = _create_stream(unique_name, 2)
    _put(kinesis, unique_name, _payloads("old", 200))
    time.sleep(0.5)
    start = dt.datetime.now(dt.UTC)
    time.sleep(0.5)
    new = _payloads("new", 200)
    _put(kinesis, unique_name, new)
    sink = Collector()
    _drain(spark, _options(unique_name, starting_position=start.isoformat()), tmp_path / "cp", sink)
    _assert_each_once(sink, new)
    # The session runs in UTC; arrival times come back as naive UTC timestamps.
    arrivals = [row[3] for row in sink.rows]
    assert start.replace(tzinfo=None) <= min(arrivals) <= max(arrivals) <= dt.datetime.now(dt.UTC).replace(tzinfo=None)


def test_throttled_and_expired_get_records_still_read_everything_once(
    spark: Any, moto_server: Any, unique_name: str, tmp_path: Path
) -> None:
    payloads = _filled_stream(unique_name, 2, 1_200)
    sink = Collector()
    # Three refusals out of every five GetRecords, and every third call let through expires.
    with ThrottlingProxy(moto_server.endpoint_url, throttle_period=5, throttle_burst=3, expire_every=3) as proxy:
        options = _options(unique_name, max_records_per_shard=300, endpoint_url=proxy.endpoint_url)
        _drain(spark, options, tmp_path / "cp", sink)
    assert proxy.throttled >= 5
    assert proxy.expired >= 1
    _assert_each_once(sink, payloads)


def test_an_idle_stream_is_polled_at_the_idle_interval_not_in_a_loop(
    spark: Any, moto_server: Any, unique_name: str, tmp_path: Path
) -> None:
    _create_stream(unique_name, 2)
    with ThrottlingProxy(moto_server.endpoint_url, throttle_period=0) as proxy:
        options = _options(unique_name, endpoint_url=proxy.endpoint_url, idle_poll_seconds=1)
        query = _start(spark, options, tmp_path / "cp", Collector(), {"processingTime": "0 seconds"})
        deadline = time.monotonic() + 120
        while proxy.get_records_calls == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        calls_before = proxy.get_records_calls
        time.sleep(4)
        calls = proxy.get_records_calls - calls_before
        query.stop()
    # Two shards polled once a second for four seconds, with slack for timing; a loop would make hundreds.
    assert 1 <= calls <= 12
