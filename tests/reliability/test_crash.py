"""The streaming job SIGKILLed at seeded random points and restarted: nothing lost, nothing doubled.

Every trial gets its own Kinesis stream (on the moto server) holding the trap records, a folder
lake, a checkpoint, a FIFO topic with a FIFO queue subscribed and a notification ledger. The job
runs as a user runs it (``python -m pipelines stream --trigger available-now``) with seven
records per shard per micro-batch, is killed once at the trial's point, then restarted until a
run ends by itself. Afterwards every table equals the independent reference of
``lakehouse_traps`` and the queue holds each notification of an uninterrupted run exactly once.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lakehouse_traps import TRAP_NOTIFICATIONS, Record, actual_tables, build_traps, expected_tables
from support.sns import Subscriber, subscribe_queue
from support.stream_process import KillPoint, RunResult, StreamProcess, delta_versions

from pipelines.aws.clients import AwsEndpoint, client
from pipelines.lake import Lake
from pipelines.local_services import MotoServer
from pipelines.notifications.ledger import Ledger
from pipelines.provision import ensure_kinesis_stream
from pipelines.schemas import BRONZE_TABLE, QUARANTINE_TABLE, TABLES

SEED = 20261123
# Tables the job commits to in every batch that has such rows (gold is written by batch jobs).
STREAM_TABLES = (
    BRONZE_TABLE,
    "quarantine/order_events",
    "silver/order_updates",
    "silver/returns",
    "silver/payments",
    "silver/chargebacks",
    "silver/orders",
)
MAX_RUNS_AFTER_KILL = 4
# Run from the checkout, as a user does: its conf/local.yaml is read.
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Trial:
    """One lake, stream, topic and ledger, and what happened to them."""

    name: str
    workdir: Path
    records: list[Record]
    subscriber: Subscriber
    received: list[dict[str, Any]] = field(default_factory=list)
    runs: list[RunResult] = field(default_factory=list)

    @property
    def lake(self) -> Lake:
        return Lake(str(self.workdir / "lake"))

    def process(self) -> StreamProcess:
        return StreamProcess(
            REPO_ROOT,
            [
                f"source.stream={self.name}",
                "source.shards=2",
                "source.max_records_per_partition=7",
                # Data quality has its own tests; here it would only add time to every batch.
                "quality.on_stream=false",
                f"lake.root={self.workdir / 'lake'}",
                f"lake.checkpoints={self.workdir / 'checkpoints'}",
                f"stream.query_name={self.name}",
                f"alerts.topic={self.name}.fifo",
                f"notifications.ledger_table=ledger-{self.name}",
                # A killed run's claims are taken over by the restart as soon as it gets there.
                "notifications.lease_seconds=1",
                # Slow publishing widens the window in which a kill lands mid-delivery.
                "notifications.publish_rate=2",
                "spark.driver_memory=1g",
                "spark.shuffle_partitions=2",
            ],
        )

    def poll_queue(self) -> int:
        """Move what is on the queue now into ``received``; how many messages there are so far."""
        sqs = client("sqs")
        while True:
            batch = sqs.receive_message(
                QueueUrl=self.subscriber.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return len(self.received)
            for message in batch:
                envelope = json.loads(message["Body"])
                self.received.append(json.loads(envelope["Message"]))
            sqs.delete_message_batch(
                QueueUrl=self.subscriber.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )

    def notifications(self) -> Counter[tuple[str, str]]:
        self.received.extend(m["body"] for m in self.subscriber.receive(quiet_seconds=1.5))
        return Counter((body["notification_type"], body["key"]) for body in self.received)


def _new_trial(root: Path, name: str) -> Trial:
    ensure_kinesis_stream(name, 2)
    # moto stamps arrival with the real clock: the future trap is relative to it.
    records = build_traps(dt.datetime.now(dt.UTC)).records
    response = client("kinesis").put_records(
        StreamName=name, Records=[{"Data": r.data, "PartitionKey": f"k{i}"} for i, r in enumerate(records)]
    )
    assert response["FailedRecordCount"] == 0
    topic_arn = client("sns").create_topic(Name=f"{name}.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    workdir = root / name
    workdir.mkdir(parents=True)
    return Trial(name, workdir, records, subscribe_queue(topic_arn, f"q-{name}.fifo", fifo=True))


def _kill_condition(trial: Trial, point: KillPoint):  # type: ignore[no-untyped-def]
    """``point`` as a test on the run's stderr lines; counts are relative to when the run starts."""
    started = time.monotonic()
    last_poll = [0.0]
    table = trial.workdir / "lake" / point.table
    # Version 0 is the table's creation by the job; the count-th batch commit of this run follows.
    commits_before = max(delta_versions(table), 1) if point.kind == "commit" else 0
    received_before = trial.poll_queue() if point.kind == "published" else 0

    def reached(lines: list[str]) -> bool:
        if point.kind == "commit":
            return delta_versions(table) >= commits_before + point.count
        if point.kind == "published":
            now = time.monotonic()
            if now - last_poll[0] < 0.1:
                return False
            last_poll[0] = now
            return trial.poll_queue() >= received_before + point.count
        return time.monotonic() - started >= point.delay

    return reached


