"""The token vault: OAuth tokens are stored only Fernet-encrypted.

The key comes from `CONNECTOR_SECRET_KEY`: one Fernet key, or several separated by commas.
The first key encrypts; every key decrypts, so a new key can be put in front of the old one
and `connector secrets rotate` then re-encrypts everything with it, after which the old key
can go. Neither the keys nor anything decrypted ever appears in a repr, a log line or an
error message.

Every encrypted column of the store is marked `info={ENCRYPTED: True}` (see
connector.store.schema); `stored_ciphertexts` and `rotate_stored` find them all by that
mark, whichever part of the connector owns the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
from cryptography.fernet import MultiFernet
from sqlalchemy import Column
from sqlalchemy import Connection
from sqlalchemy import MetaData
from sqlalchemy import Table
from sqlalchemy import and_
from sqlalchemy import select
from sqlalchemy import update

from connector.errors import ConfigError
from connector.store.schema import ENCRYPTED

KEY_ENV = "CONNECTOR_SECRET_KEY"
NEW_KEY_HINT = "make one with: connector secrets new-key"


class UndecryptableToken(ConfigError):
    """A stored value that none of the configured keys can decrypt."""


def new_key() -> str:
    """A fresh Fernet key (32 random bytes, url-safe base64)."""
    return Fernet.generate_key().decode("ascii")


class Vault:
    """Encrypts and decrypts token strings with the configured keys."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            msg = f"{KEY_ENV} is not set; it encrypts the stored tokens ({NEW_KEY_HINT})"
            raise ConfigError(msg)
        fernets: list[Fernet] = []
        for number, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.encode("ascii")))
            except (ValueError, UnicodeEncodeError):
                msg = (
                    f"{KEY_ENV}: key {number} of {len(keys)} is not a Fernet key "
                    f"(44 characters of url-safe base64); {NEW_KEY_HINT}"
                )
                raise ConfigError(msg) from None
        self._fernet = MultiFernet(fernets)
        self.key_count = len(fernets)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Vault:
        """The vault for `CONNECTOR_SECRET_KEY`.

        Raises:
            ConfigError: the variable is missing, empty or holds something that is not a key.
        """
        keys = [k.strip() for k in environ.get(KEY_ENV, "").split(",") if k.strip()]
        return cls(keys)

    def __repr__(self) -> str:
        return f"Vault(keys={self.key_count})"

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str, *, what: str = "a stored secret") -> str:
        """The plaintext of `ciphertext`.

        Raises:
            UndecryptableToken: no configured key opens it (a wrong or missing old key).
        """
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise UndecryptableToken(self._cannot_decrypt(what)) from None

    def rotate(self, ciphertext: str, *, what: str = "a stored secret") -> str:
        """`ciphertext` re-encrypted with the first key."""
        try:
            return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise UndecryptableToken(self._cannot_decrypt(what)) from None

    def check(self, ciphertexts: Iterable[tuple[str, str]]) -> None:
        """Refuse to start with keys that cannot open the stored tokens.

        `ciphertexts` are (what, ciphertext) pairs, e.g. ("connection_tokens 3", "gAAAA...").

        Raises:
            UndecryptableToken: naming every value that cannot be decrypted.
        """
        failed = []
        for what, ciphertext in ciphertexts:
            try:
                self._fernet.decrypt(ciphertext.encode("ascii"))
            except (InvalidToken, UnicodeError):
                failed.append(what)
        failed = list(dict.fromkeys(failed))
        if failed:
            more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
            shown = ", ".join(failed[:10]) + more
            raise UndecryptableToken(self._cannot_decrypt(f"the stored secrets of {shown}"))

    def _cannot_decrypt(self, what: str) -> str:
        return (
            f"{KEY_ENV} cannot decrypt {what}: set the key it was encrypted "
            "with (after a new key, comma-separated, until `connector secrets rotate` has run)"
        )


# --- every encrypted value in the store ---------------------------------------------------


def _encrypted(metadata: MetaData) -> Iterator[tuple[Table, list[Column[Any]]]]:
    for table in metadata.sorted_tables:
        columns = [c for c in table.columns if c.info.get(ENCRYPTED)]
        if columns:
            yield table, columns


def _what(table: Table, row: Any) -> str:
    return f"{table.name} " + "/".join(str(row._mapping[c.name]) for c in table.primary_key)


def stored_ciphertexts(conn: Connection, metadata: MetaData) -> Iterator[tuple[str, str]]:
    """(what, ciphertext) for every value of every encrypted column, for `Vault.check`."""
    for table, columns in _encrypted(metadata):
        for row in conn.execute(select(*table.primary_key.columns, *columns)):
            for column in columns:
                value = row._mapping[column.name]
                if value:
                    yield _what(table, row), value


def rotate_stored(conn: Connection, vault: Vault, metadata: MetaData) -> int:
    """Re-encrypt every encrypted value with the first key; returns the rows rewritten.

    The rows are locked first (FOR UPDATE on PostgreSQL; on SQLite call this inside
    `Store.begin(immediate=True)`), so a token refresh elsewhere waits or went before.
    """
    rewritten = 0
    for table, columns in _encrypted(metadata):
        keys = list(table.primary_key.columns)
        rows = conn.execute(select(*keys, *columns).with_for_update()).all()
        for row in rows:
            what = _what(table, row)
            values = {
                c.name: vault.rotate(row._mapping[c.name], what=f"the stored secrets of {what}")
                for c in columns
                if row._mapping[c.name]
            }
            if values:
                match = and_(*(k == row._mapping[k.name] for k in keys))
                conn.execute(update(table).where(match).values(**values))
                rewritten += 1
    return rewritten
