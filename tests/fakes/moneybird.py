"""A fake Moneybird API: Flask on 127.0.0.1, behaving as developer.moneybird.com documents.

- Paths `/api/v2/{administration_id}/{resource}.json` (the `.json` may be left out), bearer
  tokens checked by `accepts` (a set of tokens, or the shared test authorization server via
  `trusting`), 401 `{"error": ...}` otherwise.
- Listings paginate by `page`/`per_page` (default 25, more than 100 is a 400) with a `Link`
  header (`rel="next"`/`rel="prev"`) and `X-Total-Count`.
- `filter=state:open|late,period:20240101..20241231`: the `period` defaults to this year on
  the listings, and on the synchronization listings as soon as a filter is given (without a
  filter they list everything, as picqer#168 observed). A malformed period is a 400. Only the
  filter keys and `state` values each listing's `filter` table documents are accepted
  (external sales invoices: all, new, open, late, paid); anything else is a 400 `{"error":
  "State isn't an option", "symbolic": {"state": "in"}}`, as Moneybird refuses an enum value.
- `external_synchronization=404` (or 400): `external_sales_invoices/synchronization` does not
  answer, as on a server whose OpenAPI description has no such path (the early ones).
- Answers carry only fields of Moneybird's OpenAPI description (checked by
  tests/adapters/moneybird/test_moneybird_conformance.py); `add_workflow(with_steps=False)`
  sends a workflow without its `steps`.
- `GET .../synchronization` lists `{id, version}`; `POST .../synchronization {"ids": [...]}`
  returns at most 100 records, "even if more ids are provided".
- The rate limit: `limit` requests per fixed `window` seconds for the whole platform, every
  request counted; beyond it 429 with body `"Retry later"`, `Retry-After` and
  `RateLimit-Reset` as absolute epoch seconds (or relative seconds with
  `retry_after="seconds"`), and `RateLimit-Limit`/`-Remaining`/`-Reset` on every answer
  (`limit_headers=False` leaves them out, as when another program spends the same budget).
  The window scales down so that tests and benchmarks run in seconds.
- Error bodies: 404 `{"error": "record not found", "symbolic": {...}}`, 422
  `{"error": {field: [messages]}, "details": {...}}`, 400 `{"error": "..."}`.
- Payments (`POST .../payments.json`) change the invoice: `total_paid`, `total_unpaid`, the
  state (`paid` at zero, back to `open`/`late` after a negative payment); notes and
  `pause`/`resume` work as documented ("already paused" is a 422).

Switches for tests: `fail_next` (statuses to answer the next requests with), `lose_next_write`
(carry out the next payment or note, then drop the connection: a lost answer). Counters:
`requests`, `by_route`, `throttled`, `unauthorized`, `peak_in_window`.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from flask import Response
from flask import request
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server

UNPAID = ("open", "late", "reminded", "pending_payment")
SALES = "sales_invoices"
EXTERNAL = "external_sales_invoices"

# The filter keys and `state` values each listing documents (the OpenAPI description's
# `filter` tables); anything else is refused as Moneybird refuses an enum it does not know.
FILTER_KEYS = {
    SALES: frozenset(
        {
            "state",
            "period",
            "reference",
            "contact_id",
            "recurring_sales_invoice_id",
            "workflow_id",
            "created_after",
            "updated_after",
        }
    ),
    EXTERNAL: frozenset({"state", "period", "contact_id"}),
}
FILTER_STATES = {
    SALES: frozenset(
        {
            "all",
            "draft",
            "open",
            "scheduled",
            "pending_payment",
            "late",
            "reminded",
            "paid",
            "uncollectible",
        }
    ),
    EXTERNAL: frozenset({"all", "new", "open", "late", "paid"}),
}


def amount(value: Decimal) -> str:
    """Moneybird's way of writing an amount: "121.0", "241.99", "-363.0"."""
    value = Decimal(value)
    text = format(value.normalize(), "f")
    return text if "." in text else f"{text}.0"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Text(str):
    """A text/plain answer (the PDF download's redirect)."""


class _Problem(Exception):  # noqa: N818 - an answer to send
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _not_found() -> _Problem:
    return _Problem(404, {"error": "record not found", "symbolic": {"id": "not_found"}})


