from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pipelines.producers import OutRecord, ProducerError
from pipelines.producers.jsonl import JsonLinesWriter, partition_key_of, read_json_lines


def test_records_written_read_back_byte_identical(tmp_path: Path) -> None:
    records = [
        OutRecord("ord-1", '{"order_id":"ord-1","name":"Zoë"}'.encode()),
        OutRecord("ord-2", b'{"order_id":"ord-2","bad":"\xe9\xff"}'),
        OutRecord("k", b"  "),
        OutRecord("k", b'{"order_id":'),
    ]
    writer = JsonLinesWriter(tmp_path / "out" / "events.jsonl")
    writer.send(records)
    writer.close()
    back = list(read_json_lines(tmp_path / "out" / "events.jsonl"))
    assert [r.data for r in back] == [r.data for r in records]
    assert back[0].key == "ord-1"
    assert back[1].key.startswith("sha256-")  # not UTF-8, so not parseable: keyed by its bytes


def test_replay_skips_empty_lines_and_keys_by_order_id_or_a_stable_hash(tmp_path: Path) -> None:
    path = tmp_path / "replay.jsonl"
    path.write_bytes(b'{"order_id":"ord-9","x":1}\n\n[1,2]\n{"order_id":""}\n{"order_id":"ord-7"}')
    back = list(read_json_lines(path))
    assert [r.data for r in back] == [
        b'{"order_id":"ord-9","x":1}',
        b"[1,2]",
        b'{"order_id":""}',
        b'{"order_id":"ord-7"}',
    ]
    assert back[0].key == "ord-9"
    assert back[3].key == "ord-7"
    assert back[1].key == "sha256-" + hashlib.sha256(b"[1,2]").hexdigest()[:32]
    assert partition_key_of(b"[1,2]") == back[1].key


def test_a_record_with_a_newline_cannot_be_written(tmp_path: Path) -> None:
    writer = JsonLinesWriter(tmp_path / "x.jsonl")
    with pytest.raises(ProducerError, match="newline"):
        writer.send([OutRecord("k", b"{}\n{}")])
    writer.close()


def test_a_missing_replay_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProducerError, match="not found"):
        list(read_json_lines(tmp_path / "nope.jsonl"))
