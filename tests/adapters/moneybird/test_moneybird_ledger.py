"""The Moneybird ledger through its port, against recorded-shape answers (`responses`)."""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import Decimal

import pytest
import responses
from responses import matchers
from responses.registries import OrderedRegistry

from adapters.moneybird.auth import Settings
from adapters.moneybird.client import MoneybirdClient
from adapters.moneybird.ledger import CAPABILITIES
from adapters.moneybird.ledger import MoneybirdLedger
from connector.domain import Administration
from connector.domain import Money
from connector.domain import OpenItem
from connector.errors import InputRejected
from connector.errors import LedgerError
from tests.fakes.moneybird import StubTokens

API = "https://moneybird.test/api/v2"
ADMIN = Administration("123", "Parkietje B.V.")
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SALES_FILTER = "state:open|late|reminded|pending_payment,period:20000101..20271231"
EXTERNAL_FILTER = "state:open|late,period:20000101..20271231"
SALES_ID = "481221152235063180"
CREDIT_ID = "481221138437899902"
EXTERNAL_ID = "481221070392657656"


@pytest.fixture
def mock():
    with responses.RequestsMock(registry=OrderedRegistry) as rsps:
        yield rsps


def make_ledger(**settings) -> MoneybirdLedger:
    config = Settings(api_url=API, **settings)
    client = MoneybirdClient(config, StubTokens(), sleep=lambda _s: None)
    return MoneybirdLedger(client, config, clock=lambda: NOW)


def item(external_id: str = SALES_ID, number: str = "2024-0042") -> OpenItem:
    return OpenItem(
        external_id=external_id,
        invoice_number=number,
        debtor_code="3",
        invoice_date=date(2024, 11, 2),
        due_date=date(2024, 11, 16),
        open_amount=Money(Decimal("1000.01")),
    )


def expect_versions(mock, resource: str, filter_: str, rows) -> None:
    mock.get(
        f"{API}/123/{resource}/synchronization.json",
        json=rows,
        match=[matchers.query_param_matcher({"filter": filter_})],
    )


def expect_fetch(mock, resource: str, ids, rows) -> None:
    mock.post(
        f"{API}/123/{resource}/synchronization.json",
        json=rows,
        match=[matchers.json_params_matcher({"ids": list(ids)})],
    )


def test_capabilities() -> None:
    assert CAPABILITIES.incremental_sync and CAPABILITIES.targeted_read
    assert CAPABILITIES.record_payment and CAPABILITIES.reverse_payment
    assert CAPABILITIES.flag_dispute
    assert CAPABILITIES.own_reminders  # Moneybird can remind by itself
    assert CAPABILITIES.oauth
    assert CAPABILITIES.invoice_pdf  # sales invoices have a PDF to send as a copy


def test_administrations_skip_suspended(mock, load) -> None:
    mock.get(f"{API}/administrations.json", json=load("administrations"))
    found = make_ledger().administrations()
    assert [a.external_id for a in found] == ["177314830190333403", "123"]


# --- open items ----------------------------------------------------------------------------


def first_sync(mock, load, ledger: MoneybirdLedger):
    expect_versions(mock, "sales_invoices", SALES_FILTER, load("sales_invoices_synchronization"))
    expect_versions(
        mock,
        "external_sales_invoices",
        EXTERNAL_FILTER,
        load("external_sales_invoices_synchronization"),
    )
    expect_fetch(mock, "sales_invoices", [SALES_ID, CREDIT_ID], load("sales_invoices"))
    expect_fetch(mock, "external_sales_invoices", [EXTERNAL_ID], load("external_sales_invoices"))
    feed = ledger.open_items(ADMIN, None)
    pages = list(feed.pages)
    return feed, pages


def test_first_sync_is_a_complete_snapshot_over_every_year(mock, load) -> None:
    # The filters carry an explicit period from 2000 (Moneybird's default is this year only).
    feed, pages = first_sync(mock, load, make_ledger())
    assert feed.complete and feed.total == 3
    records = [r for p in pages for r in p.records]
    assert [r.external_id for r in records] == [SALES_ID, CREDIT_ID, f"ext:{EXTERNAL_ID}"]
    assert records[0].invoice_date == date(2024, 11, 2)  # last year's invoice is there
    assert records[1].open_amount == Money(Decimal("-363.0"))
    assert not any(p.removed for p in pages)
    assert pages[-1].cursor is not None
    assert all(p.cursor is None for p in pages[:-1])


def test_open_items_since_setting_moves_the_period(mock, load) -> None:
    ledger = make_ledger(open_items_since=date(2015, 1, 1))
    expect_versions(mock, "sales_invoices", SALES_FILTER.replace("20000101", "20150101"), [])
    expect_versions(
        mock, "external_sales_invoices", EXTERNAL_FILTER.replace("20000101", "20150101"), []
    )
    feed = ledger.open_items(ADMIN, None)
    assert [list(p.records) for p in feed.pages] == [[]]


def test_resync_fetches_only_changes_and_confirms_what_went(mock, load) -> None:
    ledger = make_ledger()
    _feed, pages = first_sync(mock, load, ledger)
    cursor = pages[-1].cursor
    # Since then: the late invoice changed (part-paid), the credit note left the open list.
    changed = load("sales_invoices")[0]
    changed.update(version=1773200000, total_unpaid="500.01", total_paid="710.0")
    settled = load("sales_invoices")[1]
    settled.update(state="paid", total_unpaid="0.0", version=1773200001)
    expect_versions(mock, "sales_invoices", SALES_FILTER, [{"id": SALES_ID, "version": 1773200000}])
    expect_versions(
        mock,
        "external_sales_invoices",
        EXTERNAL_FILTER,
        load("external_sales_invoices_synchronization"),
    )
    expect_fetch(mock, "sales_invoices", [SALES_ID, CREDIT_ID], [changed, settled])
    feed = ledger.open_items(ADMIN, cursor)
    pages = list(feed.pages)
    assert not feed.complete and feed.total == 1
    assert [r.open_amount.amount for p in pages for r in p.records] == [Decimal("500.01")]
    assert [x for p in pages for x in p.removed] == [CREDIT_ID]
    # Unchanged since: one listing per resource and nothing fetched.
    expect_versions(mock, "sales_invoices", SALES_FILTER, [{"id": SALES_ID, "version": 1773200000}])
    expect_versions(
        mock,
        "external_sales_invoices",
        EXTERNAL_FILTER,
        load("external_sales_invoices_synchronization"),
    )
    again = ledger.open_items(ADMIN, pages[-1].cursor)
    rest = list(again.pages)
    assert again.total == 0 and [list(p.records) for p in rest] == [[]]
    assert rest[-1].cursor is not None


def test_an_invoice_that_left_the_list_but_is_still_open_stays(mock, load) -> None:
    ledger = make_ledger()
    _feed, pages = first_sync(mock, load, ledger)
    expect_versions(
        mock, "sales_invoices", SALES_FILTER, load("sales_invoices_synchronization")[:1]
    )
    expect_versions(mock, "external_sales_invoices", EXTERNAL_FILTER, [])
    expect_fetch(mock, "sales_invoices", [CREDIT_ID], [load("sales_invoices")[1]])  # still open
    expect_fetch(mock, "external_sales_invoices", [EXTERNAL_ID], [])  # deleted
    pages = list(ledger.open_items(ADMIN, pages[-1].cursor).pages)
    assert [r.external_id for p in pages for r in p.records] == [CREDIT_ID]
    assert [x for p in pages for x in p.removed] == [f"ext:{EXTERNAL_ID}"]


def test_an_unreadable_cursor_reads_everything(mock, load) -> None:
    expect_versions(mock, "sales_invoices", SALES_FILTER, [])
    expect_versions(mock, "external_sales_invoices", EXTERNAL_FILTER, [])
    feed = make_ledger().open_items(ADMIN, "not ours")
    assert feed.complete


def test_a_malformed_invoice_rejects_the_sync(mock, load) -> None:
    broken = load("sales_invoices")
    broken[0]["total_unpaid"] = "lots"
    expect_versions(mock, "sales_invoices", SALES_FILTER, load("sales_invoices_synchronization"))
    expect_versions(mock, "external_sales_invoices", EXTERNAL_FILTER, [])
    expect_fetch(mock, "sales_invoices", [SALES_ID, CREDIT_ID], broken)
    feed = make_ledger().open_items(ADMIN, None)
    with pytest.raises(InputRejected) as caught:
        list(feed.pages)
    assert caught.value.problems == (
        "invoice 481221152235063180: total_unpaid is not an amount ('lots')",
    )


def test_read_items(mock, load) -> None:
    paid = load("sales_invoices_paid")[0]
    expect_fetch(mock, "sales_invoices", [SALES_ID, paid["id"]], [load("sales_invoices")[0], paid])
    expect_fetch(mock, "external_sales_invoices", [EXTERNAL_ID], load("external_sales_invoices"))
    found = make_ledger().read_items(
        ADMIN, [SALES_ID, paid["id"], f"ext:{EXTERNAL_ID}", "not-an-id", SALES_ID]
    )
    assert [i.external_id for i in found] == [SALES_ID, f"ext:{EXTERNAL_ID}"]


# --- debtors -------------------------------------------------------------------------------


def test_debtors_first_then_only_changes_then_all_after_a_workflow_change(mock, load) -> None:
    ledger = make_ledger()
    versions = load("contacts_synchronization")
    mock.get(f"{API}/123/contacts/synchronization.json", json=versions)
    mock.get(f"{API}/123/workflows.json", json=load("workflows"))
    mock.get(f"{API}/administrations.json", json=load("administrations"))
    expect_fetch(mock, "contacts", [v["id"] for v in versions], load("contacts"))
    feed = ledger.debtors(ADMIN, None)
    pages = list(feed.pages)
    assert feed.complete and feed.total == 2
    debtors = [d for p in pages for d in p.records]
    assert [d.code for d in debtors] == ["3", "4"]
    assert {d.language for d in debtors} == {"en"}  # the administration's language
    # One contact changed.
    versions[1]["version"] += 1
    mock.get(f"{API}/123/contacts/synchronization.json", json=versions)
    mock.get(f"{API}/123/workflows.json", json=load("workflows"))
    expect_fetch(mock, "contacts", [versions[1]["id"]], load("contacts")[1:])
    pages = list(ledger.debtors(ADMIN, pages[-1].cursor).pages)
    assert [d.code for p in pages for d in p.records] == ["4"]
    # A workflow changed (payment term 14 -> 30): every contact is read again.
    flows = load("workflows")
    flows[0]["steps"][0]["due_interval"] = 30
    mock.get(f"{API}/123/contacts/synchronization.json", json=versions)
    mock.get(f"{API}/123/workflows.json", json=flows)
    expect_fetch(mock, "contacts", [v["id"] for v in versions], load("contacts"))
    pages = list(ledger.debtors(ADMIN, pages[-1].cursor).pages)
    assert [d.payment_term_days for p in pages for d in p.records] == [30, 8]


def test_debtors_without_access_to_workflows(mock, load) -> None:
    mock.get(f"{API}/123/contacts/synchronization.json", json=[])
    mock.get(f"{API}/123/workflows.json", status=403, json={"error": "No access"})
    mock.get(f"{API}/administrations.json", json=load("administrations"))
    feed = make_ledger().debtors(ADMIN, None)
    assert [list(p.records) for p in feed.pages] == [[]]


# --- payments ------------------------------------------------------------------------------

INVOICE_URL = f"{API}/123/sales_invoices/{SALES_ID}.json"
PAYMENTS_URL = f"{API}/123/sales_invoices/{SALES_ID}/payments.json"


def expect_payment(mock, load, payment: dict) -> None:
    answer = load("payment_created")
    answer["price"] = payment["price"]
    mock.post(
        PAYMENTS_URL,
        status=201,
        json=answer,
        match=[matchers.json_params_matcher({"payment": payment})],
    )


def test_record_payment_is_capped_at_the_open_amount_after_a_fresh_read(mock, load) -> None:
    mock.get(INVOICE_URL, json=load("sales_invoice"))  # 1000.01 open
    expect_payment(
        mock,
        load,
        {"payment_date": "2026-03-09", "price": "1000.01", "transaction_identifier": "dc-12-34"},
    )
    receipt = make_ledger().record_payment(
        ADMIN, item(), Money(Decimal("1500.00")), date(2026, 3, 9), "dc-12-34"
    )
    assert receipt.amount == Money(Decimal("1000.01"))
    assert receipt.ledger_reference == "481221139862914900"
    assert not receipt.already_recorded


def test_record_part_payment_with_configured_account(mock, load) -> None:
    mock.get(INVOICE_URL, json=load("sales_invoice"))
    expect_payment(
        mock,
        load,
        {
            "payment_date": "2026-03-09",
            "price": "100.00",
            "transaction_identifier": "dc-1-2",
            "manual_payment_action": "private_payment",
            "financial_account_id": "4711",
        },
    )
    ledger = make_ledger(payment_action="private_payment", payment_financial_account_id="4711")
    receipt = ledger.record_payment(
        ADMIN, item(), Money(Decimal("100")), date(2026, 3, 9), "dc-1-2"
    )
    assert receipt.amount == Money(Decimal("100"))


def test_record_payment_twice_finds_the_first_by_its_key(mock, load) -> None:
    invoice = load("sales_invoice")
    invoice["payments"].append(dict(load("payment_created")))
    mock.get(INVOICE_URL, json=invoice)  # and no POST
    receipt = make_ledger().record_payment(
        ADMIN, item(), Money(Decimal("1000.01")), date(2026, 3, 9), "dc-12-34"
    )
    assert receipt.already_recorded
    assert receipt.ledger_reference == "481221139862914900"
    assert receipt.amount == Money(Decimal("1000.01"))


def test_a_paid_invoice_is_never_paid_again(mock, load) -> None:
    paid = load("sales_invoices_paid")[0]
    paid["id"] = SALES_ID
    mock.get(INVOICE_URL, json=paid)  # and no POST
    receipt = make_ledger().record_payment(
        ADMIN, item(), Money(Decimal("363.00")), date(2026, 3, 9), "dc-9-9"
    )
    assert receipt.amount == Money(Decimal(0))
    assert receipt.ledger_reference == ""


def test_payment_in_another_currency_than_the_invoice_is_refused(mock, load) -> None:
    mock.get(INVOICE_URL, json=load("sales_invoice"))
    with pytest.raises(LedgerError, match="in EUR, the payment in USD"):
        make_ledger().record_payment(
            ADMIN, item(), Money(Decimal("10"), "USD"), date(2026, 3, 9), "k"
        )


def test_foreign_currency_payment_carries_the_base_amount(mock, load) -> None:
    invoice = load("sales_invoice")
    invoice.update(currency="USD", total_unpaid="100.0", total_unpaid_base="92.0")
    mock.get(INVOICE_URL, json=invoice)
    expect_payment(
        mock,
        load,
        {
            "payment_date": "2026-03-09",
            "price": "50.00",
            "transaction_identifier": "dc-5-5",
            "price_base": "46.00",
        },
    )
    receipt = make_ledger().record_payment(
        ADMIN, item(), Money(Decimal("50"), "USD"), date(2026, 3, 9), "dc-5-5"
    )
    assert receipt.amount == Money(Decimal("50"), "USD")


def test_payment_on_an_external_invoice(mock, load) -> None:
    external = load("external_sales_invoices")[0]
    mock.get(f"{API}/123/external_sales_invoices/{EXTERNAL_ID}.json", json=external)
    mock.post(
        f"{API}/123/external_sales_invoices/{EXTERNAL_ID}/payments.json",
        status=201,
        json={"id": "77", "price": "121.0"},
        match=[
            matchers.json_params_matcher(
                {
                    "payment": {
                        "payment_date": "2026-03-09",
                        "price": "121.00",
                        "transaction_identifier": "dc-7",
                    }
                }
            )
        ],
    )
    receipt = make_ledger().record_payment(
        ADMIN,
        item(f"ext:{EXTERNAL_ID}", "WEB-2023-118"),
        Money(Decimal("121")),
        date(2026, 3, 9),
        "dc-7",
    )
    assert receipt.ledger_reference == "77"


def test_reverse_payment_is_a_negative_payment_capped_at_what_was_paid(mock, load) -> None:
    mock.get(INVOICE_URL, json=load("sales_invoice"))  # 210.0 paid
    expect_payment(
        mock,
        load,
        {"payment_date": "2026-03-10", "price": "-210.00", "transaction_identifier": "dc-cb-1"},
    )
    receipt = make_ledger().reverse_payment(ADMIN, item(), Money(Decimal("500")), "dc-cb-1")
    assert receipt.amount == Money(Decimal("210"))


def test_a_rejected_payment_reports_moneybirds_words(mock, load) -> None:
    mock.get(INVOICE_URL, json=load("sales_invoice"))
    mock.post(PAYMENTS_URL, status=422, json={"error": {"payment_date": ["is in a locked period"]}})
    with pytest.raises(LedgerError, match="payment_date is in a locked period"):
        make_ledger().record_payment(ADMIN, item(), Money(Decimal("1")), date(2020, 1, 1), "k")


# --- disputes ------------------------------------------------------------------------------

NOTES_URL = f"{API}/123/sales_invoices/{SALES_ID}/notes.json"


def note_body(*, todo: bool, contains: list[str]):
    def match(request):
        import json

        body = json.loads(request.body)["note"]
        ok = body.get("todo", False) is todo and all(c in body["note"] for c in contains)
        return ok, "" if ok else f"note {body!r} lacks {contains}"

    return match


def test_flag_dispute_notes_a_todo_then_pauses_the_workflow(mock, load) -> None:
    mock.get(INVOICE_URL, json=load("sales_invoice"))
    mock.post(
        NOTES_URL,
        status=201,
        json=load("note_created"),
        match=[
            note_body(
                todo=True,
                contains=["Disputed: goods damaged", "[dunning-connector dc-d-1] pause=ours"],
            )
        ],
    )
    mock.post(
        f"{API}/123/sales_invoices/{SALES_ID}/pause.json", status=201, json=load("sales_invoice")
    )
    make_ledger().flag_dispute(ADMIN, item(), "goods\n damaged", "dc-d-1")


def test_flag_dispute_again_writes_nothing_twice(mock, load) -> None:
    invoice = load("sales_invoice")
    invoice["paused"] = True
    invoice["notes"] = [{"id": "1", "note": "Disputed: x\n[dunning-connector dc-d-1] pause=ours"}]
    mock.get(INVOICE_URL, json=invoice)  # nothing else
    make_ledger().flag_dispute(ADMIN, item(), "x", "dc-d-1")


def test_flag_dispute_after_a_lost_note_answer_still_pauses(mock, load) -> None:
    invoice = load("sales_invoice")
    invoice["notes"] = [{"id": "1", "note": "Disputed: x\n[dunning-connector dc-d-1] pause=ours"}]
    mock.get(INVOICE_URL, json=invoice)
    mock.post(
        f"{API}/123/sales_invoices/{SALES_ID}/pause.json",
        status=422,
        json={"error": "The sales_invoice is already paused"},  # someone was quicker: fine
    )
    make_ledger().flag_dispute(ADMIN, item(), "x", "dc-d-1")


def test_flag_dispute_on_a_paused_invoice_remembers_it_was_not_us(mock, load) -> None:
    invoice = load("sales_invoice")
    invoice["paused"] = True
    mock.get(INVOICE_URL, json=invoice)
    mock.post(
        NOTES_URL,
        status=201,
        json=load("note_created"),
        match=[note_body(todo=True, contains=["pause=kept"])],
    )
    make_ledger().flag_dispute(ADMIN, item(), "x", "dc-d-2")


def test_flag_dispute_on_an_external_invoice_is_a_note_only(mock, load) -> None:
    mock.get(
        f"{API}/123/external_sales_invoices/{EXTERNAL_ID}.json",
        json=load("external_sales_invoices")[0],
    )
    mock.post(
        f"{API}/123/external_sales_invoices/{EXTERNAL_ID}/notes.json",
        status=201,
        json=load("note_created"),
        match=[note_body(todo=True, contains=["Disputed: x", "pause=kept"])],
    )
    make_ledger().flag_dispute(ADMIN, item(f"ext:{EXTERNAL_ID}"), "x", "dc-d-3")


def test_clear_dispute_resumes_what_we_paused(mock, load) -> None:
    invoice = load("sales_invoice")
    invoice["paused"] = True
    invoice["notes"] = [{"id": "1", "note": "Disputed\n[dunning-connector dc-d-1] pause=ours"}]
    mock.get(INVOICE_URL, json=invoice)
    mock.post(
        NOTES_URL,
        status=201,
        json=load("note_created"),
        match=[note_body(todo=False, contains=["Dispute resolved", "[dunning-connector dc-c-1]"])],
    )
    mock.post(f"{API}/123/sales_invoices/{SALES_ID}/resume.json", status=201, json=invoice)
    make_ledger().clear_dispute(ADMIN, item(), "dc-c-1")


def test_clear_dispute_leaves_a_pause_that_was_there_before(mock, load) -> None:
    invoice = load("sales_invoice")
    invoice["paused"] = True
    invoice["notes"] = [{"id": "1", "note": "Disputed\n[dunning-connector dc-d-1] pause=kept"}]
    mock.get(INVOICE_URL, json=invoice)
    mock.post(
        NOTES_URL,
        status=201,
        json=load("note_created"),
        match=[note_body(todo=False, contains=["Dispute resolved"])],
    )
    make_ledger().clear_dispute(ADMIN, item(), "dc-c-2")  # and no resume


def test_a_write_to_an_unknown_item_is_an_error(mock) -> None:
    with pytest.raises(LedgerError, match="not the id of a Moneybird invoice"):
        make_ledger().flag_dispute(ADMIN, item("X1"), "x", "k")
