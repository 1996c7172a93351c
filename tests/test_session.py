from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pipelines.session import JavaNotFoundError, check_java, java_major_version


def _fake_java(folder: Path, version_line: str) -> Path:
    java = folder / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n", encoding="utf-8")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    return java


@pytest.mark.parametrize(
    ("line", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "21" 2023-09-19', 21),
    ],
)
def test_java_major_version_reads_old_and_new_version_strings(tmp_path: Path, line: str, major: int) -> None:
    assert java_major_version(str(_fake_java(tmp_path, line))) == major


def test_missing_java_is_reported_with_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JavaNotFoundError, match="needs Java 17 or newer and none was found"):
        check_java()


def test_old_java_is_reported_with_its_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_java(tmp_path, 'java version "1.8.0_392"')
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(JavaNotFoundError, match="is version 8"):
        check_java()


def test_local_session_is_small_utc_and_on_loopback(spark) -> None:  # type: ignore[no-untyped-def]
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.sql.session.timeZone") == "UTC"
    assert conf.get("spark.ui.enabled") == "false"
    assert conf.get("spark.driver.host") == "127.0.0.1"
    assert spark.conf.get("spark.sql.shuffle.partitions") == "2"


def test_a_job_inside_a_running_session_gets_it_unchanged(spark) -> None:  # type: ignore[no-untyped-def]
    from pipelines.session import get_spark
    from pipelines.settings import SparkSettings

    again = get_spark("another-job", SparkSettings(shuffle_partitions=64))
    # PySpark may hand out a new wrapper of the same session: what matters is the session behind it.
    assert again.sparkContext is spark.sparkContext
    assert again.conf.get("spark.sql.shuffle.partitions") == "2"
    assert spark.conf.get("spark.sql.shuffle.partitions") == "2"


def test_the_session_reads_both_stream_sources(spark) -> None:  # type: ignore[no-untyped-def]
    from pipelines.sources.reader import KINESIS_FORMAT, PYTHON_KAFKA_FORMAT

    for name in (KINESIS_FORMAT, PYTHON_KAFKA_FORMAT):
        # A registered Python data source resolves its schema without reaching any stream.
        columns = spark.readStream.format(name).option("stream", "s").option("topic", "t").load().columns
        assert columns
