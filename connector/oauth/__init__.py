"""OAuth2 connections: sign-in, encrypted tokens, and refresh that never loses a token.

- `flow`: the authorization-code flow (state always checked, PKCE S256 where the ledger
  takes it), for the CLI (`loopback`) and the hosted app alike.
- `tokens`: `ConnectionTokens`, the `AccessTokens` port for one connection, with the
  per-connection cross-process refresh lock.
- `service`: `OAuthLedgers`, which wires specs, clients, the vault and ledgers, and the
  keep-alive.
- `client`: the token endpoint through authlib; `records`: the stored tokens.
"""

from __future__ import annotations

from connector.oauth.client import OAuthClient
from connector.oauth.client import TokenSet
from connector.oauth.service import OAuthLedgers
from connector.oauth.service import keep_alive
from connector.oauth.tokens import ConnectionTokens

__all__ = ["ConnectionTokens", "OAuthClient", "OAuthLedgers", "TokenSet", "keep_alive"]
