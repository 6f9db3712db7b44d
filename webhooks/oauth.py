"""The hosted sign-in: /oauth/<ledger>/start and /oauth/<ledger>/callback.

An accountant opens `/oauth/exact/start?name=client-a` (HTTP Basic, password
`CONNECTOR_ADMIN_KEY`), approves at the ledger, and lands on the callback, which stores the
connection and lists the administrations it reaches. The state is stored server-side (only
its hash) and used once; a cookie binds the sign-in to the browser that started it. The
callback's URL holds the authorization code, so nothing here logs request URLs.

The redirect URI is `[ledgers.NAME] redirect_uri` when set (it must match the one registered
at the ledger exactly, e.g. behind a proxy), otherwise this app's own callback URL.
"""

from __future__ import annotations

import hmac

from flask import Blueprint
from flask import Response
from flask import make_response
from flask import redirect
from flask import request
from flask import url_for
from markupsafe import escape
from werkzeug.wrappers import Response as BaseResponse

from connector.errors import ConnectorError
from connector.oauth import flow
from webhooks.app import services

bp = Blueprint("oauth", __name__, url_prefix="/oauth")
COOKIE = "connector_oauth"


def _page(title: str, lines: list[str], status: int) -> Response:
    body = "".join(f"<p>{escape(line)}</p>" for line in lines)
    html = (
        f"<!doctype html><meta charset=utf-8><title>{escape(title)}</title>"
        f"<h1>{escape(title)}</h1>{body}"
    )
    response = make_response(html, status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Cache-Control"] = "no-store"
    return response


def _authorized() -> Response | None:
    """None when the request carries the admin key; otherwise the response to send."""
    key = services().admin_key
    if not key:
        return _page(
            "Switched off",
            ["Connecting from a browser needs CONNECTOR_ADMIN_KEY on the server."],
            403,
        )
    auth = request.authorization
    given = (auth.password or "") if auth is not None else ""
    if not hmac.compare_digest(given.encode("utf-8"), key.encode("utf-8")):
        response = _page("Sign in", ["This page needs the connector's admin key."], 401)
        response.headers["WWW-Authenticate"] = 'Basic realm="dunning-connector"'
        return response
    return None


def _redirect_uri(ledger: str) -> str:
    configured = services().oauth.section(ledger).get("redirect_uri")
    if isinstance(configured, str) and configured:
        return configured
    return url_for("oauth.callback", ledger=ledger, _external=True)


@bp.get("/<ledger>/start")
def start(ledger: str) -> BaseResponse:
    refused = _authorized()
    if refused is not None:
        return refused
    name = request.args.get("name") or ledger
    try:
        auth, browser_secret = flow.begin_hosted(
            services().oauth, ledger, name, _redirect_uri(ledger)
        )
    except ConnectorError as exc:
        return _page("Cannot connect", [str(exc)], 400)
    response = redirect(auth.url, 302)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        COOKIE,
        browser_secret,
        max_age=int(flow.PENDING_LIFETIME.total_seconds()),
        path=f"/oauth/{ledger}/",
        secure=request.is_secure,
        httponly=True,
        samesite="Lax",
    )
    return response


@bp.get("/<ledger>/callback")
def callback(ledger: str) -> Response:
    params = request.args.to_dict()
    oauth = services().oauth
    try:
        if "state" not in params:
            flow.raise_if_denied(ledger, params)
        auth = flow.resume_hosted(oauth, ledger, params, request.cookies.get(COOKIE))
        connection = flow.complete(oauth, auth, params)
    except ConnectorError as exc:
        return _page("Not connected", [str(exc)], 400)
    try:
        admins = flow.discover(oauth, connection)
    except ConnectorError as exc:
        lines = [
            f"The connection {connection.name!r} ({ledger}) is stored, but its "
            f"administrations could not be listed: {exc}",
            "They are listed again on the next sync.",
        ]
        response = _page("Connected", lines, 200)
    else:
        found = [f"{a.name} ({a.external_id})" for a in admins] or ["(none)"]
        intro = f"The connection {connection.name!r} ({ledger}) reaches these administrations:"
        response = _page("Connected", [intro, *found], 200)
    response.delete_cookie(COOKIE, path=f"/oauth/{ledger}/")
    return response