def _check(trial: Trial, expected_notifications: Counter[tuple[str, str]]) -> dict[str, int]:
    """Assert the trial's lake and queue against the references; the figures checked."""
    lake = trial.lake
    assert actual_tables(lake) == expected_tables(trial.records), trial.name
    bronze = lake.read_arrow(BRONZE_TABLE, columns=["shard_id", "sequence_number"]).to_pylist()
    positions = Counter((row["shard_id"], row["sequence_number"]) for row in bronze)
    assert len(bronze) == len(trial.records), f"{trial.name}: bronze has {len(bronze)} of {len(trial.records)}"
    assert max(positions.values()) == 1, f"{trial.name}: a stream position is in bronze twice"
    received = trial.notifications()
    assert received, "the traps imply notifications: an empty queue would prove nothing"
    assert max(received.values()) == 1, f"{trial.name}: repeated notifications {received}"
    assert received == expected_notifications, trial.name
    ledger = Ledger(f"ledger-{trial.name}", AwsEndpoint.from_environment())
    summary = ledger.summary()
    assert {state for _, state in summary} == {"sent"}, f"{trial.name}: ledger states {summary}"
    # Everything the ledger recorded as sent arrived, and nothing else did.
    assert sum(summary.values()) == sum(received.values()), f"{trial.name}: ledger {summary}, queue {received}"
    rows = sum(lake.read_arrow(table).num_rows for table in TABLES if table.startswith(("silver", "quarantine")))
    return {
        "records": len(trial.records),
        "rows": rows + len(bronze),
        "notifications": sum(received.values()),
        "runs": len(trial.runs),
    }


def _plan(rng: random.Random, index: int) -> KillPoint:
    kind = ("commit", "published", "seconds")[index % 3]
    if kind == "commit":
        # Tables every run of the traps commits to in each of its two micro-batches.
        return KillPoint("commit", table=rng.choice([BRONZE_TABLE, QUARANTINE_TABLE]), count=rng.randint(1, 2))
    if kind == "published":
        return KillPoint("published", count=rng.randint(1, 3))
    # From JVM start-up to the middle of a run: on a quiet machine a whole run takes 35-70 s,
    # and a later delay mostly found the job already done (3 of 4 such kills in one long run).
    return KillPoint("seconds", delay=rng.uniform(10.0, 40.0))


def _crash_trials(root: Path, base_name: str, plans: list[list[KillPoint]]) -> dict[str, Any]:
    """One trial per plan: each run is killed at the plan's next point, then runs go on until one ends."""
    started = time.monotonic()
    totals: Counter[str] = Counter()
    outcomes: list[str] = []
    for index, plan in enumerate(plans):
        trial = _new_trial(root, f"{base_name}-{index}")
        for point in plan:
            run = trial.process().run(kill_when=_kill_condition(trial, point))
            trial.runs.append(run)
            totals["kills"] += int(run.killed)
            outcomes.append(f"trial {index}: {point}: {'killed' if run.killed else 'ended first'} ({run.seconds:.0f}s)")
            if not run.killed:
                break
        for _ in range(MAX_RUNS_AFTER_KILL):
            if trial.runs[-1].returncode == 0:
                break
            trial.runs.append(trial.process().run())
        assert trial.runs[-1].returncode == 0, trial.runs[-1].tail()
        figures = _check(trial, TRAP_NOTIFICATIONS)
        totals.update(figures)
        # Progress as it happens: a long variant cut short still shows the trials it checked.
        print(f"crash trial {index}: {len(trial.runs)} runs, checked {figures}", flush=True)
        print("\n".join(line for line in outcomes if line.startswith(f"trial {index}:")), flush=True)
    summary = {
        "trials": len(plans),
        "kills": totals["kills"],
        "runs": totals["runs"],
        "records_checked": totals["records"],
        "rows_checked": totals["rows"],
        "notifications_expected": sum(TRAP_NOTIFICATIONS.values()) * len(plans),
        "notifications_received": totals["notifications"],
        "lost": 0,
        "duplicated": 0,
        "seconds": round(time.monotonic() - started, 1),
        "outcomes": outcomes,
    }
    print("crash trials:", json.dumps(summary, indent=1), flush=True)
    return summary


@pytest.mark.timeout(1800)
def test_a_job_killed_at_random_points_and_restarted_loses_and_repeats_nothing(
    moto_server: MotoServer, tmp_path: Path, unique_name: str
) -> None:
    # Killed between two table commits (after bronze, before quarantine and silver), then restarted.
    # The first batch's: Spark 4.0/4.1 may drain the traps in a single available-now batch.
    summary = _crash_trials(tmp_path, unique_name[:24], [[KillPoint("commit", table=BRONZE_TABLE, count=1)]])
    assert summary["kills"] == 1, summary["outcomes"]


@pytest.mark.slow
@pytest.mark.timeout(7200)
def test_ten_trials_of_three_kills_at_random_points_lose_and_repeat_nothing(
    moto_server: MotoServer, tmp_path: Path, unique_name: str
) -> None:
    """Ten trials, each killed up to three times in a row (every restart is killed again)."""
    rng = random.Random(SEED)
    plans = [[_plan(rng, trial * 3 + kill) for kill in range(3)] for trial in range(10)]
    summary = _crash_trials(tmp_path, unique_name[:24], plans)
    assert summary["kills"] >= 10, summary["outcomes"]
