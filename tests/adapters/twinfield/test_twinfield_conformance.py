"""Conformance: every request the Twinfield adapter makes, checked against the documented
field list (`fixtures/twinfield_fields.json`, with its sources and date).

The fake records each SOAP request as it arrives; the scenarios are the adapter's whole use:
a full sync through the core, an unchanged and a changed re-sync, a targeted re-read, payment
writes (full, partial, a repeat), a reversal (not offered: no request at all) and a dispute
note set and cleared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.twinfield import create_ledger
from adapters.twinfield.budget import CreditGate
from adapters.twinfield.ledger import TwinfieldLedger
from connector.domain import Money
from connector.errors import NotSupported
from connector.store import Store
from connector.store import records
from connector.sync import sync_administration
from tests.fakes.twinfield import TWF_NS
from tests.fakes.twinfield import FakeDebtor
from tests.fakes.twinfield import FakeTwinfield
from tests.fakes.twinfield import Recorded
from tests.fakes.twinfield import StaticTokens

SPEC: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures" / "twinfield_fields.json").read_text()
)
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _walk(element: Any, path: str, rules: dict[str, Any], problems: list[str]) -> None:
    children: dict[str, list[str]] = rules.get("children", {})
    attributes: dict[str, list[str]] = rules.get("attributes", {})
    values: dict[str, list[str]] = rules.get("values", {})
    limits: dict[str, int] = rules.get("limits", {})
    where = f"<{path or element.tag}>"
    for name, value in element.attrib.items():
        if name not in attributes.get(path, []):
            problems.append(f"{where}: undocumented attribute {name}")
        allowed = values.get(f"{path}@{name}" if path else f"@{name}")
        if allowed is not None and value not in allowed:
            problems.append(f"{where}: {name}={value!r} not one of {allowed}")
    kids = [c for c in element if isinstance(c.tag, str)]
    if kids and path not in children:
        problems.append(f"{where}: has children {[c.tag for c in kids]}, documented as a value")
    for child in kids:
        if child.tag not in children.get(path, []):
            problems.append(f"{where}: undocumented child <{child.tag}>")
            continue
        text = (child.text or "").strip()
        allowed = values.get(child.tag)
        if allowed is not None and not list(child) and text not in allowed:
            problems.append(f"<{child.tag}>: {text!r} not one of {allowed}")
        if child.tag in limits and len(text) > limits[child.tag]:
            problems.append(f"<{child.tag}>: longer than {limits[child.tag]}")
        _walk(child, f"{path}/{child.tag}" if path else child.tag, rules, problems)


def document_problems(document: Any) -> list[str]:
    """What in one ProcessXml document the field list does not describe."""
    rules = SPEC["documents"].get(document.tag)
    if rules is None:
        return [f"undocumented document <{document.tag}>"]
    problems: list[str] = []
    if document.tag == "read":
        kind = document.findtext("type") or ""
        allowed = rules["types"].get(kind)
        if allowed is None:
            return [f"<read>: undocumented type {kind!r}"]
        for child in document:
            if child.tag not in allowed or list(child):
                problems.append(f"<read type={kind}>: undocumented child <{child.tag}>")
        return problems
    _walk(document, "", rules, problems)
    if document.tag == "columns":
        for column in document.iterfind("column"):
            name = column.findtext("field") or ""
            if name not in rules["fields"]:
                problems.append(f"<columns>: field {name!r} not in browse 100's definition")
    return problems


def finder_problems(call: Any) -> list[str]:
    spec = SPEC["finder"]
    problems: list[str] = []
    names = [_local(c.tag) for c in call]
    problems += [f"Finder: undocumented parameter {n}" for n in names if n not in spec["children"]]
    kind = call.findtext(f"{{{TWF_NS}}}type") or ""
    rules = spec["types"].get(kind)
    if rules is None:
        return [*problems, f"Finder: undocumented type {kind!r}"]
    if (call.findtext(f"{{{TWF_NS}}}field") or "") not in spec["field"]:
        problems.append("Finder: undocumented field")
    if int(call.findtext(f"{{{TWF_NS}}}maxRows") or "0") > spec["max_rows"]:
        problems.append("Finder: maxRows above what the adapter may ask")
    for pair in call.iterfind(f"{{{TWF_NS}}}options/{{{TWF_NS}}}ArrayOfString"):
        name, value = [s.text or "" for s in pair]
        if name not in rules["options"]:
            problems.append(f"Finder {kind}: undocumented option {name}")
        allowed = rules["values"].get(name)
        if allowed is not None and value not in allowed:
            problems.append(f"Finder {kind}: {name}={value!r} not one of {allowed}")
        pattern = rules["formats"].get(name)
        if pattern is not None and not re.fullmatch(pattern, value):
            problems.append(f"Finder {kind}: {name}={value!r} not in the documented format")
    return problems


def request_problems(request: Recorded) -> list[str]:
    problems: list[str] = []
    if request.action not in SPEC["services"].get(request.service, []):
        problems.append(f"undocumented service or action {request.service} {request.action}")
    header = SPEC["header"]
    problems += [f"header: undocumented {n}" for n in request.header if n not in header["allowed"]]
    problems += [f"header: {n} missing" for n in header["required"] if n not in request.header]
    if request.service == "finder.asmx":
        return problems + finder_problems(request.document)
    return problems + document_problems(request.document)


@pytest.fixture
def fake() -> Iterator[FakeTwinfield]:
    with FakeTwinfield() as server:
        server.now = NOW
        office = server.add_office("NLA001", "Bakkerij")
        office.add_debtor(
            FakeDebtor("0042", "ACME B.V.", vat="NL123456789B01", send_reminder="email")
        )
        office.add_debtor(FakeDebtor("1001", "J. Jansen", email="jan@example.nl"))
        office.add_debtor(FakeDebtor("2002", "Zonder Schuld"))
        office.add_invoice("0042", "202500069", "121.00", date(2025, 1, 1), date(2025, 1, 31))
        office.add_invoice("1001", "202600001", "19.99", date(2026, 1, 5), date(2026, 2, 4))
        office.add_payment("1001", "202600031", "5.00", date(2026, 3, 2))
        yield server


def make(fake: FakeTwinfield, now: datetime) -> TwinfieldLedger:
    ledger = create_ledger(
        {"validation_url": fake.validation_url, "certified": True, "bank_account": "1100"},
        tokens=StaticTokens(fake),
    )
    gate = ledger.client.gate
    assert isinstance(gate, CreditGate)
    gate.sleep = lambda _s: None
    ledger.clock = lambda: now
    return ledger


def test_every_request_of_every_scenario_is_documented(fake: FakeTwinfield, store: Store) -> None:
    scenarios: dict[str, list[Recorded]] = {}

    def scenario(name: str, start: int) -> None:
        scenarios[name] = fake.requests[start:]

    ledger = make(fake, NOW)
    start = len(fake.requests)
    with store.begin() as conn:
        connection = records.save_connection(
            conn, name="tw", ledger="twinfield", config={}, now=NOW
        )
        saved = records.save_administrations(conn, connection.id, ledger.administrations())
    admin = next(a for a in saved if a.external_id == "NLA001")
    assert sync_administration(store, ledger, admin, clock=lambda: NOW).ok
    scenario("full sync", start)

    start = len(fake.requests)
    later = NOW + timedelta(hours=1)
    ledger.clock = lambda: later
    assert sync_administration(store, ledger, admin, clock=lambda: later).ok
    scenario("unchanged re-sync", start)

    start = len(fake.requests)
    fake.now = later
    office = fake.offices["NLA001"]
    office.debtors["1001"].modified = later
    office.add_invoice(
        "2002", "202600002", "30.00", date(2026, 3, 10), date(2026, 4, 9), modified=later
    )
    evening = NOW + timedelta(hours=8)
    ledger.clock = lambda: evening
    assert sync_administration(store, ledger, admin, clock=lambda: evening).ok
    scenario("re-sync with changes", start)

    start = len(fake.requests)
    items = ledger.read_items(admin.domain(), ["VRK:202500069:1", "VRK:202600001:1"])
    assert len(items) == 2
    scenario("re-read", start)

    start = len(fake.requests)
    invoice = next(i for i in items if i.external_id == "VRK:202500069:1")
    ledger.record_payment(admin.domain(), invoice, Money(Decimal("21.00")), NOW.date(), "dc-1")
    ledger.record_payment(admin.domain(), invoice, Money(Decimal("21.00")), NOW.date(), "dc-1")
    ledger.record_payment(admin.domain(), invoice, Money(Decimal("100.00")), NOW.date(), "dc-2")
    scenario("payment write", start)

    start = len(fake.requests)
    with pytest.raises(NotSupported):
        ledger.reverse_payment(admin.domain(), invoice, Money(Decimal("1.00")), "dc-3")
    scenario("reversal", start)

    start = len(fake.requests)
    ledger.flag_dispute(admin.domain(), invoice, "levering onvolledig", "dc-4")
    ledger.clear_dispute(admin.domain(), invoice, "dc-5")
    scenario("note", start)

    problems = {
        name: [p for r in requests for p in request_problems(r)]
        for name, requests in scenarios.items()
    }
    assert problems == {name: [] for name in scenarios}
    assert scenarios["reversal"] == []  # not offered: nothing is sent
    assert all(requests for name, requests in scenarios.items() if name != "reversal")
    roots = {
        r.document.tag if r.service == "processxml.asmx" else "finder"
        for requests in scenarios.values()
        for r in requests
    }
    assert roots == {"list", "read", "columns", "transaction", "match", "dimension", "finder"}


def test_the_checker_finds_what_the_old_adapter_sent() -> None:
    # The check is real: the dispute note main wrote (inside <financials>) and an unknown
    # browse field are caught.
    from lxml import etree

    old = etree.fromstring(
        "<dimension><office>1</office><type>DEB</type><code>1</code><name>x</name>"
        "<financials><creditmanagement><comment>c</comment></creditmanagement></financials>"
        "</dimension>"
    )
    assert document_problems(old)
    browse = etree.fromstring(
        "<columns code='100'><column><field>fin.trs.line.nope</field></column></columns>"
    )
    assert document_problems(browse) == [
        "<columns>: field 'fin.trs.line.nope' not in browse 100's definition"
    ]
