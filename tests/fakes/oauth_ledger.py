"""A small OAuth ledger for tests, talking to `FakeOAuthServer`'s API with `AccessTokens`.

It is registered under the name `testledger` by patching the registry's entry-point lookup
(`register(monkeypatch)` in-process, `patched_registry()` in a subprocess): tests are not
shipped, so they get no entry point in pyproject.toml.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from importlib.metadata import EntryPoint
from typing import Any

import requests

from connector import registry
from connector.domain import Administration
from connector.errors import LedgerError
from connector.ports import AccessTokens
from connector.ports import Capabilities
from connector.ports import Feed
from connector.ports import OAuthSpec
from connector.ports import Page

NAME = "testledger"

# The "real defaults" point nowhere; tests set [ledgers.testledger] to the fake server.
OAUTH_SPEC = OAuthSpec(
    authorize_url="https://login.testledger.invalid/oauth/authorize",
    token_url="https://login.testledger.invalid/oauth/token",
    scopes=("read",),
    pkce=True,
    refresh_leeway_seconds=0.5,
    min_token_age_seconds=0.0,
    revoke_url="https://login.testledger.invalid/oauth/revoke",
    keepalive_seconds=3600,
)


class FakeOAuthLedger:
    name = NAME
    capabilities = Capabilities(oauth=True)

    def __init__(self, api_url: str, tokens: AccessTokens) -> None:
        self.api_url = api_url.rstrip("/")
        self.tokens = tokens
        self.http = requests.Session()

    def get(self, path: str) -> Any:
        token = self.tokens.access_token()
        response = self.http.get(
            f"{self.api_url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        if response.status_code == 401:
            token = self.tokens.rejected(token)
            response = self.http.get(
                f"{self.api_url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
        if response.status_code != 200:
            msg = f"testledger answered HTTP {response.status_code}"
            raise LedgerError(msg, status=response.status_code)
        return response.json()

    def administrations(self) -> Sequence[Administration]:
        return [
            Administration(external_id=a["id"], name=a["name"])
            for a in self.get("/administrations")
        ]

    def debtors(self, administration, cursor):
        self.get("/ping")
        return Feed(pages=iter([Page(records=[], cursor="d")]), complete=True, total=0)

    def open_items(self, administration, cursor):
        self.get("/ping")
        return Feed(pages=iter([Page(records=[], cursor="i")]), complete=True, total=0)

    def read_items(self, administration, external_ids):
        return []

    def record_payment(self, *args, **kwargs):
        raise NotImplementedError

    def flag_dispute(self, *args, **kwargs):
        raise NotImplementedError

    def clear_dispute(self, *args, **kwargs):
        raise NotImplementedError


def create_ledger(config: Mapping[str, Any], *, tokens: AccessTokens) -> FakeOAuthLedger:
    return FakeOAuthLedger(config["api_url"], tokens)


ENTRY_POINT = EntryPoint(name=NAME, value=f"{__name__}:create_ledger", group=registry.LEDGER_GROUP)


def _with_test_ledger(original):
    def entry_points(group: str) -> dict[str, EntryPoint]:
        found = dict(original(group))
        if group == registry.LEDGER_GROUP:
            found[NAME] = ENTRY_POINT
        return found

    return entry_points


def register(monkeypatch) -> None:
    """Make `testledger` an installed ledger for the rest of this test."""
    monkeypatch.setattr(registry, "_entry_points", _with_test_ledger(registry._entry_points))


def patched_registry() -> None:
    """The same, for a subprocess that runs the CLI (see tests/fakes/run_cli.py)."""
    registry._entry_points = _with_test_ledger(registry._entry_points)
