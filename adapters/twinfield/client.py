"""Twinfield's SOAP web services: envelopes, limits, retries, faults.

Every call is a SOAP 1.1 POST to the organisation's cluster, with a header that carries the
access token and the office (`CompanyCode`). Two services are used:

- `processxml.asmx` `ProcessXmlString`: an XML document (`<read>`, `<list>`, `<columns>`,
  `<transaction>`, `<match>`, `<dimension>`) travels as an escaped string and the answer
  comes back the same way;
- `finder.asmx` `Search`: code lists (debtor codes, modified since a moment).

XML is built with lxml, never by pasting strings, and every answer (the SOAP envelope and the
document inside it) is parsed with entity resolution, DTD loading and network access off;
a document that declares a DTD at all is refused.

Errors arrive in three ways, each mapped to the connector's errors:

- a SOAP fault with a Twinfield code in its detail, with HTTP 200, 401, 403 or 500 alike:
  `FAULTS` says what each code means (a stale token is refreshed once, a wrong cluster is
  looked up again once, an outage is retried, a dead grant asks for a new connection);
- a ProcessXml answer with `result="0"` and `msgtype="error"` messages, with HTTP 200:
  `Rejected` for a read, `InputRejected` for a write (nothing was changed);
- HTTP 429 (the credit or the concurrency limit): the request was not processed, so it is
  retried after `Retry-After`, with exponential backoff and jitter from there; a wait longer
  than `max_wait_seconds` becomes `RateLimited` for the caller.

Limits kept on our side: read calls cost 1 credit and writes 3 (the fair-use policy:
ProcessXml roots list/read/columns and Finder `Search` are queries), spent from the ClientId's
shared `budget.CreditBudget` (25 or 500 a minute, see `budget`), and one call in flight per
organisation (one ledger object serves one connection, i.e. one organisation).

Server errors and timeouts of reads are retried with tenacity (random exponential backoff).
A write whose answer is lost is *not* retried here: it may have been booked, so it surfaces
as `RetriableLedgerError` and the ledger looks for its idempotency key before trying again.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Literal

import requests
from lxml import etree
from tenacity import Retrying
from tenacity import retry_if_exception_type
from tenacity import stop_after_attempt
from tenacity import wait_random_exponential

from adapters.twinfield.auth import ClusterResolver
from adapters.twinfield.auth import TokenRefused
from adapters.twinfield.budget import Clock
from adapters.twinfield.budget import CreditBudget
from adapters.twinfield.budget import CreditGate
from adapters.twinfield.budget import Sleep
from adapters.twinfield.documents import Element
from connector.errors import AuthError
from connector.errors import InputRejected
from connector.errors import LedgerError
from connector.errors import RateLimited
from connector.errors import ReconnectRequired
from connector.errors import RetriableLedgerError
from connector.ports import AccessTokens

logger = logging.getLogger(__name__)

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
TWF_NS = "http://www.twinfield.com/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
PROCESS_XML_PATH = "/webservices/processxml.asmx"
FINDER_PATH = "/webservices/finder.asmx"

READ_CREDITS = 1
WRITE_CREDITS = 3
QUERY_ROOTS = frozenset({"list", "read", "columns", "accountcode", "accountcodes"})


# --- safe parsing --------------------------------------------------------------------------


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)


def parse_xml(data: bytes | str, what: str = "Twinfield's answer") -> Element:
    """Parse XML from Twinfield safely: no entities, no DTDs, no network.

    Raises:
        LedgerError: not well-formed, or it declares a DTD (which Twinfield never does).
    """
    if isinstance(data, str):
        # A str cannot carry an encoding declaration into lxml; the text is already decoded.
        # Parsed as UTF-8 bytes: libxml2 is quadratic on a str with an unfinished
        # declaration (`<?xml` and 100 KB of spaces: 25 s; as bytes, 1 ms).
        # (A lone surrogate cannot be encoded: "surrogatepass" keeps it an XML syntax error.)
        data = _DECLARATION.sub("", data, count=1).encode("utf-8", "surrogatepass")
    if _DOCTYPE.search(data):
        # Checked before parsing, so no entity or external DTD is ever looked at.
        msg = f"{what} declares a DTD; refused (Twinfield never sends one)"
        raise LedgerError(msg)
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        msg = f"{what} is not well-formed XML ({exc.msg})"
        raise LedgerError(msg) from None
    if root is None:
        msg = f"{what} is empty"
        raise LedgerError(msg)
    if root.getroottree().docinfo.doctype:
        msg = f"{what} declares a DTD; refused (Twinfield never sends one)"
        raise LedgerError(msg)
    return root


def serialize(element: Element) -> str:
    return str(etree.tostring(element, encoding="unicode"))


def local(tag: object) -> str:
    """An element's name without its namespace."""
    text = str(tag)
    return text.rsplit("}", 1)[-1]


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


# --- faults --------------------------------------------------------------------------------

FaultKind = Literal["token", "cluster", "retry", "reconnect", "denied", "error"]


@dataclass(frozen=True, slots=True)
class FaultRule:
    kind: FaultKind
    meaning: str


# Twinfield's documented web-service error codes (developers portal, "Guidelines").
FAULTS: dict[str, FaultRule] = {
    "100": FaultRule("retry", "Twinfield had an unexpected error"),
    "101": FaultRule("error", "the request lacked the access token or the office"),
    "102": FaultRule("denied", "access is denied"),
    "103": FaultRule("token", "the log-on credentials are not valid any more"),
    "104": FaultRule("reconnect", "the Twinfield log-on has been deleted"),
    "105": FaultRule("reconnect", "the Twinfield log-on has been disabled"),
    "106": FaultRule("reconnect", "the Twinfield organisation is no longer active"),
    "108": FaultRule("cluster", "this cluster is not the organisation's cluster"),
    "109": FaultRule("reconnect", "the user has no access to any office"),
    "110": FaultRule("cluster", "logging on is not allowed on this server"),
    "122": FaultRule("error", "the client software is not allowed"),
    "168": FaultRule("token", "another session took over this log-on"),
    "186": FaultRule("error", "Twinfield could not unpack the request"),
    "187": FaultRule("error", "Twinfield could not read the request XML"),
    "351": FaultRule("reconnect", "the grant lacks the twf.organisationUser scope"),
    "352": FaultRule("reconnect", "the grant lacks the twf.organisation scope"),
    "353": FaultRule("reconnect", "the grant lacks the twf.organisation scope"),
    "354": FaultRule("token", "the access token is not valid"),
    "358": FaultRule("retry", "Twinfield could not validate the token"),
    "359": FaultRule("denied", "the office is not valid for this grant"),
}


@dataclass(frozen=True, slots=True)
class Fault:
    code: str
    message: str
    rule: FaultRule | None


def _clean(text: str, limit: int = 200) -> str:
    value = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return value[:limit]


def soap_fault(root: Element) -> Fault | None:
    """The fault in a SOAP envelope, if any (the code from `detail/code`)."""
    body = root.find(_q(SOAP_NS, "Body"))
    if body is None:
        return None
    found = body.find(_q(SOAP_NS, "Fault"))
    if found is None:
        return None
    text = found.findtext("faultstring") or ""
    code = ""
    for element in found.iter():
        name = local(element.tag)
        if name == "code" and (element.text or "").strip():
            code = (element.text or "").strip()
        elif name == "message" and (element.text or "").strip() and not text:
            text = element.text or ""
    return Fault(code, _clean(text), FAULTS.get(code))