@dataclass
class _Administration:
    id: str
    name: str
    currency: str = "EUR"
    language: str = "nl"
    country: str = "NL"
    time_zone: str = "Europe/Amsterdam"
    suspended: bool = False
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {SALES: {}, EXTERNAL: {}}
    )

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "language": self.language,
            "currency": self.currency,
            "country": self.country,
            "time_zone": self.time_zone,
            "access": "user",
            "suspended": self.suspended,
            "period_locked_until": None,
            "period_start_date": f"{date.today().year}-01-01",
        }


class FakeMoneybird:
    def __init__(
        self,
        *,
        limit: int = 150,
        window: float = 300.0,
        tokens: Iterable[str] = ("test-token",),
        accepts: Callable[[str], bool] | None = None,
        retry_after: str = "epoch",
        limit_headers: bool = True,
        today: date | None = None,
        external_synchronization: int | None = None,
    ) -> None:
        self.limit = limit
        # None: `external_sales_invoices/synchronization` answers; a status (404, 400): it
        # does not, as on a server whose description has no such path.
        self.external_synchronization = external_synchronization
        self.window = window
        self.tokens = set(tokens)
        self.accepts = accepts or (lambda token: token in self.tokens)
        self.retry_after = retry_after
        self.limit_headers = limit_headers
        self.today = today or date.today()
        self.admins: dict[str, _Administration] = {}
        # switches
        self.fail_next: list[int] = []
        self.lose_next_write = False
        # what happened
        self.requests = 0
        self.by_route: Counter[str] = Counter()
        self.throttled = 0
        self.unauthorized = 0
        self.peak_in_window = 0
        self.lost = 0
        self.log: list[tuple[str, str]] = []  # (method, path with query)
        # state
        self._ids = itertools.count(481_221_000_000_000_001, 7)
        self._version = int(time.time())
        self._window_start = 0.0
        self._window_count = 0
        self._lock = threading.RLock()
        self.app = self._build_app()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # --- running ---------------------------------------------------------------------------

    def start(self) -> FakeMoneybird:
        self._server = make_server(
            "127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> FakeMoneybird:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v2"

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The adapter's settings for this server, its rate limit included."""
        return {
            "api_url": self.api_url,
            "rate_limit_requests": self.limit,
            "rate_limit_window_seconds": self.window,
            **overrides,
        }

    @classmethod
    def trusting(cls, oauth_server: Any, **kwargs: Any) -> FakeMoneybird:
        """A fake that accepts the access tokens the shared test authorization server
        (tests/fakes/oauth_server.py) issued and that are neither expired nor revoked."""

        def accepts(token: str) -> bool:
            record = oauth_server._by_access.get(token)
            return record is not None and not record.is_expired() and not record.is_revoked()

        return cls(accepts=accepts, **kwargs)

    def reset_counters(self) -> None:
        with self._lock:
            self.requests = 0
            self.by_route.clear()
            self.throttled = 0
            self.unauthorized = 0
            self.log.clear()

    # --- seeding ---------------------------------------------------------------------------

    def next_id(self) -> str:
        return str(next(self._ids))

    def bump(self) -> int:
        self._version = max(self._version + 1, int(time.time()))
        return self._version

    def add_administration(
        self, name: str = "Parkietje B.V.", *, admin_id: str | None = None, **fields: Any
    ) -> str:
        with self._lock:
            admin = _Administration(id=admin_id or self.next_id(), name=name, **fields)
            self.admins[admin.id] = admin
            self.add_workflow(admin.id, "Standaard", default=True)
            return admin.id

    def add_workflow(
        self,
        adm: str,
        name: str,
        *,
        due_interval: int = 14,
        auto_send: bool = False,
        default: bool = False,
        with_steps: bool = True,
    ) -> str:
        """An invoice workflow; `with_steps=False` answers without its steps (as a server
        whose workflow description lacks them would)."""
        with self._lock:
            wid = self.next_id()
            now = _stamp(datetime.now(UTC))
            steps = [
                {"id": self.next_id(), "step_order": 0, "due_interval": due_interval},
                *(
                    {
                        "id": self.next_id(),
                        "step_order": n,
                        "due_interval": 10 if n == 1 else 5,
                        "reminder_delay": 0,
                        "reminder_text": f"Herinnering {n}: {{reminders_table}}",
                        "reminder_auto_send": auto_send,
                        "action": None,
                    }
                    for n in (1, 2, 3)
                ),
            ]
            self.admins[adm].workflows[wid] = {
                "id": wid,
                "administration_id": adm,
                "type": "InvoiceWorkflow",
                "name": name,
                "default": default,
                "currency": "EUR",
                "language": "nl",
                "active": True,
                "prices_are_incl_tax": False,
                "created_at": now,
                "updated_at": now,
            }
            if with_steps:
                self.admins[adm].workflows[wid]["steps"] = steps
            return wid

    def add_contact(self, adm: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            admin = self.admins[adm]
            cid = self.next_id()
            now = _stamp(datetime.now(UTC))
            contact: dict[str, Any] = {
                "id": cid,
                "administration_id": adm,
                "company_name": "Foobar Holding B.V.",
                "firstname": "",
                "lastname": "",
                "address1": "Hoofdstraat 12",
                "address2": "",
                "zipcode": "1234AB",
                "city": "Amsterdam",
                "country": "NL",
                "phone": "",
                "delivery_method": "Email",
                "customer_id": str(len(admin.contacts) + 1),
                "tax_number": "",
                "chamber_of_commerce": "",
                "bank_account": "",
                "is_trusted": False,
                "max_transfer_amount": None,
                "attention": "",
                "email": "info@example.com",
                "email_ubl": True,
                "send_invoices_to_attention": "",
                "send_invoices_to_email": "info@example.com",
                "send_estimates_to_attention": "",
                "send_estimates_to_email": "info@example.com",
                "sepa_active": False,
                "sepa_iban": "",
                "sepa_iban_account_name": "",
                "sepa_bic": "",
                "sepa_mandate_id": "",
                "sepa_mandate_date": None,
                "sepa_sequence_type": "RCUR",
                "invoice_workflow_id": None,
                "estimate_workflow_id": None,
                "tax_number_valid": None,
                "moneybird_payments_mandate": False,
                "created_at": now,
                "updated_at": now,
                "version": self.bump(),
                "notes": [],
                "custom_fields": [],
                "contact_people": [],
                "archived": False,
                **fields,
            }
            admin.contacts[cid] = contact
            return contact

    def update_contact(self, adm: str, cid: str, **changes: Any) -> None:
        with self._lock:
            contact = self.admins[adm].contacts[cid]
            contact.update(changes)
            contact["version"] = self.bump()
            contact["updated_at"] = _stamp(datetime.now(UTC))

    def add_invoice(
        self,
        adm: str,
        contact_id: str | None,
        total: Decimal | str,
        *,
        invoice_date: date | None = None,
        due_date: date | None = None,
        state: str = "open",
        paid: Decimal | str = "0",
        kind: str = SALES,
        currency: str = "EUR",
        rate: Decimal | str = "1",
        number: str | None = None,
        reference: str = "Project X",
        no_due_date: bool = False,
    ) -> dict[str, Any]:
        """An invoice with `total` incl. tax of which `paid` is paid; state as given."""
        with self._lock:
            admin = self.admins[adm]
            iid = self.next_id()
            invoiced = invoice_date or self.today
            due = due_date if due_date is not None else invoiced + timedelta(days=14)
            total_d, paid_d, rate_d = Decimal(total), Decimal(paid), Decimal(rate)
            now = _stamp(datetime.now(UTC))
            invoices = admin.invoices[kind]
            common: dict[str, Any] = {
                "id": iid,
                "administration_id": adm,
                "contact_id": contact_id,
                "state": state,
                "currency": currency,
                "payments": [],
                "notes": [],
                "attachments": [],
                "events": [],
                "created_at": now,
                "updated_at": now,
                "version": self.bump(),
                "marked_dubious_on": None,
                "marked_uncollectible_on": None,
                "_rate": rate_d,
                "_total": total_d,
                "_paid": paid_d,
            }
            if kind == SALES:
                common.update(
                    {
                        "invoice_id": number or f"{invoiced.year}-{len(invoices) + 1:05d}",
                        "workflow_id": next(iter(admin.workflows)),
                        "invoice_date": invoiced.isoformat(),
                        "due_date": due.isoformat(),
                        "reference": reference,
                        "language": "nl",
                        "paused": False,
                        "paid_at": None,
                        "sent_at": invoiced.isoformat(),
                        "reminder_count": 0,
                        "next_reminder": (due + timedelta(days=1)).isoformat(),
                        "payment_reference": f"RF{iid[-10:]}",
                    }
                )
            else:
                common.update(
                    {
                        "date": invoiced.isoformat(),
                        "due_date": None if no_due_date else due.isoformat(),
                        "reference": number or f"EXT-{len(invoices) + 1:05d}",
                        "entry_number": len(invoices) + 1,
                        "origin": "api",
                        "paid_at": None,
                    }
                )
            invoices[iid] = common
            self._totals(common)
            return common

    def update_invoice(self, adm: str, iid: str, *, kind: str = SALES, **changes: Any) -> None:
        with self._lock:
            invoice = self.admins[adm].invoices[kind][iid]
            for key, value in changes.items():
                if key == "total":
                    invoice["_total"] = Decimal(value)
                else:
                    invoice[key] = value
            self._totals(invoice)
            self._touch(invoice)

    def delete_invoice(self, adm: str, iid: str, *, kind: str = SALES) -> None:
        with self._lock:
            del self.admins[adm].invoices[kind][iid]

    def open_invoices(self, adm: str) -> dict[str, tuple[str, Decimal]]:
        """What is open, as the adapter should report it: external id -> (number, unpaid)."""
        with self._lock:
            found: dict[str, tuple[str, Decimal]] = {}
            for kind, invoices in self.admins[adm].invoices.items():
                for iid, inv in invoices.items():
                    unpaid = Decimal(inv["total_unpaid"])
                    if inv["state"] in UNPAID and unpaid != 0:
                        key = iid if kind == SALES else f"ext:{iid}"
                        number = inv["invoice_id"] if kind == SALES else inv["reference"]
                        found[key] = (number, unpaid)
            return found

    def invoice(self, adm: str, iid: str, *, kind: str = SALES) -> dict[str, Any]:
        with self._lock:
            return self.admins[adm].invoices[kind][iid]

    def seed(
        self,
        adm: str,
        *,
        contacts: int,
        open_invoices: int,
        older: int = 0,
        paid: int = 0,
        external: int = 0,
        seed: int = 7,
    ) -> None:
        """Many contacts and invoices for the benchmark: `open_invoices` unpaid ones (of which
        `older` dated before this year and `external` external invoices), plus `paid` paid."""
        rng = random.Random(seed)
        with self._lock:
            ids = [
                self.add_contact(adm, company_name=f"Klant {n} B.V.")["id"] for n in range(contacts)
            ]
            this_year = date(self.today.year, 1, 1)
            for n in range(open_invoices + paid):
                old = n < older
                start = date(self.today.year - 4, 1, 1) if old else this_year
                span = (this_year - start).days if old else max((self.today - this_year).days, 1)
                invoiced = start + timedelta(days=rng.randrange(span))
                cents = rng.randrange(1_000, 500_000)
                total = Decimal(cents) / 100
                is_paid = n >= open_invoices
                kind = EXTERNAL if (not is_paid and n >= open_invoices - external) else SALES
                partly = Decimal(rng.randrange(0, cents // 2)) / 100 if n % 5 == 0 else Decimal(0)
                due = invoiced + timedelta(days=14)
                state = "paid" if is_paid else ("late" if due < self.today else "open")
                self.add_invoice(
                    adm,
                    rng.choice(ids),
                    total,
                    invoice_date=invoiced,
                    due_date=due,
                    state=state,
                    paid=total if is_paid else partly,
                    kind=kind,
                )

    def change_invoices(self, adm: str, count: int, *, seed: int = 11) -> list[str]:
        """Change `count` open sales invoices: a third paid in full, the rest part-paid."""
        rng = random.Random(seed)
        with self._lock:
            invoices = self.admins[adm].invoices[SALES]
            candidates = sorted(i for i, inv in invoices.items() if inv["state"] in UNPAID)
            chosen = rng.sample(candidates, count)
            for n, iid in enumerate(chosen):
                inv = invoices[iid]
                unpaid = Decimal(inv["total_unpaid"])
                part = unpaid if n % 3 == 0 else (unpaid / 2).quantize(Decimal("0.01"))
                self._pay(inv, part, self.today, "bank-" + iid)
            return chosen

    # --- invoice arithmetic ----------------------------------------------------------------

    def _touch(self, invoice: dict[str, Any]) -> None:
        invoice["version"] = self.bump()
        invoice["updated_at"] = _stamp(datetime.now(UTC))

    def _totals(self, invoice: dict[str, Any]) -> None:
        total, paid, rate = invoice["_total"], invoice["_paid"], invoice["_rate"]
        unpaid = total - paid
        invoice["total_price_incl_tax"] = amount(total)
        invoice["total_price_incl_tax_base"] = amount((total * rate).quantize(Decimal("0.01")))
        invoice["total_paid"] = amount(paid)
        invoice["total_unpaid"] = amount(unpaid)
        invoice["total_unpaid_base"] = amount((unpaid * rate).quantize(Decimal("0.01")))

    def _pay(
        self, invoice: dict[str, Any], price: Decimal, on: date, identifier: str | None
    ) -> dict[str, Any]:
        now = _stamp(datetime.now(UTC))
        payment = {
            "id": self.next_id(),
            "administration_id": invoice["administration_id"],
            "invoice_type": "SalesInvoice" if "invoice_id" in invoice else "ExternalSalesInvoice",
            "invoice_id": invoice["id"],
            "financial_account_id": None,
            "user_id": 17731481239735,
            "payment_transaction_id": None,
            "transaction_identifier": identifier,
            "price": amount(price),
            "price_base": amount((price * invoice["_rate"]).quantize(Decimal("0.01"))),
            "payment_date": on.isoformat(),
            "credit_invoice_id": None,
            "financial_mutation_id": None,
            "ledger_account_id": "481220994396062850",
            "linked_payment_id": None,
            "manual_payment_action": None,
            "created_at": now,
            "updated_at": now,
        }
        invoice["payments"].append(payment)
        invoice["_paid"] += price
        self._totals(invoice)
        unpaid = invoice["_total"] - invoice["_paid"]
        if unpaid == 0 or (invoice["_total"] > 0 and unpaid < 0):
            invoice["state"] = "paid"
            invoice["paid_at"] = on.isoformat()
        elif invoice["state"] == "paid":
            due = date.fromisoformat(invoice["due_date"] or invoice.get("date"))
            invoice["state"] = "late" if due < self.today else "open"
            invoice["paid_at"] = None
        self._touch(invoice)
        return payment

    # --- the Flask app ---------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask(__name__)
        app.config["PROPAGATE_EXCEPTIONS"] = True
        fake = self

        @app.route(
            "/api/v2/<path:path>", methods=["GET", "POST", "PATCH", "DELETE"], strict_slashes=False
        )
        def api(path: str) -> Response:
            return fake._handle(path)

        @app.get("/files/<adm>/<iid>.pdf")
        def file(adm: str, iid: str) -> Response:  # a temporary URL: no token needed
            return Response(fake.invoice_pdf_bytes(adm, iid), mimetype="application/pdf")

        return app

    def _respond(self, status: int, body: Any, headers: dict[str, str]) -> Response:
        if isinstance(body, _Text):
            return Response(str(body), status=status, headers=headers, mimetype="text/plain")
        payload = "" if body is None else json.dumps(body, default=str)
        return Response(payload, status=status, headers=headers, mimetype="application/json")

    def _limit_headers(self, now: float) -> dict[str, str]:
        if not self.limit_headers:
            return {}
        reset = math.ceil(self._window_start + self.window)
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(self.limit - self._window_count, 0)),
            "RateLimit-Reset": str(reset),
        }

    def _handle(self, path: str) -> Response:
        with self._lock:
            now = time.time()
            self.requests += 1
            self.log.append((request.method, request.full_path))
            if now >= self._window_start + self.window:
                self._window_start, self._window_count = now, 0
            self._window_count += 1
            self.peak_in_window = max(self.peak_in_window, self._window_count)
            headers = self._limit_headers(now)
            if self._window_count > self.limit:
                self.throttled += 1
                reset = self._window_start + self.window
                wait = (
                    str(math.ceil(reset))
                    if self.retry_after == "epoch"
                    else str(math.ceil(reset - now))
                )
                headers = {**headers, "RateLimit-Remaining": "0"} if headers else {}
                return self._respond(429, "Retry later", {**headers, "Retry-After": wait})
            auth = request.headers.get("Authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else ""
            if not token or not self.accepts(token):
                self.unauthorized += 1
                body = {"error": "The access token is invalid, expired or revoked"}
                return self._respond(401, body, headers)
            if self.fail_next:
                status = self.fail_next.pop(0)
                return self._respond(status, {"error": "Something went wrong"}, headers)
            clean = re.sub(r"\.json$", "", path.strip("/"))
            try:
                status, body, extra = self._route(request.method, clean)
            except _Problem as problem:
                return self._respond(problem.status, problem.body, {**headers, **problem.headers})
            if extra.pop("_lose", None):
                self.lost += 1
                request.environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
                raise ConnectionAbortedError("the fake drops this answer on purpose")
            return self._respond(status, body, {**headers, **extra})

    def _route(self, method: str, path: str) -> tuple[int, Any, dict[str, str]]:
        if path == "administrations" and method == "GET":
            self.by_route["GET administrations"] += 1
            return 200, [a.wire() for a in self.admins.values()], {}
        parts = path.split("/")
        admin = self.admins.get(parts[0])
        if admin is None:
            raise _not_found()
        rest = parts[1:]
        route = f"{method} {'/'.join(p if not p.isdigit() else '{id}' for p in rest)}"
        self.by_route[route] += 1
        handlers: dict[str, Callable[[_Administration, list[str]], tuple[int, Any, dict]]] = {
            "GET contacts": self._list_contacts,
            "GET contacts/synchronization": self._contact_versions,
            "POST contacts/synchronization": self._contact_records,
            "GET contacts/{id}": self._contact,
            "GET workflows": lambda a, r: (200, list(a.workflows.values()), {}),
            "GET sales_invoices": self._list_invoices,
            "GET external_sales_invoices": self._list_invoices,
            "GET sales_invoices/synchronization": self._invoice_versions,
            "GET external_sales_invoices/synchronization": self._invoice_versions,
            "POST sales_invoices/synchronization": self._invoice_records,
            "POST external_sales_invoices/synchronization": self._invoice_records,
            "GET sales_invoices/{id}": self._invoice,
            "GET external_sales_invoices/{id}": self._invoice,
            "POST sales_invoices/{id}/payments": self._create_payment,
            "POST external_sales_invoices/{id}/payments": self._create_payment,
            "POST sales_invoices/{id}/notes": self._create_note,
            "POST external_sales_invoices/{id}/notes": self._create_note,
            "POST sales_invoices/{id}/pause": self._pause,
            "GET sales_invoices/{id}/download_pdf": self._download_pdf,
            "POST sales_invoices/{id}/resume": self._pause,
        }
        if self.external_synchronization is not None and route.endswith(
            f"{EXTERNAL}/synchronization"
        ):
            # Routed as `external_sales_invoices/{id}` with id "synchronization".
            if self.external_synchronization == 400:
                raise _Problem(400, {"error": "id is invalid", "symbolic": {"id": "invalid"}})
            raise _Problem(404, {"error": "Record not found for model name: External invoice"})
        handler = handlers.get(route)
        if handler is None:
            raise _not_found()
        return handler(admin, rest)

    # --- helpers for handlers --------------------------------------------------------------

    @staticmethod
    def _json_body() -> dict[str, Any]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise _Problem(400, {"error": "The request body is not valid JSON"})
        return body

    def _page(self, rows: list[Any]) -> tuple[int, Any, dict[str, str]]:
        try:
            page = int(request.args.get("page", "1"))
            per_page = int(request.args.get("per_page", "25"))
        except ValueError:
            raise _Problem(400, {"error": "page and per_page must be numbers"}) from None
        if per_page < 1 or per_page > 100:
            raise _Problem(400, {"error": "per_page must be between 1 and 100"})
        start = (page - 1) * per_page
        chosen = rows[start : start + per_page]
        links = []
        args = {k: v for k, v in request.args.items() if k not in ("page", "per_page")}
        base = request.base_url
        if start + per_page < len(rows):
            query = urlencode({**args, "page": page + 1, "per_page": per_page})
            links.append(f'<{base}?{query}>; rel="next"')
        if page > 1:
            query = urlencode({**args, "page": page - 1, "per_page": per_page})
            links.append(f'<{base}?{query}>; rel="prev"')
        headers = {"X-Total-Count": str(len(rows))}
        if links:
            headers["Link"] = ", ".join(links)
        return 200, chosen, headers

    def _contact_wire(self, contact: dict[str, Any]) -> dict[str, Any]:
        return dict(contact)

    def _invoice_wire(self, admin: _Administration, invoice: dict[str, Any]) -> dict[str, Any]:
        wire = {k: v for k, v in invoice.items() if not k.startswith("_")}
        contact = admin.contacts.get(invoice["contact_id"] or "")
        wire["contact"] = self._contact_wire(contact) if contact else None
        return wire

    def _period(self, text: str) -> tuple[date, date]:
        today = self.today
        presets = {
            "this_year": (date(today.year, 1, 1), date(today.year, 12, 31)),
            "prev_year": (date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
            "next_year": (date(today.year + 1, 1, 1), date(today.year + 1, 12, 31)),
        }
        if text in presets:
            return presets[text]
        match = re.fullmatch(r"(\d{6}|\d{8})\.\.(\d{6}|\d{8})", text)
        if not match:
            raise _Problem(400, {"error": "Period is invalid"})
        try:
            first, last = match.groups()
            start = datetime.strptime(first if len(first) == 8 else first + "01", "%Y%m%d")
            if len(last) == 8:
                end = datetime.strptime(last, "%Y%m%d")
            else:
                nxt = datetime.strptime(last + "01", "%Y%m%d") + timedelta(days=32)
                end = nxt.replace(day=1) - timedelta(days=1)
        except ValueError:
            raise _Problem(400, {"error": "Period is invalid"}) from None
        return start.date(), end.date()

    def _filtered(
        self, admin: _Administration, resource: str, *, period_default: bool
    ) -> list[dict[str, Any]]:
        raw = request.args.get("filter")
        filters: dict[str, str] = {}
        for part in (raw or "").split(","):
            if part:
                key, _, value = part.partition(":")
                if key not in FILTER_KEYS[resource]:
                    raise _Problem(
                        400, {"error": f"Filter {key} isn't an option", "symbolic": {key: "in"}}
                    )
                filters[key] = value
        for state in filters.get("state", "all").split("|"):
            if state not in FILTER_STATES[resource]:
                raise _Problem(400, {"error": "State isn't an option", "symbolic": {"state": "in"}})
        period = filters.get("period") or ("this_year" if period_default else None)
        states = None if filters.get("state", "all") == "all" else set(filters["state"].split("|"))
        start_end = self._period(period) if period else None
        found = []
        for invoice in admin.invoices[resource].values():
            if states is not None and invoice["state"] not in states:
                continue
            if start_end is not None:
                invoiced = date.fromisoformat(invoice.get("invoice_date") or invoice["date"])
                if not start_end[0] <= invoiced <= start_end[1]:
                    continue
            found.append(invoice)
        return found

    # --- handlers --------------------------------------------------------------------------

    def _list_contacts(self, admin: _Administration, rest: list[str]) -> tuple[int, Any, dict]:
        return self._page([self._contact_wire(c) for c in admin.contacts.values()])

    def _contact_versions(self, admin: _Administration, rest: list[str]) -> tuple[int, Any, dict]:
        return 200, [{"id": c["id"], "version": c["version"]} for c in admin.contacts.values()], {}

    def _contact_records(self, admin: _Administration, rest: list[str]) -> tuple[int, Any, dict]:
        ids = [str(i) for i in self._json_body().get("ids") or []][:100]
        return 200, [self._contact_wire(admin.contacts[i]) for i in ids if i in admin.contacts], {}

    def _contact(self, admin: _Administration, rest: list[str]) -> tuple[int, Any, dict]:
        contact = admin.contacts.get(rest[1])
        if contact is None:
            raise _not_found()
        return 200, self._contact_wire(contact), {}

    def _list_invoices(self, admin: _Administration, rest: list[str]) -> tuple[int, Any, dict]:
        rows = self._filtered(admin, rest[0], period_default=True)
        return self._page([self._invoice_wire(admin, i) for i in rows])

    def _invoice_versions(self, admin: _Administration, rest: list[str]) -> tuple[int, Any, dict]:
        with_filter = bool(request.args.get("filter"))
        rows = self._filtered(admin, rest[0], period_default=with_filter)
        return 200, [{"id": i["id"], "version": i["version"]} for i in rows], {}

    def _invoice_records(self, admin: _Administration, rest: list[str]) -> tuple[int, Any, dict]:
        invoices = admin.invoices[rest[0]]
        ids = [str(i) for i in self._json_body().get("ids") or []][:100]
        return 200, [self._invoice_wire(admin, invoices[i]) for i in ids if i in invoices], {}

    def _find(self, admin: _Administration, rest: list[str]) -> dict[str, Any]:
        invoice = admin.invoices[rest[0]].get(rest[1])
        if invoice is None:
            raise _not_found()
        return invoice

    def _download_pdf(self, admin: _Administration, rest: list[str]) -> tuple[int, Any, dict]:
        invoice = self._find(admin, rest)
        location = f"{self.url}/files/{admin.id}/{invoice['id']}.pdf"
        # As described: 302, text/plain "This resource has been moved temporarily to ...".
        text = _Text(f"This resource has been moved temporarily to {location}.")
        return 302, text, {"Location": location}

    def invoice_pdf_bytes(self, adm: str, iid: str) -> bytes:
        number = self.invoice(adm, iid)["invoice_id"]
        return f"%PDF-1.4\n% fake Moneybird invoice {number}\n%%EOF\n".encode()

    def _invoice(self, admin: _Administration, rest: list[str]) -> tuple[int, Any, dict]:
        return 200, self._invoice_wire(admin, self._find(admin, rest)), {}

    def _create_payment(self, admin: _Administration, rest: list[str]) -> tuple[int, Any, dict]:
        invoice = self._find(admin, rest)
        body = self._json_body().get("payment")
        if not isinstance(body, dict):
            raise _Problem(
                400, {"error": "Payment is required", "symbolic": {"payment": "required"}}
            )
        errors: dict[str, list[str]] = {}
        try:
            price = Decimal(str(body.get("price", "")).replace(",", "."))
        except InvalidOperation:
            errors["price"] = ["can't be blank"]
        try:
            paid_on = date.fromisoformat(str(body.get("payment_date", ""))[:10])
        except ValueError:
            errors["payment_date"] = ["can't be blank"]
        if errors:
            details = {k: [{"error": "blank"}] for k in errors}
            raise _Problem(422, {"error": errors, "details": details})
        if invoice["currency"] != admin.currency and "price_base" not in body:
            raise _Problem(422, {"error": {"price_base": ["is required for foreign currencies"]}})
        payment = self._pay(invoice, price, paid_on, body.get("transaction_identifier"))
        for key in ("manual_payment_action", "financial_account_id"):
            if key in body:
                payment[key] = body[key]
        extra: dict[str, str] = {}
        if self.lose_next_write:
            self.lose_next_write = False
            extra["_lose"] = "1"
        return 201, payment, extra

    def _create_note(self, admin: _Administration, rest: list[str]) -> tuple[int, Any, dict]:
        invoice = self._find(admin, rest)
        body = self._json_body().get("note")
        text = body.get("note") if isinstance(body, dict) else None
        if not text:
            raise _Problem(
                422,
                {
                    "error": {"note": ["can't be blank"]},
                    "details": {"note": [{"error": "blank"}]},
                },
            )
        assert isinstance(body, dict)
        now = _stamp(datetime.now(UTC))
        todo = body.get("todo") in (True, "true") or bool(body.get("assignee_id"))
        note = {
            "id": self.next_id(),
            "administration_id": admin.id,
            "entity_id": invoice["id"],
            "entity_type": "SalesInvoice" if rest[0] == SALES else "ExternalSalesInvoice",
            "user_id": 17731481239735,
            "assignee_id": body.get("assignee_id"),
            "todo": todo,
            "note": text,
            "completed_at": None,
            "completed_by_id": None,
            "todo_type": None,
            "data": {},
            "created_at": now,
            "updated_at": now,
        }
        invoice["notes"].append(note)
        self._touch(invoice)
        extra: dict[str, str] = {}
        if self.lose_next_write:
            self.lose_next_write = False
            extra["_lose"] = "1"
        return 201, note, extra

    def _pause(self, admin: _Administration, rest: list[str]) -> tuple[int, Any, dict]:
        invoice = self._find(admin, rest)
        pause = rest[2] == "pause"
        if pause and invoice["paused"]:
            raise _Problem(422, {"error": "The sales_invoice is already paused"})
        if not pause and not invoice["paused"]:
            raise _Problem(422, {"error": "The sales_invoice isn't paused"})
        invoice["paused"] = pause
        self._touch(invoice)
        return 201, self._invoice_wire(admin, invoice), {}


class StubTokens:
    """`AccessTokens` without a core: hands out `tokens[0]`, the next one when rejected."""

    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens or ("token-one",))
        self.current = 0
        self.rejections: list[str] = []

    def access_token(self) -> str:
        return self.tokens[self.current]

    def rejected(self, access_token: str) -> str:
        self.rejections.append(access_token)
        self.current = min(self.current + 1, len(self.tokens) - 1)
        return self.tokens[self.current]


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass
