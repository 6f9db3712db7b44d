"""The ledger over recorded Exact answers (`responses` and the JSON fixtures)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from urllib.parse import unquote

import pytest
import responses
from responses import matchers

from adapters.exact import create_ledger
from adapters.exact.auth import settings_from
from adapters.exact.ledger import CAPABILITIES
from adapters.exact.ledger import ExactLedger
from adapters.exact.mapping import decode_cursor
from adapters.exact.mapping import encode_cursor
from connector.domain import Administration
from connector.domain import Money
from connector.domain import OpenItem
from connector.errors import ConfigError
from connector.errors import NotSupported
from tests.adapters.exact.exact_helpers import API
from tests.adapters.exact.exact_helpers import FakeClock
from tests.adapters.exact.exact_helpers import Tokens
from tests.adapters.exact.exact_helpers import fixture
from tests.adapters.exact.exact_helpers import raw

V1 = f"{API}/api/v1/101"
ACME = "11111111-2222-3333-4444-555555555555"
JANSEN = "33333333-2222-3333-4444-555555555555"
OTHER = "44444444-2222-3333-4444-555555555555"
DEBTORS_GL = "6e1bc618-8cb7-4dcd-8385-6ede9a18704f"
ADMIN = Administration(external_id="101", name="Bakkerij van Dijk BV")
ITEM = OpenItem(
    external_id=f"26700012:{ACME}",
    invoice_number="26700012",
    debtor_code="1068",
    invoice_date=date(2026, 1, 2),
    due_date=date(2026, 2, 1),
    open_amount=Money(Decimal("121.00")),
)


def ledger(clock: FakeClock | None = None, **config: object) -> ExactLedger:
    clock = clock or FakeClock()
    settings = settings_from({"payment_journal": "20", "retry_wait_seconds": 0.001, **config})
    return ExactLedger(settings, Tokens(), clock=clock, sleep=clock.sleep)


def query(call_index: int) -> str:
    return unquote(responses.calls[call_index].request.url.split("?", 1)[-1])


def drain(feed):  # type: ignore[no-untyped-def]
    records, removed, cursor = [], [], None
    for page in feed.pages:
        records.extend(page.records)
        removed.extend(page.removed)
        cursor = page.cursor or cursor
    return records, removed, cursor


def test_the_factory_and_the_declared_capabilities() -> None:
    made = create_ledger({"api_url": "https://start.exactonline.be/"}, tokens=Tokens())
    assert made.settings.api_url == "https://start.exactonline.be"
    assert made.name == "exact" and made.capabilities is CAPABILITIES
    assert CAPABILITIES.own_reminders and not CAPABILITIES.invoice_pdf
    assert CAPABILITIES.incremental_sync and CAPABILITIES.record_payment
    assert CAPABILITIES.flag_dispute and CAPABILITIES.targeted_read and CAPABILITIES.oauth


@responses.activate
def test_administrations_are_the_active_divisions() -> None:
    responses.get(f"{API}/api/v1/current/Me", body=raw("current_me"))
    responses.get(f"{V1}/system/Divisions", body=raw("divisions"))
    found = ledger().administrations()
    assert [(a.external_id, a.name, a.country) for a in found] == [
        ("101", "Bakkerij van Dijk BV", "NL"),
        ("102", "Van Dijk Holding", "BE"),
    ]
    assert "$select=CurrentDivision" in query(0)


@responses.activate
def test_a_connection_can_be_narrowed_to_some_divisions() -> None:
    responses.get(f"{API}/api/v1/current/Me", body=raw("current_me"))
    responses.get(f"{V1}/system/Divisions", body=raw("divisions"))
    assert [a.external_id for a in ledger(divisions=[102]).administrations()] == ["102"]
    with pytest.raises(ConfigError, match="103 not among the active divisions"):
        ledger(divisions=["103"]).administrations()


@responses.activate
def test_debtors_first_load_through_the_sync_endpoint() -> None:
    responses.get(f"{V1}/sync/CRM/Accounts", body=raw("sync_accounts_page1"))
    next_url = fixture("sync_accounts_page1")["d"]["__next"]
    responses.get(next_url, body=raw("sync_accounts_page2"))
    feed = ledger().debtors(ADMIN, None)
    records, _removed, cursor = drain(feed)
    assert feed.complete
    assert [d.code for d in records] == ["1068", "1070"]  # the supplier is no debtor
    assert decode_cursor(cursor, ("accounts",)) == {"accounts": 5003}  # every row counts
    assert "$filter=Timestamp gt 1L" in query(0)
    assert "Timestamp" in query(0).split("$select=")[1]


@responses.activate
def test_debtors_from_the_cursor_on() -> None:
    responses.get(f"{V1}/sync/CRM/Accounts", body=raw("empty"))
    feed = ledger().debtors(ADMIN, encode_cursor({"accounts": 5003}))
    records, _removed, cursor = drain(feed)
    assert not feed.complete and records == []
    assert decode_cursor(cursor, ("accounts",)) == {"accounts": 5003}
    assert "Timestamp gt 5003L" in query(0)
    assert len(responses.calls) == 1


@responses.activate
def test_the_first_items_read_is_complete_and_sets_both_cursors_first() -> None:
    clock = FakeClock()
    for value in (9003, 9100):
        responses.get(
            f"{V1}/read/sync/Sync/SyncTimestamp",
            json={"d": {"results": [{"TimeStampAsBigInt": value, "API": "x", "Modified": "x"}]}},
        )
    responses.get(f"{V1}/read/financial/ReceivablesList", body=raw("receivables_list"))
    feed = ledger(clock).open_items(ADMIN, None)
    records, _removed, cursor = drain(feed)
    assert feed.complete
    assert len(records) == 3
    assert [c.request.url.split("?")[0].rsplit("/", 2)[-1] for c in responses.calls] == [
        "SyncTimestamp",
        "SyncTimestamp",
        "ReceivablesList",
    ]
    # six hours before the read, in UTC: what changes later is read again
    assert "modified=datetime'2026-05-28T14:26:40'" in query(0)
    assert "endPoint='PaymentTerms'" in query(0) and "endPoint='Deleted'" in query(1)
    assert "$filter" not in query(2)
    assert decode_cursor(cursor, ("terms", "deleted", "full")) == {
        "terms": 9003,
        "deleted": 9100,
        "full": int(clock.now),
    }


@responses.activate
def test_an_unchanged_resync_costs_two_calls() -> None:
    clock = FakeClock()
    responses.get(f"{V1}/sync/Cashflow/PaymentTerms", body=raw("empty"))
    responses.get(f"{V1}/sync/Deleted", body=raw("deleted_none"))
    cursor = encode_cursor({"terms": 9003, "deleted": 9100, "full": int(clock.now) - 60})
    feed = ledger(clock).open_items(ADMIN, cursor)
    records, removed, new_cursor = drain(feed)
    assert not feed.complete and records == [] and removed == []
    assert new_cursor == cursor
    assert len(responses.calls) == 2
    assert "Timestamp gt 9003L" in query(0) and "Timestamp gt 9100L" in query(1)


@responses.activate
def test_changed_terms_reread_their_accounts_and_report_closures() -> None:
    clock = FakeClock()
    responses.get(f"{V1}/sync/Cashflow/PaymentTerms", body=raw("payment_terms"))
    responses.get(f"{V1}/sync/Deleted", body=raw("deleted_none"))
    rows = fixture("receivables_list")["d"]["results"][:2]
    responses.get(
        f"{V1}/read/financial/ReceivablesList",
        body=json.dumps({"d": {"results": json.loads(json.dumps(rows, default=str))}}),
    )
    cursor = encode_cursor({"terms": 9000, "deleted": 9100, "full": int(clock.now) - 60})
    feed = ledger(clock).open_items(ADMIN, cursor)
    records, removed, new_cursor = drain(feed)
    assert not feed.complete
    assert [r.external_id for r in records] == [f"26700012:{ACME}"]
    assert removed == [f"26700099:{OTHER}"]  # its term changed and it is no longer open
    reread = query(2)
    assert f"AccountId eq guid'{ACME}'" in reread and f"AccountId eq guid'{OTHER}'" in reread
    assert "22222222" not in reread  # the payable's account is not re-read
    assert decode_cursor(new_cursor, ("terms",)) == {"terms": 9003}


@responses.activate
def test_a_deleted_term_makes_the_read_complete() -> None:
    clock = FakeClock()
    responses.get(f"{V1}/sync/Cashflow/PaymentTerms", body=raw("empty"))
    responses.get(f"{V1}/sync/Deleted", body=raw("deleted_term"))
    responses.get(f"{V1}/read/financial/ReceivablesList", body=raw("receivables_list"))
    cursor = encode_cursor({"terms": 9003, "deleted": 9000, "full": int(clock.now) - 60})
    feed = ledger(clock).open_items(ADMIN, cursor)
    records, _removed, new_cursor = drain(feed)
    assert feed.complete and len(records) == 3
    assert len(responses.calls) == 3  # the cursors were not read twice
    state = decode_cursor(new_cursor, ("terms", "deleted", "full"))
    assert state == {"terms": 9003, "deleted": 9100, "full": int(clock.now)}


@responses.activate
def test_a_complete_read_comes_back_every_full_sync_hours() -> None:
    clock = FakeClock()
    responses.get(f"{V1}/sync/Cashflow/PaymentTerms", body=raw("empty"))
    responses.get(f"{V1}/sync/Deleted", body=raw("deleted_none"))
    responses.get(f"{V1}/read/financial/ReceivablesList", body=raw("receivables_list"))
    stale = encode_cursor({"terms": 9003, "deleted": 9100, "full": int(clock.now) - 25 * 3600})
    assert ledger(clock, full_sync_hours=24).open_items(ADMIN, stale).complete
    fresh = encode_cursor({"terms": 9003, "deleted": 9100, "full": int(clock.now) - 3600})
    assert not ledger(clock, full_sync_hours=24).open_items(ADMIN, fresh).complete
    assert ledger(clock).open_items(ADMIN, "not-ours").complete


@responses.activate
def test_read_items_is_a_targeted_read() -> None:
    rows = fixture("receivables_list")["d"]["results"]
    responses.get(
        f"{V1}/read/financial/ReceivablesList",
        body=json.dumps({"d": {"results": json.loads(json.dumps(rows, default=str))}}),
    )
    keys = [f"26700013:{JANSEN}", "2026-001", f"26700012:{ACME}", f"99:{OTHER}"]
    found = ledger().read_items(ADMIN, keys)
    assert [i.external_id for i in found] == [f"26700013:{JANSEN}", f"26700012:{ACME}"]
    where = query(0)
    clause = (
        f"(AccountId eq guid'{JANSEN}' and (InvoiceNumber eq 26700013 or EntryNumber eq 26700013))"
    )
    assert clause in where
    assert "2026-001" not in where
    assert ledger().read_items(ADMIN, ["nope"]) == []
    assert len(responses.calls) == 1


def gl_accounts() -> responses.BaseResponse:
    """The division's one accounts receivable G/L account (financial/GLAccounts)."""
    return responses.get(
        f"{V1}/financial/GLAccounts",
        json={
            "d": {"results": [{"ID": DEBTORS_GL, "Code": "1300", "Type": 20, "IsBlocked": False}]}
        },
    )


