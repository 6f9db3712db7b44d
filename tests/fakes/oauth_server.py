"""A real OAuth2 authorization server on 127.0.0.1, built from authlib's server components.

It behaves like the strictest ledger:

- authorization code with PKCE (S256 required when `require_pkce`), state echoed;
- refresh tokens rotate on every refresh; a refresh token used a second time is "reuse":
  the whole family (every token descending from that grant) is revoked, as strict
  providers do (Exact answers "Old refresh token used"; `reuse_error="exact"` mimics that);
- access tokens live `access_token_lifetime` seconds and stay valid until then even after a
  refresh (the old refresh token dies at once);
- `min_token_age`: a refresh of a younger access token is refused (Exact's 570 s rule);
- the token endpoint handles one request at a time, so a second use of a refresh token is
  always seen as reuse;
- failure switches: `deny` (the user says no), `drop_next_refresh` (commit the rotation,
  then close the connection without answering: a lost response), `rate_limit_next_refresh`
  (rotate, then answer 429 with the new refresh token in the error body, as Exact does),
  `drop_next_refresh_unprocessed` (close the connection before doing anything).

It counts everything a test wants to assert on and remembers every secret it handed out
(`issued`), so tests can check that none of them leaks into a store or a log.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AuthorizationCodeMixin
from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749 import TokenMixin
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.errors import UnauthorizedClientError
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask
from flask import jsonify
from flask import request
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server

AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


@dataclass
class User:
    id: int = 1

    def get_user_id(self) -> int:
        return self.id


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        if not scope:
            return ""
        return " ".join(s for s in scope.split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri):
        # RFC 8252: any port on the loopback address, plus the hosted app's callbacks.
        return redirect_uri.startswith(("http://127.0.0.1:", "http://localhost/"))

    def check_client_secret(self, client_secret):
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method in AUTH_METHODS

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in {"authorization_code", "refresh_token"}


@dataclass
class AuthCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    issued_at: float = field(default_factory=time.time)

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope


@dataclass
class Token(TokenMixin):
    client_id: str
    access_token: str
    refresh_token: str
    scope: str
    expires_in: float
    family: int
    issued_at: float = field(default_factory=time.time)
    refresh_used: bool = False
    revoked: bool = False

    def check_client(self, client):
        return client.get_client_id() == self.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return self.expires_in

    def is_expired(self):
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self):
        return self.revoked

    def get_user(self):
        return User()

    def get_client(self):
        return None


@dataclass(frozen=True)
class Refresh:
    """One successful refresh: when, and how old the access token it replaced was."""

    at: float
    replaced_age: float
    family: int


class FakeOAuthServer:
    def __init__(
        self,
        *,
        access_token_lifetime: float = 600,
        min_token_age: float = 0.0,
        require_pkce: bool = True,
        reuse_error: str = "invalid_grant",
        scopes: tuple[str, ...] = ("read", "write"),
        administrations: tuple[tuple[str, str], ...] = (("1001", "Bakkerij van Dijk"),),
    ) -> None:
        self.access_token_lifetime = access_token_lifetime
        self.min_token_age = min_token_age
        self.require_pkce = require_pkce
        self.reuse_error = reuse_error
        self.administrations = administrations
        self.client = Client("connector-test", generate_token(40), scopes)
        # switches
        self.deny = False
        self.drop_next_refresh = False
        self.drop_next_refresh_unprocessed = False
        self.rate_limit_next_refresh = False
        # what happened
        self.issued: list[str] = [self.client.client_secret]
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.refresh_attempts = 0
        self.refreshes: list[Refresh] = []
        self.refresh_uses: dict[str, int] = {}
        self.invalid_grants = 0
        self.reuse_detected = 0
        self.early_refreshes = 0
        self.dropped = 0
        self.revocations: list[str] = []
        self.api_calls = 0
        self.api_unauthorized = 0
        # state
        self._codes: dict[str, AuthCode] = {}
        self._by_access: dict[str, Token] = {}
        self._by_refresh: dict[str, Token] = {}
        self._families = 0
        self._lock = threading.RLock()
        self.app = self._build_app()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # --- running ---------------------------------------------------------------------------

    def start(self) -> FakeOAuthServer:
        self._server = make_server(
            "127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> FakeOAuthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def settings(self) -> dict[str, Any]:
        """The `[ledgers.NAME]` table that points a ledger at this server."""
        return {
            "client_id": self.client.client_id,
            "authorize_url": f"{self.url}/oauth/authorize",
            "token_url": f"{self.url}/oauth/token",
            "revoke_url": f"{self.url}/oauth/revoke",
            "api_url": f"{self.url}/api",
        }

    @property
    def family_revoked(self) -> bool:
        return any(t.revoked for t in self._by_access.values())

    # --- token bookkeeping -------------------------------------------------------------------

    def _issue(self, token: dict[str, Any], grant_type: str, old: Token | None) -> None:
        if old is None:
            self._families += 1
            family = self._families
        else:
            family = old.family
        record = Token(
            client_id=self.client.client_id,
            access_token=token["access_token"],
            refresh_token=token["refresh_token"],
            scope=token.get("scope", ""),
            expires_in=token["expires_in"],
            family=family,
        )
        self.issued += [record.access_token, record.refresh_token]
        self._by_access[record.access_token] = record
        self._by_refresh[record.refresh_token] = record
        if old is not None:
            self.refreshes.append(
                Refresh(record.issued_at, record.issued_at - old.issued_at, family)
            )

    def _revoke_family(self, family: int) -> None:
        for record in self._by_access.values():
            if record.family == family:
                record.revoked = True
                record.refresh_used = True

    def _drop(self, when: str) -> None:
        """Close the connection without an answer (the WSGI server sees a dropped client)."""
        self.dropped += 1
        request.environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
        raise ConnectionAbortedError(f"the fake drops this request {when}")

    # --- the Flask app -----------------------------------------------------------------------

    def _build_app(self) -> Flask:
        fake = self
        app = Flask(__name__)
        # A view that drops the connection raises ConnectionAbortedError; let it reach the
        # WSGI server, which treats it as a dropped connection and sends nothing.
        app.config["PROPAGATE_EXCEPTIONS"] = True

        def save_token(token: dict[str, Any], oauth_request: Any) -> None:
            old = getattr(oauth_request, "refresh_token", None)
            fake._issue(token, oauth_request.payload.grant_type, old)

        server = AuthorizationServer(app, query_client=self._query_client, save_token=save_token)
        server.register_token_generator(
            "default",
            BearerTokenGenerator(
                lambda *a, **k: generate_token(42),
                lambda *a, **k: generate_token(48),
                lambda client, grant_type: fake.access_token_lifetime,
            ),
        )

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

            def save_authorization_code(self, code, oauth_request):
                payload = oauth_request.payload
                fake._codes[code] = AuthCode(
                    code=code,
                    client_id=oauth_request.client.client_id,
                    redirect_uri=payload.redirect_uri,
                    scope=payload.scope or "",
                    code_challenge=payload.data.get("code_challenge"),
                    code_challenge_method=payload.data.get("code_challenge_method"),
                )
                fake.issued.append(code)

            def query_authorization_code(self, code, client):
                found = fake._codes.get(code)
                fresh = found is not None and time.time() - found.issued_at < 60
                return found if fresh and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code):
                fake._codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code):
                return User()

        class RefreshGrant(grants.RefreshTokenGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
            INCLUDE_NEW_REFRESH_TOKEN = True

            def authenticate_refresh_token(self, refresh_token):
                fake.refresh_uses[refresh_token] = fake.refresh_uses.get(refresh_token, 0) + 1
                record = fake._by_refresh.get(refresh_token)
                if record is None:
                    return None
                if record.refresh_used:
                    fake.reuse_detected += 1
                    fake._revoke_family(record.family)
                    if fake.reuse_error == "exact":
                        raise UnauthorizedClientError(
                            description="Old refresh token used.", status_code=401
                        )
                    return None
                if time.time() - record.issued_at < fake.min_token_age:
                    fake.early_refreshes += 1
                    raise InvalidRequestError(description="Access token not expired.")
                return record

            def authenticate_user(self, refresh_token):
                return User()

            def revoke_old_credential(self, refresh_token):
                refresh_token.refresh_used = True

        class Revocation(RevocationEndpoint):
            CLIENT_AUTH_METHODS = AUTH_METHODS

            def query_token(self, token_string, token_type_hint):
                return fake._by_refresh.get(token_string) or fake._by_access.get(token_string)

            def revoke_token(self, token, oauth_request):
                fake.revocations.append(token.refresh_token)
                fake._revoke_family(token.family)

        server.register_grant(CodeGrant, [CodeChallenge(required=True)])
        server.register_grant(RefreshGrant)
        server.register_endpoint(Revocation)

        class Bearer(BearerTokenValidator):
            def authenticate_token(self, token_string):
                return fake._by_access.get(token_string)

        protector = ResourceProtector()
        protector.register_token_validator(Bearer())

        @app.get("/oauth/authorize")
        def authorize():
            with fake._lock:
                fake.authorize_requests.append(dict(request.args))
                if fake.require_pkce and request.args.get("code_challenge_method") != "S256":
                    return jsonify(error="invalid_request", error_description="PKCE S256"), 400
                try:
                    grant = server.get_consent_grant(end_user=User())
                except OAuth2Error as error:
                    return jsonify(dict(error.get_body())), error.status_code
                return server.create_authorization_response(
                    grant_user=None if fake.deny else User(), grant=grant
                )

        @app.post("/oauth/token")
        def token():
            with fake._lock:
                grant_type = request.form.get("grant_type", "")
                fake.token_requests.append(dict(request.form))
                if grant_type == "refresh_token":
                    fake.refresh_attempts += 1
                    if fake.drop_next_refresh_unprocessed:
                        fake.drop_next_refresh_unprocessed = False
                        fake._drop("before processing it")
                response = server.create_token_response()
                body = json.loads(response.get_data(as_text=True) or "{}")
                if body.get("error") in {"invalid_grant", "unauthorized_client"}:
                    fake.invalid_grants += 1
                if grant_type != "refresh_token" or response.status_code != 200:
                    return response
                if fake.drop_next_refresh:
                    fake.drop_next_refresh = False
                    fake._drop("after committing the rotation")
                if fake.rate_limit_next_refresh:
                    fake.rate_limit_next_refresh = False
                    limited = {
                        "error": "rate_limited",
                        "error_description": "Too many token requests",
                        "refresh_token": body["refresh_token"],
                    }
                    return jsonify(limited), 429, {"Retry-After": "1"}
                return response

        @app.post("/oauth/revoke")
        def revoke():
            with fake._lock:
                return server.create_endpoint_response("revocation")

        def api(payload: Any) -> Any:
            with fake._lock:
                fake.api_calls += 1
                try:
                    protector.acquire_token()
                except OAuth2Error as error:
                    fake.api_unauthorized += 1
                    return jsonify(dict(error.get_body())), 401
                return jsonify(payload)

        @app.get("/api/administrations")
        def administrations():
            return api([{"id": i, "name": n} for i, n in fake.administrations])

        @app.get("/api/ping")
        def ping():
            return api({"ok": True})

        return app

    def _query_client(self, client_id: str) -> Client | None:
        return self.client if client_id == self.client.client_id else None


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass
