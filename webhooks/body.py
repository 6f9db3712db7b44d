"""Reading a request's body whole, or refusing it: 413 over the limit, 400 when broken.

Every request's body is read here before any view runs (`create_app` registers
`read_body` as a before-request hook), also where the view ignores it (405, 404, health):
a body left unread makes gunicorn close the keep-alive connection from the proxy in front
without an answer (nginx: 502, "upstream prematurely closed connection").
"""

from __future__ import annotations

from flask import g
from flask import request
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import RequestEntityTooLarge

# Provider and ledger callbacks are small (Adyen batches stay well under this).
BODY_LIMIT = 1024 * 1024


def read_body(limit: int = BODY_LIMIT) -> bytes:
    """The whole request body (read once per request), or 413 / 400; never a cut body.

    With a Content-Length over the limit werkzeug refuses before reading. A chunked body has
    no length: werkzeug's limited stream stops quietly at its maximum, so we allow one byte
    more and refuse when that byte arrives (a signed first megabyte plus junk must not be
    verified and stored as if it were the whole body).
    """
    cached: bytes | None = g.get("connector_body")
    if cached is not None:
        return cached
    request.max_content_length = limit + 1
    try:
        # cached, so that a form view (the workspace's CSRF-protected forms) still parses it
        body = request.get_data(cache=True)
    except HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - the server's own framing errors, e.g.
        # gunicorn's InvalidChunkSize for a broken chunked body: the client's fault.
        raise BadRequest() from exc
    if len(body) > limit:
        raise RequestEntityTooLarge()
    g.connector_body = body
    return body


def read_before_views() -> None:
    """The before-request hook: read (and so bound) every body before routing's verdict."""
    read_body()
