"""Talking to a ledger's authorization server, with authlib's OAuth2Session.

One `OAuthClient` per ledger. Every call uses a fresh session (no shared mutable state, safe
across threads) and either returns a `TokenSet` or raises `TokenFailure`, which says what
the failure means for the stored grant:

- `DEAD_GRANT`: invalid_grant, "old refresh token used", or a refresh token that expired
  (Exact: 400 invalid_request "The refresh token expired at ..."); the grant will never
  work again.
- `RATE_LIMITED`: the endpoint asked to wait (429).
- `UNAVAILABLE`: the request did not reach the server, or it answered 5xx; nothing changed.
- `UNKNOWN_OUTCOME`: the request was sent but no answer came back; the server may have
  rotated the refresh token.
- `REJECTED`: any other refusal (wrong client credentials, a too-early refresh, ...).

A token response that carries an error and also a new `refresh_token` (Exact does that on a
rate-limited refresh) keeps that refresh token in `TokenFailure.refresh_token`, so the
caller can persist it.
"""

from __future__ import annotations

import enum
import logging
import secrets
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from urllib3.exceptions import NewConnectionError

from connector.ports import OAuthSpec

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
TIMEOUT = (5.0, 20.0)  # connect, read: well below SQLite's 30 s busy timeout


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """The connector's registration at a ledger: client id and (secret) client secret."""

    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class TokenSet:
    """An access token (and the refresh token that renews it), decrypted, in memory only."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: datetime | None  # None: the access token does not expire
    obtained_at: datetime
    token_type: str = "Bearer"  # noqa: S105 - a token type, not a secret
    scope: str = ""


class FailureKind(enum.Enum):
    DEAD_GRANT = "dead grant"
    RATE_LIMITED = "rate limited"
    UNAVAILABLE = "unavailable"
    UNKNOWN_OUTCOME = "no answer"
    REJECTED = "rejected"


class TokenFailure(Exception):
    """A token-endpoint call that gave no usable token. Its text never holds a token."""

    def __init__(
        self,
        kind: FailureKind,
        summary: str,
        *,
        status: int | None = None,
        error: str = "",
        retry_after: float | None = None,
        refresh_token: str | None = None,
    ) -> None:
        super().__init__(summary)
        self.kind = kind
        self.summary = summary
        self.status = status
        self.error = error
        self.retry_after = retry_after
        self.refresh_token = refresh_token  # a new one that came with the error, if any

    def __repr__(self) -> str:
        return f"TokenFailure({self.kind.name}, {self.summary!r})"


def _clean(text: object, secrets: tuple[str, ...], limit: int = 200) -> str:
    """A provider's error text made fit for a log line: printable, short, no secrets."""
    value = "".join(ch if ch.isprintable() else " " for ch in str(text or "")).strip()
    for secret in secrets:
        if secret:
            value = value.replace(secret, "[redacted]")
    return value[:limit]


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _is_dead_grant(error: str, description: str) -> bool:
    # Exact words an expired refresh token as invalid_request, the same error as a too-early
    # refresh ("Access token not expired"), so the description decides; only the refresh
    # token's own expiry is dead, a young access token is not.
    text = description.lower()
    return (
        error == "invalid_grant"
        or "old refresh token" in text
        or "refresh token expired" in text
        or "refresh token has expired" in text
    )


