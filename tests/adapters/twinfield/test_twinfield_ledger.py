"""The Twinfield ledger through its port, against the fake Twinfield over real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lxml import etree

from adapters.twinfield import create_ledger
from adapters.twinfield.budget import Budgets
from adapters.twinfield.budget import CreditGate
from adapters.twinfield.ledger import TwinfieldLedger
from connector.domain import Administration
from connector.domain import ItemKind
from connector.domain import Money
from connector.domain import OpenItem
from connector.errors import InputRejected
from connector.errors import LedgerError
from connector.errors import NotSupported
from connector.errors import RateLimited
from connector.errors import RetriableLedgerError
from connector.ports import Feed
from connector.store import Store
from connector.store import records
from connector.sync import sync_administration
from tests.fakes.twinfield import FakeDebtor
from tests.fakes.twinfield import FakeOffice
from tests.fakes.twinfield import FakeTwinfield
from tests.fakes.twinfield import StaticTokens

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeTwinfield]:
    with FakeTwinfield() as server:
        server.now = NOW
        office = server.add_office("NLA001", "Bakkerij")
        server.add_office("NLA002", "Studio")
        office.add_debtor(
            FakeDebtor(
                "0042",
                "ACME B.V.",
                email="ap@acme.example",
                vat="NL123456789B01",
                send_reminder="email",
                street="Oudegracht 1",
                postcode="3511 AB",
                city="Utrecht",
            )
        )
        office.add_debtor(FakeDebtor("1001", "J. Jansen", email="jan@example.nl"))
        office.add_invoice("0042", "202500069", "121.00", date(2025, 1, 1), date(2025, 1, 31))
        office.add_invoice("0042", "202500070", "50.00", date(2025, 2, 1), date(2025, 3, 3))
        office.add_invoice("1001", "202600001", "19.99", date(2026, 1, 5), date(2026, 2, 4))
        office.add_invoice(
            "1001", "202600002", "80.00", date(2026, 1, 6), date(2026, 2, 5), open_amount="0"
        )
        yield server


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make(fake: FakeTwinfield, clock: Clock | None = None, **config: Any) -> TwinfieldLedger:
    ledger = create_ledger(
        {"validation_url": fake.validation_url, **config}, tokens=StaticTokens(fake)
    )
    ledger.client.sleep = lambda _s: None
    gate = ledger.client.gate
    assert isinstance(gate, CreditGate)
    virtual = VirtualTime()
    gate.clock, gate.sleep = virtual.now, virtual.sleep  # the budget's waits take no time
    ledger.clock = clock or Clock(NOW)
    return ledger


class VirtualTime:
    def __init__(self) -> None:
        self.at = 0.0

    def now(self) -> float:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.at += seconds


def admin(code: str = "NLA001") -> Administration:
    return Administration(external_id=code, name=code)


def drain(feed: Feed[Any]) -> tuple[list[Any], list[str], str | None]:
    got: list[Any] = []
    removed: list[str] = []
    cursor = None
    for page in feed.pages:
        got.extend(page.records)
        removed.extend(page.removed)
        cursor = page.cursor or cursor
    return got, removed, cursor


def fake_open(office: FakeOffice) -> dict[str, Decimal]:
    return {f"{tx.code}:{tx.number}:{line.id}": line.open for tx, line in office.open_lines()}


def test_offices_are_the_administrations(fake: FakeTwinfield) -> None:
    found = make(fake).administrations()
    assert [(a.external_id, a.name) for a in found] == [
        ("NLA001", "Bakkerij"),
        ("NLA002", "Studio"),
    ]
    assert fake.calls("list")[0].office == ""  # listed without an office in the header
    assert fake.validations == 1


def test_only_debtors_on_open_lines_are_read_then_only_the_changed_ones(
    fake: FakeTwinfield,
) -> None:
    # Issue 14.14: no documented request returns addresses for more than one debtor, so only
    # the debtors dunning needs (those on open lines) are read one by one.
    office = fake.offices["NLA001"]
    for n in range(60):  # more than two Finder pages of 25, none of them owing anything
        office.add_debtor(FakeDebtor(f"{n:05d}", f"Klant {n}"))
    office.add_invoice("00007", "202600050", "7.00", date(2026, 2, 1), date(2026, 3, 3))
    ledger = make(fake)
    feed = ledger.debtors(admin(), None)
    debtors, _removed, cursor = drain(feed)
    assert sorted(d.code for d in debtors) == ["00007", "0042", "1001"]  # leading zeros kept
    assert len([c for c in fake.calls("read")]) == 3  # not 63
    acme = next(d for d in debtors if d.code == "0042")
    assert acme.tags == ("twinfield-reminders", "twinfield-reminders-email")
    assert acme.vat_number == "NL123456789B01" and acme.address.city == "Utrecht"
    # the open-line snapshot the debtors needed is the items' snapshot too: read once
    browses = len(fake.calls("columns"))
    items, _r, _c = drain(ledger.open_items(admin(), None))
    assert len(fake.calls("columns")) == browses
    assert len(items) == 4
    # a day later: one owing debtor changed, one debtor that owes nothing changed, and a
    # debtor never read before got an invoice
    later = NOW + timedelta(days=1)
    fake.now = later
    office.debtors["1001"].email = "nieuw@example.nl"
    office.debtors["1001"].modified = later
    office.debtors["00008"].modified = later
    office.add_invoice(
        "00009", "202600051", "9.00", date(2026, 3, 11), date(2026, 4, 10), modified=later
    )
    ledger.clock = Clock(later + timedelta(hours=1))
    reads = len(fake.calls("read"))
    feed = ledger.debtors(admin(), cursor)
    assert not feed.complete
    changed, _removed, _cursor = drain(feed)
    assert sorted((d.code, d.email) for d in changed) == [
        ("00009", ""),
        ("1001", "nieuw@example.nl"),
    ]
    assert len(fake.calls("read")) == reads + 2


def test_a_periodic_complete_pass_sees_hidden_debtors(fake: FakeTwinfield) -> None:
    # Issue 14.14: hidden (archived) customers are listed only with includehidden=1.
    office = fake.offices["NLA001"]
    office.add_debtor(FakeDebtor("0500", "Gearchiveerd B.V.", status="hide"))
    office.add_invoice("0500", "202600060", "60.00", date(2026, 2, 1), date(2026, 3, 3))
    clock = Clock(NOW)
    ledger = make(fake, clock)
    debtors, _r, cursor = drain(ledger.debtors(admin(), None))
    hidden = next(d for d in debtors if d.code == "0500")
    assert "twinfield-hidden" in hidden.tags
    # a week later the pass is complete again, and sees a debtor hidden meanwhile
    office.debtors["1001"].status = "hide"
    clock.now = NOW + timedelta(days=8)
    feed = ledger.debtors(admin(), cursor)
    assert feed.complete
    debtors, _r, _c = drain(feed)
    assert "twinfield-hidden" in next(d for d in debtors if d.code == "1001").tags


@pytest.mark.parametrize("zone", ["UTC", "Europe/Amsterdam"])
def test_modifiedsince_catches_changes_whichever_zone_twinfield_reads_it_in(
    fake: FakeTwinfield, zone: str
) -> None:
    # Issue 14.15: undocumented whether `modifiedsince` is UTC (public clients) or Amsterdam
    # time; the overlap covers the offset, so a change ten minutes after the cursor is seen.
    fake.zone = ZoneInfo(zone)
    office = fake.offices["NLA001"]
    clock = Clock(NOW)
    ledger = make(fake, clock)
    _d, _r, debtor_cursor = drain(ledger.debtors(admin(), None))
    _i, _r, item_cursor = drain(ledger.open_items(admin(), None))
    fake.now = NOW + timedelta(minutes=10)
    office.debtors["0042"].email = "nieuw@acme.example"
    office.debtors["0042"].modified = fake.now
    office.add_invoice(
        "0042", "202600009", "5.00", date(2026, 3, 10), date(2026, 4, 9), modified=fake.now
    )
    clock.now = NOW + timedelta(minutes=20)
    changed, _r, _c = drain(ledger.debtors(admin(), debtor_cursor))
    assert "nieuw@acme.example" in {d.email for d in changed}
    feed = ledger.open_items(admin(), item_cursor)
    assert not feed.complete
    items, _r, _c = drain(feed)
    assert "VRK:202600009:1" in {i.external_id for i in items}


def test_open_items_equal_the_fakes_open_lines_to_the_cent(fake: FakeTwinfield) -> None:
    feed = make(fake).open_items(admin(), None)
    assert feed.complete
    items, _removed, cursor = drain(feed)
    assert {i.external_id: i.open_amount.amount for i in items} == fake_open(fake.offices["NLA001"])
    assert {i.invoice_number for i in items} == {"202500069", "202500070", "202600001"}
    assert cursor is not None and '"full"' in cursor
    # one book year at a time, matched lines filtered by Twinfield, not by us
    assert len(fake.calls("columns")) == 11


def test_increments_list_changes_and_closures_then_turn_complete(fake: FakeTwinfield) -> None:
    office = fake.offices["NLA001"]
    clock = Clock(NOW)
    ledger = make(fake, clock)
    _items, _removed, cursor = drain(ledger.open_items(admin(), None))
    # an hour later: a new invoice, and one invoice paid and matched in Twinfield
    fake.now = clock.now = NOW + timedelta(hours=1)
    office.add_invoice(
        "0042", "202600003", "10.00", date(2026, 3, 10), date(2026, 4, 9), modified=fake.now
    )
    line = office.transactions[("VRK", "202500070")].lines[0]
    line.open, line.matchstatus, line.matchdate = Decimal(0), "matched", fake.now.date()
    fake.now = clock.now = NOW + timedelta(hours=2)
    feed = ledger.open_items(admin(), cursor)
    assert not feed.complete
    items, removed, cursor = drain(feed)
    assert [i.external_id for i in items] == ["VRK:202600003:1"]
    assert removed == ["VRK:202500070:1"]
    # past full_sync_hours the next sync is a complete snapshot again
    clock.now = NOW + timedelta(hours=30)
    assert ledger.open_items(admin(), cursor).complete
    assert ledger.open_items(admin(), "not json").complete


def test_unapplied_payments_are_credit_with_their_own_reference(fake: FakeTwinfield) -> None:
    # Issue 12.10: a payment received and not matched is not an invoice; its transaction
    # number is not an invoice number.
    office = fake.offices["NLA001"]
    office.add_payment("0042", "202600031", "30.00", date(2026, 3, 2))
    office.add_payment(
        "1001", "202600032", "5.00", date(2026, 3, 3), daybook="KAS", invoice_number="202600001"
    )
    office.add_invoice("0042", "202600040", "-12.10", date(2026, 3, 1), date(2026, 3, 1))
    items, _r, _c = drain(make(fake).open_items(admin(), None))
    by_id = {i.external_id: i for i in items}
    bank = by_id["BNK:202600031:2"]
    assert bank.kind is ItemKind.UNAPPLIED_PAYMENT
    assert bank.invoice_number == "" and bank.description == "BNK 202600031"
    assert bank.open_amount == Money(Decimal("-30.00")) and bank.is_credit
    cash = by_id["KAS:202600032:2"]  # a cash daybook too (Finder type BNK lists both)
    assert (cash.kind, cash.invoice_number) == (ItemKind.UNAPPLIED_PAYMENT, "202600001")
    credit_note = by_id["VRK:202600040:1"]
    assert (credit_note.kind, credit_note.invoice_number) == (ItemKind.CREDIT_NOTE, "202600040")
    assert by_id["VRK:202500069:1"].kind is ItemKind.INVOICE
    # netted as credit: the debtor's total open is the invoices less the payment
    total = sum((i.open_amount.amount for i in items if i.debtor_code == "0042"), Decimal(0))
    assert total == Decimal("121.00") + Decimal("50.00") - Decimal("30.00") - Decimal("12.10")


def test_read_items_answers_only_what_is_still_open(fake: FakeTwinfield) -> None:
    found = make(fake).read_items(admin(), ["VRK:202500069:1", "VRK:202600002:1"])
    assert [(i.external_id, i.open_amount) for i in found] == [
        ("VRK:202500069:1", Money(Decimal("121.00")))
    ]


def item_of(ledger: TwinfieldLedger, external_id: str) -> OpenItem:
    items, _r, _c = drain(ledger.open_items(admin(), None))
    return next(i for i in items if i.external_id == external_id)


def test_payment_is_booked_and_matched_once_even_when_repeated(fake: FakeTwinfield) -> None:
    office = fake.offices["NLA001"]
    ledger = make(fake)
    invoice = item_of(ledger, "VRK:202500069:1")
    receipt = ledger.record_payment(
        admin(), invoice, Money(Decimal("121.00")), date(2026, 3, 9), "dc-12-34"
    )
    assert not receipt.already_recorded
    assert receipt.amount == Money(Decimal("121.00"))
    code, number = receipt.ledger_reference.split(":")
    booked = office.transactions[(code, number)]
    assert booked.freetext1 == "dc-12-34"
    assert booked.lines[1].invoice_number == "202500069"
    assert office.transactions[("VRK", "202500069")].lines[0].matchstatus == "matched"
    again = ledger.record_payment(
        admin(), invoice, Money(Decimal("121.00")), date(2026, 3, 9), "dc-12-34"
    )
    assert again.already_recorded and again.ledger_reference == receipt.ledger_reference
    assert len([k for k in office.transactions if k[0] == "BNK"]) == 1
    assert len(fake.calls("match")) == 1
    assert "VRK:202500069:1" not in fake_open(office)


def test_partial_payment_uses_a_match_value_and_leaves_the_rest_open(fake: FakeTwinfield) -> None:
    office = fake.offices["NLA001"]
    ledger = make(fake)
    invoice = item_of(ledger, "VRK:202500069:1")
    ledger.record_payment(admin(), invoice, Money(Decimal("21.00")), date(2026, 3, 9), "dc-1-1")
    assert fake_open(office)["VRK:202500069:1"] == Decimal("100.00")
    # a second, different payment for more than is open is capped at the open amount
    receipt = ledger.record_payment(
        admin(), invoice, Money(Decimal("500.00")), date(2026, 3, 9), "dc-1-2"
    )
    assert receipt.amount == Money(Decimal("100.00"))
    assert "VRK:202500069:1" not in fake_open(office)


def test_a_payment_twinfield_matched_on_booking_is_not_matched_again(fake: FakeTwinfield) -> None:
    # Issue 14.16: match only when the booked line is still available.
    fake.auto_match = "immediate"
    office = fake.offices["NLA001"]
    ledger = make(fake)
    invoice = item_of(ledger, "VRK:202500069:1")
    receipt = ledger.record_payment(
        admin(), invoice, Money(Decimal("121.00")), date(2026, 3, 9), "dc-16-1"
    )
    assert receipt.amount == Money(Decimal("121.00"))
    assert not fake.calls("match")
    assert "VRK:202500069:1" not in fake_open(office)


def test_a_refused_match_reads_the_invoice_again_before_raising(fake: FakeTwinfield) -> None:
    # Issue 14.16: matched in between (here: by Twinfield just after the booking's answer).
    fake.auto_match = "deferred"
    office = fake.offices["NLA001"]
    ledger = make(fake)
    invoice = item_of(ledger, "VRK:202500069:1")
    receipt = ledger.record_payment(
        admin(), invoice, Money(Decimal("21.00")), date(2026, 3, 9), "dc-16-2"
    )
    assert receipt.amount == Money(Decimal("21.00"))
    assert [c.status for c in fake.calls("match")] == [200]  # refused with result="0"
    assert fake_open(office)["VRK:202500069:1"] == Decimal("100.00")


def test_a_refused_match_that_is_really_unmatched_still_raises(fake: FakeTwinfield) -> None:
    office = fake.offices["NLA001"]
    ledger = make(fake)
    invoice = item_of(ledger, "VRK:202500069:1")
    original = fake._match

    def refuse(office_: FakeOffice, document: Any) -> Any:
        return original(office_, etree.fromstring("<match><set/></match>"))

    fake._match = refuse  # type: ignore[method-assign]
    with pytest.raises(LedgerError, match="booked but could not be matched"):
        ledger.record_payment(admin(), invoice, Money(Decimal("1.00")), date(2026, 3, 9), "dc-16-3")
    assert fake_open(office)["VRK:202500069:1"] == Decimal("121.00")


def test_the_total_line_takes_the_configured_bank_account(fake: FakeTwinfield) -> None:
    # Issue 14.16: the bank transaction's total line has no dim1 unless configured.
    office = fake.offices["NLA001"]
    office.accounts.add("1110")
    ledger = make(fake, bank_account="1110")
    invoice = item_of(ledger, "VRK:202500069:1")
    receipt = ledger.record_payment(
        admin(), invoice, Money(Decimal("1.00")), date(2026, 3, 9), "dc-16-4"
    )
    code, number = receipt.ledger_reference.split(":")
    total = office.transactions[(code, number)].lines[0]
    assert (total.type, total.dim1) == ("total", "1110")
    with pytest.raises(InputRejected, match="9998"):
        make(fake, bank_account="9998").record_payment(
            admin(), invoice, Money(Decimal("1.00")), date(2026, 3, 9), "dc-16-5"
        )


def test_a_lost_answer_is_found_by_its_key_and_matched_on_the_retry(fake: FakeTwinfield) -> None:
    office = fake.offices["NLA001"]
    ledger = make(fake)
    invoice = item_of(ledger, "VRK:202500070:1")
    ledger.client.timeout = 0.3
    fake.lose_next_answer(1.0)
    with pytest.raises(RetriableLedgerError):
        ledger.record_payment(admin(), invoice, Money(Decimal("50.00")), date(2026, 3, 9), "dc-7-1")
    assert len([k for k in office.transactions if k[0] == "BNK"]) == 1  # booked, not matched
    fake.wait_idle()
    assert "VRK:202500070:1" in fake_open(office)
    ledger.client.timeout = 30
    receipt = ledger.record_payment(
        admin(), invoice, Money(Decimal("50.00")), date(2026, 3, 9), "dc-7-1"
    )
    assert receipt.already_recorded
    assert len([k for k in office.transactions if k[0] == "BNK"]) == 1
    assert "VRK:202500070:1" not in fake_open(office)
    assert len(fake.calls("match")) == 1


def test_no_payment_on_an_invoice_that_is_no_longer_open(fake: FakeTwinfield) -> None:
    office = fake.offices["NLA001"]
    ledger = make(fake)
    invoice = item_of(ledger, "VRK:202500069:1")
    line = office.transactions[("VRK", "202500069")].lines[0]
    line.open, line.matchstatus = Decimal(0), "matched"
    with pytest.raises(LedgerError, match="no longer open"):
        ledger.record_payment(admin(), invoice, Money(Decimal("1.00")), date(2026, 3, 9), "dc-2")
    assert not [k for k in office.transactions if k[0] == "BNK"]
    with pytest.raises(InputRejected):
        ledger.record_payment(admin(), invoice, Money(Decimal("-1.00")), date(2026, 3, 9), "dc-3")


def test_a_refused_booking_is_input_rejected(fake: FakeTwinfield) -> None:
    ledger = make(fake, receivables_account="9999")
    invoice = item_of(ledger, "VRK:202500069:1")
    with pytest.raises(InputRejected, match="9999"):
        ledger.record_payment(admin(), invoice, Money(Decimal("1.00")), date(2026, 3, 9), "dc-4")


def test_dispute_note_is_written_once_and_cleared(fake: FakeTwinfield) -> None:
    debtor = fake.offices["NLA001"].debtors["0042"]
    debtor.comment = "Belt altijd terug"
    ledger = make(fake)
    invoice = item_of(ledger, "VRK:202500069:1")
    ledger.flag_dispute(admin(), invoice, "levering  onvolledig", "dc-5-1")
    ledger.flag_dispute(admin(), invoice, "levering  onvolledig", "dc-5-1")
    assert debtor.comment == (
        "Belt altijd terug\n"
        "Betwist (dunning-connector) factuur 202500069: levering onvolledig [dc-5-1]"
    )
    assert len(fake.calls("dimension")) == 1
    ledger.clear_dispute(admin(), invoice, "dc-5-2")
    ledger.clear_dispute(admin(), invoice, "dc-5-2")
    assert debtor.comment == "Belt altijd terug"
    assert len(fake.calls("dimension")) == 2
    assert debtor.send_reminder == "email"  # Twinfield's own reminders are left alone


def test_dispute_note_lands_in_the_dimensions_credit_block_and_keeps_the_rest(
    fake: FakeTwinfield,
) -> None:
    # Issues 14.11 and 14.12: the note goes to <dimension><creditmanagement> (where the fake,
    # like Twinfield, keeps it) and the whole block is written back as read.
    debtor = fake.offices["NLA001"].debtors["0042"]
    debtor.reminder_email = "debiteuren@acme.example"
    debtor.responsible_user = "USR"
    debtor.base_credit_limit = "5000.00"
    debtor.freetext2 = "SEG1"
    ledger = make(fake)
    invoice = item_of(ledger, "VRK:202500069:1")
    ledger.flag_dispute(admin(), invoice, "levering onvolledig", "dc-9-1")
    assert debtor.comment.endswith("levering onvolledig [dc-9-1]")
    assert (debtor.send_reminder, debtor.reminder_email) == ("email", "debiteuren@acme.example")
    assert (debtor.responsible_user, debtor.base_credit_limit, debtor.freetext2) == (
        "USR",
        "5000.00",
        "SEG1",
    )
    ledger.clear_dispute(admin(), invoice, "dc-9-2")
    assert debtor.comment == ""
    assert (debtor.send_reminder, debtor.reminder_email) == ("email", "debiteuren@acme.example")


def test_reversal_is_not_supported(fake: FakeTwinfield) -> None:
    ledger = make(fake)
    assert not ledger.capabilities.reverse_payment
    with pytest.raises(NotSupported):
        ledger.reverse_payment(admin(), item_of(ledger, "VRK:202500069:1"), Money(Decimal(1)), "k")


def test_cluster_move_and_expired_tokens_are_recovered(fake: FakeTwinfield) -> None:
    ledger = make(fake)
    ledger.administrations()
    fake.move_cluster("b")
    fake.expire_tokens()
    items, _r, _c = drain(ledger.open_items(admin(), None))
    assert len(items) == 3
    # the refused token is refreshed (the cached cluster kept), then fault 108 makes the
    # cluster be looked up again: two validations in all
    assert fake.validations == 2
    assert any(c.status == 500 for c in fake.log)  # the old cluster's fault 108


def test_faults_with_http_200_are_mapped_too(fake: FakeTwinfield) -> None:
    fake.fault_status = 200
    ledger = make(fake)
    ledger.administrations()
    fake.expire_tokens()
    assert len(ledger.administrations()) == 2
    fake.fault_next("100")
    fake.fault_next("100")
    fake.fault_next("100")
    fake.fault_next("100")
    with pytest.raises(RetriableLedgerError, match="code 100"):
        ledger.administrations()


def test_one_call_in_flight_per_organisation(fake: FakeTwinfield) -> None:
    ledger = make(fake)
    ledger.administrations()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            drain(ledger.open_items(admin(), None))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert fake.max_in_flight == 1
    assert not [c for c in fake.log if c.status == 429]


def test_credit_limit_429_is_waited_out_or_reported(fake: FakeTwinfield) -> None:
    ledger = make(fake)
    waits: list[float] = []
    ledger.client.sleep = waits.append
    fake.throttle_next(2, retry_after=3)
    assert len(ledger.administrations()) == 2
    assert len(waits) == 2 and waits[0] >= 3
    fake.credits_per_minute = 2  # Twinfield's bucket is nearly empty
    with pytest.raises(RateLimited):
        drain(ledger.open_items(admin(), None))


def test_sync_through_the_core_matches_the_fake_to_the_cent(
    fake: FakeTwinfield, store: Store
) -> None:
    ledger = make(fake)
    with store.begin() as conn:
        connection = records.save_connection(
            conn, name="tw", ledger="twinfield", config={}, now=NOW
        )
        saved = records.save_administrations(conn, connection.id, ledger.administrations())
    first = next(a for a in saved if a.external_id == "NLA001")
    summary = sync_administration(store, ledger, first, clock=lambda: NOW)
    assert summary.ok, summary.error
    assert (summary.fetched, summary.new, summary.debtors_fetched) == (3, 3, 2)
    with store.begin() as conn:
        stored = records.list_items(conn, administration_ids=[first.id], status="open")
    assert {i.external_id: i.open_amount for i in stored} == fake_open(fake.offices["NLA001"])
    # paid in Twinfield, then an unchanged increment closes it
    line = fake.offices["NLA001"].transactions[("VRK", "202500069")].lines[0]
    line.open, line.matchstatus, line.matchdate = Decimal(0), "matched", NOW.date()
    later = NOW + timedelta(hours=1)
    ledger.clock = Clock(later)
    summary = sync_administration(store, ledger, first, clock=lambda: later)
    assert summary.ok and summary.closed == 1
    with store.begin() as conn:
        stored = records.list_items(conn, administration_ids=[first.id], status="open")
    assert {i.external_id: i.open_amount for i in stored} == fake_open(fake.offices["NLA001"])


def test_the_kind_of_an_unapplied_payment_is_kept_in_the_store(
    fake: FakeTwinfield, store: Store
) -> None:
    # Issue 12.10: stored as an unapplied payment (negative: netted as credit), not an invoice.
    fake.offices["NLA001"].add_payment("0042", "202600031", "30.00", date(2026, 3, 2))
    ledger = make(fake)
    with store.begin() as conn:
        connection = records.save_connection(
            conn, name="tw", ledger="twinfield", config={}, now=NOW
        )
        saved = records.save_administrations(conn, connection.id, ledger.administrations())
    first = next(a for a in saved if a.external_id == "NLA001")
    summary = sync_administration(store, ledger, first, clock=lambda: NOW)
    assert summary.ok, summary.error
    with store.begin() as conn:
        stored = {
            i.external_id: i
            for i in records.list_items(conn, administration_ids=[first.id], status="open")
        }
    payment = stored["BNK:202600031:2"]
    assert (payment.kind, payment.invoice_number, payment.open_amount) == (
        "unapplied_payment",
        "",
        Decimal("-30.00"),
    )
    assert stored["VRK:202500069:1"].kind == "invoice"


def test_a_sync_against_the_fakes_credit_limit_stays_within_it() -> None:
    # Issue 14.17: the fake's limit on (25 credits per window, the window scaled down to
    # 3 s); the adapter's shared budget keeps every window within it, so no call is refused.
    with FakeTwinfield(credits_per_minute=25, window_seconds=3.0) as server:
        office = server.add_office("NLA001", "Bakkerij")
        for n in range(30):
            office.add_debtor(FakeDebtor(f"{n:04d}", f"Klant {n}"))
            office.add_invoice(f"{n:04d}", f"2026{n:05d}", "10.00", date(2026, 1, 5))
        gate = CreditGate(25, window=3.0)
        ledger = create_ledger(
            {"validation_url": server.validation_url, "history_years": 1},
            tokens=StaticTokens(server),
            budgets=Budgets(lambda _n: gate),
        )
        ledger.clock = Clock(NOW)
        debtors, _r, _c = drain(ledger.debtors(admin(), None))
        items, _r, _c = drain(ledger.open_items(admin(), None))
    assert (len(debtors), len(items)) == (30, 30)
    assert server.credits() > 25  # more than one window's worth
    assert [c for c in server.log if c.status == 429] == []
    assert gate.peak_window <= 25 and gate.waited > 0
