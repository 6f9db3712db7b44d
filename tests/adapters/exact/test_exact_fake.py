"""The ledger against the fake Exact (a real HTTP server on 127.0.0.1), through the core's
sync engine and store: what Exact enforces is enforced, and the adapter stays inside it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from adapters.exact import WEBHOOKS
from adapters.exact.auth import settings_from
from adapters.exact.ledger import ExactLedger
from connector.domain import Money
from connector.errors import InputRejected
from connector.errors import LedgerError
from connector.errors import RateLimited
from connector.errors import RetriableLedgerError
from connector.errors import WebhookRejected
from connector.oauth.client import ClientCredentials
from connector.oauth.client import FailureKind
from connector.oauth.client import OAuthClient
from connector.oauth.client import TokenFailure
from connector.oauth.config import resolve_spec
from connector.store import Store
from connector.store import records
from connector.store.schema import debtors
from connector.store.schema import open_items
from connector.sync import sync_all
from tests.fakes.exact import FakeExact
from tests.fakes.exact import StaticTokens

SCALE = 0.005  # a minute is 0.3 s, an hour 18 s


@pytest.fixture
def fake() -> Iterator[FakeExact]:
    with FakeExact(time_scale=SCALE) as server:
        server.add_division(101, "Acme BV")
        server.add_division(102, "Beta BV")
        server.add_division(103, "Archived BV", status=2)
        yield server


def make_ledger(fake: FakeExact, **config: Any) -> ExactLedger:
    return ExactLedger(settings_from(fake.settings(**config)), StaticTokens(fake))


def connect(store: Store, ledger: ExactLedger) -> None:
    with store.begin() as conn:
        c = records.save_connection(
            conn, name="exact", ledger="exact", config={}, now=datetime.now(UTC)
        )
        records.save_administrations(conn, c.id, ledger.administrations())


def stored(store: Store, division: str) -> dict[str, tuple[Decimal, str]]:
    with store.begin() as conn:
        admin = records.find_administration(conn, division)
        rows = conn.execute(
            select(open_items.c.external_id, open_items.c.open_amount, open_items.c.currency)
            .where(open_items.c.administration_id == admin.id)
            .where(open_items.c.status == "open")
        )
        return {ext: (Decimal(amount), cur) for ext, amount, cur in rows}


def test_sync_through_the_core_equals_exacts_receivables_to_the_cent(
    store: Store, fake: FakeExact
) -> None:
    accounts = fake.seed(101, accounts=70, receivables=1300)
    fake.seed(102, accounts=5, receivables=20, start_code=5000)
    extra = fake.add_invoice(101, accounts[0], "99.99", terms=3, currency="USD")
    fake.age()  # a history older than the first sync's cursor margin
    ledger = make_ledger(fake)
    connect(store, ledger)
    summaries = sync_all(store, lambda _c: ledger)
    assert all(s.ok for s in summaries), [s.error for s in summaries]
    assert {s.administration for s in summaries} == {"Acme BV", "Beta BV"}  # not archived
    for division in ("101", "102"):
        assert stored(store, division) == fake.open_by_key(int(division))
    key = f"{extra}:{accounts[0]}"
    assert stored(store, "101")[key] == (Decimal("99.99"), "USD")
    with store.begin() as conn:
        admin = records.find_administration(conn, "101")
        codes = {
            code
            for (code,) in conn.execute(
                select(debtors.c.code).where(debtors.c.administration_id == admin.id)
            )
        }
    assert "1000" in codes and len(codes) == 70  # trimmed of Exact's padding

    # Unchanged: at most two calls per stream (one for debtors, two for items).
    before = dict(fake.calls_by)
    summaries = sync_all(store, lambda _c: ledger)
    assert all(s.ok for s in summaries)
    assert fake.calls_by["102"] - before["102"] == 3
    # plus system/Divisions, which is asked in the user's current division
    assert fake.calls_by["101"] - before["101"] == 4
    assert fake.calls_by["current"] - before["current"] == 1  # current/Me

    # Changes in Exact: a full and a partial payment, a new invoice, a changed e-mail.
    entries = sorted(stored(store, "101"))
    paid = int(entries[0].split(":")[0])
    partial = int(entries[1].split(":")[0])
    fake.pay_in_exact(101, paid, fake.open_by_key(101)[entries[0]][0])
    fake.pay_in_exact(101, partial, "10.00")
    new = fake.add_invoice(101, accounts[5], "250.00")
    fake.change_account(101, accounts[6], Email="new@customer.example")
    before = dict(fake.calls_by)
    summaries = sync_all(store, lambda _c: ledger)
    assert all(s.ok for s in summaries)
    assert stored(store, "101") == fake.open_by_key(101)
    assert entries[0] not in stored(store, "101")
    assert f"{new}:{accounts[5]}" in stored(store, "101")
    assert fake.calls_by["101"] - before["101"] <= 5
    with store.begin() as conn:
        emails = {
            code: email for code, email in conn.execute(select(debtors.c.code, debtors.c.email))
        }
    assert emails["1006"] == "new@customer.example"

    # A deleted entry: Exact reports a deleted payment term, the read becomes complete.
    gone = entries[2]
    fake.delete_entry(101, int(gone.split(":")[0]))
    summaries = sync_all(store, lambda _c: ledger)
    assert all(s.ok for s in summaries)
    assert gone not in stored(store, "101")
    assert stored(store, "101") == fake.open_by_key(101)
    assert (fake.too_many, fake.blocks) == (0, 0)


def test_the_limiter_waits_through_minutely_windows_without_a_429(fake: FakeExact) -> None:
    fake.minutely_limit = 8
    fake.bulk_page = 10
    fake.seed(101, accounts=20, receivables=300)
    ledger = make_ledger(fake, minutely_reserve=1)
    admin = ledger.administrations()[0]
    started = time.monotonic()
    items = [i for p in ledger.open_items(admin, None).pages for i in p.records]
    assert {i.external_id: (i.open_amount.amount, "EUR") for i in items} == fake.open_by_key(101)
    # 30 pages of the list, and the two cursors from SyncTimestamp
    assert fake.calls_by_endpoint["read/financial/ReceivablesList"] == 30
    assert fake.calls_by_endpoint["read/sync/Sync/SyncTimestamp"] == 2
    assert fake.too_many == 0
    assert ledger.client.limiter.waited_seconds > 0
    assert time.monotonic() - started < 30


def test_a_429_without_headers_is_waited_out(fake: FakeExact) -> None:
    fake.seed(101, accounts=3, receivables=3)
    ledger = make_ledger(fake)
    ledger.administrations()
    fake.headerless_429 = True
    fake.minutely_limit = 0  # the next call is refused with a bare 429 ...
    threading.Timer(0.1, setattr, args=(fake, "minutely_limit", 60)).start()  # ... then not
    admin = ledger.administrations()[0]
    assert admin.external_id == "101"
    assert fake.too_many >= 1 and fake.errors == 0


def test_the_daily_reserve_stops_a_sync_before_exacts_limit(fake: FakeExact) -> None:
    fake.daily_limit = 40
    fake.bulk_page = 5
    fake.seed(101, accounts=200, receivables=0)  # 40 pages of 5
    ledger = make_ledger(fake, daily_reserve=10)
    admin = ledger.administrations()[0]
    with pytest.raises(RateLimited, match="kept for write-backs"):
        list(ledger.debtors(admin, None).pages)
    assert fake.too_many == 0
    assert fake.daily["101"].used == 30  # 40 a day, 10 kept


def test_the_breaker_keeps_the_app_from_being_blocked(fake: FakeExact) -> None:
    ledger = make_ledger(fake)
    refused = 0
    for _ in range(20):
        try:
            ledger.client.get("101", "crm/Accounts", {"$select": "ID"})  # no $filter
        except InputRejected as exc:
            assert "A required filter is missing" in str(exc)
            refused += 1
        except LedgerError as exc:
            assert "not called again" in str(exc)
    assert refused == 5
    assert fake.errors == 5 and fake.blocks == 0
    ledger.client.get("101", "sync/CRM/Accounts", {"$filter": "Timestamp gt 1L", "$select": "ID"})


def test_the_fake_refuses_guessed_skiptokens_and_a_missing_select(fake: FakeExact) -> None:
    ledger = make_ledger(fake, breaker_errors=9)
    with pytest.raises(InputRejected, match="skiptoken"):
        ledger.client.get("101", "sync/CRM/Accounts", {"$select": "ID", "$skiptoken": "61"})
    with pytest.raises(InputRejected, match="select"):
        ledger.client.get("101", "sync/CRM/Accounts", {"$filter": "Timestamp gt 1L"})


def test_a_payment_repeated_after_a_lost_answer_is_booked_once(fake: FakeExact) -> None:
    accounts = fake.seed(101, accounts=2, receivables=2)
    entry = fake.add_invoice(101, accounts[1], "121.00")
    ledger = make_ledger(fake)
    admin = ledger.administrations()[0]
    item = next(
        i
        for i in ledger.read_items(admin, [f"{entry}:{accounts[1]}"])
        if i.invoice_number == str(entry)
    )
    fake.drop_next_answer("POST", "financialtransaction/BankEntries")
    with pytest.raises(RetriableLedgerError, match="looked up"):
        ledger.record_payment(admin, item, Money(Decimal("40.00")), date(2026, 3, 2), "dc-1-2")
    receipt = ledger.record_payment(
        admin, item, Money(Decimal("40.00")), date(2026, 3, 2), "dc-1-2"
    )
    assert receipt.already_recorded and receipt.amount == Money(Decimal("40.00"))
    lines = [ln for ln in fake.divisions[101].lines if "[dc-1-2]" in ln["Description"]]
    assert len(lines) == 1 and lines[0]["AmountFC"] == Decimal("40.00")
    # Booked, not matched: Exact links the receipt to the invoice (OurRef), so the item
    # is the invoice less the receipt.
    assert fake.open_by_key(101)[item.external_id] == (Decimal("81.00"), "EUR")


def test_a_payment_of_the_open_amount_is_matched_by_exact(fake: FakeExact) -> None:
    accounts = fake.seed(101, accounts=1, receivables=0)
    entry = fake.add_invoice(101, accounts[0], "80.00")
    ledger = make_ledger(fake)
    admin = ledger.administrations()[0]
    (item,) = ledger.read_items(admin, [f"{entry}:{accounts[0]}"])
    receipt = ledger.record_payment(admin, item, Money(Decimal("100.00")), date(2026, 3, 2), "k")
    assert receipt.amount == Money(Decimal("80.00"))  # capped at the open amount
    assert ledger.read_items(admin, [item.external_id]) == []


def test_match_payments_xml_matches_a_partial_payment(fake: FakeExact) -> None:
    accounts = fake.seed(101, accounts=1, receivables=0)
    entry = fake.add_invoice(101, accounts[0], "121.00")
    ledger = make_ledger(fake, match_payments="xml", receivables_gl_code="1300")
    admin = ledger.administrations()[0]
    (item,) = ledger.read_items(admin, [f"{entry}:{accounts[0]}"])
    ledger.record_payment(admin, item, Money(Decimal("21.00")), date(2026, 3, 2), "k-xml")
    assert fake.open_by_key(101) == {item.external_id: (Decimal("100.00"), "EUR")}
    assert len(fake.divisions[101].matches) == 1


def test_disputes_are_notes_on_the_account(fake: FakeExact) -> None:
    accounts = fake.seed(101, accounts=1, receivables=1)
    ledger = make_ledger(fake)
    admin = ledger.administrations()[0]
    (item,) = [i for p in ledger.open_items(admin, None).pages for i in p.records]
    ledger.flag_dispute(admin, item, "not delivered", "disp-9")
    ledger.flag_dispute(admin, item, "not delivered", "disp-9")
    ledger.clear_dispute(admin, item, "disp-9-done")
    notes = fake.divisions[101].notes
    assert [n["Account"] for n in notes] == [accounts[0], accounts[0]]
    assert "not delivered" in notes[0]["Notes"] and item.invoice_number in notes[0]["Subject"]


def test_token_rules_of_the_fake_as_the_core_sees_them(fake: FakeExact) -> None:
    from adapters.exact import OAUTH_SPEC

    spec = resolve_spec("exact", OAUTH_SPEC, {"api_url": fake.url})
    client = OAuthClient("exact", spec, ClientCredentials(fake.client_id, fake.client_secret))
    first = fake.issue_tokens()
    with pytest.raises(TokenFailure) as early:
        client.refresh(first["refresh_token"])  # younger than 570 s (scaled)
    assert early.value.kind is FailureKind.REJECTED and "not expired" in early.value.summary
    time.sleep(570 * SCALE)
    second = client.refresh(first["refresh_token"])
    assert second.refresh_token != first["refresh_token"]
    assert second.expires_at is not None
    with pytest.raises(TokenFailure) as reused:
        client.refresh(first["refresh_token"])
    assert reused.value.kind is FailureKind.DEAD_GRANT
    assert "Old refresh token used" in reused.value.summary


class _Receiver(BaseHTTPRequestHandler):
    got: list[tuple[bytes, int]]

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            WEBHOOKS.verify(body, dict(self.headers), ["exact-webhook-secret"], time.time())
            status = 200
        except WebhookRejected as exc:
            status = exc.status
        self.got.append((body, status))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_webhooks_validation_ping_and_a_signed_notification(fake: FakeExact) -> None:
    got: list[tuple[bytes, int]] = []
    handler = type("Receiver", (_Receiver,), {"got": got})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        local = f"http://127.0.0.1:{server.server_address[1]}"
        fake.callback_rewrite = lambda url: url.replace("https://hooks.example", local)
        accounts = fake.seed(101, accounts=1, receivables=0)
        ledger = make_ledger(fake)
        admin = ledger.administrations()[0]
        hook = "https://hooks.example/webhooks/exact"
        assert ledger.subscribe_webhooks(admin, hook) == ["Accounts", "FinancialTransactions"]
        assert ledger.subscribe_webhooks(admin, hook) == []  # already there
        deadline = time.monotonic() + 5
        while len(fake.deliveries) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fake.deliveries == [(hook, 200), (hook, 200)]  # the empty validation posts
        fake.emit(101, "Accounts", accounts[0])
        body, status = got[-1]
        assert status == 200
        hints = WEBHOOKS.verify(body, {}, ["exact-webhook-secret"], time.time())
        assert hints[0].kind == "debtor" and hints[0].record_id == accounts[0]
        assert ledger.unsubscribe_webhooks(admin, hook) == 2
        assert fake.divisions[101].subscriptions == {}
    finally:
        server.shutdown()
        server.server_close()
