"""The Twinfield ledger: offices, debtors and open items in; payments and dispute notes out.

- Administrations are the organisation's offices (`<list><type>offices</type></list>`).
- Debtors: only those dunning needs, because no documented request returns addresses or
  e-mail for more than one customer and each read (`<read><type>dimensions</type>`) costs a
  credit. A complete pass (the first sync, then every `debtor_full_days`) reads every
  customer on an open line that the Finder lists (type DIM, `dimtype` DEB,
  `includehidden=1`, 25 a page as Wolters Kluwer advises); the open-line snapshot it needs
  serves the same sync's items. In between: the customers of lines changed since the
  cursor that were never read, and the Finder's `modifiedsince` hits among the customers
  read. A hidden customer gets the tag `twinfield-hidden`. Twinfield's own reminder setting
  (`sendreminder`) becomes the tags `twinfield-reminders` (and `twinfield-reminders-email`),
  so that a policy can leave such debtors alone; the adapter never switches them off.
- Open items: browse 100 (customer transactions) with `matchstatus` equal `available`, one
  book year at a time (Wolters Kluwer's advice for a first load). A credit on a bank or cash
  daybook (Finder type BNK) is an unapplied payment, any other credit a credit note (see
  `mapping.open_item`). A complete snapshot closes
  what is missing; in between, an increment lists lines modified since the cursor and lines
  matched since then (closed: `Page.removed`). After `full_sync_hours` the next sync is a
  complete snapshot again, which also catches anything the increments missed.
- A payment is a final bank transaction on `payment_daybook` that credits the customer,
  names the invoice and carries our idempotency key (header `freetext1`, and the line's
  description), then a customer match (matchcode 170, a partial `matchvalue` when it does not
  settle the invoice). Before anything is written, one browse of the invoice's lines both
  shows whether the invoice is still open and finds earlier payments on it: a payment that
  carries our key means the write already happened (a lost answer), and only a missing
  match is made up, and only while the booked line is still `available` (Twinfield may
  have matched it on the invoice number); a refused match reads the invoice line again
  before it is reported.
- A dispute is written into the customer's credit-management comment (`<dimension>
  <creditmanagement><comment>`), one line per invoice, marked with our key; the whole block
  as just read is written back with only the comment changed. Twinfield has no dispute
  flag per invoice that the API reaches, and its reminders can only be stopped for the
  whole customer (`sendreminder`); that is left to the people involved (see
  `own_reminders` and the tags above).
- Reversing a payment (a chargeback) is not offered: undoing a match and booking it back is
  the accountant's call in Twinfield.

Cursors are JSON owned by this adapter: for items `{"v": 1, "since": ISO-UTC, "full":
ISO-UTC}` (the last complete snapshot); for debtors `{"v": 2, "since", "full" (the last
complete pass), "read": [codes read and kept up to date]}` (a v1 debtor cursor starts a
complete pass).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

from adapters.twinfield import documents
from adapters.twinfield import mapping
from adapters.twinfield.auth import TwinfieldSettings
from adapters.twinfield.client import Rejected
from adapters.twinfield.client import TwinfieldClient
from adapters.twinfield.documents import Element
from adapters.twinfield.documents import Filter
from connector.domain import Administration
from connector.domain import Debtor
from connector.domain import DebtorKind
from connector.domain import Money
from connector.domain import OpenItem
from connector.errors import InputRejected
from connector.errors import LedgerError
from connector.errors import NotSupported
from connector.ports import Capabilities
from connector.ports import Feed
from connector.ports import Page
from connector.ports import PaymentReceipt

logger = logging.getLogger(__name__)

CURSOR_VERSION = 1  # items
DEBTOR_CURSOR_VERSION = 2  # v2 remembers which debtors were read (v1 means: start again)
SNAPSHOT_REUSE = timedelta(minutes=10)  # the debtors' snapshot serves the same sync's items
OVERLAP = timedelta(minutes=15)  # clocks drift: ask a little further back
DST = timedelta(hours=1)
MAX_FINDER_PAGES = 40_000  # a loop guard: 1 million codes at 25 a page
PAGE_SIZE = 500  # records per Page handed to the sync engine
DISPUTE_PREFIX = "Betwist (dunning-connector) factuur"
REVERSE_MESSAGE = (
    "Twinfield: reversing a payment is not done by the connector; undo the match and book "
    "the chargeback in Twinfield (Kredietbeheer / Afletteren)"
)


def _encode(values: dict[str, str]) -> str:
    return json.dumps({"v": CURSOR_VERSION, **values}, sort_keys=True)


def _encode_debtors(since: datetime, full: datetime, read: set[str]) -> str:
    data = {"v": DEBTOR_CURSOR_VERSION, "since": _iso(since), "full": _iso(full)}
    return json.dumps({**data, "read": sorted(read)}, sort_keys=True)


def _read_codes(cursor: str | None) -> set[str]:
    """The debtor codes a debtor cursor says were read (and are kept up to date)."""
    try:
        data = json.loads(cursor or "")
    except ValueError:
        return set()
    codes = data.get("read") if isinstance(data, dict) else None
    if not isinstance(codes, list):
        return set()
    return {c for c in codes if isinstance(c, str)}


def _decode(cursor: str | None, version: int = CURSOR_VERSION) -> dict[str, datetime]:
    """A cursor's moments; an unreadable or foreign cursor counts as none (a full sync)."""
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {}
    if not isinstance(data, dict) or data.get("v") != version:
        return {}
    moments: dict[str, datetime] = {}
    for key in ("since", "full"):
        value = data.get(key)
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                return {}
            if moment.tzinfo is None:
                return {}
            moments[key] = moment
    return moments if "since" in moments else {}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