class OAuthClient:
    """The authorization-code flow and the token endpoint of one ledger."""

    def __init__(
        self,
        ledger: str,
        spec: OAuthSpec,
        credentials: ClientCredentials,
        *,
        timeout: tuple[float, float] = TIMEOUT,
        clock: Clock = utcnow,
    ) -> None:
        self.ledger = ledger
        self.spec = spec
        self.credentials = credentials
        self.timeout = timeout
        self.clock = clock

    def __repr__(self) -> str:
        return f"OAuthClient({self.ledger!r}, client_id={self.credentials.client_id!r})"

    def _session(self, **kwargs: Any) -> Any:
        return OAuth2Session(
            client_id=self.credentials.client_id,
            client_secret=self.credentials.client_secret,
            token_endpoint_auth_method=self.spec.token_auth,
            revocation_endpoint_auth_method=self.spec.token_auth,
            **kwargs,
        )

    def authorization_url(
        self, redirect_uri: str, state: str, code_verifier: str | None = None
    ) -> str:
        """Where the user approves the connection (with an S256 challenge when `pkce`)."""
        extra: dict[str, str] = dict(self.spec.authorize_params)
        if self.spec.scopes:
            extra["scope"] = " ".join(self.spec.scopes)
        if "openid" in self.spec.scopes and "nonce" not in extra:
            # OpenID Connect providers may require a nonce (Twinfield does); the ID token
            # is not used, so it only has to be unpredictable.
            extra["nonce"] = secrets.token_urlsafe(16)
        pkce = self.spec.pkce and code_verifier is not None
        session = self._session(
            redirect_uri=redirect_uri, code_challenge_method="S256" if pkce else None
        )
        with session:
            url, _state = session.create_authorization_url(
                self.spec.authorize_url,
                state=state,
                code_verifier=code_verifier if pkce else None,
                **extra,
            )
        return str(url)

    def exchange(self, code: str, redirect_uri: str, code_verifier: str | None) -> TokenSet:
        """Trade an authorization code for tokens.

        Raises:
            TokenFailure: the code was refused or the server could not be reached.
        """
        params: dict[str, str] = {"code": code, "redirect_uri": redirect_uri}
        if self.spec.pkce and code_verifier is not None:
            params["code_verifier"] = code_verifier
        return self._token_call(
            "authorization_code",
            lambda session: session.fetch_token(
                self.spec.token_url,
                grant_type="authorization_code",
                timeout=self.timeout,
                **params,
            ),
            secrets=(code, code_verifier or ""),
        )

    def refresh(self, refresh_token: str) -> TokenSet:
        """New tokens for `refresh_token`; the old refresh token is kept if none comes back.

        Raises:
            TokenFailure: see the module docstring for what each kind means.
        """
        token = self._token_call(
            "refresh_token",
            lambda session: session.refresh_token(
                self.spec.token_url, refresh_token=refresh_token, timeout=self.timeout
            ),
            secrets=(refresh_token,),
        )
        if token.refresh_token is None:
            token = TokenSet(
                access_token=token.access_token,
                refresh_token=refresh_token,
                expires_at=token.expires_at,
                obtained_at=token.obtained_at,
                token_type=token.token_type,
                scope=token.scope,
            )
        return token

    def revoke(self, token: str, hint: str = "refresh_token") -> None:
        """Revoke the token at the provider (RFC 7009).

        Raises:
            TokenFailure: no revocation endpoint, or the provider did not confirm.
        """
        if self.spec.revoke_url is None:
            msg = f"{self.ledger} offers no token revocation"
            raise TokenFailure(FailureKind.REJECTED, msg)
        try:
            with self._session() as session:
                response = session.revoke_token(
                    self.spec.revoke_url, token=token, token_type_hint=hint, timeout=self.timeout
                )
        except requests.RequestException as exc:
            raise self._transport_failure(exc, "revocation") from None
        if response.status_code != 200:
            error, description = self._error_fields(response, (token,))
            msg = f"revocation refused (HTTP {response.status_code} {error} {description})"
            raise TokenFailure(
                FailureKind.REJECTED, msg.replace("  ", " ").strip(), status=response.status_code
            )

    # --- internals -------------------------------------------------------------------

    def _token_call(
        self, grant: str, call: Callable[[Any], Any], *, secrets: tuple[str, ...]
    ) -> TokenSet:
        captured: list[requests.Response] = []

        def capture(response: requests.Response) -> requests.Response:
            captured.append(response)
            return response

        sent_at = self.clock()
        session = self._session()
        session.register_compliance_hook("access_token_response", capture)
        session.register_compliance_hook("refresh_token_response", capture)
        try:
            with session:
                call(session)
        except Exception as exc:
            if not captured:
                if isinstance(exc, requests.RequestException):
                    raise self._transport_failure(exc, grant.replace("_", " ")) from None
                raise
            # An answer came back, but not a usable token: classify the answer itself.
        if not captured:  # pragma: no cover - authlib always passes the response through
            msg = f"{self.ledger}: no response from the token endpoint"
            raise TokenFailure(FailureKind.UNKNOWN_OUTCOME, msg)
        return self._parse(captured[-1], sent_at, secrets)

    def _transport_failure(self, exc: requests.RequestException, what: str) -> TokenFailure:
        # Not sent at all (refused, DNS, connect timeout): nothing can have changed at the
        # server. Anything else (read timeout, connection dropped) may have been processed.
        not_sent = isinstance(exc, requests.ConnectTimeout) or any(
            isinstance(arg, NewConnectionError)
            or isinstance(getattr(arg, "reason", None), NewConnectionError)
            for arg in exc.args
        )
        endpoint = f"{self.ledger}'s token endpoint"
        if not_sent:
            msg = f"{endpoint} cannot be reached ({exc.__class__.__name__})"
            return TokenFailure(FailureKind.UNAVAILABLE, msg)
        if isinstance(exc, requests.Timeout):
            msg = f"{endpoint} did not answer the {what} request within {self.timeout[1]:g} s"
        else:
            msg = f"{endpoint} closed the connection without answering the {what} request"
        return TokenFailure(FailureKind.UNKNOWN_OUTCOME, msg)

    def _error_fields(
        self, response: requests.Response, secrets: tuple[str, ...]
    ) -> tuple[str, str]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, Mapping):
            return "", ""
        return _clean(body.get("error"), secrets, 60), _clean(
            body.get("error_description"), secrets
        )

    def _parse(
        self, response: requests.Response, sent_at: datetime, secrets: tuple[str, ...]
    ) -> TokenSet:
        received_at = self.clock()
        try:
            body = response.json()
        except ValueError:
            body = None
        status = response.status_code
        if not isinstance(body, Mapping):
            kind = FailureKind.RATE_LIMITED if status == 429 else FailureKind.UNAVAILABLE
            if 400 <= status < 500 and status != 429:
                kind = FailureKind.REJECTED
            msg = f"{self.ledger}'s token endpoint answered HTTP {status} without a token"
            raise TokenFailure(kind, msg, status=status, retry_after=_retry_after(response))
        new_refresh = body.get("refresh_token")
        new_refresh = new_refresh if isinstance(new_refresh, str) and new_refresh else None
        access = body.get("access_token")
        if status != 200 or "error" in body or not isinstance(access, str) or not access:
            error = _clean(body.get("error"), secrets, 60) or "no access token"
            description = _clean(body.get("error_description"), secrets)
            if status == 429 or error in {"rate_limited", "slow_down", "temporarily_unavailable"}:
                kind = FailureKind.RATE_LIMITED
            elif _is_dead_grant(error, description):
                kind = FailureKind.DEAD_GRANT
            elif status >= 500:
                kind = FailureKind.UNAVAILABLE
            else:
                kind = FailureKind.REJECTED
            detail = f"{error}: {description}" if description else error
            msg = f"{self.ledger}'s token endpoint refused (HTTP {status}, {detail})"
            raise TokenFailure(
                kind,
                msg,
                status=status,
                error=error,
                retry_after=_retry_after(response),
                refresh_token=new_refresh,
            )
        expires_at: datetime | None = None
        expires_in = body.get("expires_in")
        if expires_in is not None:
            try:
                seconds = float(expires_in)  # Exact sends a string of digits
            except (TypeError, ValueError):
                msg = f"{self.ledger}'s token endpoint sent an unreadable expires_in"
                raise TokenFailure(FailureKind.REJECTED, msg, status=status) from None
            # Counted from when the request left: never later than the server's own clock.
            expires_at = sent_at + timedelta(seconds=seconds)
        scope = body.get("scope", "")
        return TokenSet(
            access_token=access,
            refresh_token=new_refresh,
            expires_at=expires_at,
            # Counted from when the answer arrived: never earlier than the server's clock,
            # so a minimum token age is never cut short.
            obtained_at=received_at,
            token_type=str(body.get("token_type") or "Bearer"),
            scope=" ".join(scope) if isinstance(scope, list) else str(scope or ""),
        )
