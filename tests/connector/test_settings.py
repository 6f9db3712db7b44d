from __future__ import annotations

from pathlib import Path

import pytest

from connector.errors import ConfigError
from connector.settings import DEFAULT_DATABASE_URL
from connector.settings import load_settings


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.timezone == "Europe/Amsterdam"
    assert settings.config_path is None


def test_file_then_environment_wins(tmp_path: Path):
    config = tmp_path / "c.toml"
    config.write_text(
        'database_url = "sqlite:///x.db"\ntimezone = "Europe/Brussels"\n'
        '[ledgers.exact]\napi_url = "https://start.exactonline.be"\n'
    )
    settings = load_settings(
        {"CONNECTOR_CONFIG": str(config), "CONNECTOR_DATABASE_URL": "sqlite:///y.db"}
    )
    assert settings.database_url == "sqlite:///y.db"
    assert settings.timezone == "Europe/Brussels"
    assert settings.section("ledgers", "exact")["api_url"] == "https://start.exactonline.be"
    assert settings.section("ledgers", "moneybird") == {}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(
            'timezone = "Mars/Olympus"',
            "c.toml: timezone: expected an IANA timezone",
            id="bad-timezone",
        ),
        pytest.param(
            "sync_batch_size = 0",
            "c.toml: sync_batch_size: expected a whole number",
            id="zero-batch",
        ),
        pytest.param(
            'database_url = "::nope::"',
            "c.toml: database_url: expected a database URL",
            id="bad-url",
        ),
        pytest.param("log_level = 3", "c.toml: log_level: expected one of", id="bad-level"),
        pytest.param(
            "timezon = 'Europe/Amsterdam'",
            "c.toml: timezon: unknown key; expected one of database_url, timezone",
            id="typo",
        ),
        pytest.param("database_url = [", "not valid TOML", id="broken-toml"),
    ],
)
def test_bad_values_name_file_key_and_expectation(tmp_path: Path, content, expected):
    config = tmp_path / "c.toml"
    config.write_text(content + "\n")
    with pytest.raises(ConfigError) as err:
        load_settings({"CONNECTOR_CONFIG": str(config)})
    assert expected in str(err.value)
    assert str(config) in str(err.value)


def test_bad_environment_value_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="environment variable CONNECTOR_SYNC_BATCH_SIZE"):
        load_settings({"CONNECTOR_SYNC_BATCH_SIZE": "lots"})


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings({}, config_path=tmp_path / "missing.toml")
