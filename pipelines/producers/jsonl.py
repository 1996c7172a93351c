"""JSON-lines files: binary, one record per line, written and read as exact bytes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pipelines.producers import OutRecord, ProducerError


class JsonLinesWriter:
    """Writes each record's bytes followed by a newline."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO | None = self.path.open("wb")

    @property
    def destination(self) -> str:
        return f"file {self.path}"

    def send(self, records: list[OutRecord]) -> None:
        if self._file is None:
            raise ProducerError(f"{self.path} is already closed")
        for record in records:
            if b"\n" in record.data:
                raise ProducerError(
                    f"record with key {record.key!r} contains a newline byte; JSON lines cannot hold it"
                )
            self._file.write(record.data)
            self._file.write(b"\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def partition_key_of(data: bytes) -> str:
    """The record's ``order_id`` when it is a JSON object with one, else a stable hash of its bytes."""
    try:
        value = json.loads(data)
    except ValueError:
        value = None
    order_id = value.get("order_id") if isinstance(value, dict) else None
    if isinstance(order_id, str) and 0 < len(order_id.encode("utf-8")) <= 256:
        return order_id
    return "sha256-" + hashlib.sha256(data).hexdigest()[:32]


def read_json_lines(path: str | Path) -> Iterator[OutRecord]:
    """The records of a JSON-lines file as they are: one per non-empty line, newline removed."""
    source = Path(path)
    if not source.is_file():
        raise ProducerError(f"replay file not found: {source}")
    with source.open("rb") as handle:
        for line in handle:
            data = line[:-1] if line.endswith(b"\n") else line
            if data:
                yield OutRecord(partition_key_of(data), data)
