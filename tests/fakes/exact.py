"""A fake Exact Online on 127.0.0.1 that enforces what Exact's documentation says.

- OAuth2: `/api/oauth2/auth` (consents at once, redirects with a code) and
  `/api/oauth2/token`. Access tokens live 600 s; a refresh while the access token is younger
  than 570 s is refused (401 "Access token not expired", the refresh token stays valid);
  every refresh rotates the refresh token and a rotated one answers 401
  `unauthorized_client` / "Old refresh token used."; at most 200 token calls a day.
- Rate limits per division: 60 calls a minute and 5,000 a day, with
  `X-RateLimit-Minutely-Limit/Remaining/Reset` and `X-RateLimit-Limit/Remaining/Reset`
  (resets in epoch milliseconds) on every answer, a 429 included; `headerless_429 = True`
  sends a bare 429, as Exact sometimes does.
- The error block: more than 10 errors (400/401/403/404) on one endpoint of one division in
  an hour block that endpoint for an hour (403 until then); `blocks` counts them.
- Mandatory `$filter` on standard and bulk endpoints that have a sync counterpart (400 "A
  required filter is missing."); `$select` required on bulk and sync endpoints.
- Paging: standard endpoints 60 rows, bulk/sync/read endpoints 1,000 rows, with `__next`
  carrying an opaque `$skiptoken` the server made (an unknown one is a 400).
- Values as Exact writes them: `/Date(ms)/`, codes padded to 18 characters, numbers.
- As strict as the documentation (`tests/adapters/exact/fixtures/documented_fields.json`,
  the field lists of Exact's REST reference): a row carries documented fields only; a
  `$select` or `$filter` naming a property the endpoint does not have, an unknown query
  option, or a POST body with an undocumented property is a 400 with Exact's error body
  (WCF Data Services wording); an endpoint not in the list is a 404.
- Entry lines need `GLAccount` (400 "Grootboekrekening is verplicht"), an existing G/L
  account of the division. A receipt whose `OurRef` names an open invoice of the account
  becomes a payment term linked to it (`InvoiceNumber` = the invoice's number), as Exact
  books it; one that settles the invoice exactly is matched at once.
- A refresh token unused for 30 days is refused: 400 `invalid_request`, "The refresh token
  expired at ...".

Every time window is multiplied by `time_scale`, so a test can run a "minute" in 0.6 s.
`calls`, `too_many` (429s), `errors` and `blocks` count what a test asserts on.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import random
import re
import secrets
import socket
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import quote
from urllib.parse import urlencode
from urllib.parse import urlsplit

import requests

DOCUMENTED = json.loads(
    (
        Path(__file__).resolve().parents[1]
        / "adapters"
        / "exact"
        / "fixtures"
        / "documented_fields.json"
    ).read_text()
)["endpoints"]
QUERY_OPTIONS = {"$select", "$filter", "$skiptoken", "$top", "$orderby", "$inlinecount"}
REFRESH_TOKEN_LIFETIME = 30 * 86400.0

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
SALES_JOURNAL = "70"
BANK_JOURNAL = "20"
CASH_JOURNAL = "10"

# Standard endpoints that have a sync counterpart, or that Exact filters compulsorily.
MANDATORY_FILTER = {
    "crm/Accounts",
    "cashflow/Receivables",
    "bulk/CRM/Accounts",
    "bulk/Cashflow/Receivables",
    "financialtransaction/BankEntryLines",
    "financialtransaction/CashEntryLines",
    "financialtransaction/BankEntries",
    "financialtransaction/CashEntries",
    "salesentry/SalesEntries",
    "financial/GLAccounts",
}
DEBTORS_GL = "1300"


def odate(day: date) -> str:
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return f"/Date({int(moment.timestamp()) * 1000})/"


def pad(code: str) -> str:
    return code.rjust(18)


class ODataError(Exception):
    pass


# --- a small OData $filter evaluator ----------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<guid>guid'[0-9a-fA-F-]+')|(?P<dt>datetime'[^']*')|(?P<str>'(?:[^']|'')*')"
    r"|(?P<num>-?\d+(?:\.\d+)?)L?|(?P<op>\(|\)|,)|(?P<word>[A-Za-z_][A-Za-z0-9_/]*))"
)


def _tokens(text: str) -> list[tuple[str, Any]]:
    pos = 0
    out: list[tuple[str, Any]] = []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ODataError(f"cannot parse $filter near {text[pos : pos + 20]!r}")
        pos = m.end()
        if m.group("guid"):
            out.append(("lit", m.group("guid")[5:-1].lower()))
        elif m.group("dt"):
            value = datetime.fromisoformat(m.group("dt")[9:-1]).replace(tzinfo=UTC)
            out.append(("lit", int(value.timestamp() * 1000)))
        elif m.group("str") is not None:
            out.append(("lit", m.group("str")[1:-1].replace("''", "'")))
        elif m.group("num"):
            num = m.group("num")
            out.append(("lit", Decimal(num) if "." in num else int(num)))
        elif m.group("op"):
            out.append(("op", m.group("op")))
        else:
            word = m.group("word")
            if word in ("true", "false"):
                out.append(("lit", word == "true"))
            elif word == "null":
                out.append(("lit", None))
            elif word in ("eq", "ne", "gt", "ge", "lt", "le", "and", "or", "not"):
                out.append(("kw", word))
            else:
                out.append(("name", word))
    return out


class _Filter:
    """Parses into a closure over a row; names used are kept in `fields`."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.fields: set[str] = set()
        self.fn = self._or()
        if self.pos != len(self.tokens):
            raise ODataError("trailing tokens in $filter")

    def _peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> tuple[str, Any]:
        tok = self._peek()
        if tok is None:
            raise ODataError("unexpected end of $filter")
        self.pos += 1
        return tok

    def _or(self) -> Callable[[Mapping[str, Any]], Any]:
        left = self._and()
        while self._peek() == ("kw", "or"):
            self._take()
            right = self._and()
            left = (lambda a, b: lambda r: bool(a(r)) or bool(b(r)))(left, right)
        return left

    def _and(self) -> Callable[[Mapping[str, Any]], Any]:
        left = self._cmp()
        while self._peek() == ("kw", "and"):
            self._take()
            right = self._cmp()
            left = (lambda a, b: lambda r: bool(a(r)) and bool(b(r)))(left, right)
        return left

    def _cmp(self) -> Callable[[Mapping[str, Any]], Any]:
        left = self._atom()
        tok = self._peek()
        if tok is not None and tok[0] == "kw" and tok[1] in ("eq", "ne", "gt", "ge", "lt", "le"):
            self._take()
            right = self._atom()
            op = tok[1]

            def compare(r: Mapping[str, Any], a: Any = left, b: Any = right) -> bool:
                x, y = a(r), b(r)
                if op == "eq":
                    return bool(x == y)
                if op == "ne":
                    return bool(x != y)
                if x is None or y is None:
                    return False
                return bool(
                    {"gt": x > y, "ge": x >= y, "lt": x < y, "le": x <= y}[op]  # type: ignore[index]
                )

            return compare
        return left

    def _atom(self) -> Callable[[Mapping[str, Any]], Any]:
        kind, value = self._take()
        if kind == "op" and value == "(":
            inner = self._or()
            if self._take() != ("op", ")"):
                raise ODataError("missing )")
            return inner
        if kind == "kw" and value == "not":
            inner = self._atom()
            return lambda r: not inner(r)
        if kind == "lit":
            return lambda r: value
        if kind == "name":
            if self._peek() == ("op", "("):
                self._take()
                args = [self._or()]
                while self._peek() == ("op", ","):
                    self._take()
                    args.append(self._or())
                if self._take() != ("op", ")"):
                    raise ODataError("missing ) after arguments")
                return self._function(value, args)
            self.fields.add(value)
            return lambda r: _value(r.get(value))
        raise ODataError(f"unexpected {value!r} in $filter")

    def _function(self, name: str, args: list[Any]) -> Callable[[Mapping[str, Any]], Any]:
        if name == "substringof" and len(args) == 2:
            return lambda r: str(args[0](r) or "") in str(args[1](r) or "")
        if name == "startswith" and len(args) == 2:
            return lambda r: str(args[0](r) or "").startswith(str(args[1](r) or ""))
        if name == "trim" and len(args) == 1:
            return lambda r: str(args[0](r) or "").strip()
        raise ODataError(f"unknown function {name}")


def _value(value: Any) -> Any:
    # GUIDs are stored lower-case, as guid'...' literals are read; dates compare as ms.
    if isinstance(value, str) and value.startswith("/Date("):
        m = re.match(r"^/Date\((-?\d+)\)/$", value)
        if m:
            return int(m.group(1))
    return value


# --- state -------------------------------------------------------------------------------------


@dataclass
class Division:
    code: int
    name: str
    currency: str = "EUR"
    country: str = "NL"
    status: int = 1
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    terms: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)  # bank and cash entries
    lines: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    matches: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    gl_accounts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def gl_id(self, code: str) -> str:
        """The GUID of the G/L account with this code."""
        return next(g["ID"] for g in self.gl_accounts.values() if g["Code"] == code)

    def add_gl_account(self, code: str, description: str, kind: int, **extra: Any) -> str:
        gl = {
            "ID": str(uuid.uuid4()),
            "Code": code,
            "Description": description,
            "Type": kind,
            "IsBlocked": False,
            "Division": self.code,
            **extra,
        }
        self.gl_accounts[gl["ID"]] = gl
        return str(gl["ID"])

    def next_entry(self, journal: str, year: int) -> int:
        n = self.counters.get(journal, 0) + 1
        self.counters[journal] = n
        return int(f"{year % 100:02d}{journal}{n:05d}")


@dataclass
class Grant:
    access: str
    refresh: str
    issued: float
    family: int


@dataclass
class Window:
    start: float = 0.0
    used: int = 0


class _RowVersions:
    """Exact's row versions (`Timestamp`): increasing numbers, each remembered with the time
    it was handed out, so `SyncTimestamp` can tell the row version of a moment."""

    def __init__(self, clock: Callable[[], float], start: int = 1000) -> None:
        self._clock = clock
        self._next = start
        self.issued: list[tuple[float, int]] = []

    def __iter__(self) -> _RowVersions:
        return self

    def __next__(self) -> int:
        value = self._next
        self._next += 1
        self.issued.append((self._clock(), value))
        return value

    def age(self, seconds: float) -> None:
        """Move the history back in time: what was made so far was made `seconds` earlier
        (a seeded division as one that existed long before the connector came)."""
        self.issued = [(at - seconds, value) for at, value in self.issued]

    def as_of(self, moment: float) -> int:
        """The highest row version handed out at or before `moment` (1 before any)."""
        found = 1
        for at, value in self.issued:
            if at > moment:
                break
            found = value
        return found


def _no_property(name: str, endpoint: str) -> dict[str, Any]:
    # The wording of WCF Data Services, which Exact's REST API is built on.
    kind = DOCUMENTED.get(endpoint, {}).get("picqer_class", endpoint)
    return _err(f"No property '{name}' exists in type 'Exact.Web.Api.Models.{kind}'.")


class FakeExact:
    """See the module docstring."""

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        minutely_limit: int = 60,
        daily_limit: int = 5000,
        error_limit: int = 10,
        token_daily_limit: int = 200,
        client_id: str = "exact-client-id",
        client_secret: str = "exact-client-secret",  # noqa: S107 - a test value
        webhook_secret: str = "exact-webhook-secret",  # noqa: S107 - a test value
        standard_page: int = 60,
        bulk_page: int = 1000,
        callback_rewrite: Callable[[str], str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.scale = time_scale
        self.minutely_limit = minutely_limit
        self.daily_limit = daily_limit
        self.error_limit = error_limit
        self.token_daily_limit = token_daily_limit
        self.client_id = client_id
        self.client_secret = client_secret
        self.webhook_secret = webhook_secret
        self.standard_page = standard_page
        self.bulk_page = bulk_page
        self.callback_rewrite = callback_rewrite
        self.clock = clock
        self.divisions: dict[int, Division] = {}
        self.lock = threading.RLock()
        self.rowversion = _RowVersions(clock)
        self.hid = itertools.count(1)
        # tokens
        self.grants: dict[str, Grant] = {}  # access token -> grant
        self.refresh_tokens: dict[str, Grant] = {}  # live refresh token -> grant
        self.used_refresh: set[str] = set()
        self.codes: dict[str, str] = {}  # code -> redirect_uri
        self.families = itertools.count(1)
        self.token_calls: deque[float] = deque()
        self.issued: list[str] = []  # every secret handed out, for leak checks
        # limits and counters
        self.minutely: dict[str, Window] = {}
        self.daily: dict[str, Window] = {}
        self.error_log: dict[tuple[str, str], deque[float]] = {}
        self.blocked: dict[tuple[str, str], float] = {}
        self.calls = 0
        self.calls_by: dict[str, int] = {}
        self.calls_by_endpoint: dict[str, int] = {}
        self.too_many = 0
        self.headerless_429 = False
        self.errors = 0
        self.blocks = 0
        self.token_refreshes = 0
        self.requests: list[tuple[str, str]] = []  # (method, path?query) of API calls
        self.bodies: list[tuple[str, str, bytes]] = []  # (method, path?query, body) of all
        self.skiptokens: dict[str, tuple[list[dict[str, Any]], int, str]] = {}
        self.fail_plan: list[tuple[str, str, int]] = []  # (method, endpoint part, status)
        self.drop_next: list[tuple[str, str]] = []  # (method, endpoint part): answer lost
        self.deliveries: list[tuple[str, int]] = []  # (url, status) of webhook posts
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeExact:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeExact:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def settings(self, **extra: Any) -> dict[str, Any]:
        """`[ledgers.exact]` for a test against this fake (tiny waits, fast retries)."""
        values: dict[str, Any] = {
            "api_url": self.url,
            "payment_journal": BANK_JOURNAL,
            "retry_wait_seconds": 0.01,
            "rate_limit_wait_seconds": MINUTE * self.scale,
            "max_wait_seconds": 2 * MINUTE * self.scale + 1,
            "breaker_window_seconds": HOUR * self.scale,
            "timeout_seconds": 10.0,
        }
        values.update(extra)
        return values

    # -- data -----------------------------------------------------------------------------

    def add_division(
        self, code: int, name: str, *, currency: str = "EUR", status: int = 1
    ) -> Division:
        with self.lock:
            division = Division(code, name, currency=currency, status=status)
            # A Dutch standard chart: one accounts receivable account, as a new division has.
            division.add_gl_account(DEBTORS_GL, "Debiteuren", 20)
            division.add_gl_account("1100", "Bank", 12)
            division.add_gl_account("1600", "Crediteuren", 22)
            division.add_gl_account("8000", "Omzet", 110)
            self.divisions[code] = division
            return division

    def add_account(
        self,
        division: int,
        code: str,
        name: str,
        *,
        status: str = "C",
        email: str = "",
        **fields: Any,
    ) -> str:
        with self.lock:
            account_id = str(uuid.uuid4())
            row = {
                "ID": account_id,
                "Code": pad(code),
                "Name": name,
                "Email": email,
                "Phone": fields.pop("Phone", ""),
                "AddressLine1": fields.pop("AddressLine1", ""),
                "AddressLine2": "",
                "Postcode": fields.pop("Postcode", ""),
                "City": fields.pop("City", ""),
                "Country": fields.pop("Country", "NL"),
                "VATNumber": fields.pop("VATNumber", ""),
                "ChamberOfCommerce": fields.pop("ChamberOfCommerce", ""),
                "Language": fields.pop("Language", "NL"),
                "PaymentConditionSales": fields.pop("PaymentConditionSales", "30"),
                "Blocked": fields.pop("Blocked", False),
                "Status": status,
                "IsSales": status == "C",
                "Division": division,
                "Timestamp": next(self.rowversion),
            }
            row.update(fields)
            self.divisions[division].accounts[account_id] = row
            return account_id

    def age(self, seconds: float = 30 * DAY) -> None:
        """Everything made so far was made `seconds` ago (see `_RowVersions.age`)."""
        with self.lock:
            self.rowversion.age(seconds)

    def change_account(self, division: int, account_id: str, **fields: Any) -> None:
        with self.lock:
            row = self.divisions[division].accounts[account_id]
            row.update(fields)
            row["Timestamp"] = next(self.rowversion)

    def add_invoice(
        self,
        division: int,
        account_id: str,
        amount: Decimal | str,
        *,
        invoice_date: date = date(2026, 1, 5),
        due_date: date | None = None,
        terms: int = 1,
        currency: str | None = None,
        your_ref: str = "",
        description: str = "",
    ) -> int:
        """A booked sales invoice with `terms` payment terms; returns its entry number."""
        with self.lock:
            div = self.divisions[division]
            account = div.accounts[account_id]
            entry = div.next_entry(SALES_JOURNAL, invoice_date.year)
            total = Decimal(amount)
            parts = [round(total / terms, 2)] * terms
            parts[-1] = total - sum(parts[:-1])
            due = due_date or invoice_date + timedelta(days=30)
            for n, part in enumerate(parts):
                self._add_term(
                    div,
                    account,
                    entry,
                    part,
                    invoice_number=entry,
                    invoice_date=invoice_date,
                    due_date=due + timedelta(days=30 * n),
                    journal=SALES_JOURNAL,
                    currency=currency or div.currency,
                    your_ref=your_ref,
                    description=description or f"Invoice {entry}",
                )
            return entry

    def _add_term(
        self,
        div: Division,
        account: Mapping[str, Any],
        entry: int,
        amount: Decimal,
        *,
        invoice_number: int | None,
        invoice_date: date,
        due_date: date,
        journal: str,
        currency: str,
        your_ref: str = "",
        description: str = "",
    ) -> dict[str, Any]:
        term_id = str(uuid.uuid4())
        term = {
            "ID": term_id,
            "HID": next(self.hid),
            "Account": account["ID"],
            "AccountCode": account["Code"],
            "AccountName": account["Name"],
            "GLAccount": div.gl_id(DEBTORS_GL),
            "EntryNumber": entry,
            "InvoiceNumber": invoice_number,
            "InvoiceDate": odate(invoice_date),
            "DueDate": odate(due_date),
            "AmountDC": amount,
            "AmountFC": amount,
            "Currency": currency,
            "Description": description,
            "YourRef": your_ref,
            "Journal": journal,
            "JournalCode": journal,
            "Status": 20,
            "LineType": 20,
            "IsFullyPaid": False,
            "Division": div.code,
            "Timestamp": next(self.rowversion),
            "open": amount,
        }
        div.terms[term_id] = term
        return term

    def _touch(self, term: dict[str, Any]) -> None:
        term["Timestamp"] = next(self.rowversion)
        if term["open"] == 0:
            term["Status"] = 50
            term["IsFullyPaid"] = True

    def pay_in_exact(self, division: int, entry: int, amount: Decimal | str) -> None:
        """A payment booked and matched by the accountant in Exact itself."""
        with self.lock:
            left = Decimal(amount)
            for term in sorted(self._terms_of_entry(division, entry), key=lambda t: t["DueDate"]):
                take = min(left, term["open"])
                term["open"] -= take
                left -= take
                self._touch(term)

    def delete_entry(self, division: int, entry: int) -> None:
        with self.lock:
            div = self.divisions[division]
            for term in list(self._terms_of_entry(division, entry)):
                del div.terms[term["ID"]]
                div.deleted.append(
                    {
                        "EntityKey": term["ID"],
                        "EntityType": 10,
                        "Division": division,
                        "Timestamp": next(self.rowversion),
                    }
                )

    def _terms_of_entry(self, division: int, entry: int) -> list[dict[str, Any]]:
        return [t for t in self.divisions[division].terms.values() if t["EntryNumber"] == entry]

    def seed(
        self,
        division: int,
        *,
        accounts: int,
        receivables: int,
        seed: int = 1,
        start_code: int = 1000,
    ) -> list[str]:
        """Deterministic accounts and open invoices (one payment term each)."""
        rng = random.Random(seed * 7919 + division)
        ids = [
            self.add_account(
                division,
                str(start_code + n),
                f"Customer {division}-{n}",
                email=f"ap{n}@customer{division}.example",
                City="Utrecht",
            )
            for n in range(accounts)
        ]
        for n in range(receivables):
            cents = rng.randrange(1_000, 2_500_000)
            day = date(2026, 1, 1) + timedelta(days=n % 90)
            self.add_invoice(
                division,
                ids[n % len(ids)],
                Decimal(cents) / 100,
                invoice_date=day,
                your_ref=f"PO-{n}" if n % 3 == 0 else "",
            )
        return ids

    def receivables(self, division: int) -> list[dict[str, Any]]:
        """ReceivablesList rows: one per open payment term."""
        out = []
        for term in sorted(self.divisions[division].terms.values(), key=lambda t: t["HID"]):
            if term["LineType"] != 20 or term["open"] == 0:
                continue
            out.append(
                {
                    "HID": term["HID"],
                    "AccountId": term["Account"],
                    "AccountCode": term["AccountCode"],
                    "AccountName": term["AccountName"],
                    "Amount": term["open"],
                    "AmountInTransit": Decimal(0),
                    "CurrencyCode": term["Currency"],
                    "Description": term["Description"],
                    "DueDate": term["DueDate"],
                    "EntryNumber": term["EntryNumber"],
                    "InvoiceDate": term["InvoiceDate"],
                    "InvoiceNumber": term["InvoiceNumber"],
                    "JournalCode": term["JournalCode"],
                    "JournalDescription": "Sales"
                    if term["JournalCode"] == SALES_JOURNAL
                    else "Bank",
                    "YourRef": term["YourRef"],
                }
            )
        return out

    def open_by_key(self, division: int) -> dict[str, tuple[Decimal, str]]:
        """What is open per item key "{invoice number}:{AccountId}", to the cent: an invoice
        and the receipts linked to it are one item (an unlinked receipt is its own)."""
        totals: dict[str, tuple[Decimal, str]] = {}
        for row in self.receivables(division):
            key = f"{row['InvoiceNumber'] or row['EntryNumber']}:{row['AccountId']}"
            before = totals.get(key, (Decimal(0), row["CurrencyCode"]))[0]
            totals[key] = (before + row["Amount"], row["CurrencyCode"])
        return totals

    # -- failure switches -----------------------------------------------------------------------

    def fail_next(self, method: str, endpoint: str, status: int, times: int = 1) -> None:
        with self.lock:
            self.fail_plan.extend([(method, endpoint, status)] * times)

    def drop_next_answer(self, method: str, endpoint: str) -> None:
        """Process the next matching request, then close the connection unanswered."""
        with self.lock:
            self.drop_next.append((method, endpoint))

    # -- tokens -----------------------------------------------------------------------------

    def _issue(self, family: int | None = None) -> dict[str, Any]:
        access = "eo-at-" + secrets.token_urlsafe(24)
        refresh = "eo-rt-" + secrets.token_urlsafe(24)
        grant = Grant(access, refresh, self.clock(), family or next(self.families))
        self.grants[access] = grant
        self.refresh_tokens[refresh] = grant
        self.issued.extend([access, refresh])
        lifetime = max(1, round(600 * self.scale))
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": str(lifetime),
            "refresh_token": refresh,
        }

    def issue_tokens(self) -> dict[str, Any]:
        """Tokens as after a consent (for tests that skip the browser)."""
        with self.lock:
            return self._issue()

    def token_endpoint(self, form: Mapping[str, str], auth: str | None) -> tuple[int, Any]:
        with self.lock:
            now = self.clock()
            while self.token_calls and self.token_calls[0] <= now - DAY * self.scale:
                self.token_calls.popleft()
            client_id, client_secret = form.get("client_id"), form.get("client_secret")
            if auth and auth.startswith("Basic "):
                import base64

                raw = base64.b64decode(auth[6:]).decode()
                client_id, _, client_secret = raw.partition(":")
            if client_id != self.client_id or client_secret != self.client_secret:
                return 401, {"error": "invalid_client"}
            if len(self.token_calls) >= self.token_daily_limit:
                return 429, {"error": "rate_limited", "error_description": "200 a day"}
            self.token_calls.append(now)
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                code = form.get("code", "")
                redirect = self.codes.pop(code, None)
                if redirect is None or redirect != form.get("redirect_uri"):
                    return 400, {"error": "invalid_grant"}
                return 200, self._issue()
            if grant_type == "refresh_token":
                token = form.get("refresh_token", "")
                if token in self.used_refresh:
                    return 401, {
                        "error": "unauthorized_client",
                        "error_description": "Old refresh token used.",
                    }
                grant = self.refresh_tokens.get(token)
                if grant is None:
                    return 400, {"error": "invalid_grant"}
                expires = grant.issued + REFRESH_TOKEN_LIFETIME * self.scale
                if now >= expires:
                    at = datetime.fromtimestamp(expires, UTC).strftime("%m/%d/%Y %H:%M:%S")
                    return 400, {
                        "error": "invalid_request",
                        "error_description": f"The refresh token expired at {at}",
                    }
                if now - grant.issued < 570 * self.scale:
                    return 401, {
                        "error": "invalid_request",
                        "error_description": "Access token not expired",
                    }
                del self.refresh_tokens[token]
                self.used_refresh.add(token)
                self.token_refreshes += 1
                return 200, self._issue(grant.family)
            return 400, {"error": "unsupported_grant_type"}

    def _bearer(self, header: str | None) -> Grant | None:
        if not header or not header.startswith("Bearer "):
            return None
        grant = self.grants.get(header[7:])
        if grant is None or self.clock() - grant.issued >= 600 * self.scale:
            return None
        return grant

    # -- limits ---------------------------------------------------------------------------------

    def _window(self, table: dict[str, Window], key: str, length: float, now: float) -> Window:
        window = table.get(key)
        if window is None or now >= window.start + length:
            window = Window(start=now)
            table[key] = window
        return window

    def _limits(self, division: str, now: float) -> tuple[Window, Window]:
        return (
            self._window(self.minutely, division, MINUTE * self.scale, now),
            self._window(self.daily, division, DAY * self.scale, now),
        )

    def rate_headers(self, division: str, now: float) -> dict[str, str]:
        minute, day = self._limits(division, now)
        return {
            "X-RateLimit-Minutely-Limit": str(self.minutely_limit),
            "X-RateLimit-Minutely-Remaining": str(max(0, self.minutely_limit - minute.used)),
            "X-RateLimit-Minutely-Reset": str(int((minute.start + MINUTE * self.scale) * 1000)),
            "X-RateLimit-Limit": str(self.daily_limit),
            "X-RateLimit-Remaining": str(max(0, self.daily_limit - day.used)),
            "X-RateLimit-Reset": str(int((day.start + DAY * self.scale) * 1000)),
        }

    def _error(self, division: str, endpoint: str, now: float) -> None:
        self.errors += 1
        log = self.error_log.setdefault((division, endpoint), deque())
        log.append(now)
        while log and log[0] <= now - HOUR * self.scale:
            log.popleft()
        if len(log) > self.error_limit:
            self.blocked[(division, endpoint)] = now + HOUR * self.scale
            self.blocks += 1

    # -- API dispatch ---------------------------------------------------------------------------

    def api(
        self, method: str, path: str, query: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, str], Any, bool]:
        """(status, headers, JSON body or text, drop the answer)."""
        with self.lock:
            now = self.clock()
            rest = path[len("/api/v1/") :]
            first, _, endpoint = rest.partition("/")
            division = first if first.isdigit() else "current"
            if division == "current":
                endpoint = rest
            key_match = re.match(r"^(.*)\(guid'([0-9a-fA-F-]+)'\)$", endpoint)
            entity_key = None
            if key_match:
                endpoint, entity_key = key_match.group(1), key_match.group(2).lower()
            self.requests.append((method, path + ("?" + query if query else "")))
            self.bodies.append((method, path + ("?" + query if query else ""), body))
            blocked_until = self.blocked.get((division, endpoint))
            if blocked_until is not None and now < blocked_until:
                return 403, {}, _err("Too many errors: this app is blocked for an hour"), False
            grant = self._bearer(headers.get("Authorization"))
            if grant is None:
                self._error(division, endpoint, now)
                return (
                    401,
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'},
                    _err("Unauthorized"),
                    False,
                )
            minute, day = self._limits(division, now)
            if minute.used >= self.minutely_limit or day.used >= self.daily_limit:
                self.too_many += 1
                headers = {} if self.headerless_429 else self.rate_headers(division, now)
                return 429, headers, _err("Too many requests"), False
            minute.used += 1
            day.used += 1
            self.calls += 1
            self.calls_by[division] = self.calls_by.get(division, 0) + 1
            self.calls_by_endpoint[endpoint] = self.calls_by_endpoint.get(endpoint, 0) + 1
            rate = self.rate_headers(division, now)
            for n, (m, part, status) in enumerate(self.fail_plan):
                if m == method and part in endpoint:
                    del self.fail_plan[n]
                    if 400 <= status < 500:
                        self._error(division, endpoint, now)
                    return status, rate, _err(f"injected {status}"), False
            drop = False
            for n, (m, part) in enumerate(self.drop_next):
                if m == method and part in endpoint:
                    del self.drop_next[n]
                    drop = True
                    break
            try:
                status, payload = self._route(method, division, endpoint, entity_key, query, body)
            except ODataError as exc:
                status, payload = 400, _err(str(exc))
            if 400 <= status < 500:
                self._error(division, endpoint, now)
            return status, rate, payload, drop

    def _route(
        self,
        method: str,
        division: str,
        endpoint: str,
        key: str | None,
        query: str,
        body: bytes,
    ) -> tuple[int, Any]:
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        if division == "current":
            if endpoint == "current/Me" and method == "GET":
                first = min(self.divisions) if self.divisions else 0
                rows = [
                    {
                        "CurrentDivision": first,
                        "UserID": str(uuid.UUID(int=1)),
                        "FullName": "Test User",
                        "Email": "user@example.com",
                    }
                ]
                return 200, self._collection(division, endpoint, params, rows, self.standard_page)
            return 404, _err("Not found")
        div = self.divisions.get(int(division))
        if div is None:
            return 403, _err("Forbidden: no access to this division")
        if method == "GET":
            return self._get(div, division, endpoint, key, params)
        if method == "POST":
            try:
                data = json.loads(body or b"{}", parse_float=Decimal)
            except ValueError:
                return 400, _err("Body is not JSON")
            return self._post(div, endpoint, data)
        if method == "DELETE" and endpoint == "webhooks/WebhookSubscriptions" and key:
            if div.subscriptions.pop(key, None) is None:
                return 404, _err("Not found")
            return 204, None
        return 405, _err("Method not allowed")

    def _get(
        self,
        div: Division,
        division: str,
        endpoint: str,
        key: str | None,
        params: dict[str, str],
    ) -> tuple[int, Any]:
        token = params.get("$skiptoken")
        if token is not None:
            entry = self.skiptokens.get(token)
            if entry is None or entry[2] != endpoint:
                return 400, _err("Invalid $skiptoken")
            rows, offset, _ = entry
            size = self._page_size(endpoint)
            return 200, self._page(division, endpoint, params, rows, offset, size)
        documented = DOCUMENTED.get(endpoint)
        if documented is None or "GET" not in documented["methods"]:
            return 404, _err(f"Unknown endpoint {endpoint}")
        allowed = QUERY_OPTIONS | set(documented.get("parameters", ()))
        unknown = [k for k in params if k not in allowed]
        if unknown:
            return 400, _err(f"The query parameter '{unknown[0]}' is not supported.")
        if endpoint == "read/sync/Sync/SyncTimestamp":
            return self._sync_timestamp(division, endpoint, params)
        if endpoint in MANDATORY_FILTER and not params.get("$filter"):
            return 400, _err("A required filter is missing.")
        bulky = endpoint.startswith(("bulk/", "sync/"))
        if bulky and not params.get("$select"):
            return 400, _err("$select is required for this endpoint")
        fields = set(documented["fields"])
        for name in _names(params.get("$select", "")):
            if name not in fields:
                return 400, _no_property(name, endpoint)
        parsed = _Filter(params["$filter"]) if params.get("$filter") else None
        for name in sorted(parsed.fields if parsed else ()):
            if name not in fields:
                return 400, _no_property(name, endpoint)
        source = self._source(div, endpoint)
        if source is None:
            return 404, _err(f"Unknown endpoint {endpoint}")
        rows = source
        if endpoint.startswith("sync/"):
            rows = sorted(rows, key=lambda r: r["Timestamp"])
        if parsed is not None:
            rows = [r for r in rows if parsed.fn(r)]
        return 200, self._collection(division, endpoint, params, rows, self._page_size(endpoint))

    def _sync_timestamp(
        self, division: str, endpoint: str, params: dict[str, str]
    ) -> tuple[int, Any]:
        """`read/sync/Sync/SyncTimestamp?modified=datetime'...'&endPoint='PaymentTerms'`: the
        row version of that moment, for a sync to start from."""
        modified = re.match(r"^datetime'([0-9T:.-]+)'$", params.get("modified", ""))
        api = re.match(r"^'([A-Za-z]+)'$", params.get("endPoint", ""))
        if modified is None or api is None:
            return 400, _err("Both modified (datetime) and endPoint (string) are required.")
        if api.group(1) not in {"PaymentTerms", "Deleted", "Accounts", "TransactionLines"}:
            return 400, _err(f"Unknown endPoint '{api.group(1)}'.")
        moment = datetime.fromisoformat(modified.group(1)).replace(tzinfo=UTC).timestamp()
        row = {
            "Modified": modified.group(1),
            "API": api.group(1),
            "TimeStampAsBigInt": self.rowversion.as_of(moment),
        }
        return 200, self._collection(division, endpoint, {}, [row], self.standard_page)

    def _page_size(self, endpoint: str) -> int:
        if endpoint.startswith(("bulk/", "sync/", "read/")):
            return self.bulk_page
        return self.standard_page

    def _source(self, div: Division, endpoint: str) -> list[dict[str, Any]] | None:
        if endpoint == "system/Divisions":
            return [
                {
                    "Code": d.code,
                    "Description": d.name,
                    "Currency": d.currency,
                    "Country": d.country,
                    "Status": d.status,
                }
                for d in self.divisions.values()
            ]
        if endpoint in ("sync/CRM/Accounts", "crm/Accounts", "bulk/CRM/Accounts"):
            return list(div.accounts.values())
        if endpoint == "read/financial/ReceivablesList":
            return self.receivables(div.code)
        if endpoint in (
            "sync/Cashflow/PaymentTerms",
            "cashflow/Receivables",
            "bulk/Cashflow/Receivables",
        ):
            return [{k: v for k, v in t.items() if k != "open"} for t in div.terms.values()]
        if endpoint == "sync/Deleted":
            return list(div.deleted)
        if endpoint in (
            "financialtransaction/BankEntryLines",
            "financialtransaction/CashEntryLines",
        ):
            kind = "bank" if "Bank" in endpoint else "cash"
            return [line for line in div.lines if line["kind"] == kind]
        if endpoint in ("financialtransaction/BankEntries", "financialtransaction/CashEntries"):
            kind = "bank" if "Bank" in endpoint else "cash"
            return [e for e in div.entries if e["kind"] == kind]
        if endpoint == "salesentry/SalesEntries":
            seen: dict[int, dict[str, Any]] = {}
            for t in div.terms.values():
                if t["JournalCode"] == SALES_JOURNAL and t["EntryNumber"] not in seen:
                    invoice_day = datetime.fromtimestamp(int(t["InvoiceDate"][6:-2]) / 1000, UTC)
                    seen[t["EntryNumber"]] = {
                        "EntryID": t["ID"],
                        "EntryNumber": t["EntryNumber"],
                        "InvoiceNumber": t["InvoiceNumber"],
                        "Customer": t["Account"],
                        "Journal": SALES_JOURNAL,
                        "ReportingYear": invoice_day.year,
                        "ReportingPeriod": invoice_day.month,
                        "Division": div.code,
                    }
            return list(seen.values())
        if endpoint == "activities/CommunicationNotes":
            return list(div.notes)
        if endpoint == "financial/GLAccounts":
            return list(div.gl_accounts.values())
        if endpoint == "webhooks/WebhookSubscriptions":
            return list(div.subscriptions.values())
        return None

    def _collection(
        self,
        division: str,
        endpoint: str,
        params: dict[str, str],
        rows: list[dict[str, Any]],
        size: int,
    ) -> dict[str, Any]:
        names = _names(params.get("$select", "")) or [
            n for n in DOCUMENTED[endpoint]["fields"] if n not in _DEFERRED
        ]
        # Only documented fields leave the fake; one it does not keep is null.
        rows = [{n: r.get(n) for n in names} for r in rows]
        return self._page(division, endpoint, params, rows, 0, size)

    def _page(
        self,
        division: str,
        endpoint: str,
        params: dict[str, str],
        rows: list[dict[str, Any]],
        offset: int,
        size: int,
    ) -> dict[str, Any]:
        chunk = rows[offset : offset + size]
        d: dict[str, Any] = {"results": chunk}
        if offset + size < len(rows):
            token = secrets.token_hex(8)
            self.skiptokens[token] = (rows, offset + size, endpoint)
            keep = {k: v for k, v in params.items() if k != "$skiptoken"}
            keep["$skiptoken"] = token
            prefix = "" if division == "current" else f"{division}/"
            query = "&".join(f"{k}={quote(v, safe='$')}" for k, v in keep.items())
            d["__next"] = f"{self.url}/api/v1/{prefix}{endpoint}?{query}"
        return {"d": d}

    # -- writes ---------------------------------------------------------------------------

    def _post(self, div: Division, endpoint: str, data: Any) -> tuple[int, Any]:
        if not isinstance(data, dict):
            return 400, _err("Body must be an object")
        documented = DOCUMENTED.get(endpoint)
        if documented is None or "POST" not in documented["methods"]:
            return 404, _err(f"Cannot POST to {endpoint}")
        for name in data:
            if name not in documented["fields"]:
                return 400, _no_property(name, endpoint)
        if endpoint in ("financialtransaction/BankEntries", "financialtransaction/CashEntries"):
            return self._post_entry(div, endpoint, data)
        if endpoint == "activities/CommunicationNotes":
            account = str(data.get("Account", "")).lower()
            if account not in div.accounts:
                return 400, _err("Account: not found")
            if not data.get("Subject"):
                return 400, _err("Subject: mandatory")
            note = {
                "ID": str(uuid.uuid4()),
                "Account": account,
                "Subject": data["Subject"],
                "Notes": data.get("Notes", ""),
                "Division": div.code,
            }
            div.notes.append(note)
            return 201, {"d": note}
        if endpoint == "webhooks/WebhookSubscriptions":
            url, topic = data.get("CallbackURL"), data.get("Topic")
            if not isinstance(url, str) or not url.startswith("https://"):
                return 400, _err("CallbackURL: https is required")
            if topic not in ("Accounts", "FinancialTransactions", "SalesInvoices", "Contacts"):
                return 400, _err("Topic: unknown")
            sub = {
                "ID": str(uuid.uuid4()),
                "CallbackURL": url,
                "Topic": topic,
                "Division": div.code,
                "ClientID": self.client_id,
            }
            div.subscriptions[sub["ID"]] = sub
            threading.Timer(0.05, self._deliver, args=(url, b"")).start()
            return 201, {"d": sub}
        return 404, _err(f"Cannot POST to {endpoint}")

    def _post_entry(self, div: Division, endpoint: str, data: dict[str, Any]) -> tuple[int, Any]:
        cash = "Cash" in endpoint
        journal = data.get("JournalCode")
        if journal != (CASH_JOURNAL if cash else BANK_JOURNAL):
            return 400, _err(f"JournalCode: not a {'cash' if cash else 'bank'} journal")
        lines = data.get("CashEntryLines" if cash else "BankEntryLines")
        if not isinstance(lines, list) or not lines:
            return 400, _err("Lines: at least one line is required")
        lines_endpoint = endpoint.removesuffix("Entries") + "EntryLines"
        for line in lines:
            if not isinstance(line, dict):
                return 400, _err("Lines: an object per line")
            for name in line:
                if name not in DOCUMENTED[lines_endpoint]["fields"]:
                    return 400, _no_property(name, lines_endpoint)
            if str(line.get("Account", "")).lower() not in div.accounts:
                return 400, _err("Account: not found")
            if not line.get("GLAccount"):
                return 400, _err("Grootboekrekening is verplicht")
            if str(line["GLAccount"]).lower() not in div.gl_accounts:
                return 400, _err("Grootboekrekening: bestaat niet")
            if isinstance(line.get("AmountFC"), float) or not isinstance(
                line.get("AmountFC"), Decimal | int
            ):
                return 400, _err("AmountFC: mandatory number")
        today = date.fromtimestamp(self.clock())  # noqa: DTZ012 - the fake's own date
        number = div.next_entry(journal, today.year)
        entry = {
            "EntryID": str(uuid.uuid4()),
            "EntryNumber": number,
            "JournalCode": journal,
            "FinancialYear": today.year,
            "FinancialPeriod": today.month,
            "Currency": data.get("Currency", div.currency),
            "kind": "cash" if cash else "bank",
            "Status": 20,
        }
        div.entries.append(entry)
        for line in lines:
            account_id = str(line["Account"]).lower()
            amount = Decimal(line["AmountFC"])
            row = {
                "ID": str(uuid.uuid4()),
                "EntryID": entry["EntryID"],
                "EntryNumber": number,
                "Account": account_id,
                "AmountFC": amount,
                "AmountDC": amount,
                "Description": line.get("Description", ""),
                "Date": line.get("Date"),
                "OurRef": line.get("OurRef"),
                "GLAccount": str(line["GLAccount"]).lower(),
                "kind": entry["kind"],
                "Division": div.code,
            }
            div.lines.append(row)
            self._apply_receipt(div, row, journal, today)
        return 201, {"d": {k: v for k, v in entry.items() if k != "kind"}}

    def _apply_receipt(
        self, div: Division, line: dict[str, Any], journal: str, today: date
    ) -> None:
        account = div.accounts[line["Account"]]
        amount: Decimal = line["AmountFC"]
        invoice = line.get("OurRef")
        open_terms = [
            t
            for t in div.terms.values()
            if t["Account"] == account["ID"] and t["InvoiceNumber"] == invoice and t["open"] != 0
        ]
        if amount > 0 and open_terms and sum(t["open"] for t in open_terms) == amount:
            # Exact matches a receipt that settles what is open on the invoice exactly (its
            # terms less the receipts already linked to it).
            for term in open_terms:
                term["open"] = Decimal(0)
                self._touch(term)
            return
        # The receipt is a payment term of its own; naming an open invoice (OurRef) links it:
        # ReceivablesList then shows it with that invoice's number in InvoiceNumber.
        linked = any(
            t["Account"] == account["ID"] and t["InvoiceNumber"] == invoice
            for t in div.terms.values()
            if t["JournalCode"] == SALES_JOURNAL
        )
        receipt = self._add_term(
            div,
            account,
            line["EntryNumber"],
            -amount,
            invoice_number=invoice if linked and invoice else None,
            invoice_date=today,
            due_date=today,
            journal=journal,
            currency=div.currency,
            description=line.get("Description", ""),
        )
        line["term"] = receipt["ID"]

    def xml_upload(self, topic: str, division: str, body: bytes) -> tuple[int, str]:
        with self.lock:
            div = self.divisions.get(int(division)) if division.isdigit() else None
            if div is None or topic != "MatchSets":
                return 400, _xml_messages("0", "unknown topic or division")
            try:
                root = ET.fromstring(body)  # noqa: S314 - the test's own input
            except ET.ParseError:
                return 400, _xml_messages("0", "not XML")
            done = 0
            for match_set in root.iter("MatchSet"):
                lines = [
                    (int(ml.get("entry", "0")), Decimal(ml.get("amountdc", "0")))
                    for ml in match_set.iter("MatchLine")
                ]
                if not lines or sum(a for _e, a in lines) != 0:
                    return 200, _xml_messages("0", "match lines do not balance")
                for ml in match_set.iter("MatchLine"):
                    when = (ml.get("finyear", ""), ml.get("finperiod", ""))
                    if when != self._period_of(div, int(ml.get("entry", "0"))):
                        return 200, _xml_messages("0", f"entry {ml.get('entry')}: wrong period")
                for entry, amount in lines:
                    terms = [t for t in div.terms.values() if t["EntryNumber"] == entry]
                    if not terms:
                        return 200, _xml_messages("0", f"entry {entry} not found")
                    left = amount
                    for term in terms:
                        take = left if abs(left) <= abs(term["open"]) else term["open"]
                        term["open"] -= take
                        left -= take
                        self._touch(term)
                div.matches.append({"lines": lines})
                done += 1
            return 200, _xml_messages("2", f"{done} match sets processed")

    def _period_of(self, div: Division, entry: int) -> tuple[str, str]:
        """(financial year, period) of an entry: a bank or cash entry's own, a sales
        entry's from its invoice date (the fake's periods are calendar months)."""
        for booked in div.entries:
            if booked["EntryNumber"] == entry:
                return str(booked["FinancialYear"]), str(booked["FinancialPeriod"])
        for term in div.terms.values():
            if term["EntryNumber"] == entry and term["JournalCode"] == SALES_JOURNAL:
                day = datetime.fromtimestamp(int(term["InvoiceDate"][6:-2]) / 1000, UTC)
                return str(day.year), str(day.month)
        return "", ""

    # -- webhooks ---------------------------------------------------------------------------

    def _deliver(self, url: str, body: bytes) -> None:
        target = self.callback_rewrite(url) if self.callback_rewrite else url
        try:
            response = requests.post(
                target, data=body, headers={"Content-Type": "application/json"}, timeout=5
            )
            status = response.status_code
        except requests.RequestException:
            status = 0
        with self.lock:
            self.deliveries.append((url, status))

    def notification(self, division: int, topic: str, key: str, action: str = "Update") -> bytes:
        content = json.dumps(
            {
                "Topic": topic,
                "ClientId": self.client_id,
                "Division": division,
                "Action": action,
                "Key": key,
                "ExactOnlineEndpoint": f"{self.url}/api/v1/{division}/{topic}(guid'{key}')",
            },
            separators=(",", ":"),
        )
        digest = (
            hmac.new(self.webhook_secret.encode(), content.encode(), hashlib.sha256)
            .hexdigest()
            .upper()
        )
        return ('{"Content":' + content + ',"HashCode":"' + digest + '"}').encode()

    def emit(self, division: int, topic: str, key: str, action: str = "Update") -> None:
        """Send a signed notification to every subscription of the topic."""
        with self.lock:
            subs = [
                s for s in self.divisions[division].subscriptions.values() if s["Topic"] == topic
            ]
        for sub in subs:
            self._deliver(sub["CallbackURL"], self.notification(division, topic, key, action))


