"""A fake Twinfield on 127.0.0.1: identity endpoints, a cluster, ProcessXml and the Finder.

It behaves the way Twinfield's documentation describes:

- `POST /auth/authentication/connect/token` (client credentials as HTTP Basic;
  `refresh_token` and `authorization_code` grants) and
  `GET /auth/authentication/connect/accesstokenvalidation?token=` (400 for an unknown
  token; otherwise the claims with `twf.clusterUrl`, which is this server's own cluster);
- the cluster's `/webservices/processxml.asmx` (`ProcessXmlString`) and
  `/webservices/finder.asmx` (`Search`), with the `AccessToken` and `CompanyCode` SOAP
  header; ProcessXml handles `<list><type>offices`, `<read>` of dimensions and transactions,
  browse `<columns code="100">`, `<transaction>` (bank payments), `<match>` and
  `<dimension>` (the credit-management comment);
- errors: SOAP faults with Twinfield's codes and the documented HTTP status (or HTTP 200
  when `fault_status` says so), `result="0"` answers with `msgtype="error"` messages and
  HTTP 200, and 429 with `Retry-After` for the credit budget (read 1, write 3 per minute
  per organisation) and for concurrent calls of one organisation.

Failure injection for tests: `throttle_next`, `fail_next` (an HTML 5xx), `fault_next`,
`lose_next_answer` (the write is done, the answer comes too late), `expire_tokens` and
`move_cluster` (the old cluster answers fault 108).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
TWF_NS = "http://www.twinfield.com/"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
QUERY_ROOTS = {"list", "read", "columns", "accountcode", "accountcodes"}
FAULT_STATUS = {"101": 500, "102": 403, "103": 401, "108": 500, "354": 401, "100": 500}
FAULT_TEXT = {
    "100": "Unexpected exception.",
    "101": "The access token and company id or the session id (obsolete) is missing.",
    "102": "Access is denied.",
    "108": "Access to this server is not allowed because the cluster is invalid.",
    "354": "Access denied. Token invalid.",
}
# The children of <creditmanagement>, in the order of the captured response.
CREDIT_FIELDS = (
    "responsibleuser",
    "basecreditlimit",
    "sendreminder",
    "reminderemail",
    "blocked",
    "freetext1",
    "freetext2",
    "freetext3",
    "comment",
)
SEND_REMINDER = ("true", "email", "false")
# The Finder's documented options for type DIM (developers portal, "Customers").
FINDER_DIM_OPTIONS = frozenset(
    {
        "office",
        "level",
        "section",
        "dimtype",
        "modifiedsince",
        "group",
        "matchtype",
        "includehidden",
    }
)
BROWSE_FIELDS = {
    "fin.trs.head.yearperiod": "String",
    "fin.trs.head.code": "String",
    "fin.trs.head.number": "Decimal",
    "fin.trs.head.status": "String",
    "fin.trs.head.date": "Date",
    "fin.trs.head.curcode": "String",
    "fin.trs.line.dim2": "String",
    "fin.trs.line.dim2name": "String",
    "fin.trs.line.valuesigned": "Value",
    "fin.trs.line.basevaluesigned": "Value",
    "fin.trs.line.repvaluesigned": "Value",
    "fin.trs.line.openbasevaluesigned": "Value",
    "fin.trs.line.openvaluesigned": "Value",
    "fin.trs.line.invnumber": "String",
    "fin.trs.line.datedue": "Date",
    "fin.trs.line.matchstatus": "String",
    "fin.trs.line.matchnumber": "Decimal",
    "fin.trs.line.matchdate": "Date",
    "fin.trs.line.modified": "DateTime",
    "fin.trs.line.availableforpayruns": "String",
}


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def _safe_parse(data: bytes | str) -> Any:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(data.encode() if isinstance(data, str) else data, parser)


def _ymd(day: date | None) -> str:
    return day.strftime("%Y%m%d") if day else ""


def _stamp(moment: datetime, zone: Any = AMSTERDAM) -> str:
    return moment.astimezone(zone).strftime("%Y%m%d%H%M%S")


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):f}"


@dataclass
class FakeDebtor:
    code: str
    name: str
    email: str = ""
    reminder_email: str = ""
    street: str = ""
    postcode: str = ""
    city: str = ""
    country: str = "NL"
    phone: str = ""
    vat: str = ""
    kvk: str = ""
    iban: str = ""
    due_days: int | None = 30
    send_reminder: str = "false"
    comment: str = ""
    status: str = "active"
    modified: datetime = field(default_factory=lambda: datetime(2025, 1, 1, tzinfo=UTC))
    responsible_user: str = ""
    base_credit_limit: str = "0.00"
    blocked: str = "false"
    freetext1: str = ""
    freetext2: str = ""
    freetext3: str = ""

    @property
    def credit(self) -> dict[str, str]:
        """The <creditmanagement> block, child by child."""
        return {
            "responsibleuser": self.responsible_user,
            "basecreditlimit": self.base_credit_limit,
            "sendreminder": self.send_reminder,
            "reminderemail": self.reminder_email,
            "blocked": self.blocked,
            "freetext1": self.freetext1,
            "freetext2": self.freetext2,
            "freetext3": self.freetext3,
            "comment": self.comment,
        }

    def set_credit(self, values: dict[str, str]) -> None:
        self.responsible_user = values.get("responsibleuser", "")
        self.base_credit_limit = values.get("basecreditlimit", "") or "0.00"
        self.send_reminder = values.get("sendreminder", "") or "false"
        self.reminder_email = values.get("reminderemail", "")
        self.blocked = values.get("blocked", "") or "false"
        self.freetext1 = values.get("freetext1", "")
        self.freetext2 = values.get("freetext2", "")
        self.freetext3 = values.get("freetext3", "")
        self.comment = values.get("comment", "")


@dataclass
class FakeLine:
    id: int
    type: str
    dim1: str
    dim2: str
    value: Decimal  # signed: debit positive
    invoice_number: str = ""
    due: date | None = None
    open: Decimal = Decimal(0)
    matchstatus: str = "notmatchable"
    matchnumber: int | None = None
    matchdate: date | None = None
    description: str = ""
    modified: datetime = field(default_factory=lambda: datetime(2025, 1, 1, tzinfo=UTC))


@dataclass
class FakeTransaction:
    code: str
    number: str
    day: date
    currency: str
    lines: list[FakeLine]
    freetext1: str = ""
    status: str = "normal"


@dataclass
class FakeOffice:
    code: str
    name: str
    debtors: dict[str, FakeDebtor] = field(default_factory=dict)
    transactions: dict[tuple[str, str], FakeTransaction] = field(default_factory=dict)
    accounts: set[str] = field(default_factory=lambda: {"1100", "1300", "8000"})
    daybooks: set[str] = field(default_factory=lambda: {"VRK", "BNK", "KAS", "MEMO"})
    bank_daybooks: set[str] = field(default_factory=lambda: {"BNK", "KAS"})
    next_match: int = 1

    def add_debtor(self, debtor: FakeDebtor) -> FakeDebtor:
        self.debtors[debtor.code] = debtor
        return debtor

    def add_invoice(
        self,
        debtor: str,
        number: str,
        amount: Decimal | str,
        day: date,
        due: date | None = None,
        *,
        invoice_number: str | None = None,
        currency: str = "EUR",
        open_amount: Decimal | str | None = None,
        modified: datetime | None = None,
    ) -> FakeTransaction:
        """A sales invoice (daybook VRK): line 1 on the customer, line 2 on revenue."""
        value = Decimal(amount)
        still_open = value if open_amount is None else Decimal(open_amount)
        stamp = modified or datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        customer = FakeLine(
            id=1,
            type="total",
            dim1="1300",
            dim2=debtor,
            value=value,
            invoice_number=invoice_number if invoice_number is not None else number,
            due=due,
            open=still_open,
            matchstatus="available" if still_open else "matched",
            modified=stamp,
        )
        revenue = FakeLine(id=2, type="detail", dim1="8000", dim2="", value=-value)
        tx = FakeTransaction("VRK", number, day, currency, [customer, revenue])
        self.transactions[("VRK", number)] = tx
        return tx

    def add_payment(
        self,
        debtor: str,
        number: str,
        amount: Decimal | str,
        day: date,
        *,
        daybook: str = "BNK",
        invoice_number: str = "",
    ) -> FakeTransaction:
        """A payment received on a bank daybook and not matched: line 2 credits the
        customer and stays open (available) until it is matched."""
        value = Decimal(amount)
        stamp = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        bank = FakeLine(id=1, type="total", dim1="1100", dim2="", value=value)
        customer = FakeLine(
            id=2,
            type="detail",
            dim1="1300",
            dim2=debtor,
            value=-value,
            invoice_number=invoice_number,
            open=-value,
            matchstatus="available",
            modified=stamp,
        )
        tx = FakeTransaction(daybook, number, day, "EUR", [bank, customer])
        self.transactions[(daybook, number)] = tx
        return tx

    def open_lines(self) -> Iterator[tuple[FakeTransaction, FakeLine]]:
        for tx in self.transactions.values():
            for line in tx.lines:
                if line.dim2 and line.matchstatus == "available" and line.open != 0:
                    yield tx, line


@dataclass
class Token:
    organisation: str
    valid: bool = True


@dataclass
class Logged:
    action: str
    office: str
    root: str
    status: int
    credits: int


@dataclass
class Recorded:
    """One SOAP request as it arrived: the service, the action, the names in the Twinfield
    header, and the ProcessXml document (or the Finder's `Search` element)."""

    service: str
    action: str
    header: tuple[str, ...]
    document: Any


class FakeTwinfield:
    """See the module docstring. Use as a context manager: it serves on a free port."""

    def __init__(
        self,
        *,
        organisation: str = "ORG1",
        client_id: str = "twinfield-client",
        client_secret: str = "twinfield-secret",  # noqa: S107 - a test server's secret
        credits_per_minute: int = 100_000,
        window_seconds: float = 60.0,
        concurrency: int = 1,
        fault_status: int | None = None,
    ) -> None:
        self.organisation = organisation
        self.client_id = client_id
        self.client_secret = client_secret
        self.credits_per_minute = credits_per_minute
        # The fair-use window; a benchmark shortens it to run a budget-bound sync quickly.
        self.window_seconds = window_seconds
        self.concurrency = concurrency
        self.fault_status = fault_status  # None: the documented status per fault code
        # The zone in which `modifiedsince` and `fin.trs.line.modified` are read and shown:
        # undocumented; public clients send UTC, so tests try both.
        self.zone: Any = AMSTERDAM
        # None, "immediate" (a booked payment naming an open invoice is matched on booking)
        # or "deferred" (matched just after the booking's answer went out).
        self.auto_match: str | None = None
        self._pending: deque[Any] = deque()
        self.offices: dict[str, FakeOffice] = {}
        self.tokens: dict[str, Token] = {}
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> organisation
        self.codes: dict[str, str] = {}  # authorization code -> organisation
        self.cluster = "a"
        self.log: list[Logged] = []
        self.requests: list[Recorded] = []
        self.validations = 0
        self.now: datetime | None = None  # None: the real time
        # Access tokens of another identity server that this fake accepts as its own
        # (the shared test authorization server, for the end-to-end sign-in).
        self.trusted: Any = None
        self._lock = threading.RLock()
        self._spent: dict[str, deque[tuple[float, int]]] = {}
        self._in_flight: dict[str, int] = {}
        self.max_in_flight = 0
        self._throttle: deque[float] = deque()
        self._fail: deque[int] = deque()
        self._faults: deque[str] = deque()
        self._lose_delay: float | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> FakeTwinfield:
        self._server = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=lambda: self._server.serve_forever(poll_interval=0.05), daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def cluster_url(self) -> str:
        return f"{self.base_url}/cluster-{self.cluster}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/auth/authentication/connect/token"

    @property
    def validation_url(self) -> str:
        return f"{self.base_url}/auth/authentication/connect/accesstokenvalidation"

    def clock(self) -> datetime:
        return self.now or datetime.now(UTC)

    # -- test helpers ---------------------------------------------------------------------

    def add_office(self, code: str, name: str) -> FakeOffice:
        office = FakeOffice(code, name)
        self.offices[code] = office
        return office

    def issue_token(self) -> str:
        token = "at-" + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[token] = Token(self.organisation)
        return token

    def issue_refresh_token(self) -> str:
        token = "rt-" + secrets.token_urlsafe(24)
        self.refresh_tokens[token] = self.organisation
        return token

    def issue_code(self) -> str:
        code = "code-" + secrets.token_urlsafe(12)
        self.codes[code] = self.organisation
        return code

    def trust(self, check: Any) -> None:
        """Also accept access tokens for which `check(token)` is true."""
        self.trusted = check

    def _known(self, text: str) -> Token | None:
        token = self.tokens.get(text)
        if token is None and text and self.trusted is not None and self.trusted(text):
            token = self.tokens.setdefault(text, Token(self.organisation))
        return token

    def expire_tokens(self) -> None:
        with self._lock:
            for token in self.tokens.values():
                token.valid = False

    def move_cluster(self, to: str = "b") -> None:
        self.cluster = to

    def throttle_next(self, count: int = 1, retry_after: float = 2.0) -> None:
        self._throttle.extend([retry_after] * count)

    def fail_next(self, status: int = 503, count: int = 1) -> None:
        self._fail.extend([status] * count)

    def fault_next(self, code: str) -> None:
        self._faults.append(code)

    def lose_next_answer(self, delay: float) -> None:
        """The next write is carried out, but its answer comes `delay` seconds late."""
        self._lose_delay = delay

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Until no call is being served (a late answer has gone out); bounded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not any(self._in_flight.values()):
                    return
            time.sleep(0.01)
        msg = "the fake Twinfield stayed busy"
        raise TimeoutError(msg)

    def calls(self, root: str | None = None) -> list[Logged]:
        return [c for c in self.log if root is None or c.root == root]

    def credits(self) -> int:
        return sum(c.credits for c in self.log if c.status == 200)

    # -- WSGI -----------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self._route(request)
        except Exception as exc:  # a bug in the fake: show it as a 500
            response = Response(f"fake error: {exc!r}", status=500)
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        path = request.path
        if path == "/auth/authentication/connect/token" and request.method == "POST":
            return self._token(request)
        if path == "/auth/authentication/connect/accesstokenvalidation":
            return self._validate(request)
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0].startswith("cluster-") and parts[1] == "webservices":
            return self._soap(request, parts[0].removeprefix("cluster-"), parts[2])
        return Response("not found", status=404)

    # -- identity -------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("Authorization", "") != f"Basic {expected}":
            return Response(
                json.dumps({"error": "invalid_client"}), 401, mimetype="application/json"
            )
        grant = request.form.get("grant_type")
        if grant == "refresh_token":
            known = request.form.get("refresh_token", "") in self.refresh_tokens
        elif grant == "authorization_code":
            known = self.codes.pop(request.form.get("code", ""), None) is not None
        else:
            known = False
        if not known:
            return Response(
                json.dumps({"error": "invalid_grant"}), 400, mimetype="application/json"
            )
        body = {
            "access_token": self.issue_token(),
            "expires_in": 3600,
            "token_type": "Bearer",
            "refresh_token": request.form.get("refresh_token") or self.issue_refresh_token(),
        }
        return Response(json.dumps(body), 200, mimetype="application/json")

    def _validate(self, request: Request) -> Response:
        self.validations += 1
        token = self._known(request.args.get("token", ""))
        if token is None or not token.valid:
            return Response(json.dumps({"Message": "invalid token"}), 400)
        claims = {
            "aud": "https://login.twinfield.com/auth/authentication/resources",
            "iss": "https://login.twinfield.com/auth/authentication",
            "client_id": self.client_id,
            "scope": [
                "openid",
                "offline_access",
                "twf.user",
                "twf.organisationUser",
                "twf.organisation",
            ],
            "twf.organisationCode": token.organisation,
            "twf.organisationUserCode": "USER",
            "twf.clusterUrl": self.cluster_url,
        }
        return Response(json.dumps(claims), 200, mimetype="application/json")

    # -- SOAP -----------------------------------------------------------------------------

    def _fault(self, code: str, text: str | None = None) -> Response:
        envelope = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soap": SOAP_NS})
        body = etree.SubElement(envelope, f"{{{SOAP_NS}}}Body")
        fault = etree.SubElement(body, f"{{{SOAP_NS}}}Fault")
        etree.SubElement(fault, "faultcode").text = "soap:Server"
        message = text or FAULT_TEXT.get(code, "Error")
        etree.SubElement(fault, "faultstring").text = message
        detail = etree.SubElement(fault, "detail")
        etree.SubElement(detail, "message").text = message
        etree.SubElement(detail, "code").text = code
        etree.SubElement(detail, "source").text = "ProcessXmlString"
        status = self.fault_status or FAULT_STATUS.get(code, 500)
        return Response(etree.tostring(envelope), status, mimetype="text/xml")

    def _answer(self, element: Any) -> Response:
        envelope = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soap": SOAP_NS})
        body = etree.SubElement(envelope, f"{{{SOAP_NS}}}Body")
        body.append(element)
        return Response(
            etree.tostring(envelope, xml_declaration=True, encoding="utf-8"),
            200,
            mimetype="text/xml",
        )

    def _budget(self, organisation: str, cost: int) -> float | None:
        """None when the call fits the organisation's credits; else seconds to wait."""
        now = time.monotonic()
        spent = self._spent.setdefault(organisation, deque())
        while spent and spent[0][0] <= now - self.window_seconds:
            spent.popleft()
        used = sum(c for _t, c in spent)
        if used + cost > self.credits_per_minute:
            wait = spent[0][0] + self.window_seconds - now
            return max(self.window_seconds / 60, round(wait, 3))
        spent.append((now, cost))
        return None

    def _soap(self, request: Request, cluster: str, service: str) -> Response:
        data = request.get_data()
        action = request.headers.get("SOAPAction", "").strip('"').removeprefix(TWF_NS)
        envelope = _safe_parse(data)
        header = envelope.find(f"{{{SOAP_NS}}}Header/{{{TWF_NS}}}Header")
        token_text = header.findtext(f"{{{TWF_NS}}}AccessToken") if header is not None else None
        office_code = (
            (header.findtext(f"{{{TWF_NS}}}CompanyCode") or "") if header is not None else ""
        )
        body = envelope.find(f"{{{SOAP_NS}}}Body")
        call = body[0]
        document = None
        if service == "processxml.asmx" and action == "ProcessXmlString":
            document = _safe_parse(call.findtext(f"{{{TWF_NS}}}xmlRequest") or "")
            root_name = document.tag
        elif service == "finder.asmx" and action == "Search":
            root_name = "finder"
        else:
            return Response("unknown action", status=400)
        self.requests.append(
            Recorded(
                service=service,
                action=action,
                header=tuple(
                    etree.QName(e).localname for e in (header if header is not None else ())
                ),
                document=document if document is not None else call,
            )
        )
        query = root_name in QUERY_ROOTS or action.startswith(("Get", "Query", "Search", "Load"))
        cost = 1 if query else 3
        token = self._known(token_text or "")
        organisation = token.organisation if token else "?"
        with self._lock:
            if self._throttle:
                wait = self._throttle.popleft()
                return self._throttled(wait, root_name, office_code)
            if self._in_flight.get(organisation, 0) >= self.concurrency:
                return self._throttled(1.0, root_name, office_code)
            wait_for = self._budget(organisation, cost)
            if wait_for is not None:
                return self._throttled(wait_for, root_name, office_code)
            self._in_flight[organisation] = self._in_flight.get(organisation, 0) + 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight[organisation])
        try:
            response = self._serve(
                cluster, token_text, token, office_code, root_name, document, call, query
            )
        finally:
            with self._lock:
                self._in_flight[organisation] -= 1
        spent = self._spent.get(organisation, deque())
        response.headers["X-RateLimit-Limit"] = str(self.credits_per_minute)
        response.headers["X-RateLimit-Remaining"] = str(
            max(0, self.credits_per_minute - sum(c for _t, c in spent))
        )
        self.log.append(Logged(action, office_code, root_name, response.status_code, cost))
        return response

    def _throttled(self, wait: float, root: str, office: str) -> Response:
        self.log.append(Logged("", office, root, 429, 0))
        return Response("Too Many Requests", 429, headers={"Retry-After": f"{wait:g}"})

    def _serve(
        self,
        cluster: str,
        token_text: str | None,
        token: Token | None,
        office_code: str,
        root_name: str,
        document: Any,
        call: Any,
        query: bool,
    ) -> Response:
        while self._pending:  # what happened in Twinfield after the last answer
            self._pending.popleft()()
        if self._fail:
            return Response("<html>Service Unavailable</html>", self._fail.popleft())
        if self._faults:
            return self._fault(self._faults.popleft())
        if not token_text:
            return self._fault("101")
        if token is None or not token.valid:
            return self._fault("354")
        if cluster != self.cluster:
            return self._fault("108")
        if root_name == "list":
            return self._process_answer(self._list(document))
        office = self.offices.get(office_code)
        if office is None:
            return self._fault("101" if not office_code else "102")
        if root_name == "finder":
            return self._answer(self._finder(office, call))
        answer = self._process(office, document)
        if not query and self._lose_delay is not None:
            delay, self._lose_delay = self._lose_delay, None
            time.sleep(delay)
        return self._process_answer(answer)

    def _process_answer(self, answer: Any) -> Response:
        wrapper = etree.Element(f"{{{TWF_NS}}}ProcessXmlStringResponse", nsmap={None: TWF_NS})
        etree.SubElement(wrapper, f"{{{TWF_NS}}}ProcessXmlStringResult").text = etree.tostring(
            answer, encoding="unicode"
        )
        return self._answer(wrapper)

    # -- ProcessXml -----------------------------------------------------------------------

    def _list(self, document: Any) -> Any:
        if document.findtext("type") != "offices":
            return _rejected(document, "Onbekend type.")
        root = etree.Element("offices", result="1")
        for office in self.offices.values():
            etree.SubElement(
                root, "office", name=office.name, shortname=office.name
            ).text = office.code
        return root

    def _process(self, office: FakeOffice, document: Any) -> Any:
        if document.findtext("office") not in (None, office.code):
            return _rejected(document, "Administratie komt niet overeen met de header.")
        name = document.tag
        if name == "read":
            kind = document.findtext("type")
            if kind == "dimensions":
                return self._read_dimension(office, document)
            if kind == "transaction":
                return self._read_transaction(office, document)
            return _rejected(document, "Onbekend type.")
        if name == "columns":
            return self._browse(office, document)
        if name == "transaction":
            return self._book(office, document)
        if name == "match":
            return self._match(office, document)
        if name == "dimension":
            return self._update_dimension(office, document)
        return _rejected(document, "Onbekend verzoek.")

    def _read_dimension(self, office: FakeOffice, document: Any) -> Any:
        debtor = office.debtors.get(document.findtext("code") or "")
        if debtor is None or document.findtext("dimtype") != "DEB":
            root = etree.Element("dimension", result="0")
            etree.SubElement(
                root, "code", msgtype="error", msg="Dimensie bestaat niet."
            ).text = document.findtext("code")
            return root
        return dimension_xml(office, debtor)

    def _read_transaction(self, office: FakeOffice, document: Any) -> Any:
        key = (document.findtext("code") or "", document.findtext("number") or "")
        tx = office.transactions.get(key)
        if tx is None:
            return _rejected(document, "Boeking bestaat niet.")
        return transaction_xml(office, tx)

    def _browse(self, office: FakeOffice, document: Any) -> Any:
        if document.get("code") != "100":
            return _rejected(document, "Onbekende browse.")
        columns = []
        for column in document.iterfind("column"):
            name = column.findtext("field") or ""
            if name not in BROWSE_FIELDS:
                root = etree.Element("browse", result="0")
                etree.SubElement(
                    root, "column", msgtype="error", msg="Veld bestaat niet."
                ).text = name
                return root
            columns.append(
                (
                    name,
                    column.findtext("visible") == "true",
                    column.findtext("operator") or "none",
                    column.findtext("from") or "",
                    column.findtext("to") or "",
                )
            )
        rows = []
        for tx in office.transactions.values():
            for line in tx.lines:
                if not line.dim2 or line.dim2 not in office.debtors:
                    continue
                values = _browse_values(office, tx, line, self.zone)
                if all(_passes(n, values[n], op, lo, hi) for n, _v, op, lo, hi in columns):
                    rows.append((tx, line, values))
        root = etree.Element(
            "browse", result="1", first="1", last=str(len(rows)), total=str(len(rows))
        )
        th = etree.SubElement(root, "th")
        visible = [n for n, v, *_rest in columns if v]
        for name in visible:
            etree.SubElement(
                th, "td", label=name, hideforuser="false", type=BROWSE_FIELDS[name]
            ).text = name
        for tx, line, values in rows:
            tr = etree.SubElement(root, "tr")
            key = etree.SubElement(tr, "key")
            etree.SubElement(key, "office").text = office.code
            etree.SubElement(key, "code").text = tx.code
            etree.SubElement(key, "number").text = tx.number
            etree.SubElement(key, "line").text = str(line.id)
            for name in visible:
                etree.SubElement(
                    tr, "td", field=name, hideforuser="false", type=BROWSE_FIELDS[name]
                ).text = values[name]
        return root

    def _book(self, office: FakeOffice, document: Any) -> Any:
        header = document.find("header")
        code = header.findtext("code") if header is not None else None
        if code not in office.daybooks:
            return _rejected(document, "Dagboek bestaat niet.")
        if document.get("destiny") not in ("final", "temporary"):
            return _rejected(document, "Bestemming ontbreekt.")
        day_text = header.findtext("date") or ""
        try:
            day = datetime.strptime(day_text, "%Y%m%d").date()  # noqa: DTZ007
        except ValueError:
            return _rejected(document, "Datum ongeldig.")
        lines: list[FakeLine] = []
        total = Decimal(0)
        details = Decimal(0)
        now = self.clock()
        for element in document.iterfind("lines/line"):
            value = Decimal(element.findtext("value") or "0")
            signed = value if element.findtext("debitcredit") == "debit" else -value
            kind = element.get("type", "detail")
            dim1 = element.findtext("dim1") or ("1100" if kind == "total" else "")
            dim2 = element.findtext("dim2") or ""
            if kind == "total" and element.findtext("dim1") and dim1 not in office.accounts:
                return _rejected(document, f"Grootboekrekening {dim1} bestaat niet.")
            if kind == "detail":
                if dim1 not in office.accounts:
                    return _rejected(document, f"Grootboekrekening {dim1} bestaat niet.")
                if dim2 and dim2 not in office.debtors:
                    return _rejected(document, f"Debiteur {dim2} bestaat niet.")
                details += signed
            else:
                total += signed
            lines.append(
                FakeLine(
                    id=int(element.get("id") or len(lines) + 1),
                    type=kind,
                    dim1=dim1,
                    dim2=dim2,
                    value=signed,
                    invoice_number=element.findtext("invoicenumber") or "",
                    open=signed if dim2 else Decimal(0),
                    matchstatus="available" if dim2 else "notmatchable",
                    description=element.findtext("description") or "",
                    modified=now,
                )
            )
        if total + details != 0:
            return _rejected(document, "De boeking is niet in balans.")
        count = sum(1 for key in office.transactions if key[0] == code) + 1
        number = f"{day.year}{count:05d}"
        tx = FakeTransaction(
            code,
            number,
            day,
            header.findtext("currency") or "EUR",
            lines,
            freetext1=header.findtext("freetext1") or "",
            status="normal" if document.get("destiny") == "final" else "temporary",
        )
        office.transactions[(code, number)] = tx
        if self.auto_match == "immediate":
            self._auto_match(office, tx)
        elif self.auto_match == "deferred":
            self._pending.append(lambda: self._auto_match(office, tx))
        answer = transaction_xml(office, tx)
        answer.set("location", "final" if tx.status == "normal" else "temporary")
        return answer

    def _match(self, office: FakeOffice, document: Any) -> Any:
        match_set = document.find("set")
        if match_set is None or match_set.findtext("matchcode") != "170":
            return _rejected(document, "Afletter-code ongeldig.")
        picked: list[tuple[FakeLine, Decimal]] = []
        for element in match_set.iterfind("lines/line"):
            key = (element.findtext("transcode") or "", element.findtext("transnumber") or "")
            tx = office.transactions.get(key)
            line_id = element.findtext("transline") or ""
            line = next((x for x in tx.lines if str(x.id) == line_id), None) if tx else None
            if line is None or line.matchstatus != "available":
                return _rejected(document, "Regel is niet beschikbaar voor afletteren.")
            given = element.findtext("matchvalue")
            value = Decimal(given) if given else line.open
            if abs(value) > abs(line.open) or (value * line.open) < 0:
                return _rejected(document, "Afletterbedrag groter dan openstaand bedrag.")
            picked.append((line, value))
        if len(picked) < 2 or sum(v for _l, v in picked) != 0:
            return _rejected(document, "De afletterset is niet in evenwicht.")
        day = datetime.strptime(match_set.findtext("matchdate") or "", "%Y%m%d").date()  # noqa: DTZ007
        number = office.next_match
        office.next_match += 1
        now = self.clock()
        for line, value in picked:
            line.open -= value
            line.matchstatus = "matched" if line.open == 0 else "available"
            line.matchdate = day
            line.matchnumber = number
            line.modified = now
        root = etree.Element("match", result="1")
        etree.SubElement(root, "matchnumber").text = str(number)
        return root

    def _auto_match(self, office: FakeOffice, tx: FakeTransaction) -> None:
        """Match a booked customer line to the open invoice line its invoice number names
        (what `auto_match` makes the fake do; whether Twinfield does is undocumented)."""
        for line in tx.lines:
            if not line.dim2 or line.matchstatus != "available" or not line.invoice_number:
                continue
            for other in office.transactions.values():
                if other is tx:
                    continue
                target = next(
                    (
                        x
                        for x in other.lines
                        if x.dim2 == line.dim2
                        and x.invoice_number == line.invoice_number
                        and x.matchstatus == "available"
                        and x.open * line.open < 0
                    ),
                    None,
                )
                if target is None:
                    continue
                value = min(abs(target.open), abs(line.open))
                number = office.next_match
                office.next_match += 1
                for matched in (line, target):
                    matched.open -= value if matched.open > 0 else -value
                    matched.matchstatus = "matched" if matched.open == 0 else "available"
                    matched.matchnumber = number
                    matched.matchdate = tx.day
                    matched.modified = self.clock()
                break

    def _update_dimension(self, office: FakeOffice, document: Any) -> Any:
        code = document.findtext("code") or ""
        debtor = office.debtors.get(code)
        if debtor is None or document.findtext("type") != "DEB":
            return _rejected(document, "Dimensie bestaat niet.")
        # Only <dimension><creditmanagement> is kept; a <creditmanagement> anywhere else
        # (inside <financials>) is not a field of the dimension and changes nothing.
        block = document.find("creditmanagement")
        if block is not None:
            values: dict[str, str] = {}
            for child in block:
                if child.tag not in CREDIT_FIELDS:
                    return _rejected(document, f"Onbekend veld {child.tag}.")
                values[child.tag] = (
                    (child.text or "").strip() if child.tag != "comment" else (child.text or "")
                )
            if values.get("sendreminder", "false") not in SEND_REMINDER:
                return _rejected(document, "Herinneringen versturen: ongeldige waarde.")
            # Undocumented whether omitted children are kept: this fake takes the strict
            # reading, a block replaces the whole block (omitted children become empty).
            debtor.set_credit(values)
        debtor.modified = self.clock()
        return dimension_xml(office, debtor)

    # -- Finder ---------------------------------------------------------------------------

    def _finder(self, office: FakeOffice, call: Any) -> Any:
        def text(name: str) -> str:
            return call.findtext(f"{{{TWF_NS}}}{name}") or ""

        options = {}
        for pair in call.iterfind(f"{{{TWF_NS}}}options/{{{TWF_NS}}}ArrayOfString"):
            values = [s.text or "" for s in pair.iterfind(f"{{{TWF_NS}}}string")]
            if len(values) == 2:
                options[values[0]] = values[1]
        response = etree.Element(f"{{{TWF_NS}}}SearchResponse", nsmap={None: TWF_NS})
        result = etree.SubElement(response, f"{{{TWF_NS}}}SearchResult")

        def error(text_: str, code: str) -> Any:
            message = etree.SubElement(result, f"{{{TWF_NS}}}MessageOfErrorCodes")
            etree.SubElement(message, f"{{{TWF_NS}}}Type").text = "Error"
            etree.SubElement(message, f"{{{TWF_NS}}}Text").text = text_
            etree.SubElement(message, f"{{{TWF_NS}}}Code").text = code
            return response

        if text("type") == "BNK":  # cash books and banks
            if set(options) - {"office"}:
                return error("Invalid option for this finder type.", "InvalidOption")
            return self._finder_rows(response, text, sorted(office.bank_daybooks), office)
        if text("type") != "DIM" or options.get("dimtype") != "DEB":
            return error("Invalid finder type.", "InvalidFinderType")
        unknown = sorted(set(options) - FINDER_DIM_OPTIONS)
        if unknown:
            return error(f"Option '{unknown[0]}' is not valid.", "InvalidOption")
        hidden = options.get("includehidden", "0")
        if hidden not in ("0", "1"):
            return error("Option 'includehidden' has an invalid value.", "InvalidOptionValue")
        since = options.get("modifiedsince", "")
        if since and not (since.isdigit() and len(since) in (8, 14)):
            return error(
                "Option 'modifiedsince' has an invalid date.", "InvalidDateTimeOptionValue"
            )
        if len(since) == 8:
            since += "000000"
        codes = sorted(
            d.code
            for d in office.debtors.values()
            if d.status != "deleted"
            and (d.status == "active" or hidden == "1")
            and (not since or _stamp(d.modified, self.zone) >= since)
        )
        return self._finder_rows(response, text, codes, office)

    def _finder_rows(self, response: Any, text: Any, codes: list[str], office: FakeOffice) -> Any:
        first = max(int(text("firstRow") or "1"), 1)
        size = int(text("maxRows") or "100")
        page = codes[first - 1 : first - 1 + size]
        data = etree.SubElement(response, f"{{{TWF_NS}}}data")
        etree.SubElement(data, f"{{{TWF_NS}}}TotalRows").text = str(len(codes))
        columns = etree.SubElement(data, f"{{{TWF_NS}}}Columns")
        for name in ("Code", "Name"):
            etree.SubElement(columns, f"{{{TWF_NS}}}string").text = name
        items = etree.SubElement(data, f"{{{TWF_NS}}}Items")
        for code in page:
            row = etree.SubElement(items, f"{{{TWF_NS}}}ArrayOfString")
            etree.SubElement(row, f"{{{TWF_NS}}}string").text = code
            found = office.debtors.get(code)
            etree.SubElement(row, f"{{{TWF_NS}}}string").text = found.name if found else code
        return response


def _rejected(document: Any, message: str) -> Any:
    root = etree.Element(document.tag, result="0", msgtype="error", msg=message)
    return root


def _passes(name: str, value: str, operator: str, low: str, high: str) -> bool:
    if operator in ("none", "") or (not low and not high):
        return True
    if operator == "equal":
        return value == low
    if operator == "like":
        return low.strip("*%") in value
    if operator == "between":
        if name == "fin.trs.head.number" and value.isdigit() and low.isdigit() and high.isdigit():
            return int(low) <= int(value) <= int(high)
        return (not low or value >= low) and (not high or value <= high)
    return False


def _browse_values(
    office: FakeOffice, tx: FakeTransaction, line: FakeLine, zone: Any = AMSTERDAM
) -> dict[str, str]:
    return {
        "fin.trs.head.yearperiod": f"{tx.day.year}/{tx.day.month:02d}",
        "fin.trs.head.code": tx.code,
        "fin.trs.head.number": tx.number,
        "fin.trs.head.status": tx.status,
        "fin.trs.head.date": _ymd(tx.day),
        "fin.trs.head.curcode": tx.currency,
        "fin.trs.line.dim2": line.dim2,
        "fin.trs.line.dim2name": office.debtors[line.dim2].name,
        "fin.trs.line.valuesigned": _money(line.value),
        "fin.trs.line.basevaluesigned": _money(line.value),
        "fin.trs.line.repvaluesigned": _money(line.value),
        "fin.trs.line.openbasevaluesigned": _money(line.open),
        "fin.trs.line.openvaluesigned": _money(line.open),
        "fin.trs.line.invnumber": line.invoice_number,
        "fin.trs.line.datedue": _ymd(line.due),
        "fin.trs.line.matchstatus": line.matchstatus,
        "fin.trs.line.matchnumber": str(line.matchnumber or ""),
        "fin.trs.line.matchdate": _ymd(line.matchdate),
        "fin.trs.line.modified": _stamp(line.modified, zone),
        "fin.trs.line.availableforpayruns": "true",
    }


