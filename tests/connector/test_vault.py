"""The token vault: Fernet with several keys, rotation, and clear errors that leak nothing."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from types import MappingProxyType

import pytest
from sqlalchemy import select

from connector.errors import ConfigError
from connector.oauth import records
from connector.oauth.client import TokenSet
from connector.oauth.service import OAuthLedgers
from connector.payments.tables import provider_secrets
from connector.payments.tables import webhook_endpoints
from connector.settings import Settings
from connector.store import records as store_records
from connector.store.schema import connection_tokens
from connector.store.tables import all_metadata
from connector.vault import UndecryptableToken
from connector.vault import Vault
from connector.vault import new_key
from connector.vault import rotate_stored
from connector.vault import stored_ciphertexts

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
TOKEN = "access-3f9a1c7e5b2d4068"  # noqa: S105 - test data


def test_encrypts_and_decrypts_and_hides_the_plaintext():
    vault = Vault([new_key()])
    sealed = vault.encrypt(TOKEN)
    assert TOKEN not in sealed and sealed.startswith("gAAAAA")
    assert vault.encrypt(TOKEN) != sealed  # fresh IV every time
    assert vault.decrypt(sealed) == TOKEN


def test_missing_key_is_a_configuration_error():
    for environ in ({}, {"CONNECTOR_SECRET_KEY": ""}, {"CONNECTOR_SECRET_KEY": " , "}):
        with pytest.raises(ConfigError, match="CONNECTOR_SECRET_KEY is not set") as err:
            Vault.from_environ(environ)
        assert err.value.exit_code == 2


def test_a_malformed_key_is_named_by_position_never_shown():
    good = new_key()
    bad = "not-a-fernet-key-but-a-password-123"
    with pytest.raises(ConfigError, match="key 2 of 2 is not a Fernet key") as err:
        Vault.from_environ({"CONNECTOR_SECRET_KEY": f"{good},{bad}"})
    assert bad not in str(err.value) and good not in str(err.value)


def test_the_first_key_encrypts_every_key_decrypts_and_rotate_moves_to_the_first():
    old, new = new_key(), new_key()
    sealed_old = Vault([old]).encrypt(TOKEN)
    both = Vault.from_environ({"CONNECTOR_SECRET_KEY": f"{new}, {old}"})
    assert both.decrypt(sealed_old) == TOKEN
    assert Vault([new]).decrypt(both.encrypt(TOKEN)) == TOKEN
    rotated = both.rotate(sealed_old)
    assert Vault([new]).decrypt(rotated) == TOKEN
    with pytest.raises(UndecryptableToken):
        Vault([old]).decrypt(rotated)


def test_a_wrong_key_is_a_clear_configuration_error():
    sealed = Vault([new_key()]).encrypt(TOKEN)
    wrong = new_key()
    vault = Vault([wrong])
    with pytest.raises(ConfigError, match="cannot decrypt the tokens of connection 3") as err:
        vault.decrypt(sealed, what="the tokens of connection 3")
    assert "set the key it was encrypted with" in str(err.value)
    with pytest.raises(ConfigError, match="cannot decrypt the stored secrets of a, b: set the key"):
        vault.check([("a", sealed), ("a", sealed), ("b", "garbage")])
    vault.check([("c", vault.encrypt(TOKEN))])  # a key that opens everything passes
    assert wrong not in repr(vault) and repr(vault) == "Vault(keys=1)"


def _store_secrets(store, vault: Vault) -> None:
    """A connection's tokens and a payment provider's webhook secret."""
    with store.begin() as conn:
        connection = store_records.save_connection(
            conn, name="acme", ledger="exact", config={}, now=NOW
        )
        tokens = TokenSet(TOKEN, "refresh-77", None, NOW)
        records.save_tokens(conn, connection.id, tokens, vault, NOW, refreshed=False)
        endpoint = conn.execute(
            webhook_endpoints.insert().values(name="acme", token_hash="h" * 64, created_at=NOW)
        ).inserted_primary_key[0]
        conn.execute(
            provider_secrets.insert().values(
                endpoint_id=endpoint,
                provider="stripe",
                secret=vault.encrypt("whsec_123"),
                created_at=NOW,
            )
        )


def test_rotation_re_encrypts_everything_in_the_store(store):
    old, new = new_key(), new_key()
    _store_secrets(store, Vault([old]))
    both = Vault([new, old])
    with store.begin() as conn:
        whats = sorted({what for what, _ in stored_ciphertexts(conn, all_metadata())})
    assert whats == ["connection_tokens 1", "provider_secrets 1"]
    with store.begin(immediate=True) as conn:
        assert rotate_stored(conn, both, all_metadata()) == 2
    only_new = Vault([new])
    with store.begin() as conn:
        only_new.check(stored_ciphertexts(conn, all_metadata()))
        with pytest.raises(ConfigError, match="connection_tokens 1, provider_secrets 1"):
            Vault([old]).check(stored_ciphertexts(conn, all_metadata()))
        row = conn.execute(select(connection_tokens)).one()
        secret = conn.execute(select(provider_secrets.c.secret)).scalar_one()
    assert only_new.decrypt(row.access_token_enc) == TOKEN
    assert only_new.decrypt(row.refresh_token_enc) == "refresh-77"
    assert only_new.decrypt(secret) == "whsec_123"


def test_opening_the_vault_checks_the_stored_tokens(store):
    key = new_key()
    _store_secrets(store, Vault([key]))
    settings = Settings(database_url="unused", raw=MappingProxyType({}))
    wrong = OAuthLedgers(settings, store, {"CONNECTOR_SECRET_KEY": new_key()})
    with pytest.raises(ConfigError, match="cannot decrypt the stored secrets of connection_tokens"):
        _ = wrong.vault
    assert OAuthLedgers(settings, store, {"CONNECTOR_SECRET_KEY": key}).vault.key_count == 1
    with pytest.raises(ConfigError, match="CONNECTOR_SECRET_KEY is not set"):
        _ = OAuthLedgers(settings, store, {}).vault