def _open(amount: str) -> str:
    row = dict(fixture("receivables_list")["d"]["results"][0])
    row["Amount"] = amount
    return json.dumps({"d": {"results": [json.loads(json.dumps(row, default=str))]}}).replace(
        f'"Amount": "{amount}"', f'"Amount": {amount}'
    )


@responses.activate
def test_record_payment_books_a_capped_bank_entry_line() -> None:
    gl = gl_accounts()
    lines = responses.get(f"{V1}/financialtransaction/BankEntryLines", body=raw("empty"))
    responses.get(f"{V1}/read/financial/ReceivablesList", body=_open("100.00"))
    post = responses.post(
        f"{V1}/financialtransaction/BankEntries", json=fixture("bank_entry_created"), status=201
    )
    receipt = ledger().record_payment(
        ADMIN, ITEM, Money(Decimal("121.00")), date(2026, 3, 2), "dc-12-34"
    )
    assert receipt.amount == Money(Decimal("100.00"))  # capped at what is open now
    assert receipt.ledger_reference == "20/26200017" and not receipt.already_recorded
    assert lines.call_count == 1 and gl.call_count == 1
    assert "Type eq 20 and IsBlocked eq false" in query(0)
    assert f"Account eq guid'{ACME}'" in query(1) and "substringof('[dc-12-34]'" in query(1)
    body = post.calls[0].request.body
    assert b'"AmountFC":100.00' in body
    sent = json.loads(body)
    line = sent["BankEntryLines"][0]
    assert sent["JournalCode"] == "20" and "Currency" not in sent
    assert line["Account"] == ACME and line["OurRef"] == 26700012
    assert line["Date"] == "2026-03-02T00:00:00"
    assert line["Description"] == "Payment 26700012 [dc-12-34]"
    assert line["GLAccount"] == DEBTORS_GL


