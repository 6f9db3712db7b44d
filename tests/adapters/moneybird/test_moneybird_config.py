"""The Moneybird plug-in as the core finds it: entry point, OAuth spec, settings."""

from __future__ import annotations

import logging
from datetime import date

import pytest

import adapters.moneybird as plugin
from adapters.moneybird.auth import settings_from_config
from connector import registry
from connector.errors import ConfigError
from connector.ports import Ledger
from tests.fakes.moneybird import StubTokens


def test_registered_with_its_oauth_spec() -> None:
    assert registry.ledger_factory("moneybird") is plugin.create_ledger
    spec = registry.ledger_oauth_spec("moneybird")
    assert spec is plugin.OAUTH_SPEC
    assert spec.authorize_url == "https://moneybird.com/oauth/authorize"
    assert spec.token_url == "https://moneybird.com/oauth/token"
    assert spec.scopes == ("sales_invoices",)
    assert spec.pkce is False  # Moneybird documents no PKCE
    assert spec.token_auth == "client_secret_post"


def test_factory_takes_the_core_keys_and_real_defaults(caplog) -> None:
    caplog.set_level(logging.WARNING)
    config = {
        "authorize_url": "http://127.0.0.1:1/oauth/authorize",
        "token_url": "http://127.0.0.1:1/oauth/token",
        "scopes": ["sales_invoices"],
    }
    ledger: Ledger = plugin.create_ledger(config, tokens=StubTokens())
    assert ledger.name == "moneybird"
    settings = ledger.settings  # type: ignore[attr-defined]
    assert settings.api_url == "https://moneybird.com/api/v2"
    assert (settings.rate_limit_requests, settings.rate_limit_window_seconds) == (150, 300.0)
    assert settings.open_items_since == date(2000, 1, 1)
    assert caplog.text == ""


def test_settings_are_read_and_checked(caplog) -> None:
    settings = settings_from_config(
        {
            "api_url": "http://127.0.0.1:5000/api/v2/",
            "rate_limit_requests": 30,
            "rate_limit_window_seconds": 1.5,
            "open_items_since": "2015-01-01",
            "payment_action": "payment_without_proof",
            "payment_financial_account_id": 4711,
            "dispute_assignee_id": "12",
            "typo_setting": 1,
        }
    )
    assert settings.api_url == "http://127.0.0.1:5000/api/v2"
    assert (settings.rate_limit_requests, settings.rate_limit_window_seconds) == (30, 1.5)
    assert settings.open_items_since == date(2015, 1, 1)
    assert settings.payment_financial_account_id == "4711"
    assert "typo_setting" in caplog.text


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("api_url", "moneybird.com", "http(s) URL"),
        ("rate_limit_requests", 0, "number > 0"),
        ("rate_limit_requests", 1.5, "whole number"),
        ("rate_limit_window_seconds", "300", "number > 0"),
        ("max_attempts", True, "number > 0"),
        ("open_items_since", "2000-13-01", "a date"),
        ("payment_action", "wire", "expected one of"),
        ("dispute_assignee_id", "jan", "Moneybird id"),
    ],
)
def test_bad_settings_are_one_clear_line(key: str, value: object, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_config({key: value})
    assert f"[ledgers.moneybird] {key}" in str(caught.value)
    assert words in str(caught.value)