class Rejected(LedgerError):
    """Twinfield refused a read with result="0"; `messages` holds its error messages."""

    def __init__(self, message: str, messages: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.messages = tuple(messages)


def result_messages(root: Element) -> tuple[bool, list[str]]:
    """Whether a ProcessXml answer succeeded, and its error messages.

    `result` sits on the root, or on each child when the request was a batch; messages are
    `msg` attributes on whatever element had the problem (`msgtype="error"`).
    """
    errors = [
        _clean(str(e.get("msg", "")))
        for e in root.iter()
        if isinstance(e.tag, str) and e.get("msgtype") == "error"
    ]
    result = root.get("result")
    if result is not None:
        return result == "1", errors
    children = [c.get("result") for c in root if isinstance(c.tag, str) and c.get("result")]
    return all(r == "1" for r in children), errors


# --- limits --------------------------------------------------------------------------------


@dataclass
class CallStats:
    calls: int = 0
    credits: int = 0
    by_action: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    rate_wait_seconds: float = 0.0

    def count(self, action: str, credits: int) -> None:
        self.calls += 1
        self.credits += credits
        self.by_action[action] += 1


# --- the client ----------------------------------------------------------------------------


class _Transient(Exception):
    """A failure worth another attempt (tenacity): 5xx, timeouts, connection errors."""

    def __init__(self, error: RetriableLedgerError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True, slots=True)
class FinderPage:
    total: int
    rows: tuple[tuple[str, ...], ...]


class TwinfieldClient:
    """SOAP calls for one connection (one organisation), shared by all its offices."""

    def __init__(
        self,
        tokens: AccessTokens,
        resolver: ClusterResolver,
        session: requests.Session,
        *,
        budget: CreditBudget | None = None,
        credits_per_minute: int = 25,
        timeout: float = 120.0,
        attempts: int = 4,
        max_wait: float = 120.0,
        backoff: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.tokens = tokens
        self.resolver = resolver
        self.session = session
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.max_wait = max_wait
        self.backoff = backoff
        self.sleep = sleep
        # The credit budget is shared (per ClientId, see `budget`); one call in flight is
        # per connection, i.e. per organisation, as Wolters Kluwer asks.
        self.gate: CreditBudget = budget or CreditGate(credits_per_minute, clock=clock, sleep=sleep)
        self.in_flight = threading.Lock()
        self.stats = CallStats()

    def __repr__(self) -> str:
        cluster = self.resolver.cached()
        return f"TwinfieldClient(cluster={cluster.url if cluster else None!r})"

    # -- ProcessXml -----------------------------------------------------------------------

    def process_xml(self, document: Element, office: str | None) -> Element:
        """Send one ProcessXml document; its answer's root element.

        Raises:
            Rejected: a read that Twinfield answered with result="0".
            InputRejected: a write that Twinfield refused (nothing was changed).
            LedgerError, RetriableLedgerError, RateLimited, AuthError: see the module.
        """
        root_name = local(document.tag)
        write = root_name not in QUERY_ROOTS
        request = etree.Element(_q(TWF_NS, "ProcessXmlString"), nsmap={None: TWF_NS})
        etree.SubElement(request, _q(TWF_NS, "xmlRequest")).text = serialize(document)
        body = self._call(
            PROCESS_XML_PATH,
            "ProcessXmlString",
            request,
            office,
            credits=WRITE_CREDITS if write else READ_CREDITS,
            write=write,
            label=f"{root_name}" + (f":{_type_of(document)}" if _type_of(document) else ""),
        )
        text = body.findtext(f".//{{{TWF_NS}}}ProcessXmlStringResult")
        if text is None:
            msg = "Twinfield's ProcessXml answer has no result"
            raise LedgerError(msg)
        answer = parse_xml(text, "Twinfield's ProcessXml result")
        ok, errors = result_messages(answer)
        if not ok:
            summary = "; ".join(e for e in errors if e) or "no reason given"
            what = f"Twinfield refused the {root_name} request: {summary}"
            if write:
                raise InputRejected(what, errors)
            raise Rejected(what, errors)
        return answer

    # -- Finder ---------------------------------------------------------------------------

    def finder(
        self,
        office: str,
        finder_type: str,
        *,
        pattern: str = "*",
        field_index: int = 0,
        first_row: int = 1,
        max_rows: int = 25,
        options: Iterable[tuple[str, str]] = (),
    ) -> FinderPage:
        """One page of a Finder search (`first_row` counts from 1).

        Raises:
            LedgerError: the Finder reported an error message.
        """
        request = etree.Element(_q(TWF_NS, "Search"), nsmap={None: TWF_NS})
        for name, value in (
            ("type", finder_type),
            ("pattern", pattern),
            ("field", str(field_index)),
            ("firstRow", str(first_row)),
            ("maxRows", str(max_rows)),
        ):
            etree.SubElement(request, _q(TWF_NS, name)).text = value
        holder = etree.SubElement(request, _q(TWF_NS, "options"))
        for name, value in options:
            pair = etree.SubElement(holder, _q(TWF_NS, "ArrayOfString"))
            etree.SubElement(pair, _q(TWF_NS, "string")).text = name
            etree.SubElement(pair, _q(TWF_NS, "string")).text = value
        body = self._call(
            FINDER_PATH,
            "Search",
            request,
            office,
            credits=READ_CREDITS,
            write=False,
            label=f"finder:{finder_type}",
        )
        response = body.find(_q(TWF_NS, "SearchResponse"))
        if response is None:
            msg = "Twinfield's Finder answer has no SearchResponse"
            raise LedgerError(msg)
        problems = [
            _clean(m.findtext(_q(TWF_NS, "Text")) or m.findtext(_q(TWF_NS, "Code")) or "")
            for m in response.iter(_q(TWF_NS, "MessageOfErrorCodes"))
            if m.findtext(_q(TWF_NS, "Type")) == "Error"
        ]
        if problems:
            msg = f"Twinfield's Finder refused the search: {'; '.join(problems)}"
            raise LedgerError(msg)
        data = response.find(_q(TWF_NS, "data"))
        if data is None:
            return FinderPage(0, ())
        try:
            total = int(data.findtext(_q(TWF_NS, "TotalRows")) or "0")
        except ValueError:
            total = 0
        rows = tuple(
            tuple((s.text or "") for s in item.findall(_q(TWF_NS, "string")))
            for item in data.iterfind(f"{{{TWF_NS}}}Items/{{{TWF_NS}}}ArrayOfString")
        )
        return FinderPage(total, rows)

    # -- one call, with limits and retries ------------------------------------------------

    def _call(
        self,
        path: str,
        action: str,
        request: Element,
        office: str | None,
        *,
        credits: int,
        write: bool,
        label: str,
    ) -> Element:
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_random_exponential(multiplier=self.backoff, max=30),
            retry=retry_if_exception_type(_Transient),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(path, action, request, office, credits, write, label)
        except _Transient as exc:
            raise exc.error from None
        msg = "unreachable"  # pragma: no cover
        raise AssertionError(msg)  # pragma: no cover

    def _once(
        self,
        path: str,
        action: str,
        request: Element,
        office: str | None,
        credits: int,
        write: bool,
        label: str,
    ) -> Element:
        """One logical attempt: a stale token is refreshed once, a wrong cluster looked up
        again once, and 429s waited out (each bounded), before anything is given up."""
        refreshed = relocated = False
        limited = 0
        while True:
            token = self.tokens.access_token()
            try:
                cluster = self.resolver.cluster(token)
            except TokenRefused:
                if refreshed:
                    msg = "Twinfield does not accept a freshly refreshed token; connect again"
                    raise ReconnectRequired(msg) from None
                refreshed = True
                self.tokens.rejected(token)
                continue
            self.gate.acquire(credits)
            response = self._post(cluster.url + path, action, token, office, request, write)
            self.stats.count(label, credits)
            logger.debug(
                "twinfield %s office=%s status=%s remaining=%s",
                label,
                office,
                response.status_code,
                response.headers.get("X-RateLimit-Remaining", "?"),
            )
            if response.status_code == 429:
                limited += 1
                self._wait_for_limit(response, limited)
                continue
            root = self._envelope(response)
            fault = soap_fault(root) if root is not None else None
            if fault is not None:
                kind = fault.rule.kind if fault.rule else self._kind_of(response.status_code)
                if kind == "token" and not refreshed:
                    refreshed = True
                    self.tokens.rejected(token)
                    continue
                if kind == "cluster" and not relocated:
                    relocated = True
                    self.resolver.invalidate()
                    continue
                raise self._fault_error(fault, kind, office, write)
            status = response.status_code
            if status in (401, 403):
                if status == 401 and not refreshed:
                    refreshed = True
                    self.tokens.rejected(token)
                    continue
                msg = f"Twinfield refused access ({status}) to office {office or '-'}"
                raise AuthError(msg)
            if status >= 500:
                msg = f"Twinfield answered {status}; try again later"
                error = RetriableLedgerError(msg, status=status)
                if write:
                    raise error
                raise _Transient(error)
            if status != 200 or root is None:
                msg = f"Twinfield answered {status} to {action}"
                raise LedgerError(msg, status=status)
            body = root.find(_q(SOAP_NS, "Body"))
            if body is None:
                msg = f"Twinfield's answer to {action} has no SOAP body"
                raise LedgerError(msg)
            return body

    def _post(
        self,
        url: str,
        action: str,
        token: str,
        office: str | None,
        request: Element,
        write: bool,
    ) -> requests.Response:
        envelope = build_envelope(token, office, request)
        headers = {
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f'"{TWF_NS}{action}"',
        }
        with self.in_flight:
            try:
                return self.session.post(url, data=envelope, headers=headers, timeout=self.timeout)
            except requests.ConnectTimeout:
                error = RetriableLedgerError("Twinfield could not be reached (connect timeout)")
                raise _Transient(error) from None
            except (requests.Timeout, requests.ConnectionError) as exc:
                name = type(exc).__name__
                if write:
                    msg = (
                        f"Twinfield gave no answer to a write ({name}); it may have been "
                        "booked, so it is looked up before it is sent again"
                    )
                    raise RetriableLedgerError(msg) from None
                error = RetriableLedgerError(f"Twinfield could not be reached ({name})")
                raise _Transient(error) from None
            except requests.RequestException as exc:
                msg = f"Twinfield could not be called ({type(exc).__name__})"
                raise LedgerError(msg) from None

    def _wait_for_limit(self, response: requests.Response, count: int) -> None:
        self.stats.rate_limited += 1
        start = _seconds(response.headers.get("Retry-After")) or 1.0
        if count >= self.attempts or start > self.max_wait:
            msg = "Twinfield's rate limit: too many requests; try again later"
            raise RateLimited(msg, retry_after=start)
        # Exponential from Retry-After, with jitter, as the fair-use policy asks.
        wait = min(start * 2 ** (count - 1), self.max_wait) * random.uniform(1.0, 1.25)  # noqa: S311
        logger.info("Twinfield rate limit (429): waiting %.1f s", wait)
        self.stats.rate_wait_seconds += wait
        self.sleep(wait)

    @staticmethod
    def _envelope(response: requests.Response) -> Element | None:
        if not response.content:
            return None
        try:
            return parse_xml(response.content, "Twinfield's SOAP answer")
        except LedgerError:
            if response.status_code == 200:
                raise
            return None  # an HTML error page with a 5xx: judged by the status

    @staticmethod
    def _kind_of(status: int) -> FaultKind:
        if status >= 500:
            return "retry"
        if status == 401:
            return "token"
        if status == 403:
            return "denied"
        return "error"

    @staticmethod
    def _fault_error(fault: Fault, kind: FaultKind, office: str | None, write: bool) -> Exception:
        meaning = fault.rule.meaning if fault.rule else fault.message or "a SOAP fault"
        code = f" (code {fault.code})" if fault.code else ""
        if kind == "retry":
            error = RetriableLedgerError(f"Twinfield: {meaning}{code}; try again later")
            # A write that failed this way may still have been booked: never blindly again.
            return error if write else _Transient(error)
        if kind == "reconnect" or kind == "token":
            return ReconnectRequired(f"Twinfield: {meaning}{code}; connect again")
        if kind == "denied":
            return AuthError(f"Twinfield: {meaning} to office {office or '-'}{code}")
        if kind == "cluster":
            return RetriableLedgerError(f"Twinfield: {meaning}{code}")
        detail = f": {fault.message}" if fault.message and fault.message != meaning else ""
        return LedgerError(f"Twinfield: {meaning}{code}{detail}")


def build_envelope(token: str, office: str | None, request: Element) -> bytes:
    """The SOAP envelope: the Twinfield header (token, office) and the request."""
    envelope = etree.Element(_q(SOAP_NS, "Envelope"), nsmap={"soap": SOAP_NS, "xsi": XSI_NS})
    header = etree.SubElement(envelope, _q(SOAP_NS, "Header"))
    twf = etree.SubElement(header, _q(TWF_NS, "Header"), nsmap={None: TWF_NS})
    etree.SubElement(twf, _q(TWF_NS, "AccessToken")).text = token
    if office:
        etree.SubElement(twf, _q(TWF_NS, "CompanyCode")).text = office
    # minOccurs=1 and nillable in the WSDL: present, and nil because CompanyCode names it.
    etree.SubElement(twf, _q(TWF_NS, "CompanyId")).set(_q(XSI_NS, "nil"), "true")
    body = etree.SubElement(envelope, _q(SOAP_NS, "Body"))
    body.append(request)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


def _type_of(document: Element) -> str:
    found = document.findtext("type") or document.get("code")
    return str(found or "")


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
