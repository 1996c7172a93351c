from __future__ import annotations

import pytest

from pipelines import cli


def test_help_lists_every_contract_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "setup", "produce", "stream", "batch", "query"):
        assert command in out


def test_every_batch_job_the_parser_accepts_has_a_runner() -> None:
    assert set(cli.BATCH_JOBS) == set(cli.BATCH_RUNNERS)


def test_settings_errors_exit_2_with_the_key_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["setup", "--set", "source.shard=3"]) == cli.EXIT_USAGE
    assert "did you mean 'source.shards'" in capsys.readouterr().err


def test_common_options_work_before_and_after_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--set", "source.kind=nope", "setup"]) == cli.EXIT_USAGE
    assert "source.kind" in capsys.readouterr().err
    assert cli.main(["setup", "--set", "source.kind=nope"]) == cli.EXIT_USAGE
    assert "source.kind" in capsys.readouterr().err


def test_unknown_batch_job_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["batch", "nightly"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
