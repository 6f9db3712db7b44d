"""The Exact Online ledger: the `Ledger` port over Exact's REST API.

Administrations
    `current/Me` (the one call without a division) names the user's current division;
    `{division}/system/Divisions` lists the divisions the user may open. Active ones
    (Status 1) are the administrations, optionally narrowed by the connection's `divisions`.

Debtors (`sync/CRM/Accounts`, 1,000 rows a page)
    Accounts that are customers (Status "C" or IsSales), from the stored row version on
    (`Timestamp gt n`; the first time from 1). The cursor is the highest `Timestamp` seen.
    Deleted accounts are not read: Exact refuses to delete an account that has entries, and
    the connector keeps a debtor's history anyway.

Open items
    A complete read (the first sync, every `full_sync_hours` — weekly by default — and
    whenever Exact reports a deleted payment term) lists `read/financial/ReceivablesList`
    whole; the sync closes what it no longer lists. Before it reads the list it brings the two
    incremental cursors up to date (`sync/Cashflow/PaymentTerms` and `sync/Deleted` for
    payment terms), so a change made during the read is read again next time. The first
    read has no cursors to bring up to date: paging every payment term ever made only to
    learn the highest row version would cost as much as the list itself, so it asks
    `read/sync/Sync/SyncTimestamp` for the row version of a moment `CURSOR_MARGIN_SECONDS`
    before the read (one call per cursor); what changed since is read once more next time.

    An incremental read asks `sync/Cashflow/PaymentTerms` what changed since the cursor and
    `sync/Deleted` what was deleted: one call each when nothing changed. For the accounts
    whose terms changed it re-reads their open items (20 accounts a call); an item whose
    term changed but that is no longer listed is reported closed (`Page.removed`).

Write-back
    `record_payment` books a bank (or cash) entry line for the debtor on the division's
    receivables G/L account (`adapters.exact.glaccounts`), with the idempotency key in
    brackets in its description, the invoice number in `OurRef` (which links the receipt to
    the invoice), after a fresh read that shows the item still open, capped at the open
    amount (the invoice less the receipts already linked to it). Before it books it looks the
    key up, so a repeat after a lost answer finds the first booking and books nothing.
    Matching the entry to the invoice is left to Exact and the accountant
    (`match_payments = "none"`, the default), or done through Exact's XML API
    (`match_payments = "xml"`: a `MatchSets` upload), the only interface that can match. A
    match that fails after the booking never fails the write: the money is booked, and the
    receipt's reference says "booked, not matched" for the accountant.
    `flag_dispute` / `clear_dispute` write a communication note on the account that names the
    invoice and the reason, found again by its key. Exact's own reminders cannot be read or
    paused through the API; that is declared (`own_reminders`), not pretended.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any

import requests

from adapters.exact import mapping
from adapters.exact.auth import ExactSettings
from adapters.exact.client import NO_DIVISION
from adapters.exact.client import ExactClient
from adapters.exact.client import Row
from adapters.exact.glaccounts import GLAccount
from adapters.exact.glaccounts import ReceivablesAccounts
from adapters.exact.mapping import MappingError
from adapters.exact.matching import match_booking
from connector.domain import Administration
from connector.domain import Debtor
from connector.domain import Money
from connector.domain import OpenItem
from connector.errors import ConfigError
from connector.errors import ConnectorError
from connector.errors import InputRejected
from connector.errors import LedgerError
from connector.errors import NotFound
from connector.errors import NotSupported
from connector.ports import AccessTokens
from connector.ports import Capabilities
from connector.ports import Feed
from connector.ports import Page
from connector.ports import PaymentReceipt

if TYPE_CHECKING:
    from connector.ports import Ledger

logger = logging.getLogger(__name__)

ACCOUNT_FIELDS = (
    "ID,Code,Name,Email,Phone,AddressLine1,AddressLine2,Postcode,City,Country,VATNumber,"
    "ChamberOfCommerce,Language,PaymentConditionSales,Blocked,Status,IsSales,Timestamp"
)
RECEIVABLE_FIELDS = (
    "HID,AccountId,AccountCode,Amount,CurrencyCode,Description,DueDate,EntryNumber,"
    "InvoiceDate,InvoiceNumber,JournalCode,YourRef"
)
TERM_FIELDS = "ID,Account,EntryNumber,InvoiceNumber,LineType,Timestamp"
DELETED_FIELDS = "EntityKey,EntityType,Timestamp"
DELETED_PAYMENT_TERM = 10  # sync/Deleted EntityType of a payment term
ACCOUNTS_PER_CALL = 20  # account filters per ReceivablesList call (keeps the URL short)
ITEMS_PER_CALL = 12  # (account, entry) filters per ReceivablesList call
DESCRIPTION_LENGTH = 60
DIVISION_FIELDS = "Code,Description,Currency,Country,Status"
SYNC_TIMESTAMP = "read/sync/Sync/SyncTimestamp"
# How long before a first read its cursors are set. `modified` is sent in UTC; should Exact
# read it as Amsterdam wall time the moment is only earlier. Changes within the margin are
# read once more (idempotent), never missed.
CURSOR_MARGIN_SECONDS = 6 * 3600
SUBSCRIPTIONS = "webhooks/WebhookSubscriptions"

CAPABILITIES = Capabilities(
    incremental_sync=True,
    record_payment=True,
    reverse_payment=True,
    flag_dispute=True,
    targeted_read=True,
    invoice_pdf=False,
    # Exact sends reminders of its own and the API can neither read nor pause them.
    own_reminders=True,
    oauth=True,
)


def _marker(key: str) -> str:
    return f"[{key}]"


def _description(prefix: str, key: str) -> str:
    marker = _marker(key)
    room = DESCRIPTION_LENGTH - len(marker) - 1
    return f"{prefix[:room]} {marker}" if room > 0 else marker


def _chunks(values: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True, slots=True)
class _Booked:
    entry_id: str
    entry_number: int | None
    amount: Decimal


class ExactLedger:
    """A `connector.ports.Ledger` for one Exact Online connection (all its divisions)."""

    name = "exact"
    capabilities = CAPABILITIES

    def __init__(
        self,
        settings: ExactSettings,
        tokens: AccessTokens,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.client = ExactClient(settings, tokens, session=session, clock=clock, sleep=sleep)
        self.receivables_accounts = ReceivablesAccounts(self.client, settings)
        self._clock = clock

    def __repr__(self) -> str:
        return f"ExactLedger({self.settings.api_url!r})"

    # -- administrations -------------------------------------------------------------------

    def administrations(self) -> Sequence[Administration]:
        me = self.client.rows(NO_DIVISION, "current/Me", {"$select": "CurrentDivision"})
        if not me or not isinstance(me[0].get("CurrentDivision"), int):
            msg = "Exact's current/Me did not name the user's current division"
            raise LedgerError(msg)
        current = str(me[0]["CurrentDivision"])
        rows = self.client.rows(current, "system/Divisions", {"$select": DIVISION_FIELDS})
        found: list[Administration] = []
        for row in rows:
            if row.get("Status", mapping.DIVISION_ACTIVE) != mapping.DIVISION_ACTIVE:
                continue
            try:
                found.append(mapping.administration(row))
            except MappingError as exc:
                logger.warning("Exact: skipped a division: %s", exc)
        wanted = self.settings.divisions
        if wanted:
            known = {a.external_id for a in found}
            missing = [d for d in wanted if d not in known]
            if missing:
                msg = (
                    f"[ledgers.exact] divisions: {', '.join(missing)} not among the active "
                    f"divisions this user may open ({', '.join(sorted(known)) or 'none'})"
                )
                raise ConfigError(msg)
            found = [a for a in found if a.external_id in wanted]
        self.client.limiter.divisions = max(1, len(found))
        return found

    def receivables_gl_problems(self) -> list[str]:
        """For `connector check`: one line per division whose receivables G/L account (that
        every payment line is booked on) cannot be resolved; empty when all can."""
        problems: list[str] = []
        for administration in self.administrations():
            try:
                self.receivables_accounts.division(administration.external_id)
            except ConfigError as exc:
                problems.append(str(exc))
        return problems

    def configuration_problems(self) -> list[str]:
        """connector.ports.SelfChecking: what `connector check` lists for this connection."""
        return self.receivables_gl_problems()

    # -- debtors ------------------------------------------------------------------------------

    def debtors(self, administration: Administration, cursor: str | None) -> Feed[Debtor]:
        state = mapping.decode_cursor(cursor, ("accounts",))
        since = state["accounts"] if state else 1
        return Feed(
            pages=self._debtor_pages(administration.external_id, since),
            complete=state is None,
        )

    def _debtor_pages(self, division: str, since: int) -> Iterator[Page[Debtor]]:
        latest = since
        params = {"$filter": f"Timestamp gt {since}L", "$select": ACCOUNT_FIELDS}
        for rows, last in self._paged(division, "sync/CRM/Accounts", params):
            debtors: list[Debtor] = []
            for row in rows:
                latest = max(latest, self._timestamp(row))
                if not mapping.is_debtor(row):
                    continue
                try:
                    debtors.append(mapping.debtor(row))
                except MappingError as exc:
                    logger.warning("Exact division %s: skipped an account: %s", division, exc)
            cursor = mapping.encode_cursor({"accounts": latest}) if last else None
            yield Page(records=debtors, cursor=cursor)

    # -- open items ---------------------------------------------------------------------------

    def open_items(self, administration: Administration, cursor: str | None) -> Feed[OpenItem]:
        state = mapping.decode_cursor(cursor, ("terms", "deleted", "full"))
        division = administration.external_id
        now = int(self._clock())
        if state is None:
            return self._complete(administration, 0, 0)
        if now - state["full"] >= self.settings.full_sync_hours * 3600:
            return self._complete(administration, state["terms"], state["deleted"])
        changes, terms = self._term_changes(division, state["terms"])
        deleted, deleted_at = self._deleted_terms(division, state["deleted"])
        if deleted:
            logger.info(
                "Exact division %s: %d payment terms were deleted; reading all open items",
                division,
                deleted,
            )
            return self._complete(administration, terms, deleted_at, caught_up=True)
        next_cursor = mapping.encode_cursor(
            {"terms": terms, "deleted": deleted_at, "full": state["full"]}
        )
        if not changes:
            return Feed(pages=iter([Page(cursor=next_cursor)]), complete=False, total=0)
        return Feed(
            pages=self._changed_pages(administration, changes, next_cursor),
            complete=False,
        )

    def _complete(
        self,
        administration: Administration,
        terms_since: int,
        deleted_since: int,
        *,
        caught_up: bool = False,
    ) -> Feed[OpenItem]:
        return Feed(
            pages=self._complete_pages(administration, terms_since, deleted_since, caught_up),
            complete=True,
        )

    def _complete_pages(
        self,
        administration: Administration,
        terms_since: int,
        deleted_since: int,
        caught_up: bool,
    ) -> Iterator[Page[OpenItem]]:
        division = administration.external_id
        started = int(self._clock())
        terms, deleted = terms_since, deleted_since
        if not terms_since or not deleted_since:
            # The first read: the row versions of a moment before it, one call each.
            moment = datetime.fromtimestamp(started - CURSOR_MARGIN_SECONDS, UTC)
            terms = self._row_version(division, "PaymentTerms", moment)
            deleted = self._row_version(division, "Deleted", moment)
        elif not caught_up:
            # First the cursors, then the list: what changes during the read is read again.
            _changes, terms = self._term_changes(division, terms_since)
            _count, deleted = self._deleted_terms(division, deleted_since)
        rows: list[Row] = []
        for page, _last in self._paged(
            division, "read/financial/ReceivablesList", {"$select": RECEIVABLE_FIELDS}
        ):
            rows.extend(page)
        items = self._items(division, rows, administration.currency)
        cursor = mapping.encode_cursor({"terms": terms, "deleted": deleted, "full": started})
        size = 1000
        if not items:
            yield Page(cursor=cursor)
            return
        for start in range(0, len(items), size):
            last = start + size >= len(items)
            yield Page(records=items[start : start + size], cursor=cursor if last else None)

    def _changed_pages(
        self,
        administration: Administration,
        changes: Mapping[str, str],
        cursor: str,
    ) -> Iterator[Page[OpenItem]]:
        accounts = sorted(set(changes.values()))
        items = self._read_accounts(administration, accounts)
        seen = {item.external_id for item in items}
        removed = sorted(key for key in changes if key not in seen)
        yield Page(records=items, removed=removed, cursor=cursor)

    def _read_accounts(
        self, administration: Administration, accounts: Sequence[str]
    ) -> list[OpenItem]:
        division = administration.external_id
        items: list[OpenItem] = []
        for chunk in _chunks(accounts, ACCOUNTS_PER_CALL):
            where = mapping.any_of(f"AccountId eq {mapping.odata_guid(a)}" for a in chunk)
            rows = self.client.rows(
                division,
                "read/financial/ReceivablesList",
                {"$filter": where, "$select": RECEIVABLE_FIELDS},
            )
            items.extend(self._items(division, rows, administration.currency))
        return items

    def _row_version(self, division: str, api: str, moment: datetime) -> int:
        """The sync row version of `moment` for one sync endpoint (`SyncTimestamp`); where
        Exact will not tell, the cursor is found the long way, by paging from the start."""
        params = {
            "modified": f"datetime'{moment.strftime('%Y-%m-%dT%H:%M:%S')}'",
            "endPoint": f"'{api}'",
        }
        try:
            rows = self.client.rows(division, SYNC_TIMESTAMP, params)
            value = rows[0].get("TimeStampAsBigInt") if rows else None
            found = mapping.timestamp(value, "TimeStampAsBigInt")
        except (InputRejected, NotFound, MappingError) as exc:
            logger.warning(
                "Exact division %s: no sync timestamp for %s (%s); paging from the start",
                division,
                api,
                exc,
            )
            if api == "PaymentTerms":
                return self._term_changes(division, 1)[1]
            return self._deleted_terms(division, 1)[1]
        return max(found, 1)

    def _term_changes(self, division: str, since: int) -> tuple[dict[str, str], int]:
        """Changed items (key -> account) since the row version, and the new row version."""
        latest = since
        changes: dict[str, str] = {}
        params = {"$filter": f"Timestamp gt {since}L", "$select": TERM_FIELDS}
        for rows, _last in self._paged(division, "sync/Cashflow/PaymentTerms", params):
            for row in rows:
                latest = max(latest, self._timestamp(row))
                try:
                    change = mapping.term_change(row)
                except MappingError as exc:
                    logger.warning("Exact division %s: skipped a payment term: %s", division, exc)
                    continue
                if change is not None:
                    changes[change.key] = change.account
        return changes, latest

    def _deleted_terms(self, division: str, since: int) -> tuple[int, int]:
        """How many payment terms were deleted since the row version, and the new one."""
        latest = since
        count = 0
        params = {
            "$filter": f"Timestamp gt {since}L and EntityType eq {DELETED_PAYMENT_TERM}",
            "$select": DELETED_FIELDS,
        }
        for rows, _last in self._paged(division, "sync/Deleted", params):
            for row in rows:
                latest = max(latest, self._timestamp(row))
                if row.get("EntityType") == DELETED_PAYMENT_TERM:
                    count += 1
        return count, latest

    def read_items(
        self, administration: Administration, external_ids: Sequence[str]
    ) -> Sequence[OpenItem]:
        wanted: list[tuple[str, int, str]] = []
        for key in dict.fromkeys(external_ids):
            parsed = mapping.parse_item_key(key)
            if parsed is not None:
                wanted.append((key, *parsed))
        found: dict[str, OpenItem] = {}
        division = administration.external_id
        # An invoice's own rows and the receipts linked to it carry its number in
        # InvoiceNumber; an unlinked receipt is keyed by its own EntryNumber.
        clauses = [
            f"AccountId eq {mapping.odata_guid(account)} and "
            f"(InvoiceNumber eq {number} or EntryNumber eq {number})"
            for _key, number, account in wanted
        ]
        for chunk in _chunks(clauses, ITEMS_PER_CALL):
            rows = self.client.rows(
                division,
                "read/financial/ReceivablesList",
                {"$filter": mapping.any_of(chunk), "$select": RECEIVABLE_FIELDS},
            )
            for item in self._items(division, rows, administration.currency):
                found[item.external_id] = item
        return [found[key] for key, _entry, _account in wanted if key in found]

    def _items(self, division: str, rows: Iterable[Row], currency: str) -> list[OpenItem]:
        try:
            return mapping.items_from_receivables(rows, currency)
        except MappingError as exc:
            msg = f"Exact division {division}: unreadable open items: {exc}"
            raise LedgerError(msg) from None

    # -- write-back: payments ---------------------------------------------------------------

    def record_payment(
        self,
        administration: Administration,
        item: OpenItem,
        amount: Money,
        paid_on: date,
        idempotency_key: str,
    ) -> PaymentReceipt:
        """Book a received payment as a bank (or cash) entry line, at most the open amount.

        Raises:
            ConfigError: no payment journal is configured for the division.
            NotSupported: the item is a credit note, or the amount is not in its currency.
            LedgerError: Exact refused.
        """
        division, account = self._target(administration, item)
        journal = self._journal(division)
        if amount.currency != item.open_amount.currency:
            msg = (
                f"a payment in {amount.currency} cannot be booked on an Exact item in "
                f"{item.open_amount.currency}; book it in Exact by hand"
            )
            raise NotSupported(msg)
        if item.is_credit or amount.amount <= 0:
            msg = "Exact: refunds of credit notes are booked in Exact by hand"
            raise NotSupported(msg)
        gl = self.receivables_accounts.for_invoice(division, account, item.invoice_number)
        found = self._find_line(division, account, idempotency_key)
        if found is not None:
            return PaymentReceipt(
                ledger_reference=self._reference(journal, found),
                amount=Money(found.amount, amount.currency),
                already_recorded=True,
            )
        fresh = self.read_items(administration, [item.external_id])
        open_now = fresh[0].open_amount.amount if fresh else Decimal(0)
        booked = min(amount.amount, open_now)
        if booked <= 0:
            logger.warning(
                "Exact division %s: item %s is no longer open; nothing booked for %s",
                division,
                item.invoice_number,
                idempotency_key,
            )
            return PaymentReceipt(ledger_reference="", amount=Money.zero(amount.currency))
        entry = self._book(
            administration,
            item,
            account,
            gl,
            journal,
            booked,
            paid_on,
            _description(f"Payment {item.invoice_number}", idempotency_key),
        )
        reference = self._reference(journal, entry)
        if self.settings.match_payments == "xml":
            try:
                if entry.entry_number is None:
                    msg = "Exact gave the booked entry no entry number to match it by"
                    raise LedgerError(msg)
                match_booking(
                    self.client,
                    administration,
                    item,
                    account=account,
                    gl=gl,
                    journal=journal,
                    cash=self.settings.payment_entry == "cash",
                    entry_number=entry.entry_number,
                    amount=entry.amount,
                )
            except ConnectorError as exc:
                # The money is booked: a failed match must not make the write look failed
                # (a retry would find the booking and stop), it is left to the accountant.
                logger.warning(
                    "Exact division %s: %s booked as %s but not matched: %s",
                    division,
                    item.invoice_number,
                    reference,
                    exc,
                )
                reference = f"{reference} (booked, not matched: {exc})"[:200]
        return PaymentReceipt(ledger_reference=reference, amount=Money(booked, amount.currency))

    def reverse_payment(
        self,
        administration: Administration,
        item: OpenItem,
        amount: Money,
        idempotency_key: str,
    ) -> PaymentReceipt:
        """Book money going back to the debtor (a chargeback) as a negative entry line."""
        division, account = self._target(administration, item)
        journal = self._journal(division)
        if amount.amount <= 0:
            msg = f"Exact: a reversal needs a positive amount, got {amount}"
            raise NotSupported(msg)
        gl = self.receivables_accounts.for_invoice(division, account, item.invoice_number)
        found = self._find_line(division, account, idempotency_key)
        if found is not None:
            return PaymentReceipt(
                ledger_reference=self._reference(journal, found),
                amount=Money(-found.amount, amount.currency),
                already_recorded=True,
            )
        entry = self._book(
            administration,
            item,
            account,
            gl,
            journal,
            -amount.amount,
            datetime.fromtimestamp(self._clock(), UTC).date(),
            _description(f"Chargeback {item.invoice_number}", idempotency_key),
        )
        return PaymentReceipt(ledger_reference=self._reference(journal, entry), amount=amount)

    def _target(self, administration: Administration, item: OpenItem) -> tuple[str, str]:
        parsed = mapping.parse_item_key(item.external_id)
        if parsed is None:
            msg = f"Exact: {item.external_id!r} is not an Exact item key"
            raise NotSupported(msg)
        return administration.external_id, parsed[1]

    def _journal(self, division: str) -> str:
        journal = self.settings.journal_for(division)
        if not journal:
            msg = (
                "[ledgers.exact] payment_journal is not set: the code of the bank or cash "
                f"journal payments are booked in (division {division})"
            )
            raise ConfigError(msg)
        return journal

    def _lines_path(self) -> str:
        kind = "CashEntryLines" if self.settings.payment_entry == "cash" else "BankEntryLines"
        return f"financialtransaction/{kind}"

    def _find_line(self, division: str, account: str, key: str) -> _Booked | None:
        where = (
            f"Account eq {mapping.odata_guid(account)} and "
            f"substringof({mapping.odata_string(_marker(key))}, Description) eq true"
        )
        rows = self.client.rows(
            division,
            self._lines_path(),
            {"$filter": where, "$select": "EntryID,EntryNumber,AmountFC,Description"},
        )
        for row in rows:
            if _marker(key) in mapping.text(row.get("Description")):
                return _Booked(
                    entry_id=str(row.get("EntryID") or ""),
                    entry_number=_int_or_none(row.get("EntryNumber")),
                    amount=mapping.amount(row.get("AmountFC"), "AmountFC"),
                )
        return None

    def _book(
        self,
        administration: Administration,
        item: OpenItem,
        account: str,
        gl: GLAccount,
        journal: str,
        amount: Decimal,
        day: date,
        description: str,
    ) -> _Booked:
        line: dict[str, Any] = {
            "Account": account,
            "AmountFC": amount,  # money received is positive: opening + lines = closing
            "Date": mapping.iso_date(day),
            "Description": description,
            "GLAccount": gl.id,  # mandatory on entry lines
        }
        number = item.invoice_number.strip()
        if number.isdigit() and int(number) < 2**31:
            line["OurRef"] = int(number)
        cash = self.settings.payment_entry == "cash"
        body: dict[str, Any] = {
            "JournalCode": journal,
            ("CashEntryLines" if cash else "BankEntryLines"): [line],
        }
        if item.open_amount.currency != administration.currency:
            body["Currency"] = item.open_amount.currency
        path = "financialtransaction/CashEntries" if cash else "financialtransaction/BankEntries"
        created = self.client.post(administration.external_id, path, body)
        if not isinstance(created, Mapping):
            created = {}
        return _Booked(
            entry_id=str(created.get("EntryID") or ""),
            entry_number=_int_or_none(created.get("EntryNumber")),
            amount=amount,
        )

    def _reference(self, journal: str, booked: _Booked) -> str:
        if booked.entry_number is not None:
            return f"{journal}/{booked.entry_number}"
        return booked.entry_id

    # -- write-back: disputes -------------------------------------------------------------------

    def flag_dispute(
        self, administration: Administration, item: OpenItem, reason: str, idempotency_key: str
    ) -> None:
        """A communication note on the account: the invoice is disputed, and why."""
        subject = _description(f"Disputed: invoice {item.invoice_number}", idempotency_key)
        notes = (
            f"Invoice {item.invoice_number} is disputed: {reason.strip() or 'no reason given'}. "
            "Reminders from the dunning connector are paused for it. Exact's own reminders "
            "cannot be paused through the API: leave this invoice out of Exact's reminder run."
        )
        self._note(administration, item, subject, notes, idempotency_key)

    def clear_dispute(
        self, administration: Administration, item: OpenItem, idempotency_key: str
    ) -> None:
        subject = _description(f"Dispute resolved: invoice {item.invoice_number}", idempotency_key)
        notes = (
            f"The dispute on invoice {item.invoice_number} is resolved; reminders from the "
            "dunning connector resume."
        )
        self._note(administration, item, subject, notes, idempotency_key)

    def _note(
        self,
        administration: Administration,
        item: OpenItem,
        subject: str,
        notes: str,
        key: str,
    ) -> None:
        division, account = self._target(administration, item)
        where = (
            f"Account eq {mapping.odata_guid(account)} and "
            f"substringof({mapping.odata_string(_marker(key))}, Subject) eq true"
        )
        existing = self.client.rows(
            division, "activities/CommunicationNotes", {"$filter": where, "$select": "ID,Subject"}
        )
        if any(_marker(key) in mapping.text(row.get("Subject")) for row in existing):
            return
        self.client.post(
            division,
            "activities/CommunicationNotes",
            {"Account": account, "Subject": subject, "Notes": notes},
        )

    # -- webhook subscriptions ----------------------------------------------------------------

    def webhook_subscriptions(self, administration: Administration) -> list[Row]:
        return self.client.rows(
            administration.external_id,
            SUBSCRIPTIONS,
            {"$select": "ID,CallbackURL,Topic"},
        )

    def subscribe_webhooks(
        self,
        administration: Administration,
        callback_url: str,
        topics: Sequence[str] | None = None,
    ) -> list[str]:
        """Subscribe `callback_url` to the topics (default: `webhook_topics`); returns the
        topics newly subscribed (one already there is left as it is)."""
        if not callback_url.startswith("https://"):
            msg = f"Exact delivers webhooks to https URLs only, not to {callback_url!r}"
            raise ConfigError(msg)
        wanted = list(topics or self.settings.webhook_topics)
        present = {
            mapping.text(row.get("Topic"))
            for row in self.webhook_subscriptions(administration)
            if mapping.text(row.get("CallbackURL")) == callback_url
        }
        added: list[str] = []
        for topic in wanted:
            if topic in present:
                continue
            self.client.post(
                administration.external_id,
                SUBSCRIPTIONS,
                {"CallbackURL": callback_url, "Topic": topic},
            )
            added.append(topic)
        return added

    def unsubscribe_webhooks(self, administration: Administration, callback_url: str) -> int:
        """Remove every subscription of `callback_url`; returns how many there were."""
        removed = 0
        for row in self.webhook_subscriptions(administration):
            if mapping.text(row.get("CallbackURL")) != callback_url:
                continue
            subscription = mapping.guid(row.get("ID"))
            self.client.delete(administration.external_id, f"{SUBSCRIPTIONS}(guid'{subscription}')")
            removed += 1
        return removed

    # -- helpers ------------------------------------------------------------------------------

    def _paged(
        self, division: str, path: str, params: Mapping[str, str]
    ) -> Iterator[tuple[Sequence[Row], bool]]:
        """(rows, is last page) for every page, following `__next` as given."""
        url: str | None = self.client.url(division, path, params)
        count = 0
        while url is not None:
            if count >= 100_000:
                msg = f"Exact {path}: too many pages; stopped"
                raise LedgerError(msg)
            page = self.client.page(division, url)
            count += 1
            url = page.next_url
            yield page.rows, url is None

    def _timestamp(self, row: Row) -> int:
        try:
            return mapping.timestamp(row.get("Timestamp"))
        except MappingError as exc:
            msg = f"Exact sent a sync row without a usable Timestamp: {exc}"
            raise LedgerError(msg) from None


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


if TYPE_CHECKING:

    def _implements_the_port(ledger: ExactLedger) -> Ledger:
        return ledger  # mypy checks ExactLedger against the Ledger protocol here
