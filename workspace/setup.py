"""Wiring the workspace into a Flask app: sessions, login, CSRF, rate limits, CSP, blueprint."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask import Response
from flask import request
from flask_babel import Babel
from flask_babel import get_locale
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from connector.firms import users as firm_users
from connector.store import Store
from workspace.ids import OpaqueIds
from workspace.session import WorkspaceUser
from workspace.state import EXTENSION
from workspace.state import WorkspaceState

#: No inline script or style anywhere; htmx is served from our own /w/static.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
LOGIN_LIMIT = "10 per minute"
#: The workspace speaks Dutch and English; the browser's Accept-Language chooses, else English.
LANGUAGES = ("en", "nl")
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def select_locale() -> str:
    return request.accept_languages.best_match(LANGUAGES) or LANGUAGES[0]


def install(app: Flask, store: Store, secret: bytes) -> None:
    from workspace.views import bp

    app.secret_key = secret
    app.config.update(
        SESSION_COOKIE_NAME="connector_session",
        SESSION_COOKIE_SECURE=True,  # behind the TLS-terminating proxy; browsers allow localhost
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        REMEMBER_COOKIE_SECURE=True,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # tied to the session, which expires on its own
    )
    # CSRF on every POST of the workspace; the webhook and OAuth routes are machine callers
    # with their own signatures and are left alone (check_default off, checked per blueprint).
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf = CSRFProtect(app)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    Babel(app, locale_selector=select_locale)

    @app.context_processor
    def locale() -> dict[str, str]:
        return {"current_locale": str(get_locale() or LANGUAGES[0])}

    limiter = Limiter(get_remote_address, app=app, storage_uri="memory://", default_limits=[])
    login_manager = LoginManager(app)
    login_manager.login_view = "workspace.login"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str) -> WorkspaceUser | None:
        if not user_id.isdigit():
            return None
        with store.begin() as conn:
            record = firm_users.get_user(conn, int(user_id))
            if record is None or not record.active:
                return None
            return WorkspaceUser(record, firm_users.visible_administrations(conn, record))

    app.extensions[EXTENSION] = WorkspaceState(store=store, ids=OpaqueIds(secret), limiter=limiter)

    @app.before_request
    def protect() -> None:
        if request.blueprint == "workspace" and request.method == "POST":
            csrf.protect()

    app.register_blueprint(bp)
    login = app.view_functions["workspace.login"]
    # Flask-Limiter wraps the view (its typing says it may be async; this one is not).
    limited = limiter.limit(LOGIN_LIMIT, methods=["POST"])(login)
    app.view_functions["workspace.login"] = limited  # type: ignore[assignment]

    @app.after_request
    def security_headers(response: Response) -> Response:
        if request.blueprint == "workspace":
            response.headers["Content-Security-Policy"] = CSP
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "same-origin"
            response.headers.setdefault("Cache-Control", "no-store")
        return response