@dataclass(frozen=True, slots=True)
class OpenRow:
    debtor: str
    item: OpenItem


class TwinfieldLedger:
    """A `connector.ports.Ledger` over one Twinfield connection (one organisation)."""

    name = "twinfield"
    capabilities = Capabilities(
        incremental_sync=True,
        record_payment=True,
        reverse_payment=False,
        flag_dispute=True,
        targeted_read=True,
        invoice_pdf=False,
        own_reminders=True,
        oauth=True,
        one_call_per_connection=True,  # one request in flight per organisation
    )

    def __init__(
        self,
        client: TwinfieldClient,
        settings: TwinfieldSettings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.settings = settings
        self.clock = clock
        # office -> (when, open rows): the snapshot a debtor pass made, for the items feed
        self._snapshots: dict[str, tuple[datetime, list[OpenRow]]] = {}
        self._banks: dict[str, frozenset[str]] = {}  # office -> bank and cash daybooks

    def __repr__(self) -> str:
        return f"TwinfieldLedger({self.client!r})"

    # -- administrations ------------------------------------------------------------------

    def administrations(self) -> Sequence[Administration]:
        return mapping.offices(self.client.process_xml(documents.list_offices(), None))

    # -- debtors --------------------------------------------------------------------------

    def debtors(self, administration: Administration, cursor: str | None) -> Feed[Debtor]:
        """Only the debtors dunning needs: those on open lines (see the module docstring).

        A complete pass (the first, then every `debtor_full_days`) reads every debtor on an
        open line that the Finder lists with `includehidden=1`; in between, the debtors on
        lines changed since the cursor that were never read, and the Finder's
        `modifiedsince` hits among the debtors read before or needed now.
        """
        moments = _decode(cursor, DEBTOR_CURSOR_VERSION)
        known = _read_codes(cursor) if moments else set()
        since = moments.get("since")
        last_full = moments.get("full")
        started = self.clock()
        age = timedelta(days=self.settings.debtor_full_days)
        complete = since is None or last_full is None or started - last_full >= age
        office = administration.external_id
        base = [("dimtype", "DEB"), ("office", office), ("includehidden", "1")]
        kind = DebtorKind(self.settings.default_debtor_kind)

        def pages() -> Iterator[Page[Debtor]]:
            if complete or since is None:
                need = {row.debtor for row in self._open_rows(administration, started)}
                listed = set(self._codes(office, base))
                gone = sorted(need - listed)
                if gone:
                    logger.warning(
                        "Twinfield office %s: %d debtor(s) on open lines are not in its "
                        "customer list (deleted?), e.g. %s",
                        office,
                        len(gone),
                        gone[0],
                    )
                wanted = sorted(need & listed)
                remembered = set(wanted)
                full_at = started
            else:
                zone = _zone(administration)
                start = (since - _overlap(zone, since)).astimezone(zone)
                stamp = start.strftime("%Y%m%d%H%M%S")
                fresh = {row.debtor for row in self._changed_open_rows(administration, start)}
                hits = set(self._codes(office, [*base, ("modifiedsince", stamp)]))
                wanted = sorted((fresh - known) | (hits & (known | fresh)))
                remembered = known | set(wanted)
                full_at = last_full or started
            batch: list[Debtor] = []
            for code in wanted:
                found = self._debtor(office, code, kind)
                if found is not None:
                    batch.append(found)
                if len(batch) >= PAGE_SIZE:
                    yield Page(records=tuple(batch))
                    batch = []
            yield Page(
                records=tuple(batch),
                cursor=_encode_debtors(started, full_at, remembered),
            )

        return Feed(pages(), complete=complete)

    def _codes(self, office: str, options: list[tuple[str, str]]) -> Iterator[str]:
        size = self.settings.finder_page_size
        first = 1
        seen: set[str] = set()
        for _ in range(MAX_FINDER_PAGES):
            page = self.client.finder(
                office, "DIM", first_row=first, max_rows=size, options=options
            )
            for row in page.rows:
                code = row[0].strip() if row else ""
                if code and code not in seen:
                    seen.add(code)
                    yield code
            first += len(page.rows)
            if not page.rows or first > page.total:
                return
        msg = f"Twinfield's Finder kept paging for office {office}; stopped"
        raise LedgerError(msg)

    def _debtor(self, office: str, code: str, kind: DebtorKind) -> Debtor | None:
        try:
            root = self.client.process_xml(documents.read_dimension(office, code), office)
        except Rejected as exc:
            # Listed a moment ago, gone now (deleted in between): skip it this time.
            logger.warning("Twinfield debtor %s in office %s not read: %s", code, office, exc)
            return None
        return mapping.debtor(root, kind)

    # -- open items -----------------------------------------------------------------------

    def open_items(self, administration: Administration, cursor: str | None) -> Feed[OpenItem]:
        moments = _decode(cursor)
        now = self.clock()
        cached = self._snapshots.pop(administration.external_id, None)
        if cached is not None and timedelta(0) <= now - cached[0] <= SNAPSHOT_REUSE:
            # The debtors of this sync needed the open lines a moment ago: the same complete
            # snapshot serves the items (never worse than an increment).
            return Feed(self._snapshot(administration, cached[0], cached[1]), complete=True)
        full = moments.get("full")
        age = timedelta(hours=self.settings.full_sync_hours)
        if "since" not in moments or full is None or now - full >= age:
            rows = self._snapshot_rows(administration, now)
            return Feed(self._snapshot(administration, now, rows), complete=True)
        return Feed(self._changes(administration, moments["since"], full, now), complete=False)

    def _years(self, administration: Administration, now: datetime) -> list[int]:
        this_year = now.astimezone(_zone(administration)).year
        first = this_year - self.settings.history_years + 1
        return list(range(first, this_year + 2))  # next year too: invoices dated ahead

    def _browse(self, office: str, filters: Sequence[Filter]) -> list[mapping.BrowseRow]:
        root = self.client.process_xml(documents.browse(filters), office)
        return list(mapping.browse_rows(root))

    def _snapshot_rows(self, administration: Administration, now: datetime) -> list[OpenRow]:
        """Every open line, one book year at a time (Wolters Kluwer's advice for a load)."""
        office = administration.external_id
        seen: set[str] = set()
        found: list[OpenRow] = []
        for year in self._years(administration, now):
            filters = [
                Filter(documents.F_YEARPERIOD, "between", f"{year}/00", f"{year}/55"),
                Filter(documents.F_STATUS, "equal", "normal"),
                Filter(documents.F_MATCHSTATUS, "equal", mapping.AVAILABLE),
            ]
            for row in self._browse(office, filters):
                item = self._item(administration, row)
                if item is not None and item.external_id not in seen:
                    seen.add(item.external_id)
                    found.append(OpenRow(item.debtor_code, item))
        return found

    def _open_rows(self, administration: Administration, now: datetime) -> list[OpenRow]:
        """The snapshot, kept for the items feed of the same sync (`SNAPSHOT_REUSE`)."""
        rows = self._snapshot_rows(administration, now)
        self._snapshots[administration.external_id] = (now, rows)
        return rows

    def _changed_open_rows(self, administration: Administration, start: datetime) -> list[OpenRow]:
        """Open lines modified since `start` (new invoices of debtors perhaps never read)."""
        years = self._years(administration, self.clock())
        end = (self.clock() + timedelta(days=1)).astimezone(start.tzinfo)
        filters = [
            Filter(documents.F_YEARPERIOD, "between", f"{years[0]}/00", f"{years[-1]}/55"),
            Filter(documents.F_STATUS, "equal", "normal"),
            Filter(
                documents.F_MODIFIED,
                "between",
                start.strftime("%Y%m%d%H%M%S"),
                end.strftime("%Y%m%d%H%M%S"),
            ),
        ]
        found: list[OpenRow] = []
        for row in self._browse(administration.external_id, filters):
            item = self._item(administration, row)
            if item is not None:
                found.append(OpenRow(item.debtor_code, item))
        return found

    def _item(self, administration: Administration, row: mapping.BrowseRow) -> OpenItem | None:
        banks = self._bank_daybooks(administration.external_id)
        return mapping.open_item(row, administration.currency, banks)

    def _bank_daybooks(self, office: str) -> frozenset[str]:
        """The office's bank and cash daybooks (Finder type BNK, once per ledger object):
        a credit on one of them is a payment not yet applied, not a credit note."""
        found = self._banks.get(office)
        if found is None:
            codes = {self.settings.payment_daybook}
            try:
                page = self.client.finder(office, "BNK", max_rows=100)
            except LedgerError as exc:
                # Then only the payment daybook is known: a payment on another bank daybook
                # shows as a credit note, still netted as credit (never as an invoice).
                logger.warning("Twinfield office %s: bank daybooks not listed: %s", office, exc)
            else:
                codes.update(row[0].strip() for row in page.rows if row and row[0].strip())
            found = self._banks[office] = frozenset(codes)
        return found

    def _snapshot(
        self, administration: Administration, now: datetime, rows: Sequence[OpenRow]
    ) -> Iterator[Page[OpenItem]]:
        records = [row.item for row in rows]
        for start in range(0, len(records), PAGE_SIZE):
            yield Page(records=tuple(records[start : start + PAGE_SIZE]))
        yield Page(cursor=_encode({"since": _iso(now), "full": _iso(now)}))

    def _changes(
        self, administration: Administration, since: datetime, full: datetime, now: datetime
    ) -> Iterator[Page[OpenItem]]:
        office = administration.external_id
        zone = _zone(administration)
        years = self._years(administration, now)
        period = Filter(documents.F_YEARPERIOD, "between", f"{years[0]}/00", f"{years[-1]}/55")
        status = Filter(documents.F_STATUS, "equal", "normal")
        start = (since - _overlap(zone, since)).astimezone(zone)
        end = (now + timedelta(days=1)).astimezone(zone)
        records: dict[str, OpenItem] = {}
        removed: set[str] = set()
        modified = Filter(
            documents.F_MODIFIED,
            "between",
            start.strftime("%Y%m%d%H%M%S"),
            end.strftime("%Y%m%d%H%M%S"),
        )
        # Lines matched since the cursor, whether or not matching counts as a modification.
        matched = Filter(
            documents.F_MATCHDATE,
            "between",
            documents.twinfield_date(start.date()),
            documents.twinfield_date(end.date()),
        )
        for extra in (modified, matched):
            for row in self._browse(office, [period, status, extra]):
                item = self._item(administration, row)
                if item is None:
                    if row.external_id not in records:
                        removed.add(row.external_id)
                else:
                    records[item.external_id] = item
                    removed.discard(item.external_id)
        values = list(records.values())
        for first in range(0, len(values), PAGE_SIZE):
            yield Page(records=tuple(values[first : first + PAGE_SIZE]))
        yield Page(
            removed=tuple(sorted(removed)),
            cursor=_encode({"since": _iso(now), "full": _iso(full)}),
        )

    def read_items(
        self, administration: Administration, external_ids: Sequence[str]
    ) -> Sequence[OpenItem]:
        wanted: dict[tuple[str, str], set[str]] = {}
        for value in external_ids:
            code, number, line = mapping.split_external_id(value)
            wanted.setdefault((code, number), set()).add(line)
        found: list[OpenItem] = []
        for (code, number), lines in wanted.items():
            for row in self._transaction_rows(administration, code, number):
                if row.line in lines:
                    item = self._item(administration, row)
                    if item is not None:
                        found.append(item)
        return found

    def _transaction_rows(
        self, administration: Administration, code: str, number: str
    ) -> list[mapping.BrowseRow]:
        years = self._years(administration, self.clock())
        filters = [
            Filter(documents.F_YEARPERIOD, "between", f"{years[0]}/00", f"{years[-1]}/55"),
            Filter(documents.F_CODE, "equal", code),
            Filter(documents.F_NUMBER, "between", number, number),
        ]
        return self._browse(administration.external_id, filters)

    # -- write-back -----------------------------------------------------------------------

    def record_payment(
        self,
        administration: Administration,
        item: OpenItem,
        amount: Money,
        paid_on: date,
        idempotency_key: str,
    ) -> PaymentReceipt:
        office = administration.external_id
        code, number, line = mapping.split_external_id(item.external_id)
        if amount.amount <= 0 or item.open_amount.amount <= 0:
            msg = (
                f"Twinfield: only a positive payment on an open invoice is booked "
                f"({item.invoice_number}: {amount})"
            )
            raise InputRejected(msg)
        daybook = self.settings.payment_daybook
        rows = self._invoice_and_payments(administration, item, code, number)
        invoice = next(
            (r for r in rows if (r.code, r.number, r.line) == (code, number, line)), None
        )

        # 1. A lost answer: our payment may be booked already (found by its key).
        for row in rows:
            if row.code != daybook or (row.code, row.number) == (code, number):
                continue
            booked = mapping.transaction(
                self.client.process_xml(
                    documents.read_transaction(office, row.code, row.number), office
                )
            )
            if booked.reference != idempotency_key:
                continue
            detail = booked.detail_for(item.debtor_code)
            booked_value = detail.value if detail is not None else None
            paid = Money(
                abs(booked_value) if booked_value is not None else amount.amount, amount.currency
            )
            if detail is not None and detail.matchstatus == mapping.AVAILABLE and invoice:
                self._match(administration, paid_on, invoice, booked, detail, paid)
            return PaymentReceipt(f"{booked.code}:{booked.number}", paid, already_recorded=True)

        # 2. Only on an invoice that is still open, and never more than is open.
        current = self._item(administration, invoice) if invoice else None
        if current is None:
            msg = (
                f"Twinfield: invoice {item.invoice_number} is no longer open in office "
                f"{office}; the payment {idempotency_key} was not booked"
            )
            raise LedgerError(msg)
        if current.open_amount.currency != amount.currency:
            msg = (
                f"Twinfield: invoice {item.invoice_number} is in "
                f"{current.open_amount.currency}, the payment in {amount.currency}"
            )
            raise InputRejected(msg)
        paid = Money(min(amount.amount, current.open_amount.amount), amount.currency)

        # 3. Book it, then match it.
        payment = documents.Payment(
            office=office,
            daybook=daybook,
            day=paid_on,
            debtor=item.debtor_code,
            receivables_account=self.settings.receivables_account,
            bank_account=self.settings.bank_account,
            amount=paid,
            invoice_number=item.invoice_number,
            reference=idempotency_key,
            description=f"Betaling {idempotency_key}",
        )
        booked = mapping.transaction(
            self.client.process_xml(documents.bank_transaction(payment), office)
        )
        detail = booked.detail_for(item.debtor_code)
        if booked.location != "final" or detail is None:
            logger.warning(
                "Twinfield payment %s booked as %s:%s (%s) but not matched",
                idempotency_key,
                booked.code,
                booked.number,
                booked.location,
            )
        elif detail.matchstatus != mapping.AVAILABLE:
            # Matched already (Twinfield may match on the invoice number itself): a match
            # of ours would be refused, and there is nothing left to do.
            logger.info(
                "Twinfield payment %s:%s is %s on booking; no match sent",
                booked.code,
                booked.number,
                detail.matchstatus or "not matchable",
            )
        elif invoice is not None:
            self._match(administration, paid_on, invoice, booked, detail, paid)
        return PaymentReceipt(f"{booked.code}:{booked.number}", paid)

    def _invoice_and_payments(
        self, administration: Administration, item: OpenItem, code: str, number: str
    ) -> list[mapping.BrowseRow]:
        """One browse: the invoice's line and every line that names its invoice number."""
        years = self._years(administration, self.clock())
        filters = [
            Filter(documents.F_YEARPERIOD, "between", f"{years[0]}/00", f"{years[-1]}/55"),
            Filter(documents.F_DEBTOR, "between", item.debtor_code, item.debtor_code),
            Filter(documents.F_INVOICE, "equal", item.invoice_number),
        ]
        rows = self._browse(administration.external_id, filters)
        if not any((r.code, r.number) == (code, number) for r in rows):
            # The invoice line does not carry the invoice number: read it by its key.
            rows += self._transaction_rows(administration, code, number)
        return rows

    def _match(
        self,
        administration: Administration,
        day: date,
        invoice: mapping.BrowseRow,
        booked: mapping.Transaction,
        detail: mapping.TransactionLine,
        paid: Money,
    ) -> None:
        office = administration.external_id
        current = mapping.open_item(invoice, paid.currency)
        partial = current is not None and paid.amount < current.open_amount.amount
        lines = [
            documents.MatchLine(booked.code, booked.number, detail.id, -paid if partial else None),
            documents.MatchLine(
                invoice.code, invoice.number, invoice.line, paid if partial else None
            ),
        ]
        try:
            self.client.process_xml(documents.match(office, day, lines), office)
        except InputRejected as exc:
            # Refused: perhaps because it is matched already (by Twinfield or a person in
            # between). Read the invoice line again before calling anything wrong.
            if self._applied(administration, invoice, current, paid):
                logger.info(
                    "Twinfield invoice line %s was matched meanwhile; payment %s:%s stands",
                    invoice.external_id,
                    booked.code,
                    booked.number,
                )
                return
            msg = (
                f"Twinfield: payment {booked.code}:{booked.number} is booked but could not "
                f"be matched to invoice {invoice.get(documents.F_INVOICE) or invoice.number} "
                f"({exc}); match it in Twinfield"
            )
            raise LedgerError(msg) from exc

    def _applied(
        self,
        administration: Administration,
        invoice: mapping.BrowseRow,
        before: OpenItem | None,
        paid: Money,
    ) -> bool:
        """Whether the invoice line, read again, shows the payment applied: no longer open,
        or open for at most what was open before less the payment."""
        rows = self._transaction_rows(administration, invoice.code, invoice.number)
        row = next((r for r in rows if r.line == invoice.line), None)
        now = mapping.open_item(row, paid.currency) if row is not None else None
        if now is None:
            return True
        if before is None:
            return False
        return now.open_amount.amount <= before.open_amount.amount - paid.amount

    def reverse_payment(
        self,
        administration: Administration,
        item: OpenItem,
        amount: Money,
        idempotency_key: str,
    ) -> PaymentReceipt:
        raise NotSupported(REVERSE_MESSAGE)

    def flag_dispute(
        self, administration: Administration, item: OpenItem, reason: str, idempotency_key: str
    ) -> None:
        office = administration.external_id
        dimension = self._dimension(office, item.debtor_code)
        comment = mapping.credit_comment(dimension)
        marker = f"[{idempotency_key}]"
        if marker in comment:
            return  # written before (a repeat after a lost answer)
        lines = [line for line in comment.splitlines() if line.strip()]
        clean = " ".join(reason.split())[:200]
        lines.append(f"{_dispute_line(item)} {clean} {marker}".replace("  ", " "))
        self._write_comment(office, dimension, item.debtor_code, "\n".join(lines))

    def clear_dispute(
        self, administration: Administration, item: OpenItem, idempotency_key: str
    ) -> None:
        office = administration.external_id
        dimension = self._dimension(office, item.debtor_code)
        comment = mapping.credit_comment(dimension)
        prefix = _dispute_line(item)
        kept = [
            line for line in comment.splitlines() if line.strip() and not line.startswith(prefix)
        ]
        if len(kept) == len([line for line in comment.splitlines() if line.strip()]):
            return  # nothing to clear (cleared before)
        self._write_comment(office, dimension, item.debtor_code, "\n".join(kept))

    def _dimension(self, office: str, code: str) -> Element:
        return self.client.process_xml(documents.read_dimension(office, code), office)

    def _write_comment(self, office: str, dimension: Element, code: str, comment: str) -> None:
        """Read-modify-write: the block just read goes back whole, with the new comment."""
        name = dimension.findtext("name") or code
        block = mapping.credit_block(dimension)
        self.client.process_xml(
            documents.dimension_credit(office, code, name, block, comment), office
        )


def _dispute_line(item: OpenItem) -> str:
    return f"{DISPUTE_PREFIX} {item.invoice_number}:"


def _overlap(zone: ZoneInfo, since: datetime) -> timedelta:
    """How far before the cursor to ask. The moment is sent as the administration's local
    time, as Twinfield shows it; public clients send UTC and the documentation does not say.
    Read as UTC, a local time lies ahead by the zone's offset, so the overlap covers that
    offset (plus an hour for a daylight-saving change in between): re-reads are idempotent,
    a missed change is not."""
    offset = zone.utcoffset(since.replace(tzinfo=None)) or timedelta(0)
    return OVERLAP + abs(offset) + DST


def _zone(administration: Administration) -> ZoneInfo:
    try:
        return ZoneInfo(administration.timezone)
    except (ValueError, KeyError):
        return ZoneInfo("Europe/Amsterdam")
