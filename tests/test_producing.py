from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.local_services import KafkaBroker, MotoServer
from pipelines.producers.jsonl import partition_key_of
from pipelines.producing import ProduceError, ProduceOptions, RateLimiter, produce
from pipelines.provision import ensure_kafka_topic, ensure_kinesis_stream
from pipelines.settings import Settings, load_settings
from pipelines.simulator import SimulationConfig, generate
from pipelines.stream_tools import read_kafka, read_kinesis

END = "2026-11-20T00:00:00Z"


def _settings(*overrides: str) -> Settings:
    return load_settings(None, list(overrides))


def _expected(events: int, seed: int = 7, bad_fraction: float = 0.0) -> list[tuple[str, bytes]]:
    config = SimulationConfig(
        events=events, seed=seed, end_time=dt.datetime.fromisoformat(END), bad_fraction=bad_fraction
    )
    return [(record.partition_key, record.data) for record in generate(config)]


def test_produce_to_kinesis_puts_every_simulated_record(moto_server: MotoServer, unique_name: str) -> None:
    ensure_kinesis_stream(unique_name, 4)
    settings = _settings(f"source.stream={unique_name}")
    report = produce(settings, ProduceOptions(events=3000, target="kinesis", end_time=END, bad_fraction=0.1))
    assert report.sent == 3000
    assert report.kinds["valid"] + report.kinds["late"] + report.kinds["duplicate"] < 3000
    assert "kinesis stream" in report.summary()
    assert "3000 records" in report.summary()
    assert sorted(read_kinesis(unique_name)) == sorted(_expected(3000, bad_fraction=0.1))


def test_produce_to_kafka_delivers_every_simulated_record(kafka_broker: KafkaBroker, unique_name: str) -> None:
    ensure_kafka_topic(kafka_broker.bootstrap, unique_name, 4)
    settings = _settings(
        "source.kind=kafka", f"source.kafka_bootstrap={kafka_broker.bootstrap}", f"source.kafka_topic={unique_name}"
    )
    report = produce(settings, ProduceOptions(events=3000, end_time=END))
    assert report.target == "kafka"
    assert report.sent == 3000
    assert sorted(read_kafka(kafka_broker.bootstrap, unique_name)) == sorted(_expected(3000))


def test_a_file_replayed_to_kinesis_arrives_byte_identical(
    moto_server: MotoServer, unique_name: str, tmp_path: Path
) -> None:
    ensure_kinesis_stream(unique_name, 2)
    settings = _settings(f"source.stream={unique_name}")
    path = tmp_path / "events.jsonl"
    written = produce(settings, ProduceOptions(events=1500, bad_fraction=0.3, target="file", output=path, end_time=END))
    replayed = produce(settings, ProduceOptions(replay=path, target="kinesis"))
    assert written.sent == replayed.sent == 1500
    assert "replayed" in replayed.summary()
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert len(lines) == 1501
    arrived = sorted(read_kinesis(unique_name))
    assert arrived == sorted((partition_key_of(line), line) for line in lines[:-1])
    # Parseable events keep their order_id as partition key, exactly as when simulated.
    keys = {data: key for key, data in arrived}
    config = SimulationConfig(events=1500, end_time=dt.datetime.fromisoformat(END), bad_fraction=0.3)
    for record in generate(config):
        if record.kind in ("valid", "late", "duplicate"):
            assert keys[record.data] == record.partition_key


def test_the_cli_writes_identical_files_for_one_seed(tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b", "c"):
        seed = "5" if name != "c" else "6"
        out = tmp_path / f"{name}.jsonl"
        argv = ["produce", "--target", "file", "--output", str(out), "--events", "800", "--seed", seed]
        assert main([*argv, "--bad-fraction", "0.1", "--end-time", END]) == 0
        runs.append(out.read_bytes())
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert runs[0].count(b"\n") == 800


def test_the_cli_says_to_run_setup_when_the_stream_is_missing(
    moto_server: MotoServer, unique_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["produce", "--events", "10", "--set", f"source.stream={unique_name}", "--target", "kinesis"])
    assert code == 1
    assert f"Kinesis stream '{unique_name}' does not exist" in capsys.readouterr().err


def test_impossible_options_are_clear_errors(tmp_path: Path) -> None:
    settings = _settings()
    with pytest.raises(ProduceError, match="--events"):
        produce(settings, ProduceOptions(events=-1, target="file", output=tmp_path / "x"))
    with pytest.raises(ProduceError, match="--bad-fraction"):
        produce(settings, ProduceOptions(bad_fraction=1.5, target="file", output=tmp_path / "x"))
    with pytest.raises(ProduceError, match="needs --output"):
        produce(settings, ProduceOptions(events=5, target="file"))
    with pytest.raises(ProduceError, match="offset"):
        produce(
            settings, ProduceOptions(events=5, target="file", output=tmp_path / "x", end_time="2026-11-20T00:00:00")
        )
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{"order_id":"ord-1"}\n')
    with pytest.raises(ProduceError, match="erase"):
        produce(settings, ProduceOptions(replay=source, target="file", output=source))
    assert source.read_bytes() == b'{"order_id":"ord-1"}\n'
    with pytest.raises(ProduceError, match="not found"):
        produce(settings, ProduceOptions(replay=tmp_path / "missing.jsonl", target="file", output=tmp_path / "y"))


def test_the_rate_caps_records_per_second(tmp_path: Path) -> None:
    started = time.monotonic()
    report = produce(_settings(), ProduceOptions(events=400, rate=1000, target="file", output=tmp_path / "r.jsonl"))
    elapsed = time.monotonic() - started
    assert report.sent == 400
    # 400 records at 1000/s after a burst of 200: at least 0.2 s.
    assert elapsed >= 0.2


def test_the_token_bucket_waits_exactly_for_the_missing_tokens() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(100, burst=10, clock=lambda: now[0], sleep=sleep)
    for _ in range(30):
        limiter.acquire(10)
    assert now[0] == pytest.approx(2.9)


@pytest.mark.slow
def test_100k_events_reach_kinesis_in_under_a_minute(moto_server: MotoServer, unique_name: str) -> None:
    ensure_kinesis_stream(unique_name, 4)
    report = produce(_settings(f"source.stream={unique_name}"), ProduceOptions(events=100_000, target="kinesis"))
    assert report.seconds < 60
    assert len(read_kinesis(unique_name)) == 100_000


@pytest.mark.slow
def test_100k_events_reach_kafka_in_under_a_minute(kafka_broker: KafkaBroker, unique_name: str) -> None:
    ensure_kafka_topic(kafka_broker.bootstrap, unique_name, 4)
    settings = _settings(f"source.kafka_bootstrap={kafka_broker.bootstrap}", f"source.kafka_topic={unique_name}")
    report = produce(settings, ProduceOptions(events=100_000, target="kafka"))
    assert report.seconds < 60
    assert len(read_kafka(kafka_broker.bootstrap, unique_name)) == 100_000
