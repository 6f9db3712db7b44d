from __future__ import annotations

import pytest

from connector.cli.context import Context
from connector.cli.dunning import payment_links
from connector.errors import ConfigError
from connector.payments.links import StoreLinkStore
from connector.store import Store


def test_links_are_kept_once_per_key(store: Store):
    links = StoreLinkStore(store)
    assert links.get("k1") is None
    links.put("k1", "https://pay.example/1")
    links.put("k1", "https://pay.example/other")  # a second put never replaces the first
    assert links.get("k1") == "https://pay.example/1"


@pytest.fixture
def ctx(store_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)

    made: list[Context] = []

    def make(config: str) -> Context:
        (tmp_path / "connector.toml").write_text(config)
        made.append(Context(config_path=str(tmp_path / "connector.toml"), debug=False))
        return made[-1]

    yield make
    for context in made:
        context.close()


def test_payment_links_from_config(ctx, monkeypatch):
    assert payment_links(ctx("")) is None
    monkeypatch.setenv("CONNECTOR_STRIPE_API_KEY", "sk_test_123")
    links = payment_links(ctx('[payment_links]\nprovider = "stripe"\n'))
    assert type(links).__name__ == "StripePaymentLinks"
    assert any(isinstance(v, StoreLinkStore) for v in vars(links).values())


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('[payment_links]\nprovider = "stripe"\n', "CONNECTOR_STRIPE_API_KEY is not set"),
        ('[payment_links]\nprovider = "adyen"\n', "adyen cannot make payment links"),
        ('[payment_links]\nprovider = "paypal"\n', "unknown payment provider 'paypal'"),
    ],
)
def test_payment_link_settings_errors(ctx, monkeypatch, config, message):
    monkeypatch.delenv("CONNECTOR_STRIPE_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=message):
        payment_links(ctx(config))
