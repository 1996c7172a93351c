from __future__ import annotations

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from pipelines.aws.clients import client
from pipelines.local_services import KafkaBroker, MotoServer
from pipelines.provision import ensure_kinesis_stream
from pipelines.stream_tools import count_kafka_records, count_kinesis_records, kinesis_shard_ids


def test_counting_a_kinesis_stream_reads_every_shard(moto_server: MotoServer, unique_name: str) -> None:
    ensure_kinesis_stream(unique_name, 3)
    kinesis = client("kinesis")
    for batch in range(3):
        records = [{"Data": b"x", "PartitionKey": f"key-{batch}-{i}"} for i in range(400)]
        assert kinesis.put_records(StreamName=unique_name, Records=records)["FailedRecordCount"] == 0

    assert len(kinesis_shard_ids(unique_name)) == 3
    assert count_kinesis_records(unique_name) == 1200


def test_counting_a_kafka_topic_reads_past_a_lagging_watermark(kafka_broker: KafkaBroker, unique_name: str) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
    admin.create_topics([NewTopic(unique_name, num_partitions=4, replication_factor=1)])[unique_name].result(30)
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap, "linger.ms": 5})
    for i in range(2500):
        producer.produce(unique_name, key=str(i % 97).encode(), value=b"v")
    assert producer.flush(30) == 0

    assert count_kafka_records(kafka_broker.bootstrap, unique_name, idle_seconds=1.5) == 2500
