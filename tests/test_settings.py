from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from pipelines.settings import Settings, SettingsError, load_settings

REPO = Path(__file__).resolve().parents[1]


def test_local_conf_equals_the_built_in_defaults() -> None:
    assert load_settings(REPO / "conf" / "local.yaml") == Settings()


@pytest.mark.parametrize("name", ["local.yaml", "emr.yaml", "glue.yaml"])
def test_every_shipped_conf_file_loads(name: str) -> None:
    settings = load_settings(REPO / "conf" / name)
    assert settings.source.kind == "kinesis"


def test_contract_keys_are_set_exactly_as_named() -> None:
    settings = load_settings(
        REPO / "conf" / "local.yaml",
        [
            "lake.root=s3://bucket/lake",
            "lake.checkpoints=/tmp/cp",
            "source.kind=kafka",
            "source.stream=orders-x",
            "source.starting_position=LATEST",
            "source.kafka_bootstrap=b-1.msk:9098",
            "source.kafka_topic=orders-y",
            "alerts.topic=arn:aws:sns:eu-west-1:123456789012:alerts",
        ],
    )
    assert settings.lake.root == "s3://bucket/lake"
    assert settings.lake.on_s3
    assert settings.lake.checkpoints == "/tmp/cp"
    assert settings.source.kind == "kafka"
    assert settings.source.stream == "orders-x"
    assert settings.source.starting_position == "LATEST"
    assert settings.source.kafka_bootstrap == "b-1.msk:9098"
    assert settings.source.kafka_topic == "orders-y"
    assert settings.alerts.topic == "arn:aws:sns:eu-west-1:123456789012:alerts"


def test_later_overrides_win_and_values_are_typed() -> None:
    settings = load_settings(None, ["source.shards=2", "source.shards=8", "producer.rate=250.5"])
    assert settings.source.shards == 8
    assert settings.producer.rate == 250.5


def test_timestamp_starting_position_stays_a_string() -> None:
    settings = load_settings(None, ["source.starting_position=2026-11-20T10:00:00+01:00"])
    assert settings.source.starting_position == "2026-11-20T10:00:00+01:00"


def test_earliest_is_accepted_as_trim_horizon() -> None:
    assert load_settings(None, ["source.starting_position=earliest"]).source.starting_position == "TRIM_HORIZON"


def test_unknown_key_names_the_key_and_suggests_the_close_one() -> None:
    with pytest.raises(SettingsError, match=r"unknown setting 'source.strem' \(did you mean 'source.stream'\?\)"):
        load_settings(None, ["source.strem=x"])


def test_unknown_key_in_a_file_is_reported(tmp_path: Path) -> None:
    conf = tmp_path / "bad.yaml"
    conf.write_text("lake:\n  rot: /tmp/x\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"unknown setting 'lake.rot' \(did you mean 'lake.root'\?\)"):
        load_settings(conf)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("source.kind=kinesis2", "source.kind"),
        ("source.shards=0", "greater than or equal to 1"),
        ("source.starting_position=yesterday", "RFC 3339"),
        ("source.starting_position=2026-11-20T10:00:00", "needs an offset"),
        ("stream.trigger=every minute", "available-now"),
        ("producer.bad_fraction=1.5", "producer.bad_fraction"),
        ("lake.root=", "must not be empty"),
    ],
)
def test_bad_values_fail_with_the_key_and_the_reason(override: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(None, [override])


def test_override_without_equals_sign_is_rejected() -> None:
    with pytest.raises(SettingsError, match=r"dotted\.key=value"):
        load_settings(None, ["source.kind"])


def test_a_section_cannot_be_set_as_a_value() -> None:
    with pytest.raises(SettingsError, match="is a section"):
        load_settings(None, ["source=kafka"])


def test_mapping_settings_take_dotted_keys_below_them() -> None:
    settings = load_settings(
        None, ["spark.conf.spark.executor.memory=4g", "source.options.kafka.security.protocol=SSL"]
    )
    assert settings.spark.conf == {"spark.executor.memory": "4g"}
    assert settings.source.options == {"kafka.security.protocol": "SSL"}


def test_missing_conf_file_is_an_error_when_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "nope.yaml")


def test_a_conf_file_that_is_not_a_mapping_is_rejected(tmp_path: Path) -> None:
    conf = tmp_path / "list.yaml"
    conf.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="must hold a mapping"):
        load_settings(conf)


def test_settings_are_immutable_values() -> None:
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.lake.root = "elsewhere"  # type: ignore[misc]


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(_keys(annotation, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


def test_every_settings_key_is_documented() -> None:
    documented = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    missing = [key for key in _keys(Settings) if f"`{key}`" not in documented]
    assert missing == []
