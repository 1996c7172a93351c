"""Amazon Kinesis Data Streams as a PySpark streaming source, format ``pykinesis``.

Each shard is an input partition. The offset is, per shard, the sequence number of the last
record read (or the starting position of a shard not read yet), kept as JSON in Spark's
checkpoint, so a restarted query resumes right after the last committed batch.

Where the records are read: the end of a micro-batch must be a concrete position known when the
batch is planned, and in Kinesis the only way to learn the sequence number of the last record to
take is to read it. So the driver reads each shard (in parallel, capped per trigger) while planning
and hands the records to the shard's input partition; executors then only emit them (as Arrow
batches). Kinesis is read once per record. A batch whose records were not read by this driver process (a replay after
a restart, or a batch larger than ``max_inline_bytes_per_shard``) is re-read on the executors
between the two sequence numbers of its offsets. See ``docs/sources.md`` for the trade-off.

Options (all strings): ``stream`` (required), ``region``, ``endpoint_url``,
``starting_position`` (``TRIM_HORIZON``, ``LATEST`` or an RFC 3339 timestamp),
``max_records_per_shard``, ``max_get_records_per_second``, ``max_inline_bytes_per_shard``,
``idle_poll_seconds``, ``backoff_initial_seconds``, ``backoff_max_seconds``,
``throttle_max_wait_seconds``, ``available_now`` (the job sets it with that trigger; needed on
Spark 4.0, which asks a Python source for its end only once), ``max_parallel_shards``,
``max_read_tasks`` (at most this many Spark tasks read a batch; none = one per shard).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.types import BinaryType, StringType, StructField, StructType, TimestampType

from pipelines.aws.clients import AwsEndpoint, client
from pipelines.sources.grouping import members, pack, parse_max_read_tasks
from pipelines.workers import freeze_setup

# Spark 4.2+ has admission control and a native available-now trigger for Python sources.
_streaming_api: Any
try:
    from pyspark.sql.streaming import datasource as _streaming_api
except ImportError:  # Spark 4.0 / 4.1
    _streaming_api = None
ReadAllAvailable: Any = getattr(_streaming_api, "ReadAllAvailable", None)
ReadMaxRows: Any = getattr(_streaming_api, "ReadMaxRows", None)
SupportsTriggerAvailableNow: Any = getattr(_streaming_api, "SupportsTriggerAvailableNow", None)

log = logging.getLogger(__name__)

FORMAT_NAME = "pykinesis"

KINESIS_SCHEMA = StructType(
    [
        StructField("data", BinaryType(), False),
        StructField("stream", StringType(), False),
        StructField("shard_id", StringType(), False),
        StructField("partition_key", StringType(), False),
        StructField("sequence_number", StringType(), False),
        StructField("approximate_arrival_timestamp", TimestampType(), True),
    ]
)

TRIM_HORIZON = "TRIM_HORIZON"
LATEST = "LATEST"
AT_TIMESTAMP = "AT_TIMESTAMP"

# GetRecords returns at most 10,000 records per call.
MAX_RECORDS_PER_CALL = 10_000
# Empty answers in a row with MillisBehindLatest > 0 before a fetch gives up for this trigger.
MAX_EMPTY_POLLS = 5

_THROTTLED = "ProvisionedThroughputExceededException"
_EXPIRED = "ExpiredIteratorException"
# Retried with this module's backoff: throttling, the service's own transient faults, the network.
_RETRIED = frozenset({_THROTTLED, "KMSThrottlingException", "InternalFailure", "ServiceUnavailable", "connection"})

Record = tuple[bytes, str, str, str, str, "dt.datetime | None"]


class KinesisOptionsError(ValueError):
    """A ``pykinesis`` option is missing or has a bad value."""


class KinesisReadError(RuntimeError):
    """A planned range of a shard cannot be read (trimmed by retention, or throttled for too long)."""


@dataclasses.dataclass(frozen=True)
class KinesisOptions:
    """The reader's options, parsed and checked once on the driver and shipped to executors as values."""

    stream: str
    endpoint: AwsEndpoint
    starting_position: str = TRIM_HORIZON
    max_records_per_shard: int = 20_000
    max_get_records_per_second: float = 5.0
    max_inline_bytes_per_shard: int = 32 * 1024 * 1024
    idle_poll_seconds: float = 1.0
    backoff_initial_seconds: float = 0.2
    backoff_max_seconds: float = 5.0
    throttle_max_wait_seconds: float = 300.0
    available_now: bool = False
    max_parallel_shards: int = 16
    max_read_tasks: int | None = None

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> KinesisOptions:
        """Options as Spark passes them (strings, keys possibly lower-cased) to a checked value."""
        opts = {key.lower(): value for key, value in options.items()}
        stream = (opts.get("stream") or "").strip()
        if not stream:
            raise KinesisOptionsError("option 'stream' (the Kinesis stream name) is required")
        env = AwsEndpoint.from_environment()
        endpoint = AwsEndpoint(
            region=opts.get("region") or env.region,
            endpoint_url=opts.get("endpoint_url") or env.endpoint_url,
        )
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name in ("stream", "endpoint", "starting_position", "max_read_tasks") or field.name not in opts:
                continue
            values[field.name] = _convert(field.name, opts[field.name], field.type)
        return cls(
            stream=stream,
            endpoint=endpoint,
            starting_position=parse_starting_position(opts.get("starting_position", TRIM_HORIZON)),
            max_read_tasks=parse_max_read_tasks(opts, KinesisOptionsError),
            **values,
        )

    def __post_init__(self) -> None:
        for name in ("max_records_per_shard", "max_inline_bytes_per_shard", "max_parallel_shards"):
            if getattr(self, name) < 1:
                raise KinesisOptionsError(f"option {name!r} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.max_get_records_per_second <= 5:
            raise KinesisOptionsError(
                "option 'max_get_records_per_second' must be in (0, 5] (Kinesis allows 5 per shard), "
                f"got {self.max_get_records_per_second}"
            )


def _convert(name: str, text: str, kind: object) -> object:
    try:
        if kind in (bool, "bool"):
            lowered = text.strip().lower()
            if lowered not in ("true", "false"):
                raise ValueError(text)
            return lowered == "true"
        if kind in (int, "int"):
            return int(text)
        return float(text)
    except ValueError:
        raise KinesisOptionsError(f"option {name!r} has a bad value {text!r}") from None


def parse_starting_position(value: str) -> str:
    """``TRIM_HORIZON``, ``LATEST`` or an RFC 3339 timestamp (normalised to UTC ``...Z``)."""
    text = value.strip()
    if text.upper() in (TRIM_HORIZON, LATEST, "EARLIEST"):
        return TRIM_HORIZON if text.upper() == "EARLIEST" else text.upper()
    try:
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        stamp = None
    if stamp is None or stamp.tzinfo is None:
        raise KinesisOptionsError(
            f"starting_position must be TRIM_HORIZON, LATEST or an RFC 3339 timestamp with an offset, got {value!r}"
        )
    return _iso(stamp)


def _iso(stamp: dt.datetime) -> str:
    return stamp.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse_iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- offsets ---------------------------------------------------------------------------------
# Per shard one of: {"seq": last sequence number read}, {"from": "TRIM_HORIZON"} or
# {"from": "AT_TIMESTAMP", "at": "...Z"}; plus "done": true once a closed shard is read to its end.
# Dicts are built with sorted keys: Spark compares offsets by their JSON text.

ShardPosition = dict[str, Any]


def _position(seq: str | None = None, start: ShardPosition | None = None, done: bool = False) -> ShardPosition:
    base: ShardPosition = {"seq": seq} if seq is not None else dict(start or {"from": TRIM_HORIZON})
    base.pop("done", None)
    if done:
        base["done"] = True
    return dict(sorted(base.items()))


def _offset(shards: Mapping[str, ShardPosition]) -> dict[str, Any]:
    return {"shards": {shard: dict(sorted(shards[shard].items())) for shard in sorted(shards)}}


def _shards_of(offset: Mapping[str, Any] | None) -> dict[str, ShardPosition]:
    return dict((offset or {}).get("shards", {}))


def _iterator_args(position: ShardPosition) -> dict[str, Any]:
    if "seq" in position:
        return {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": position["seq"]}
    if position.get("from") == AT_TIMESTAMP:
        return {"ShardIteratorType": AT_TIMESTAMP, "Timestamp": _parse_iso(position["at"])}
    return {"ShardIteratorType": TRIM_HORIZON}


# --- reading one shard -----------------------------------------------------------------------


@dataclasses.dataclass
class ShardFetch:
    """What one pass over a shard found: the records kept, the last sequence number, whether it ended."""

    records: list[Record]
    last_seq: str | None
    done: bool
    inline: bool = True
    calls: int = 0


class ShardReader:
    """GetRecords on one shard with pacing, throttling backoff and iterator renewal."""

    def __init__(self, options: KinesisOptions, kinesis: Any, shard_id: str, pacer: _Pacer) -> None:
        self.options = options
        self.kinesis = kinesis
        self.shard_id = shard_id
        self.pacer = pacer

    def _iterator(self, position: ShardPosition) -> str:
        answer = self._call(
            lambda: self.kinesis.get_shard_iterator(
                StreamName=self.options.stream, ShardId=self.shard_id, **_iterator_args(position)
            )
        )
        return str(answer["ShardIterator"])

    def _call(self, request: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run ``request``, backing off with jitter while the shard is throttled."""
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

        delay = self.options.backoff_initial_seconds
        waited = 0.0
        while True:
            try:
                return request()
            except (ClientError, ConnectionError, HTTPClientError) as exc:
                code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else "connection"
                if code not in _RETRIED:
                    raise
                if waited >= self.options.throttle_max_wait_seconds:
                    raise KinesisReadError(
                        f"shard {self.shard_id} of {self.options.stream} still failing ({code}) after {waited:.0f}s"
                    ) from exc
                pause = random.uniform(delay / 2, delay)
                log.info("shard %s: %s, retrying in %.2fs", self.shard_id, code, pause)
                time.sleep(pause)
                waited += pause
                delay = min(delay * 2, self.options.backoff_max_seconds)

    def _get_records(self, iterator: str, limit: int) -> dict[str, Any]:
        return self._call(lambda: self.kinesis.get_records(ShardIterator=iterator, Limit=limit))

    def fetch(
        self,
        start: ShardPosition,
        *,
        cap: int | None,
        byte_budget: int,
        stop_at_budget: bool,
        not_after: dt.datetime | None = None,
        ending_seq: str | None = None,
        until_seq: str | None = None,
    ) -> ShardFetch:
        """Read from ``start``: at most ``cap`` records, up to and including ``until_seq`` when given.

        ``ending_seq`` is the shard's last sequence number when it is closed. Without
        ``stop_at_budget`` records beyond ``byte_budget`` are dropped (only the end is learnt).
        """
        from botocore.exceptions import ClientError

        result = ShardFetch(records=[], last_seq=start.get("seq"), done=False)
        if until_seq is not None and result.last_seq is not None and int(result.last_seq) >= int(until_seq):
            return result
        position = dict(start)
        iterator = self._iterator(position)
        size = 0
        count = 0
        empty_polls = 0
        while cap is None or count < cap:
            limit = MAX_RECORDS_PER_CALL if cap is None else min(MAX_RECORDS_PER_CALL, cap - count)
            self.pacer.wait(self.shard_id)
            try:
                answer = self._get_records(iterator, limit)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != _EXPIRED:
                    raise
                log.info("shard %s iterator expired, renewing", self.shard_id)
                iterator = self._iterator(position)
                continue
            result.calls += 1
            stop = False
            for raw in answer.get("Records", []):
                seq = str(raw["SequenceNumber"])
                arrival = raw.get("ApproximateArrivalTimestamp")
                if (not_after is not None and arrival is not None and arrival > not_after) or (
                    until_seq is not None and int(seq) > int(until_seq)
                ):
                    stop = True
                    break
                data = bytes(raw["Data"])
                size += len(data)
                if result.inline:
                    result.records.append(
                        (data, self.options.stream, self.shard_id, str(raw.get("PartitionKey", "")), seq, arrival)
                    )
                result.last_seq = seq
                position = _position(seq=seq)
                count += 1
                if until_seq is not None and int(seq) >= int(until_seq):
                    return result
                if size >= byte_budget:
                    if stop_at_budget:
                        stop = True
                        break
                    result.inline, result.records = False, []
            if stop:
                # Part of the answer is left for later, so the shard cannot have ended here.
                break
            records = answer.get("Records", [])
            next_iterator = answer.get("NextShardIterator")
            if next_iterator is None:
                result.done = True
                break
            if ending_seq is not None and result.last_seq is not None and int(result.last_seq) >= int(ending_seq):
                result.done = True
                break
            iterator = next_iterator
            behind = answer.get("MillisBehindLatest", 0)
            if not records:
                if behind == 0 or empty_polls >= MAX_EMPTY_POLLS:
                    # Caught up. A closed shard that is caught up has nothing more to give.
                    result.done = ending_seq is not None and behind == 0
                    break
                empty_polls += 1
            elif behind == 0 and len(records) < limit:
                result.done = ending_seq is not None and int(result.last_seq or 0) >= int(ending_seq)
                break
        return result


class _Pacer:
    """Keeps GetRecords calls per shard under the configured rate (Kinesis allows 5 per second)."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, shard_id: str) -> None:
        with self._lock:
            now = time.monotonic()
            due = self._last.get(shard_id, 0.0) + self.interval
            slot = max(now, due)
            self._last[shard_id] = slot
        if slot > now:
            time.sleep(slot - now)


# --- Spark ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class KinesisShardPartition(InputPartition):
    """One shard's slice of a micro-batch: its records when the driver read them, else the range."""

    options: KinesisOptions
    shard_id: str
    start: ShardPosition
    end_seq: str
    records: list[Record] | None = None


@dataclasses.dataclass
class _Shard:
    shard_id: str
    parents: tuple[str, ...]
    ending_seq: str | None


class KinesisStreamReader(DataSourceStreamReader):
    """The driver side: plans micro-batches per shard and reads them (see the module docstring)."""

    def __init__(self, options: KinesisOptions) -> None:
        self.options = options
        self._kinesis: Any = None
        self._pacer = _Pacer(options.max_get_records_per_second)
        self._initial: dict[str, Any] | None = None
        self._last_end: dict[str, Any] | None = None
        self._cache: dict[tuple[str, str], ShardFetch] = {}
        self._idle_until: dict[str, float] = {}
        self._available_now_at: dt.datetime | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Spark ships the reader to executors for ``read``: only the options travel, no client,
        # lock or cached records.
        return {"options": self.options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["options"])  # type: ignore[misc]

    @property
    def kinesis(self) -> Any:
        if self._kinesis is None:
            self._kinesis = _kinesis_client(self.options)
        return self._kinesis

    def _list_shards(self) -> list[_Shard]:
        shards: list[_Shard] = []
        kwargs: dict[str, Any] = {"StreamName": self.options.stream}
        while True:
            answer = self.kinesis.list_shards(**kwargs)
            for shard in answer.get("Shards", []):
                parents = tuple(p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p)
                ending = shard.get("SequenceNumberRange", {}).get("EndingSequenceNumber")
                shards.append(_Shard(shard["ShardId"], parents, ending))
            token = answer.get("NextToken")
            if not token:
                return shards
            kwargs = {"NextToken": token}

    def initialOffset(self) -> dict[str, Any]:
        # Spark 4.0 may ask for the latest offset before the initial one: both must agree.
        if self._initial is None:
            start = self.options.starting_position
            if start == TRIM_HORIZON:
                position: ShardPosition = {"from": TRIM_HORIZON}
            else:
                # LATEST is pinned to a timestamp so that a replay reads the same records.
                stamp = dt.datetime.now(dt.UTC) if start == LATEST else _parse_iso(start)
                position = {"at": _iso(stamp), "from": AT_TIMESTAMP}
            self._initial = _offset({shard.shard_id: _position(start=position) for shard in self._list_shards()})
        return self._initial

    def getDefaultReadLimit(self) -> Any:
        return ReadMaxRows(self.options.max_records_per_shard) if ReadMaxRows is not None else None

    def prepareForTriggerAvailableNow(self) -> None:
        self._available_now_at = dt.datetime.now(dt.UTC)

    def latestOffset(self, start: dict[str, Any] | None = None, limit: Any = None) -> dict[str, Any]:
        """The end of the next micro-batch; reads it on the driver (see the module docstring).

        ``start``/``limit`` come from Spark 4.2+. Spark 4.0 passes neither: the reader then
        continues from the end it last returned or planned, with the per-shard cap of the options.
        """
        cap: int | None = self.options.max_records_per_shard
        not_after = self._available_now_at
        if start is None:
            start = self._last_end or self.initialOffset()
            if self.options.available_now:
                # Spark 4.0 asks a Python source for its end once per available-now run: take it all.
                cap, not_after = None, dt.datetime.now(dt.UTC)
        elif ReadAllAvailable is not None and isinstance(limit, ReadAllAvailable):
            cap = None
        elif ReadMaxRows is not None and isinstance(limit, ReadMaxRows):
            cap = int(limit.max_rows)
        end = self._plan(start, cap, not_after)
        self._last_end = end
        return end

    def _plan(self, start: dict[str, Any], cap: int | None, not_after: dt.datetime | None) -> dict[str, Any]:
        positions = _shards_of(start)
        listed = {shard.shard_id: shard for shard in self._list_shards()}
        # Shards that expired out of the stream after they were read to the end are forgotten.
        for shard_id in [s for s, p in positions.items() if p.get("done") and s not in listed]:
            del positions[shard_id]
        self._adopt_new_shards(positions, listed)
        due = [
            listed[shard_id]
            for shard_id, position in positions.items()
            if shard_id in listed
            and not position.get("done")
            and self._parents_done(listed[shard_id], positions, listed)
            and self._idle_until.get(shard_id, 0.0) <= time.monotonic()
        ]
        if not due:
            self._sleep_while_idle(positions, listed)
            return _offset(positions)
        self._cache = {key: value for key, value in self._cache.items() if key[0] not in {s.shard_id for s in due}}

        def read(shard: _Shard) -> tuple[_Shard, ShardFetch]:
            reader = ShardReader(self.options, self.kinesis, shard.shard_id, self._pacer)
            return shard, reader.fetch(
                positions[shard.shard_id],
                cap=cap,
                byte_budget=self.options.max_inline_bytes_per_shard,
                stop_at_budget=cap is not None,
                not_after=not_after,
                ending_seq=shard.ending_seq,
            )

        with ThreadPoolExecutor(max_workers=min(len(due), self.options.max_parallel_shards)) as pool:
            fetched = list(pool.map(read, due))
        for shard, fetch in fetched:
            before = positions[shard.shard_id]
            if fetch.last_seq is not None and fetch.last_seq != before.get("seq"):
                self._cache[(shard.shard_id, json.dumps(before, sort_keys=True))] = fetch
                positions[shard.shard_id] = _position(seq=fetch.last_seq, done=fetch.done)
            elif fetch.done:
                positions[shard.shard_id] = _position(seq=before.get("seq"), start=before, done=True)
            elif not fetch.records:
                self._idle_until[shard.shard_id] = time.monotonic() + self.options.idle_poll_seconds
        # Children of shards that ended in this pass go into the offset now, to be read next time.
        self._adopt_new_shards(positions, listed)
        return _offset(positions)

    def _adopt_new_shards(self, positions: dict[str, ShardPosition], listed: Mapping[str, _Shard]) -> None:
        for shard in listed.values():
            if shard.shard_id not in positions and self._parents_done(shard, positions, listed):
                # A shard born after the query started holds only new records.
                positions[shard.shard_id] = _position(start={"from": TRIM_HORIZON})

    def _sleep_while_idle(self, positions: Mapping[str, ShardPosition], listed: Mapping[str, _Shard]) -> None:
        """Nothing is due: wait for the first idle shard instead of letting Spark poll in a loop."""
        waits = [
            self._idle_until.get(shard_id, 0.0) - time.monotonic()
            for shard_id, position in positions.items()
            if shard_id in listed and not position.get("done")
        ]
        pause = min([w for w in waits if w > 0], default=0.0)
        if pause > 0:
            time.sleep(min(pause, self.options.idle_poll_seconds))

    @staticmethod
    def _parents_done(shard: _Shard, positions: Mapping[str, ShardPosition], listed: Mapping[str, _Shard]) -> bool:
        # A parent no longer listed has aged out of retention: nothing of it is left to read first.
        return all(parent not in listed or positions.get(parent, {}).get("done") for parent in shard.parents)

    def partitions(self, start: dict[str, Any], end: dict[str, Any]) -> Sequence[InputPartition]:
        self._last_end = end
        begin = _shards_of(start)
        result: list[KinesisShardPartition] = []
        for shard_id, position in _shards_of(end).items():
            end_seq = position.get("seq")
            first = begin.get(shard_id) or self._start_of_new_shard(shard_id)
            if end_seq is None or end_seq == first.get("seq"):
                continue
            key = (shard_id, json.dumps(_position(seq=first.get("seq"), start=first), sort_keys=True))
            cached = self._cache.pop(key, None)
            records = cached.records if cached and cached.inline and cached.last_seq == end_seq else None
            plain_start = _position(seq=first.get("seq"), start=first)
            result.append(KinesisShardPartition(self.options, shard_id, plain_start, end_seq, records))
        return pack(result, self.options.max_read_tasks, _records_of)

    def _start_of_new_shard(self, shard_id: str) -> ShardPosition:
        return _position(start={"from": TRIM_HORIZON})

    def read(self, partition: InputPartition) -> Iterator[Any]:
        # A packed task reads its shards' slices one after another (the ``max_read_tasks`` option).
        return (batch for part in members(partition) for batch in read_partition(part))

    def commit(self, end: dict[str, Any]) -> None:
        # Only records of the batch that starts at ``end`` can still be asked for.
        upcoming = {
            (shard, json.dumps(_position(seq=pos.get("seq"), start=pos), sort_keys=True))
            for shard, pos in _shards_of(end).items()
        }
        self._cache = {key: value for key, value in self._cache.items() if key in upcoming}


if SupportsTriggerAvailableNow is not None:
    SupportsTriggerAvailableNow.register(KinesisStreamReader)


def _kinesis_client(options: KinesisOptions) -> Any:
    # No botocore retries: throttling and transient faults get this module's own paced backoff,
    # and expired iterators need a new iterator, which botocore cannot know.
    return client("kinesis", options.endpoint, retries={"max_attempts": 1, "mode": "standard"})


def _arrow_batches(records: Sequence[Record], size: int = 10_000) -> Iterator[Any]:
    """Records as Arrow batches: Spark then skips its row-by-row conversion (several times faster)."""
    import pyarrow as pa

    schema = pa.schema(
        [
            pa.field("data", pa.binary(), nullable=False),
            pa.field("stream", pa.string(), nullable=False),
            pa.field("shard_id", pa.string(), nullable=False),
            pa.field("partition_key", pa.string(), nullable=False),
            pa.field("sequence_number", pa.string(), nullable=False),
            pa.field("approximate_arrival_timestamp", pa.timestamp("us", tz="UTC")),
        ]
    )
    for first in range(0, len(records), size):
        chunk = records[first : first + size]
        columns = [pa.array([record[i] for record in chunk], type=schema.field(i).type) for i in range(len(schema))]
        yield pa.RecordBatch.from_arrays(columns, schema=schema)


def _records_of(partition: KinesisShardPartition) -> int:
    """A slice's size for packing: its records when the driver holds them (a re-read counts as one)."""
    return len(partition.records) if partition.records is not None else 1


def read_partition(partition: InputPartition) -> Iterator[Any]:
    """Emit a shard's slice: records the driver shipped, or a re-read of exactly the planned range."""
    if not isinstance(partition, KinesisShardPartition):
        raise TypeError(f"not a Kinesis partition: {partition!r}")
    freeze_setup("kinesis-source")
    if partition.records is not None:
        yield from _arrow_batches(partition.records)
        return
    options = partition.options
    reader = ShardReader(
        options, _kinesis_client(options), partition.shard_id, _Pacer(options.max_get_records_per_second)
    )
    position = partition.start
    while True:
        fetch = reader.fetch(
            position,
            cap=MAX_RECORDS_PER_CALL * 10,
            byte_budget=options.max_inline_bytes_per_shard,
            stop_at_budget=True,
            until_seq=partition.end_seq,
        )
        yield from _arrow_batches(fetch.records)
        if fetch.last_seq is not None and int(fetch.last_seq) >= int(partition.end_seq):
            return
        if fetch.done or fetch.last_seq is None or fetch.last_seq == position.get("seq"):
            raise KinesisReadError(
                f"shard {partition.shard_id} of {options.stream} ended at {fetch.last_seq} before the planned "
                f"end {partition.end_seq}: the records were trimmed (retention) or the stream was recreated"
            )
        position = _position(seq=fetch.last_seq)


class KinesisDataSource(DataSource):
    """``spark.readStream.format("pykinesis").option("stream", ...)``: one row per Kinesis record."""

    @classmethod
    def name(cls) -> str:
        return FORMAT_NAME

    def schema(self) -> StructType:
        return KINESIS_SCHEMA

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        return KinesisStreamReader(KinesisOptions.parse(self.options))
