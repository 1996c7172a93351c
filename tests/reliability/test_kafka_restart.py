"""The Kafka broker goes down under the streaming job and comes back: the job rides it out, loses nothing.

The broker is Tansu keeping its log in a moto bucket, so a SIGKILLed broker restarts with its
topics and offsets, as a cluster node does. The trap records are on a two-partition topic
before the job starts. A first run meets a broker that stays down: it must stop with a
``pipeline_failure`` alert and commit nothing wrong. A second run meets the broker down until
its own client reports a refused connection (so the outage meets the job's planning), and
killed again for a few seconds right after the first bronze commit (so it meets the reads of
the next micro-batches, where the Spark version plans more than one). That run must end by
itself, with every table equal to the reference and every notification sent once.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Producer
from lakehouse_traps import TRAP_NOTIFICATIONS, actual_tables, build_traps, expected_tables
from support.sns import subscribe_queue
from support.stream_process import StreamProcess, delta_versions

from pipelines.aws.clients import client
from pipelines.lake import Lake
from pipelines.local_services import KafkaBroker, MotoServer
from pipelines.provision import ensure_bucket, ensure_kafka_topic
from pipelines.schemas import BRONZE_TABLE

REPO_ROOT = Path(__file__).resolve().parents[2]
# Long enough for several of the job's reconnection attempts, well inside its 30 s metadata timeout.
SECOND_OUTAGE_SECONDS = 6.0


class BrokerOutages:
    """Watches a run's stderr and lake, and takes the broker down and up at the two moments."""

    def __init__(self, broker: KafkaBroker, bronze: Path) -> None:
        self.broker = broker
        self.bronze = bronze
        self.events: list[str] = []
        self._phase = "down before start"
        self._back_at = 0.0

    def __call__(self, lines: list[str]) -> bool:
        if self._phase == "down before start" and any("Connection refused" in line for line in lines):
            self.broker.start()
            self.events.append("the job met the outage at start; broker back")
            self._phase = "up"
        elif self._phase == "up" and delta_versions(self.bronze) >= 2:
            self.broker.crash()
            self.events.append("broker killed after the first bronze commit")
            self._back_at = time.monotonic() + SECOND_OUTAGE_SECONDS
            self._phase = "down mid-run"
        elif self._phase == "down mid-run" and time.monotonic() >= self._back_at:
            self.broker.start()
            self.events.append("broker back")
            self._phase = "done"
        return False  # never kill the job: it has to ride the outages out


@pytest.mark.timeout(900)
def test_a_kafka_broker_outage_alerts_when_it_persists_and_restarts_lose_and_repeat_nothing(
    moto_server: MotoServer, tmp_path: Path, unique_name: str
) -> None:
    ensure_bucket(unique_name)
    broker = KafkaBroker(storage=f"s3://{unique_name}/tansu/").start()
    try:
        ensure_kafka_topic(broker.bootstrap, unique_name, 2)
        records = build_traps(dt.datetime.now(dt.UTC)).records
        failures: list[str] = []
        producer = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True})
        for index, record in enumerate(records):
            producer.produce(
                unique_name,
                value=record.data,
                key=f"k{index}",
                partition=index % 2,
                on_delivery=lambda error, _message: failures.append(str(error)) if error else None,
            )
        assert producer.flush(30) == 0
        assert not failures, failures
        broker.crash()

        topic_arn = client("sns").create_topic(Name=f"{unique_name}.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
        subscriber = subscribe_queue(topic_arn, f"q-{unique_name}.fifo", fifo=True)
        lake_root = tmp_path / "lake"
        outages = BrokerOutages(broker, lake_root / BRONZE_TABLE)
        job = StreamProcess(
            REPO_ROOT,
            [
                "source.kind=kafka",
                f"source.kafka_bootstrap={broker.bootstrap}",
                f"source.kafka_topic={unique_name}",
                "source.kafka_partitions=2",
                "source.max_records_per_partition=7",
                "quality.on_stream=false",
                f"lake.root={lake_root}",
                f"lake.checkpoints={tmp_path / 'checkpoints'}",
                f"stream.query_name={unique_name}",
                f"alerts.topic={unique_name}.fifo",
                f"notifications.ledger_table=ledger-{unique_name}",
                "spark.driver_memory=1g",
                "spark.shuffle_partitions=2",
            ],
        )
        # An outage that outlasts the reader's metadata timeout (30 s) stops the job with an alert.
        failed = job.run(timeout=600)
        assert failed.returncode not in (0, None), failed.tail()
        alerts = [m["body"] for m in subscriber.receive(1.5)]
        assert [a["notification_type"] for a in alerts] == ["pipeline_failure"], alerts
        assert "Connection refused" in "".join(failed.stderr)

        run = job.run(kill_when=outages, timeout=600)
        print(
            f"kafka outages: run 1 failed after {failed.seconds:.0f}s with {alerts[0]['key']};",
            "run 2:",
            outages.events,
            f"{run.seconds:.0f}s",
            flush=True,
        )

        assert run.returncode == 0, run.tail()
        assert outages.events[0].startswith("the job met the outage"), outages.events
        lake = Lake(str(lake_root))
        assert actual_tables(lake) == expected_tables(records)
        bronze = lake.read_arrow(BRONZE_TABLE, columns=["topic", "partition", "offset"]).to_pylist()
        positions = Counter((row["topic"], row["partition"], row["offset"]) for row in bronze)
        assert len(positions) == len(bronze) == len(records), positions
        received = Counter((m["body"]["notification_type"], m["body"]["key"]) for m in subscriber.receive(1.5))
        assert received == TRAP_NOTIFICATIONS
    finally:
        broker.stop()