@responses.activate
def test_a_repeated_payment_is_found_by_its_key_and_not_booked_again() -> None:
    gl_accounts()
    responses.get(
        f"{V1}/financialtransaction/BankEntryLines",
        json={
            "d": {
                "results": [
                    {
                        "EntryID": "x",
                        "EntryNumber": 26200017,
                        "AmountFC": 50,
                        "Description": "Payment 26700012 [dc-12-34]",
                    }
                ]
            }
        },
    )
    post = responses.post(f"{V1}/financialtransaction/BankEntries", status=201, json={"d": {}})
    receipt = ledger().record_payment(
        ADMIN, ITEM, Money(Decimal("50")), date(2026, 3, 2), "dc-12-34"
    )
    assert receipt.already_recorded and receipt.ledger_reference == "20/26200017"
    assert receipt.amount == Money(Decimal("50"))
    assert post.call_count == 0


@responses.activate
def test_a_longer_key_that_contains_ours_is_not_a_match() -> None:
    gl_accounts()
    responses.get(
        f"{V1}/financialtransaction/BankEntryLines",
        json={
            "d": {
                "results": [
                    {"EntryNumber": 1, "AmountFC": 5, "Description": "Payment 26700012 [dc-12-345]"}
                ]
            }
        },
    )
    responses.get(f"{V1}/read/financial/ReceivablesList", body=_open("121.00"))
    post = responses.post(
        f"{V1}/financialtransaction/BankEntries", json=fixture("bank_entry_created"), status=201
    )
    ledger().record_payment(ADMIN, ITEM, Money(Decimal("5")), date(2026, 3, 2), "dc-12-34")
    assert post.call_count == 1


@responses.activate
def test_a_payment_on_an_item_that_is_no_longer_open_books_nothing() -> None:
    gl_accounts()
    responses.get(f"{V1}/financialtransaction/BankEntryLines", body=raw("empty"))
    responses.get(f"{V1}/read/financial/ReceivablesList", body=raw("empty"))
    post = responses.post(f"{V1}/financialtransaction/BankEntries", status=201, json={"d": {}})
    receipt = ledger().record_payment(ADMIN, ITEM, Money(Decimal("5")), date(2026, 3, 2), "k1")
    assert receipt.amount == Money.zero() and receipt.ledger_reference == ""
    assert post.call_count == 0


@responses.activate
def test_payments_that_cannot_be_booked_are_refused_before_any_call() -> None:
    with pytest.raises(ConfigError, match="payment_journal is not set"):
        ledger(payment_journal="").record_payment(
            ADMIN, ITEM, Money(Decimal("5")), date(2026, 3, 2), "k"
        )
    with pytest.raises(NotSupported, match="USD"):
        ledger().record_payment(ADMIN, ITEM, Money(Decimal("5"), "USD"), date(2026, 3, 2), "k")
    credit = OpenItem(
        external_id=f"26200004:{JANSEN}",
        invoice_number="26200004",
        debtor_code="1070",
        invoice_date=None,
        due_date=date(2026, 2, 9),
        open_amount=Money(Decimal("-25.00")),
    )
    with pytest.raises(NotSupported, match="credit notes"):
        ledger().record_payment(ADMIN, credit, Money(Decimal("5")), date(2026, 3, 2), "k")
    assert len(responses.calls) == 0


@responses.activate
def test_per_division_journals_and_cash_entries() -> None:
    gl_accounts()
    responses.get(f"{V1}/financialtransaction/CashEntryLines", body=raw("empty"))
    responses.get(f"{V1}/read/financial/ReceivablesList", body=_open("121.00"))
    post = responses.post(
        f"{V1}/financialtransaction/CashEntries", json={"d": {"EntryNumber": 7}}, status=201
    )
    made = ledger(payment_entry="cash", payment_journal="", payment_journals={"101": "10"})
    receipt = made.record_payment(ADMIN, ITEM, Money(Decimal("121.00")), date(2026, 3, 2), "k")
    sent = json.loads(post.calls[0].request.body)
    assert sent["JournalCode"] == "10" and "CashEntryLines" in sent
    assert receipt.ledger_reference == "10/7"


@responses.activate
def test_reverse_payment_books_money_going_out() -> None:
    gl = gl_accounts()
    responses.get(f"{V1}/financialtransaction/BankEntryLines", body=raw("empty"))
    post = responses.post(
        f"{V1}/financialtransaction/BankEntries", json=fixture("bank_entry_created"), status=201
    )
    receipt = ledger().reverse_payment(ADMIN, ITEM, Money(Decimal("40.00")), "cb-9")
    line = json.loads(post.calls[0].request.body)["BankEntryLines"][0]
    assert post.calls[0].request.body.count(b'"AmountFC":-40.00') == 1
    assert line["Description"] == "Chargeback 26700012 [cb-9]"
    assert line["GLAccount"] == DEBTORS_GL and gl.call_count == 1
    assert receipt.amount == Money(Decimal("40.00"))


