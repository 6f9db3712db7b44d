"""Exact webhook verification, the OAuth spec, and the `[ledgers.exact]` settings."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from adapters.exact import OAUTH_SPEC
from adapters.exact import WEBHOOKS
from adapters.exact.auth import COUNTRY_HOSTS
from adapters.exact.auth import ExactSettings
from adapters.exact.auth import oauth_urls
from adapters.exact.auth import settings_from
from adapters.exact.webhooks import signature
from connector import registry
from connector.errors import ConfigError
from connector.errors import WebhookRejected
from connector.oauth.config import resolve_spec
from connector.ports import LedgerHint

SECRET = "webhook-secret"  # noqa: S105 - a test value


def delivery(content: dict[str, object], secret: str = SECRET, *, case: str = "upper") -> bytes:
    text = json.dumps(content, separators=(",", ":"))
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    digest = digest.upper() if case == "upper" else digest
    return ('{"Content":' + text + ',"HashCode":"' + digest + '"}').encode()


CONTENT = {
    "Topic": "FinancialTransactions",
    "ClientId": "c1",
    "Division": 101,
    "Action": "Update",
    "Key": "bbbbbbbb-0000-0000-0000-000000000001",
    "ExactOnlineEndpoint": "https://start.exactonline.nl/api/v1/101/...",
}


def test_a_signed_delivery_is_a_hint_to_reread() -> None:
    hints = WEBHOOKS.verify(delivery(CONTENT), {}, [SECRET], 0.0)
    assert hints == [LedgerHint("101", "item", CONTENT["Key"])]
    accounts = {**CONTENT, "Topic": "Accounts"}
    assert WEBHOOKS.verify(delivery(accounts), {}, [SECRET], 0.0)[0].kind == "debtor"


def test_the_hash_is_over_the_raw_content_text() -> None:
    # Whitespace inside Content is part of what was signed: it must not be re-serialised.
    text = '{ "Topic": "Accounts", "Division": 101, "Key": "k" }'
    digest = signature(text.encode(), SECRET)
    body = ('{"Content":' + text + ',"HashCode":"' + digest + '"}').encode()
    assert WEBHOOKS.verify(body, {}, [SECRET], 0.0)[0].record_id == "k"
    tampered = body.replace(b'"k"', b'"x"')
    with pytest.raises(WebhookRejected) as caught:
        WEBHOOKS.verify(tampered, {}, [SECRET], 0.0)
    assert caught.value.status == 401


def test_the_empty_validation_post_is_accepted() -> None:
    assert WEBHOOKS.verify(b"", {}, [SECRET], 0.0) == []
    assert WEBHOOKS.verify(b"  \r\n", {}, [], 0.0) == []


@pytest.mark.parametrize(
    ("body", "secrets", "status"),
    [
        pytest.param(delivery(CONTENT, "other"), [SECRET], 401, id="wrong-secret"),
        pytest.param(delivery(CONTENT, case="lower"), [SECRET], 401, id="lower-case-hex"),
        pytest.param(delivery(CONTENT), [], 401, id="no-secret-configured"),
        pytest.param(b'{"Content":{}}', [SECRET], 400, id="no-hashcode"),
        pytest.param(b"not json", [SECRET], 400, id="garbage"),
        pytest.param(delivery({"Topic": "Accounts"}), [SECRET], 400, id="no-key"),
    ],
)
def test_bad_deliveries_are_rejected(body: bytes, secrets: list[str], status: int) -> None:
    with pytest.raises(WebhookRejected) as caught:
        WEBHOOKS.verify(body, {}, secrets, 0.0)
    assert caught.value.status == status


def test_secrets_can_rotate() -> None:
    assert WEBHOOKS.verify(delivery(CONTENT, "new"), {}, ["old", "new"], 0.0)


def test_the_oauth_spec_keeps_exacts_token_rules() -> None:
    assert OAUTH_SPEC.min_token_age_seconds == 570
    assert OAUTH_SPEC.refresh_leeway_seconds == 30  # 600 - 30 = 570: refreshed at once
    assert OAUTH_SPEC.keepalive_seconds is not None and OAUTH_SPEC.keepalive_seconds < 30 * 86400
    assert OAUTH_SPEC.authorize_url == "https://start.exactonline.nl/api/oauth2/auth"
    assert OAUTH_SPEC.token_url == "https://start.exactonline.nl/api/oauth2/token"
    assert not OAUTH_SPEC.pkce and OAUTH_SPEC.scopes == ()


def test_the_registry_finds_the_exact_ledger_and_its_spec() -> None:
    assert registry.ledger_oauth_spec("exact") is OAUTH_SPEC
    assert registry.ledger_factory("exact").__module__ == "adapters.exact"


def test_oauth_urls_follow_the_country_host_unless_set() -> None:
    be = resolve_spec("exact", OAUTH_SPEC, {"api_url": COUNTRY_HOSTS["BE"]})
    assert (be.authorize_url, be.token_url) == oauth_urls("https://start.exactonline.be")
    own = resolve_spec(
        "exact",
        OAUTH_SPEC,
        {"api_url": COUNTRY_HOSTS["DE"], "token_url": "https://login.example/token"},
    )
    assert own.authorize_url == "https://start.exactonline.de/api/oauth2/auth"
    assert own.token_url == "https://login.example/token"
    assert resolve_spec("exact", OAUTH_SPEC, {}).token_url == OAUTH_SPEC.token_url


def test_settings_defaults_and_checks() -> None:
    settings = settings_from({})
    assert settings == ExactSettings()
    assert settings.api_url == "https://start.exactonline.nl"
    assert settings.match_payments == "none"
    assert settings.breaker_errors < 10
    full = settings_from(
        {
            "api_url": "https://start.exactonline.co.uk/",
            "divisions": [101, "102"],
            "payment_journal": " 20 ",
            "payment_journals": {"102": "21"},
            "match_payments": "xml",
            "receivables_gl_code": "1300",
            "daily_budget": 3000,
        }
    )
    assert full.api_url == "https://start.exactonline.co.uk"
    assert full.divisions == ("101", "102")
    assert full.journal_for("101") == "20" and full.journal_for("102") == "21"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param({"api_url": "start.exactonline.nl"}, "api_url", id="no-scheme"),
        pytest.param({"match_payments": "auto"}, "match_payments", id="unknown-match"),
        pytest.param({"receivables_gl_codes": {"101": ""}}, "receivables_gl_codes", id="gl-codes"),
        pytest.param({"breaker_errors": 10}, "below 10", id="breaker-at-block"),
        pytest.param({"divisions": ["abc"]}, "divisions", id="divisions"),
        pytest.param({"payment_gl_account": "1300"}, "receivables_gl_code", id="gl-guid"),
        pytest.param({"daily_reserve": -1}, "daily_reserve", id="negative"),
        pytest.param({"payment_journals": {"x": "20"}}, "payment_journals", id="journals"),
        pytest.param({"webhook_topics": "Accounts"}, "webhook_topics", id="topics"),
    ],
)
def test_bad_settings_name_the_key(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from(config)