def dimension_xml(office: FakeOffice, debtor: FakeDebtor) -> Any:
    root = etree.Element("dimension", result="1", status=debtor.status)
    for name, value in (
        ("office", office.code),
        ("type", "DEB"),
        ("code", debtor.code),
        ("name", debtor.name),
    ):
        etree.SubElement(root, name).text = value
    financials = etree.SubElement(root, "financials")
    etree.SubElement(financials, "duedays").text = (
        str(debtor.due_days) if debtor.due_days is not None else ""
    )
    etree.SubElement(financials, "ebillmail").text = debtor.email
    # <creditmanagement> is a child of <dimension>, beside <financials> (php-twinfield's
    # captured customerGetResponse.xml; go-twinfield and murb/twinfield agree).
    credit = etree.SubElement(root, "creditmanagement")
    for name in CREDIT_FIELDS:
        etree.SubElement(credit, name).text = debtor.credit.get(name, "")
    addresses = etree.SubElement(root, "addresses")
    address = etree.SubElement(addresses, "address", id="1", type="invoice", default="true")
    for name, value in (
        ("name", debtor.name),
        ("country", debtor.country),
        ("city", debtor.city),
        ("postcode", debtor.postcode),
        ("telephone", debtor.phone),
        ("email", debtor.email),
        ("field2", debtor.street),
        ("field4", debtor.vat),
        ("field5", debtor.kvk),
    ):
        etree.SubElement(address, name).text = value
    banks = etree.SubElement(root, "banks")
    if debtor.iban:
        bank = etree.SubElement(banks, "bank", id="1", default="true")
        etree.SubElement(bank, "iban").text = debtor.iban
    return root


