"""A fake Mollie API: Flask on 127.0.0.1, as strict as docs.mollie.com describes the reads.

- `Authorization: Bearer live_...|test_...|access_...` with a known key, else 401
  `{"status": 401, "title": "Unauthorized Request", "detail": ...}` (Mollie's error shape,
  `application/hal+json`, with `_links.documentation`).
- Only documented endpoints and query parameters; anything else is a 400 naming the `field`
  (an unknown path is a 404):
  - `GET /v2/payments/{id}`: `embed` (refunds, chargebacks, captures), `include`, `testmode`;
  - `GET /v2/payments/{id}/refunds` and `/chargebacks`: `from`, `limit`, `embed=payment`,
    `testmode`;
  - `GET /v2/payment-links/{id}/payments`: `from`, `limit`, `sort` (asc/desc), `testmode`;
  - `GET /v2/chargebacks`: `from`, `limit`, `embed=payment`, `profileId`, `testmode`.
- Lists are newest first (payment links' payments may be sorted `asc`), `limit` defaults to
  50 and is at most 250 (a 400 beyond), `from` is the id of the first item of the page (an
  unknown one is a 400), and `_links.next` is the full URL of the next page, or null.
  `count` is the number of items on the page.

Counters: `requests` (path and query of each request, in order).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from flask import Response
from flask import request
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server

DOCS = "https://docs.mollie.com/overview/handling-errors"
LIST_PARAMS = {"from", "limit", "testmode"}


class _Problem(Exception):  # noqa: N818 - an answer to send
    def __init__(self, status: int, title: str, detail: str, field_name: str = "") -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.field_name = status, title, detail, field_name


def _hal(payload: dict[str, Any], status: int = 200) -> Response:
    import json

    return Response(json.dumps(payload), status=status, content_type="application/hal+json")


@dataclass
class FakeMollie:
    keys: set[str] = field(default_factory=lambda: {"test_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM"})
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by payment, newest 1st
    chargebacks: list[dict[str, Any]] = field(default_factory=list)  # account-wide, newest first
    link_payments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = Flask("fake_mollie")
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.app.add_url_rule("/<path:path>", "any", self._dispatch, methods=["GET", "POST"])

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> FakeMollie:
        self._server = make_server(
            "127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    # --- the API ----------------------------------------------------------------------

    def _dispatch(self, path: str) -> Response:
        query = request.query_string.decode()
        with self._lock:
            self.requests.append(f"/{path}" + (f"?{query}" if query else ""))
        try:
            self._authorize()
            if request.method != "GET":
                raise _Problem(405, "Method Not Allowed", "this fake serves only reads")
            return _hal(self._route(path.split("/")))
        except _Problem as problem:
            body: dict[str, Any] = {
                "status": problem.status,
                "title": problem.title,
                "detail": problem.detail,
                "_links": {"documentation": {"href": DOCS, "type": "text/html"}},
            }
            if problem.field_name:
                body["field"] = problem.field_name
            return _hal(body, problem.status)

    def _authorize(self) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.keys:
            raise _Problem(
                401, "Unauthorized Request", "Missing authentication, or failed to authenticate"
            )

    def _route(self, parts: Sequence[str]) -> dict[str, Any]:
        match list(parts):
            case ["v2", "payments", payment_id]:
                self._only({"embed", "include", "testmode"})
                return self._payment(payment_id)
            case ["v2", "payments", payment_id, "refunds"]:
                self._only(LIST_PARAMS | {"embed"})
                self._embed_payment_only()
                self._known_payment(payment_id)
                items = self.refunds.get(payment_id, [])
                return self._page(f"/v2/payments/{payment_id}/refunds", "refunds", items)
            case ["v2", "payments", payment_id, "chargebacks"]:
                self._only(LIST_PARAMS | {"embed"})
                self._embed_payment_only()
                self._known_payment(payment_id)
                items = [c for c in self.chargebacks if c.get("paymentId") == payment_id]
                return self._page(f"/v2/payments/{payment_id}/chargebacks", "chargebacks", items)
            case ["v2", "payment-links", link_id, "payments"]:
                self._only(LIST_PARAMS | {"sort"})
                if link_id not in self.link_payments:
                    raise _Problem(
                        404, "Not Found", f"No payment link exists with token {link_id}."
                    )
                items = list(self.link_payments[link_id])
                sort = request.args.get("sort", "desc")
                if sort not in ("asc", "desc"):
                    raise _Problem(400, "Bad Request", "The sort is invalid", "sort")
                if sort == "asc":
                    items.reverse()
                return self._page(f"/v2/payment-links/{link_id}/payments", "payments", items)
            case ["v2", "chargebacks"]:
                self._only(LIST_PARAMS | {"embed", "profileId"})
                self._embed_payment_only()
                items = [self._with_payment(c) for c in self.chargebacks]
                return self._page("/v2/chargebacks", "chargebacks", items)
        raise _Problem(404, "Not Found", "The resource does not exist")

    def _only(self, allowed: set[str]) -> None:
        for name in request.args:
            if name not in allowed:
                raise _Problem(400, "Bad Request", f"The parameter {name!r} is unknown", name)

    def _embed_payment_only(self) -> None:
        embed = request.args.get("embed")
        if embed is not None and embed != "payment":
            raise _Problem(400, "Bad Request", "The embed parameter is invalid", "embed")

    def _known_payment(self, payment_id: str) -> None:
        if payment_id not in self.payments:
            raise _Problem(404, "Not Found", f"No payment exists with token {payment_id}.")

    def _payment(self, payment_id: str) -> dict[str, Any]:
        self._known_payment(payment_id)
        payment = dict(self.payments[payment_id])
        embeds = [e for e in request.args.get("embed", "").split(",") if e]
        if any(e not in ("refunds", "chargebacks", "captures") for e in embeds):
            raise _Problem(400, "Bad Request", "The embed parameter is invalid", "embed")
        embedded: dict[str, Any] = {}
        if "refunds" in embeds:
            embedded["refunds"] = self.refunds.get(payment_id, [])
        if "chargebacks" in embeds:
            embedded["chargebacks"] = [
                c for c in self.chargebacks if c.get("paymentId") == payment_id
            ]
        if embedded:
            payment["_embedded"] = embedded
        return payment

    def _with_payment(self, chargeback: dict[str, Any]) -> dict[str, Any]:
        if request.args.get("embed") != "payment":
            return chargeback
        payment = self.payments.get(str(chargeback.get("paymentId")))
        return {**chargeback, "_embedded": {"payment": payment}} if payment else chargeback

    def _page(self, path: str, name: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        raw_limit = request.args.get("limit", "50")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 250:
            raise _Problem(400, "Bad Request", "The limit must be between 1 and 250", "limit")
        limit = int(raw_limit)
        start = 0
        first = request.args.get("from")
        if first is not None:
            ids = [item.get("id") for item in items]
            if first not in ids:
                raise _Problem(400, "Bad Request", f"The 'from' id {first} is invalid", "from")
            start = ids.index(first)
        page = items[start : start + limit]
        rest = items[start + limit :]
        extra = {k: v for k, v in request.args.items() if k not in ("from", "limit")}

        def link(query: dict[str, str]) -> dict[str, str]:
            return {"href": f"{self.url}{path}?{urlencode(query)}", "type": "application/hal+json"}

        return {
            "count": len(page),
            "_embedded": {name: page},
            "_links": {
                "self": link({**extra, "limit": str(limit)}),
                "previous": None,
                "next": link({**extra, "from": str(rest[0]["id"]), "limit": str(limit)})
                if rest
                else None,
                "documentation": {
                    "href": "https://docs.mollie.com/reference/",
                    "type": "text/html",
                },
            },
        }


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass
