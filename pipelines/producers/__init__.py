"""Where produced records go: a Kinesis stream, a Kafka topic or a JSON-lines file.

Every producer takes batches of :class:`OutRecord` through ``send`` and must be closed; a
record that cannot be delivered raises :class:`ProducerError`, it is never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class ProducerError(RuntimeError):
    """Records could not be delivered, or the destination does not exist."""


class DestinationMissingError(ProducerError):
    """The stream or topic does not exist; ``orders-pipeline setup`` creates it."""


@dataclass(frozen=True)
class OutRecord:
    """A record to send: partition key and exact bytes."""

    key: str
    data: bytes


class Producer(Protocol):
    """What the producing loop needs from a destination."""

    @property
    def destination(self) -> str: ...

    def send(self, records: list[OutRecord]) -> None: ...

    def close(self) -> None: ...


__all__ = ["DestinationMissingError", "OutRecord", "Producer", "ProducerError"]
