"""Issue 14, Exact Online: each point against the fake made as strict as the documentation
(`fixtures/documented_fields.json`). Every test here failed before its fix."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from adapters.exact import OAUTH_SPEC
from adapters.exact.auth import settings_from
from adapters.exact.ledger import ExactLedger
from connector.domain import Money
from connector.domain import OpenItem
from connector.errors import ConfigError
from connector.errors import InputRejected
from connector.errors import RateLimited
from connector.errors import ReconnectRequired
from connector.oauth import records as oauth_records
from connector.oauth.client import ClientCredentials
from connector.oauth.client import FailureKind
from connector.oauth.client import OAuthClient
from connector.oauth.client import TokenFailure
from connector.oauth.client import TokenSet
from connector.oauth.config import resolve_spec
from connector.oauth.tokens import ConnectionTokens
from connector.store import Store
from connector.store import records
from connector.vault import Vault
from connector.vault import new_key
from tests.fakes.exact import DEBTORS_GL
from tests.fakes.exact import REFRESH_TOKEN_LIFETIME
from tests.fakes.exact import FakeExact
from tests.fakes.exact import StaticTokens

SCALE = 0.005  # a minute is 0.3 s


@pytest.fixture
def fake() -> Iterator[FakeExact]:
    with FakeExact(time_scale=SCALE) as server:
        server.add_division(101, "Acme BV")
        yield server


def make_ledger(fake: FakeExact, **config: Any) -> ExactLedger:
    return ExactLedger(settings_from(fake.settings(**config)), StaticTokens(fake))


def invoice(fake: FakeExact, amount: str = "121.00") -> tuple[ExactLedger, Any, OpenItem]:
    accounts = fake.seed(101, accounts=1, receivables=0)
    entry = fake.add_invoice(101, accounts[0], amount)
    ledger = make_ledger(fake)
    admin = ledger.administrations()[0]
    (item,) = ledger.read_items(admin, [f"{entry}:{accounts[0]}"])
    return ledger, admin, item


def all_items(ledger: ExactLedger, admin: Any) -> list[OpenItem]:
    return [i for p in ledger.open_items(admin, None).pages for i in p.records]


# --- 1. GLAccount on every entry line ---------------------------------------------------------


def test_a_payment_lands_with_only_the_journal_configured(fake: FakeExact) -> None:
    ledger, admin, item = invoice(fake)
    receipt = ledger.record_payment(admin, item, Money(Decimal("21.00")), date(2026, 3, 2), "k1")
    assert receipt.amount == Money(Decimal("21.00"))
    (line,) = fake.divisions[101].lines
    assert line["GLAccount"] == fake.divisions[101].gl_id(DEBTORS_GL)
    assert fake.errors == 0


def test_a_reversal_lands_on_the_receivables_account_too(fake: FakeExact) -> None:
    ledger, admin, item = invoice(fake)
    ledger.reverse_payment(admin, item, Money(Decimal("10.00")), "chargeback-1")
    (line,) = fake.divisions[101].lines
    assert line["AmountFC"] == Decimal("-10.00")
    assert line["GLAccount"] == fake.divisions[101].gl_id(DEBTORS_GL)
    assert fake.errors == 0


def test_a_setting_overrides_the_account_by_code(fake: FakeExact) -> None:
    other = fake.divisions[101].add_gl_account("1310", "Debiteuren buitenland", 20)
    accounts = fake.seed(101, accounts=1, receivables=0)
    entry = fake.add_invoice(101, accounts[0], "50.00")
    ledger = make_ledger(fake, receivables_gl_code="1310")
    admin = ledger.administrations()[0]
    (item,) = ledger.read_items(admin, [f"{entry}:{accounts[0]}"])
    ledger.record_payment(admin, item, Money(Decimal("5.00")), date(2026, 3, 2), "k2")
    assert fake.divisions[101].lines[0]["GLAccount"] == other
    assert ledger.receivables_gl_problems() == []


def test_with_several_receivables_accounts_the_invoices_own_is_used(fake: FakeExact) -> None:
    fake.divisions[101].add_gl_account("1310", "Debiteuren buitenland", 20)
    ledger, admin, item = invoice(fake)
    ledger.record_payment(admin, item, Money(Decimal("1.00")), date(2026, 3, 2), "k3")
    # the invoice's payment term is booked on 1300: the receipt goes there too
    assert fake.divisions[101].lines[0]["GLAccount"] == fake.divisions[101].gl_id(DEBTORS_GL)
    assert ledger.receivables_gl_problems() == []


def test_a_guid_setting_is_refused_and_a_code_is_taken() -> None:
    with pytest.raises(ConfigError, match="receivables_gl_code"):
        settings_from({"payment_gl_account": "6e1bc618-8cb7-4dcd-8385-6ede9a18704f"})
    assert settings_from({"receivables_gl_codes": {"101": "1310"}}).gl_code_for("101") == "1310"
    assert settings_from({"receivables_gl_code": "1300"}).gl_code_for("102") == "1300"


def test_an_unresolvable_account_is_a_check_problem_and_never_reaches_exact(
    fake: FakeExact,
) -> None:
    ledger, admin, item = invoice(fake)
    div = fake.divisions[101]
    for gl in div.gl_accounts.values():
        if gl["Type"] == 20:
            gl["Type"] = 90  # no accounts receivable account at all
    fresh = make_ledger(fake)
    (problem,) = fresh.receivables_gl_problems()
    assert "division 101" in problem and "receivables_gl_code" in problem
    errors = fake.errors
    with pytest.raises(ConfigError, match="receivables_gl_code"):
        fresh.record_payment(admin, item, Money(Decimal("1.00")), date(2026, 3, 2), "k4")
    assert fake.errors == errors and div.lines == []
    wrong = make_ledger(fake, receivables_gl_code="9999")
    (problem,) = wrong.receivables_gl_problems()
    assert "9999" in problem


# --- 2. XML matching -----------------------------------------------------------------------


def test_xml_matching_reads_reporting_year_and_period(fake: FakeExact) -> None:
    accounts = fake.seed(101, accounts=1, receivables=0)
    entry = fake.add_invoice(101, accounts[0], "121.00", invoice_date=date(2026, 2, 5))
    ledger = make_ledger(fake, match_payments="xml", receivables_gl_code="1300")
    admin = ledger.administrations()[0]
    (item,) = ledger.read_items(admin, [f"{entry}:{accounts[0]}"])
    receipt = ledger.record_payment(admin, item, Money(Decimal("21.00")), date(2026, 3, 2), "x1")
    assert "not matched" not in receipt.ledger_reference
    assert len(fake.divisions[101].matches) == 1
    assert fake.errors == 0


def test_a_failed_match_after_booking_is_booked_but_unmatched(fake: FakeExact) -> None:
    accounts = fake.seed(101, accounts=1, receivables=0)
    entry = fake.add_invoice(101, accounts[0], "121.00")
    ledger = make_ledger(fake, match_payments="xml", receivables_gl_code="1300")
    admin = ledger.administrations()[0]
    (item,) = ledger.read_items(admin, [f"{entry}:{accounts[0]}"])
    fake.fail_next("GET", "salesentry/SalesEntries", 400)
    receipt = ledger.record_payment(admin, item, Money(Decimal("21.00")), date(2026, 3, 2), "x2")
    assert receipt.amount == Money(Decimal("21.00")) and not receipt.already_recorded
    assert receipt.ledger_reference.startswith("20/")
    assert "booked, not matched" in receipt.ledger_reference
    assert len(receipt.ledger_reference) <= 200  # the outbox column
    assert len(fake.divisions[101].lines) == 1 and fake.divisions[101].matches == []


# --- 3. receipts are part of their invoice -------------------------------------------------


def test_a_partial_receipt_is_part_of_its_invoice_not_an_item_of_its_own(fake: FakeExact) -> None:
    ledger, admin, item = invoice(fake)
    ledger.record_payment(admin, item, Money(Decimal("21.00")), date(2026, 3, 2), "p1")
    items = all_items(ledger, admin)
    assert [(i.external_id, i.open_amount.amount) for i in items] == [
        (item.external_id, Decimal("100.00"))
    ]
    assert {i.external_id: (i.open_amount.amount, "EUR") for i in items} == fake.open_by_key(101)


def test_the_cap_counts_earlier_partial_receipts(fake: FakeExact) -> None:
    ledger, admin, item = invoice(fake)
    ledger.record_payment(admin, item, Money(Decimal("100.00")), date(2026, 3, 2), "p2")
    second = ledger.record_payment(admin, item, Money(Decimal("50.00")), date(2026, 3, 3), "p3")
    assert second.amount == Money(Decimal("21.00"))  # what is still open, not 50
    assert fake.open_by_key(101) == {}  # settled exactly, so Exact matched it


def test_read_items_finds_the_invoice_with_its_receipts(fake: FakeExact) -> None:
    ledger, admin, item = invoice(fake)
    ledger.record_payment(admin, item, Money(Decimal("20.00")), date(2026, 3, 2), "p4")
    (fresh,) = ledger.read_items(admin, [item.external_id])
    assert fresh.open_amount == Money(Decimal("101.00"))
    assert fresh.due_date == item.due_date and fresh.invoice_number == item.invoice_number


def test_a_cursor_of_the_old_key_scheme_makes_the_next_read_complete(fake: FakeExact) -> None:
    ledger, admin, _item = invoice(fake)
    old = 'exact:v1:{"deleted":1,"full":' + str(int(time.time())) + ',"terms":1}'
    feed = ledger.open_items(admin, old)
    assert feed.complete  # stale receipt keys are closed by the complete read


def test_payment_term_changes_name_the_invoice_of_a_receipt(fake: FakeExact) -> None:
    ledger, admin, item = invoice(fake)
    cursor = None
    for page in ledger.open_items(admin, None).pages:
        cursor = page.cursor or cursor
    ledger.record_payment(admin, item, Money(Decimal("20.00")), date(2026, 3, 2), "p5")
    feed = ledger.open_items(admin, cursor)
    assert not feed.complete
    pages = list(feed.pages)
    assert [i.external_id for p in pages for i in p.records] == [item.external_id]
    assert [k for p in pages for k in p.removed] == []


# --- 4. an expired refresh token -------------------------------------------------------------


def test_an_expired_refresh_token_is_a_dead_grant(fake: FakeExact) -> None:
    spec = resolve_spec("exact", OAUTH_SPEC, {"api_url": fake.url})
    client = OAuthClient("exact", spec, ClientCredentials(fake.client_id, fake.client_secret))
    pair = fake.issue_tokens()
    fake.refresh_tokens[pair["refresh_token"]].issued -= REFRESH_TOKEN_LIFETIME * SCALE + 1
    with pytest.raises(TokenFailure) as failed:
        client.refresh(pair["refresh_token"])
    assert failed.value.kind is FailureKind.DEAD_GRANT
    assert "refresh token expired" in failed.value.summary


def test_an_expired_refresh_token_makes_the_connection_reconnect_required(
    fake: FakeExact, store: Store
) -> None:
    spec = resolve_spec("exact", OAUTH_SPEC, {"api_url": fake.url})
    client = OAuthClient("exact", spec, ClientCredentials(fake.client_id, fake.client_secret))
    vault = Vault([new_key()])
    pair = fake.issue_tokens()
    fake.refresh_tokens[pair["refresh_token"]].issued -= REFRESH_TOKEN_LIFETIME * SCALE + 1
    now = datetime.now(UTC)
    with store.begin() as conn:
        connection = records.save_connection(conn, name="acme", ledger="exact", config={}, now=now)
        old = now - timedelta(days=31)
        tokens = TokenSet(pair["access_token"], pair["refresh_token"], old, old)
        oauth_records.save_tokens(conn, connection.id, tokens, vault, old, refreshed=False)
    made = ConnectionTokens(store, vault, client, connection.id)
    with pytest.raises(ReconnectRequired, match="refresh token expired"):
        made.access_token()
    calls = len(fake.token_calls)
    with pytest.raises(ReconnectRequired):
        made.access_token()
    with pytest.raises(ReconnectRequired):
        ConnectionTokens(store, vault, client, connection.id).access_token()
    assert len(fake.token_calls) == calls  # the token endpoint is not hit again
    with store.begin() as conn:
        grant = oauth_records.read_grant(conn, connection.id, vault)
    assert grant is not None and grant.status == "reconnect_required"


# --- 5. a daily-limit 429 ------------------------------------------------------------------


def test_the_fakes_429_carries_the_rate_limit_headers(fake: FakeExact) -> None:
    fake.daily_limit = 3
    ledger = make_ledger(fake, daily_reserve=0)
    for _ in range(3):
        ledger.client.get("101", "system/Divisions", {"$select": "Code"})
    ledger.client.limiter.state("101").daily.remaining = None  # forget what we counted
    with pytest.raises(RateLimited, match="daily limit") as limited:
        ledger.client.get("101", "system/Divisions", {"$select": "Code"})
    assert ledger.client.limiter.waited_seconds == 0  # no minutely wait first
    assert fake.too_many == 1  # and no second try the same day
    day = 86400 * SCALE
    assert limited.value.retry_after is not None and 0 < limited.value.retry_after <= day + 1


def test_a_minutely_429_with_headers_still_waits_for_the_minute(fake: FakeExact) -> None:
    import threading

    ledger = make_ledger(fake)
    ledger.administrations()
    fake.minutely_limit = 0  # refused with the headers: the minute's calls are spent ...
    threading.Timer(0.1, setattr, args=(fake, "minutely_limit", 60)).start()  # ... then not
    assert ledger.administrations()[0].external_id == "101"
    assert fake.too_many >= 1 and ledger.client.limiter.waited_seconds > 0


# --- 6. the complete re-read is weekly -------------------------------------------------------


def test_the_complete_read_is_weekly_by_default(fake: FakeExact) -> None:
    assert settings_from({}).full_sync_hours == 168
    ledger, admin, _item = invoice(fake)
    cursor = None
    for page in ledger.open_items(admin, None).pages:
        cursor = page.cursor or cursor
    assert cursor is not None
    day_later = ExactLedger(
        ledger.settings, StaticTokens(fake), clock=lambda: time.time() + 86400 * 2
    )
    assert not day_later.open_items(admin, cursor).complete
    week_later = ExactLedger(
        ledger.settings, StaticTokens(fake), clock=lambda: time.time() + 86400 * 7 + 60
    )
    assert week_later.open_items(admin, cursor).complete


# --- 7. the first sync takes its cursors without paging the history --------------------------


def test_the_first_read_takes_the_cursors_from_sync_timestamp(fake: FakeExact) -> None:
    fake.bulk_page = 10
    accounts = fake.seed(101, accounts=5, receivables=95)  # 10 pages of terms, 10 of the list
    ledger = make_ledger(fake)
    admin = ledger.administrations()[0]
    before = dict(fake.calls_by_endpoint)
    cursor = None
    items = []
    for page in ledger.open_items(admin, None).pages:
        items.extend(page.records)
        cursor = page.cursor or cursor
    spent = {k: v - before.get(k, 0) for k, v in fake.calls_by_endpoint.items()}
    assert spent.get("sync/Cashflow/PaymentTerms", 0) == 0
    assert spent["read/financial/ReceivablesList"] == 10
    assert spent["read/sync/Sync/SyncTimestamp"] == 2
    assert {i.external_id: (i.open_amount.amount, "EUR") for i in items} == fake.open_by_key(101)
    # what changes after the read is found by the incremental read from that cursor
    fake.pay_in_exact(101, int(items[0].external_id.split(":")[0]), "1.00")
    fake.add_invoice(101, accounts[0], "9.99")
    changed = [i for p in ledger.open_items(admin, cursor).pages for i in p.records]
    assert items[0].external_id in {i.external_id for i in changed}
    assert len(changed) >= 2


# --- 8. the fake is as strict as the documentation ----------------------------------------------


def test_the_fake_refuses_undocumented_select_and_filter_names(fake: FakeExact) -> None:
    ledger = make_ledger(fake, breaker_errors=9)
    with pytest.raises(InputRejected, match="No property 'FinancialYear'"):
        ledger.client.get(
            "101",
            "salesentry/SalesEntries",
            {"$filter": "EntryNumber eq 1", "$select": "EntryNumber,FinancialYear"},
        )
    with pytest.raises(InputRejected, match="No property 'Bogus'"):
        ledger.client.get(
            "101", "read/financial/ReceivablesList", {"$filter": "Bogus eq 1", "$select": "HID"}
        )


def test_the_fake_sends_only_documented_fields(fake: FakeExact) -> None:
    fake.seed(101, accounts=2, receivables=3)
    ledger = make_ledger(fake)
    rows = ledger.client.rows("101", "read/financial/ReceivablesList")
    assert rows and all("Id" not in r and "Division" not in r for r in rows)


def test_the_fake_books_a_receipt_as_a_term_linked_to_its_invoice(fake: FakeExact) -> None:
    ledger, admin, item = invoice(fake)
    ledger.record_payment(admin, item, Money(Decimal("21.00")), date(2026, 3, 2), "l1")
    rows = ledger.client.rows(
        "101", "read/financial/ReceivablesList", {"$select": "EntryNumber,InvoiceNumber,Amount"}
    )
    receipt = next(r for r in rows if r["Amount"] < 0)
    assert receipt["InvoiceNumber"] == int(item.invoice_number) != receipt["EntryNumber"]


def test_receivables_rows_group_by_invoice_and_account() -> None:
    from adapters.exact import mapping

    acme = "11111111-2222-3333-4444-555555555555"

    def row(entry: int, invoice: int | None, amount: str, due: str, **extra: Any) -> Any:
        day = datetime.fromisoformat(due).replace(tzinfo=UTC)
        return {
            "AccountId": acme,
            "AccountCode": "  1068",
            "Amount": Decimal(amount),
            "CurrencyCode": "EUR",
            "Description": extra.get("Description", f"Invoice {entry}"),
            "DueDate": f"/Date({int(day.timestamp()) * 1000})/",
            "EntryNumber": entry,
            "InvoiceDate": f"/Date({int(day.timestamp()) * 1000 - 86400000 * 30})/",
            "InvoiceNumber": invoice,
            "YourRef": "",
        }

    rows = [
        row(26200003, 26700012, "-21.00", "2026-01-10", Description="Receipt"),  # linked, first
        row(26700012, 26700012, "60.50", "2026-02-01"),
        row(26700012, 26700012, "60.50", "2026-03-01"),
        row(26200004, None, "-25.00", "2026-02-09", Description="Receipt on account"),
        row(26700013, 26700013, "40.00", "2026-02-01"),
        row(26200005, 26700013, "-40.00", "2026-02-02"),  # settles 26700013: not open
    ]
    items = {i.external_id: i for i in mapping.items_from_receivables(rows, "EUR")}
    assert set(items) == {f"26700012:{acme}", f"26200004:{acme}"}
    invoice = items[f"26700012:{acme}"]
    assert invoice.open_amount == Money(Decimal("100.00"))
    assert invoice.due_date == date(2026, 2, 1)  # the invoice's own terms, not the receipt's
    assert invoice.invoice_number == "26700012" and invoice.description == "Invoice 26700012"
    assert items[f"26200004:{acme}"].open_amount == Money(Decimal("-25.00"))
    change = mapping.term_change(
        {"Account": acme, "EntryNumber": 26200003, "InvoiceNumber": 26700012, "Timestamp": 5}
    )
    assert change is not None and change.key == f"26700012:{acme}"


def test_the_upgrade_closes_receipt_items_stored_under_the_old_keys(
    fake: FakeExact, store: Store
) -> None:
    from sqlalchemy import insert
    from sqlalchemy import select
    from sqlalchemy import update

    from connector.store.schema import open_items
    from connector.sync import ITEMS
    from connector.sync import sync_all

    ledger, admin, item = invoice(fake)
    receipt = ledger.record_payment(admin, item, Money(Decimal("21.00")), date(2026, 3, 2), "u1")
    receipt_entry = receipt.ledger_reference.split("/")[1]
    account = item.external_id.split(":")[1]
    with store.begin() as conn:
        made = records.save_connection(
            conn, name="exact", ledger="exact", config={}, now=datetime.now(UTC)
        )
        records.save_administrations(conn, made.id, ledger.administrations())
    assert all(s.ok for s in sync_all(store, lambda _c: ledger))
    # What the v1 keys left in a store: the invoice at its full amount, the receipt as an
    # item of its own, and a v1 cursor that is not due for a complete read.
    with store.begin() as conn:
        stored_admin = records.find_administration(conn, "101")
        row = conn.execute(
            select(open_items).where(open_items.c.external_id == item.external_id)
        ).one()
        values = {k: v for k, v in row._mapping.items() if k != "id"}
        values.update(external_id=f"{receipt_entry}:{account}", open_amount=Decimal("-21.00"))
        conn.execute(insert(open_items).values(**values))
        conn.execute(
            update(open_items)
            .where(open_items.c.external_id == item.external_id)
            .values(open_amount=Decimal("121.00"), fingerprint="as-read-by-v1")
        )
        old = 'exact:v1:{"deleted":1,"full":' + str(int(time.time())) + ',"terms":99999999}'
        records.put_cursor(conn, stored_admin.id, ITEMS, old, datetime.now(UTC))
    assert all(s.ok for s in sync_all(store, lambda _c: ledger))
    with store.begin() as conn:
        now_open = {
            ext: amount
            for ext, amount in conn.execute(
                select(open_items.c.external_id, open_items.c.open_amount).where(
                    open_items.c.status == "open"
                )
            )
        }
    assert now_open == {item.external_id: Decimal("100.00")}
