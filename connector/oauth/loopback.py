"""The CLI's redirect target: a one-shot HTTP listener on http://127.0.0.1:PORT/callback.

It binds before the authorize URL is shown (so a fast browser cannot beat it), serves one
request at a time on the calling thread, answers anything but `/callback` with 404, and
stops at the first callback or at the deadline. It writes nothing to any log: the callback's
query string holds the authorization code.
"""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler
from http.server import HTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

from connector.errors import AuthError
from connector.errors import ConfigError

HOST = "127.0.0.1"
PATH = "/callback"
_PAGE = (
    "<!doctype html><meta charset=utf-8><title>dunning-connector</title>"
    "<p>The answer was received. You can close this window and return to the terminal.</p>"
)


class _Server(HTTPServer):
    callback: dict[str, str] | None = None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 5.0  # a client that connects and says nothing cannot hold the listener

    def do_GET(self) -> None:  # noqa: N802 - the http.server naming
        parts = urlsplit(self.path)
        if parts.path != PATH:
            self.send_error(404)
            return
        if self.server.callback is None:
            self.server.callback = dict(parse_qsl(parts.query, keep_blank_values=True))
        body = _PAGE.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib name
        pass  # the query string holds the authorization code: never log it


class CallbackListener:
    """Listens on 127.0.0.1:`port` (0: any free port) until the callback arrives."""

    def __init__(self, port: int) -> None:
        try:
            self._server = _Server((HOST, port), _Handler)
        except OSError as exc:
            msg = f"cannot listen on {HOST}:{port} ({exc.strerror}); pass another --port"
            raise ConfigError(msg) from None
        self.port = int(self._server.server_address[1])

    @property
    def redirect_uri(self) -> str:
        return f"http://{HOST}:{self.port}{PATH}"

    def wait(self, timeout: float) -> dict[str, str]:
        """The callback's query parameters.

        Raises:
            AuthError: nothing arrived within `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        while self._server.callback is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                msg = (
                    f"no answer from the browser within {timeout:g} s; nothing was stored; "
                    "run connect again (or pass a longer --timeout)"
                )
                raise AuthError(msg)
            self._server.timeout = min(remaining, 1.0)
            self._server.handle_request()
        return self._server.callback

    def close(self) -> None:
        self._server.server_close()

    def __enter__(self) -> CallbackListener:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
