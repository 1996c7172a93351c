"""Kafka (local broker or MSK) through confluent-kafka: key = order_id, every delivery checked."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pipelines.producers import DestinationMissingError, OutRecord, ProducerError

log = logging.getLogger(__name__)

# Reader options (Spark's "kafka."-prefixed names) that mean the same to librdkafka, so one
# settings section serves both the stream job and the producer on MSK with TLS/SASL.
_SHARED_OPTIONS = frozenset(
    {
        "security.protocol",
        "sasl.mechanism",
        "sasl.username",
        "sasl.password",
        "ssl.ca.location",
        "ssl.endpoint.identification.algorithm",
    }
)


def client_options(options: Mapping[str, str]) -> dict[str, str]:
    """The librdkafka settings among the source's reader options (``kafka.security.protocol`` …)."""
    shared = {}
    for key, value in options.items():
        name = key.removeprefix("kafka.")
        if name in _SHARED_OPTIONS:
            shared[name] = value
    return shared


class KafkaProducer:
    """Produces to one topic and raises on any delivery error once flushed."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        options: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        from confluent_kafka import KafkaException, Producer
        from confluent_kafka.admin import AdminClient

        self.topic = topic
        self.bootstrap = bootstrap
        self.timeout = timeout
        self.delivered = 0
        self._errors: list[str] = []
        self._error_count = 0
        base: dict[str, str | int | float | bool] = {"bootstrap.servers": bootstrap, **client_options(options or {})}
        try:
            topics = AdminClient(base).list_topics(timeout=timeout).topics
        except KafkaException as exc:
            raise ProducerError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
        if topic not in topics:
            raise DestinationMissingError(
                f"Kafka topic {topic!r} does not exist on {bootstrap}; create it with `orders-pipeline setup`"
            )
        config: dict[str, str | int | float | bool] = {
            **base,
            "acks": "all",
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 200_000,
            "message.timeout.ms": int(timeout * 1000),
        }
        self._producer = Producer(config)

    @property
    def destination(self) -> str:
        return f"kafka topic {self.topic} on {self.bootstrap}"

    def _on_delivery(self, error: Any, message: Any) -> None:
        if error is None:
            self.delivered += 1
            return
        self._error_count += 1
        if len(self._errors) < 5:
            self._errors.append(str(error))

    def send(self, records: list[OutRecord]) -> None:
        produce = self._producer.produce
        for record in records:
            while True:
                try:
                    produce(
                        self.topic, value=record.data, key=record.key.encode("utf-8"), on_delivery=self._on_delivery
                    )
                    break
                except BufferError:
                    # Local queue full: let deliveries complete, then try again.
                    self._producer.poll(0.1)
        self._producer.poll(0)
        self._raise_on_errors()

    def close(self) -> None:
        remaining = self._producer.flush(self.timeout)
        self._raise_on_errors()
        if remaining:
            raise ProducerError(
                f"{remaining} records to Kafka topic {self.topic!r} not delivered after {self.timeout}s"
            )

    def _raise_on_errors(self) -> None:
        if self._error_count:
            raise ProducerError(
                f"{self._error_count} records to Kafka topic {self.topic!r} failed delivery: {'; '.join(self._errors)}"
            )
