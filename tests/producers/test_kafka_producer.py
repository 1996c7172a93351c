from __future__ import annotations

import pytest

from pipelines.local_services import KafkaBroker
from pipelines.producers import DestinationMissingError, OutRecord
from pipelines.producers.kafka import KafkaProducer, client_options
from pipelines.provision import ensure_kafka_topic
from pipelines.stream_tools import read_kafka


def test_a_missing_topic_is_a_clear_error(kafka_broker: KafkaBroker, unique_name: str) -> None:
    with pytest.raises(DestinationMissingError, match="orders-pipeline setup"):
        KafkaProducer(kafka_broker.bootstrap, unique_name)


def test_every_record_is_delivered_keyed_by_order_id(kafka_broker: KafkaBroker, unique_name: str) -> None:
    ensure_kafka_topic(kafka_broker.bootstrap, unique_name, 3)
    records = [OutRecord(f"ord-{i % 41}", f'{{"n":{i},"name":"Zoë"}}'.encode()) for i in range(2500)]
    producer = KafkaProducer(kafka_broker.bootstrap, unique_name)
    producer.send(records[:1000])
    producer.send(records[1000:])
    producer.close()
    assert producer.delivered == 2500
    assert sorted(read_kafka(kafka_broker.bootstrap, unique_name)) == sorted((r.key, r.data) for r in records)


def test_only_the_client_settings_of_the_reader_options_reach_the_producer() -> None:
    options = {
        "kafka.security.protocol": "SASL_SSL",
        "kafka.sasl.mechanism": "SCRAM-SHA-512",
        "kafka.sasl.jaas.config": "org.apache.kafka...",
        "maxOffsetsPerTrigger": "1000",
    }
    assert client_options(options) == {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512"}
