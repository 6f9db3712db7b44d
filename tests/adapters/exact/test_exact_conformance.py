"""Conformance: every request the Exact adapter makes, checked against Exact's REST reference.

The field lists are `fixtures/documented_fields.json` (its `_source` and `_retrieved` say
where and when they were taken: the docblocks picqer/exact-php-client generates from
Exact's reference pages, one `doc` page per endpoint). The check here is independent of the
fake's own enforcement: it re-reads each recorded request (method, URL, body) and asserts
that the endpoint is documented for that method, that every query option is one OData or
the endpoint knows, that every `$select` and `$filter` name is a documented property, and
that every property of a POST body (and of its entry lines) is documented, with the
properties Exact requires on entry lines present.

Flows recorded: first (full) sync, re-sync after changes, the weekly complete re-read,
payment write (plain and matched through the XML API), reversal, dispute note and its
clearing.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest

from adapters.exact.auth import settings_from
from adapters.exact.ledger import ExactLedger
from connector.domain import Money
from tests.fakes.exact import FakeExact
from tests.fakes.exact import StaticTokens

DOCS = json.loads((Path(__file__).parent / "fixtures" / "documented_fields.json").read_text())
ENDPOINTS: dict[str, Any] = DOCS["endpoints"]
ODATA_OPTIONS = {"$select", "$filter", "$skiptoken", "$top", "$orderby"}
KEYWORDS = {"eq", "ne", "gt", "ge", "lt", "le", "and", "or", "not", "true", "false", "null"}
FUNCTIONS = {"substringof", "startswith", "endswith", "trim", "tolower", "toupper"}
#: What Exact requires on a bank or cash entry line (the reference marks them mandatory).
LINE_REQUIRED = {"Account", "AmountFC", "GLAccount"}


def test_the_field_list_names_its_source_and_date() -> None:
    assert "picqer/exact-php-client" in DOCS["_source"] and "8b350573" in DOCS["_source"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", DOCS["_retrieved"])
    for name, endpoint in ENDPOINTS.items():
        assert endpoint["doc"].startswith("https://start.exactonline.nl/docs/"), name
        assert endpoint["fields"], name


def filter_names(expression: str) -> set[str]:
    """The property names an OData `$filter` uses (literals, keywords, functions removed)."""
    text = re.sub(r"(?:guid|datetime)?'(?:[^']|'')*'", " ", expression)
    text = re.sub(r"\b\d+(?:\.\d+)?L?\b", " ", text)  # numbers, 64-bit ones with their L
    names = set()
    for match in re.finditer(r"[A-Za-z_][A-Za-z0-9_]*(?=\s*(\()?)", text):
        word = match.group(0)
        if match.group(1) or word in KEYWORDS or word in FUNCTIONS:
            continue
        names.add(word)
    return names


def test_filter_names_are_read_as_exact_would() -> None:
    assert filter_names("Account eq guid'1-2' and substringof('[a b]', Description) eq true") == {
        "Account",
        "Description",
    }
    assert filter_names("Timestamp gt 12L and EntityType eq 10") == {"Timestamp", "EntityType"}
    assert filter_names("trim(Code) eq '1300'") == {"Code"}


def endpoint_of(path: str) -> str:
    rest = path.split("/api/v1/", 1)[1]
    first, _, remainder = rest.partition("/")
    endpoint = remainder if first.isdigit() else rest
    return re.sub(r"\(guid'[0-9a-fA-F-]+'\)$", "", endpoint)


def problems(method: str, url: str, body: bytes) -> list[str]:
    """What is wrong with one request against the documented field list."""
    parts = urlsplit(url)
    endpoint = endpoint_of(parts.path)
    doc = ENDPOINTS.get(endpoint)
    if doc is None:
        return [f"{method} {endpoint}: not a documented endpoint"]
    found: list[str] = []
    if method not in doc["methods"]:
        found.append(f"{method} {endpoint}: not a documented method")
    fields = set(doc["fields"])
    params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    for key in params:
        if key not in ODATA_OPTIONS | set(doc.get("parameters", ())):
            found.append(f"{endpoint}: query option {key} is not documented")
    for name in [n.strip() for n in params.get("$select", "").split(",") if n.strip()]:
        if name not in fields:
            found.append(f"{endpoint}: $select {name} is not a documented property")
    for name in sorted(filter_names(params.get("$filter", ""))):
        if name not in fields:
            found.append(f"{endpoint}: $filter {name} is not a documented property")
    if method == "POST":
        data = json.loads(body)
        for name, value in data.items():
            if name not in fields:
                found.append(f"POST {endpoint}: property {name} is not documented")
            if name.endswith("EntryLines"):
                line_doc = set(ENDPOINTS[f"financialtransaction/{name}"]["fields"])
                for line in value:
                    found.extend(
                        f"POST {endpoint}: line property {k} is not documented"
                        for k in line
                        if k not in line_doc
                    )
                    found.extend(
                        f"POST {endpoint}: line lacks the required {k}"
                        for k in sorted(LINE_REQUIRED - set(line))
                    )
    return found


@pytest.fixture
def fake() -> Iterator[FakeExact]:
    with FakeExact(time_scale=0.005) as server:
        server.add_division(101, "Acme BV")
        yield server


def test_every_request_of_every_flow_is_documented(fake: FakeExact) -> None:
    accounts = fake.seed(101, accounts=12, receivables=40)
    fake.age()
    settings = settings_from(fake.settings())
    ledger = ExactLedger(settings, StaticTokens(fake))
    flows: dict[str, list[tuple[str, str, bytes]]] = {}

    def record(name: str, action: Any) -> Any:
        start = len(fake.bodies)
        result = action()
        flows[name] = list(fake.bodies[start:])
        return result

    def drain(feed: Any) -> tuple[list[Any], str | None]:
        records, cursor = [], None
        for page in feed.pages:
            records.extend(page.records)
            cursor = page.cursor or cursor
        return records, cursor

    admin = record("discovery", ledger.administrations)[0]
    _debtors, debtor_cursor = record(
        "full sync: debtors", lambda: drain(ledger.debtors(admin, None))
    )
    items, cursor = record("full sync: items", lambda: drain(ledger.open_items(admin, None)))
    item = max(items, key=lambda i: i.open_amount.amount)

    fake.pay_in_exact(101, int(items[0].external_id.split(":")[0]), "1.00")
    fake.add_invoice(101, accounts[3], "75.00")
    fake.change_account(101, accounts[4], Email="new@example.com")
    record("re-sync: debtors", lambda: drain(ledger.debtors(admin, debtor_cursor)))
    record("re-sync: items", lambda: drain(ledger.open_items(admin, cursor)))
    later = ExactLedger(settings, StaticTokens(fake), clock=lambda: time.time() + 8 * 86400)
    feed = record("weekly re-read", lambda: later.open_items(admin, cursor))
    assert feed.complete
    record("weekly re-read", lambda: drain(feed))

    record(
        "payment write",
        lambda: ledger.record_payment(
            admin, item, Money(Decimal("10.00")), date(2026, 3, 2), "conf-pay"
        ),
    )
    matching = ExactLedger(settings_from(fake.settings(match_payments="xml")), StaticTokens(fake))
    matched = record(
        "payment write, matched (XML)",
        lambda: matching.record_payment(
            admin, item, Money(Decimal("3.00")), date(2026, 3, 2), "conf-xml"
        ),
    )
    assert "not matched" not in matched.ledger_reference
    record("reversal", lambda: ledger.reverse_payment(admin, item, Money(Decimal("5.00")), "rev"))
    record("note", lambda: ledger.flag_dispute(admin, item, "not delivered", "conf-note"))
    record("note cleared", lambda: ledger.clear_dispute(admin, item, "conf-note-clear"))

    assert fake.errors == 0
    seen: set[str] = set()
    for name, requests in flows.items():
        assert requests, f"{name}: no request recorded"
        for method, url, body in requests:
            assert problems(method, url, body) == [], f"{name}: {method} {url}"
            seen.add(f"{method} {endpoint_of(urlsplit(url).path)}")
    # every kind of request the flows are known to need was seen (the recording is real)
    assert {
        "GET current/Me",
        "GET system/Divisions",
        "GET sync/CRM/Accounts",
        "GET read/sync/Sync/SyncTimestamp",
        "GET read/financial/ReceivablesList",
        "GET sync/Cashflow/PaymentTerms",
        "GET sync/Deleted",
        "GET financial/GLAccounts",
        "GET financialtransaction/BankEntryLines",
        "POST financialtransaction/BankEntries",
        "GET activities/CommunicationNotes",
        "GET salesentry/SalesEntries",
        "GET financialtransaction/BankEntries",
        "POST activities/CommunicationNotes",
    } <= seen


def test_the_check_catches_what_the_issue_found() -> None:
    # the requests the adapter made before issue 14, each refused by the check
    url = "https://x/api/v1/101/salesentry/SalesEntries?$filter=EntryNumber eq 1&$select="
    assert problems("GET", url + "EntryNumber,FinancialYear,FinancialPeriod,Journal", b"") == [
        "salesentry/SalesEntries: $select FinancialYear is not a documented property",
        "salesentry/SalesEntries: $select FinancialPeriod is not a documented property",
    ]
    body = json.dumps(
        {"JournalCode": "20", "BankEntryLines": [{"Account": "a", "AmountFC": 1}]}
    ).encode()
    assert problems("POST", "https://x/api/v1/101/financialtransaction/BankEntries", body) == [
        "POST financialtransaction/BankEntries: line lacks the required GLAccount"
    ]