#: Navigation properties Exact does not expand unless asked (`$expand`).
_DEFERRED = {"BankEntryLines", "CashEntryLines", "SalesEntryLines", "Notes", "Attachments"}


def _names(select: str) -> list[str]:
    return [name.strip() for name in select.split(",") if name.strip()]


def _err(message: str) -> dict[str, Any]:
    return {"error": {"code": "", "message": {"lang": "en-US", "value": message}}}


def _xml_messages(kind: str, text: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><eExact><Messages>'
        f'<Message type="{kind}"><Description>{text}</Description></Message>'
        "</Messages></eExact>"
    )


def _dumps(payload: Any) -> bytes:
    # Decimal amounts as exact literals: 121.10 stays "121.10", not 121.1 via float.
    def mark(value: Any) -> Any:
        if isinstance(value, Decimal):
            return "\u0000dec:" + format(value, "f")
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    text = json.dumps(mark(payload), separators=(",", ":"))
    return re.sub(r'"\\u0000dec:(-?[0-9.]+)"', r"\1", text).encode()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeExact
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, delayed ACKs add 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self, status: int, headers: Mapping[str, str], payload: Any, *, text: bool = False
    ) -> None:
        data = b"" if payload is None else (payload.encode() if text else _dumps(payload))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if payload is not None:
            self.send_header("Content-Type", "application/xml" if text else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        body = self._body()
        if parts.path == "/api/oauth2/auth" and method == "GET":
            q = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if q.get("client_id") != self.fake.client_id or q.get("response_type") != "code":
                self._send(400, {}, {"error": "invalid_request"})
                return
            code = "eo-code-" + secrets.token_urlsafe(12)
            with self.fake.lock:
                self.fake.codes[code] = q.get("redirect_uri", "")
                self.fake.issued.append(code)
            target = (
                q.get("redirect_uri", "")
                + "?"
                + urlencode({"code": code, **({"state": q["state"]} if "state" in q else {})})
            )
            self._send(302, {"Location": target}, None)
            return
        if parts.path == "/api/oauth2/token" and method == "POST":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            status, payload = self.fake.token_endpoint(form, self.headers.get("Authorization"))
            self._send(status, {"Cache-Control": "no-store"}, payload)
            return
        if parts.path == "/docs/XMLUpload.aspx" and method == "POST":
            q = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if self.fake._bearer(self.headers.get("Authorization")) is None:
                self._send(401, {}, {"error": "unauthorized"})
                return
            status, text = self.fake.xml_upload(q.get("Topic", ""), q.get("_Division_", ""), body)
            self._send(status, {}, text, text=True)
            return
        if parts.path.startswith("/api/v1/"):
            status, headers, payload, drop = self.fake.api(
                method, parts.path, parts.query, body, dict(self.headers)
            )
            if drop:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self._send(status, headers, payload)
            return
        self._send(404, {}, {"error": "not found"})


def tokens_for(fake: FakeExact) -> StaticTokens:
    return StaticTokens(fake)


class StaticTokens:
    """A simple `AccessTokens` for tests: asks the fake for a pair and refreshes at 570 s
    (scaled), as the core does; `rejected` is never used by the Exact adapter."""

    def __init__(self, fake: FakeExact) -> None:
        self.fake = fake
        pair = fake.issue_tokens()
        self.token = pair["access_token"]
        self.refresh = pair["refresh_token"]
        self.at = time.time()
        self.calls = 0
        self.rejections = 0

    def access_token(self) -> str:
        self.calls += 1
        if time.time() - self.at >= 570 * self.fake.scale:
            status, body = self.fake.token_endpoint(
                {
                    "grant_type": "refresh_token",
                    "refresh_token": self.refresh,
                    "client_id": self.fake.client_id,
                    "client_secret": self.fake.client_secret,
                },
                None,
            )
            assert status == 200, body
            self.token, self.refresh, self.at = (
                body["access_token"],
                body["refresh_token"],
                time.time(),
            )
        return self.token

    def rejected(self, access_token: str) -> str:
        self.rejections += 1
        return self.access_token()


def iter_rows(payload: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    return payload["d"]["results"]