@responses.activate
def test_match_payments_xml_uploads_a_match_set() -> None:
    gl = gl_accounts()
    responses.get(f"{V1}/financialtransaction/BankEntryLines", body=raw("empty"))
    responses.get(f"{V1}/read/financial/ReceivablesList", body=_open("121.00"))
    responses.post(
        f"{V1}/financialtransaction/BankEntries", json=fixture("bank_entry_created"), status=201
    )
    responses.get(
        f"{V1}/salesentry/SalesEntries",
        json={
            "d": {
                "results": [
                    {
                        "EntryNumber": 26700012,
                        "ReportingYear": 2026,
                        "ReportingPeriod": 1,
                        "Journal": "70",
                    }
                ]
            }
        },
    )
    responses.get(
        f"{V1}/financialtransaction/BankEntries",
        json={
            "d": {
                "results": [
                    {
                        "EntryNumber": 26200017,
                        "FinancialYear": 2026,
                        "FinancialPeriod": 3,
                        "JournalCode": "20",
                    }
                ]
            }
        },
    )
    upload = responses.post(
        f"{API}/docs/XMLUpload.aspx",
        body='<eExact><Messages><Message type="2"/></Messages></eExact>',
        match=[matchers.query_param_matcher({"Topic": "MatchSets", "_Division_": "101"})],
    )
    made = ledger(match_payments="xml")
    receipt = made.record_payment(ADMIN, ITEM, Money(Decimal("50.00")), date(2026, 3, 2), "dc-1")
    assert receipt.ledger_reference == "20/26200017" and gl.call_count == 1
    sales = next(c for c in responses.calls if "SalesEntries" in c.request.url)
    assert "$select=EntryNumber,ReportingYear,ReportingPeriod,Journal" in unquote(sales.request.url)
    xml = upload.calls[0].request.body.decode()
    assert '<GLAccount code="1300" />' in xml and '<Account code="1068" />' in xml
    assert 'finyear="2026" finperiod="1" journal="70" entry="26700012" amountdc="50.00"' in xml
    assert 'finperiod="3" journal="20" entry="26200017" amountdc="-50.00"' in xml


@responses.activate
def test_flag_and_clear_dispute_write_a_note_once() -> None:
    notes = responses.get(f"{V1}/activities/CommunicationNotes", body=raw("empty"))
    post = responses.post(f"{V1}/activities/CommunicationNotes", status=201, json={"d": {}})
    made = ledger()
    made.flag_dispute(ADMIN, ITEM, "goods damaged", "disp-1")
    sent = json.loads(post.calls[0].request.body)
    assert sent["Account"] == ACME
    assert sent["Subject"] == "Disputed: invoice 26700012 [disp-1]"
    assert "goods damaged" in sent["Notes"] and "Exact's own reminders" in sent["Notes"]
    assert "substringof('[disp-1]', Subject)" in query(0)
    notes.body = json.dumps({"d": {"results": [{"ID": "n", "Subject": sent["Subject"]}]}})
    made.flag_dispute(ADMIN, ITEM, "goods damaged", "disp-1")
    assert post.call_count == 1  # found by its key: not written twice
    notes.body = raw("empty")
    made.clear_dispute(ADMIN, ITEM, "disp-1-clear")
    assert json.loads(post.calls[1].request.body)["Subject"].startswith("Dispute resolved")


@responses.activate
def test_webhook_subscriptions() -> None:
    hook = "https://connector.example/webhooks/exact"
    responses.get(
        f"{V1}/webhooks/WebhookSubscriptions",
        json={
            "d": {
                "results": [
                    {
                        "ID": "cccccccc-0000-0000-0000-000000000001",
                        "CallbackURL": hook,
                        "Topic": "Accounts",
                    },
                    {
                        "ID": "cccccccc-0000-0000-0000-000000000002",
                        "CallbackURL": "https://x",
                        "Topic": "Accounts",
                    },
                ]
            }
        },
    )
    post = responses.post(f"{V1}/webhooks/WebhookSubscriptions", status=201, json={"d": {}})
    delete = responses.delete(
        f"{V1}/webhooks/WebhookSubscriptions(guid'cccccccc-0000-0000-0000-000000000001')",
        status=204,
    )
    made = ledger()
    assert made.subscribe_webhooks(ADMIN, hook) == ["FinancialTransactions"]
    assert json.loads(post.calls[0].request.body) == {
        "CallbackURL": hook,
        "Topic": "FinancialTransactions",
    }
    assert made.unsubscribe_webhooks(ADMIN, hook) == 1
    assert delete.call_count == 1
    with pytest.raises(ConfigError, match="https"):
        made.subscribe_webhooks(ADMIN, "http://connector.example/hook")