def transaction_xml(office: FakeOffice, tx: FakeTransaction) -> Any:
    root = etree.Element("transaction", result="1", location="final")
    header = etree.SubElement(root, "header")
    for name, value in (
        ("office", office.code),
        ("code", tx.code),
        ("number", tx.number),
        ("date", _ymd(tx.day)),
        ("currency", tx.currency),
        ("freetext1", tx.freetext1),
    ):
        etree.SubElement(header, name).text = value
    lines = etree.SubElement(root, "lines")
    for line in tx.lines:
        element = etree.SubElement(lines, "line", id=str(line.id), type=line.type)
        etree.SubElement(element, "dim1").text = line.dim1
        etree.SubElement(element, "dim2").text = line.dim2
        etree.SubElement(element, "value").text = _money(abs(line.value))
        etree.SubElement(element, "debitcredit").text = "debit" if line.value >= 0 else "credit"
        etree.SubElement(element, "invoicenumber").text = line.invoice_number
        etree.SubElement(element, "description").text = line.description
        etree.SubElement(element, "matchstatus").text = line.matchstatus
        etree.SubElement(element, "openbasevalue").text = _money(line.open)
    return root


@dataclass
class StaticTokens:
    """An `AccessTokens` stub over the fake: a token now, a fresh one when refused."""

    fake: FakeTwinfield
    token: str = ""
    refreshed: int = 0

    def access_token(self) -> str:
        if not self.token:
            self.token = self.fake.issue_token()
        return self.token

    def rejected(self, access_token: str) -> str:
        self.refreshed += 1
        if access_token == self.token:
            self.token = self.fake.issue_token()
        return self.token
