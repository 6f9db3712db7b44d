"""The Moneybird ledger: the `connector.ports.Ledger` port over Moneybird's API.

Reading. Debtors are contacts, open items are sales invoices and external sales invoices in
an unpaid state. Both are read through Moneybird's synchronization API: one `GET
.../synchronization` lists id and version of every matching record, and `POST
.../synchronization` fetches the full records of up to 100 ids at a time. The cursor (ours,
opaque to the core) remembers the version of every record we hold, so a re-sync fetches only
what changed: an unchanged administration costs one listing per resource. Without a cursor
the item feed is a complete snapshot; with one it lists the changes and reports in
`Page.removed` the invoices that are no longer open (paid, credited to zero, written off,
deleted), after a fresh read has confirmed it.

Moneybird's `period` filter defaults to this year, also on the synchronization listing, so the
filter always carries an explicit period from `open_items_since` to the end of next year: an
open invoice of any age is read.

Writing. A payment goes to `POST .../payments.json` with our idempotency key as its
`transaction_identifier`, after a fresh read of the invoice: if a payment with that key is
there already nothing is written, and the amount is capped at what is still open, so a paid
invoice is never paid twice. A reversal (a chargeback) is a negative payment, capped at what
was paid. A dispute is a note with a to-do on the invoice plus a pause of the invoice's
workflow, so that Moneybird sends no reminders of its own meanwhile; clearing it notes the
resolution and resumes the workflow (unless it was paused before we came).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import zlib
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import ROUND_HALF_UP
from decimal import Decimal
from typing import Any

from adapters.moneybird import mapping
from adapters.moneybird.auth import Settings
from adapters.moneybird.client import SYNC_BATCH
from adapters.moneybird.client import MoneybirdClient
from adapters.moneybird.mapping import InvoiceKind
from adapters.moneybird.mapping import MappingError
from connector.domain import Administration
from connector.domain import Debtor
from connector.domain import Money
from connector.domain import OpenItem
from connector.domain import format_amount
from connector.errors import InputRejected
from connector.errors import LedgerError
from connector.ports import Capabilities
from connector.ports import Feed
from connector.ports import Page
from connector.ports import PaymentReceipt

logger = logging.getLogger(__name__)

CAPABILITIES = Capabilities(
    incremental_sync=True,
    record_payment=True,
    reverse_payment=True,
    flag_dispute=True,
    targeted_read=True,
    invoice_pdf=True,
    # Moneybird's invoice workflows can send reminders of their own: switch them off (see
    # the README) or the debtor hears from both. A dispute pauses them for its invoice.
    own_reminders=True,
    oauth=True,
)

_CURSOR_PREFIX = "mb1:"
_MAX_PROBLEMS = 50


def _encode(state: Mapping[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return _CURSOR_PREFIX + base64.urlsafe_b64encode(zlib.compress(raw, 6)).decode("ascii")


def _decode(cursor: str | None, keys: Sequence[str]) -> dict[str, Any] | None:
    """Our cursor back, or None (a first sync) when there is none or it cannot be read."""
    if cursor is None:
        return None
    try:
        if not cursor.startswith(_CURSOR_PREFIX):
            raise ValueError(cursor[:8])
        state = json.loads(zlib.decompress(base64.urlsafe_b64decode(cursor[len(_CURSOR_PREFIX) :])))
        if not isinstance(state, dict) or any(k not in state for k in keys):
            msg = "keys"
            raise ValueError(msg)
    except (ValueError, binascii.Error, zlib.error):
        logger.warning("moneybird: a sync cursor that cannot be read; reading everything again")
        return None
    return state


def _open_filter(kind: InvoiceKind, period: str) -> str:
    return f"state:{'|'.join(mapping.FILTER_STATES[kind])},period:{period}"


# Answers that mean "this server has no such path" for the external sales invoices'
# synchronization API (routed as `external_sales_invoices/{id}`: "not found" or "invalid").
_NO_SUCH_PATH = (400, 404)


class MoneybirdLedger:
    """A `connector.ports.Ledger` over one Moneybird grant (all its administrations)."""

    name = "moneybird"
    capabilities = CAPABILITIES

    def __init__(
        self,
        client: MoneybirdClient,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.settings = settings
        self._clock = clock
        self._languages: dict[str, str] = {}
        # Administrations whose external_sales_invoices/synchronization did not answer.
        self._no_synchronization: set[str] = set()

    def __repr__(self) -> str:
        return f"MoneybirdLedger({self.settings.api_url!r})"

    # --- administrations -------------------------------------------------------------------

    def administrations(self) -> Sequence[Administration]:
        rows = self.client.get("administrations.json") or []
        found: list[Administration] = []
        for row in rows:
            try:
                admin = mapping.administration(row)
            except MappingError as exc:
                msg = f"Moneybird administrations: {exc.problem}"
                raise LedgerError(msg) from None
            if admin is None:
                logger.info("moneybird: administration %s is suspended; skipped", row.get("id"))
                continue
            self._languages[admin.external_id] = mapping.text(row.get("language")) or "nl"
            found.append(admin)
        return found

    def _language(self, administration: Administration) -> str:
        if administration.external_id not in self._languages:
            self.administrations()
        return self._languages.get(administration.external_id, "nl")

    # --- debtors ---------------------------------------------------------------------------

    def debtors(self, administration: Administration, cursor: str | None) -> Feed[Debtor]:
        adm = administration.external_id
        previous = _decode(cursor, ("c", "w"))
        versions = self.client.versions(adm, "contacts")
        flows = self._workflows(adm)
        fingerprint = hashlib.blake2b(
            repr(sorted(flows.items())).encode(), digest_size=8
        ).hexdigest()
        # A changed workflow changes payment terms and reminder settings of its contacts
        # without changing their versions: then every contact is read again.
        known: Mapping[str, int] = (
            previous["c"] if previous is not None and previous["w"] == fingerprint else {}
        )
        changed = [cid for cid, version in versions.items() if known.get(cid) != version]
        language = self._language(administration)
        pages = self._debtor_pages(adm, versions, changed, flows, fingerprint, language)
        return Feed(pages=pages, complete=previous is None, total=len(changed))

    def _workflows(self, adm: str) -> dict[str, mapping.Workflow]:
        try:
            rows = self.client.get(f"{adm}/workflows.json") or []
        except LedgerError as exc:
            if exc.status not in (403, 404):
                raise
            logger.warning("moneybird: workflows of %s not readable (%s)", adm, exc)
            return {}
        try:
            return mapping.invoice_workflows(rows)
        except MappingError as exc:
            msg = f"Moneybird workflows of {adm}: {exc.problem}"
            raise LedgerError(msg) from None

    def _debtor_pages(
        self,
        adm: str,
        versions: Mapping[str, int],
        changed: Sequence[str],
        flows: Mapping[str, mapping.Workflow],
        fingerprint: str,
        language: str,
    ) -> Iterator[Page[Debtor]]:
        state = dict(versions)
        problems: list[str] = []
        for batch, rows in self.client.fetch(adm, "contacts", changed):
            found: list[Debtor] = []
            for row in rows:
                try:
                    found.append(mapping.debtor(row, workflows=flows, language=language))
                    state[mapping.record_id(row)] = int(row.get("version") or 0) or state.get(
                        mapping.record_id(row), 0
                    )
                except MappingError as exc:
                    problems.append(f"contact {row.get('id')}: {exc.problem}")
            returned = {str(row.get("id")) for row in rows}
            for cid in batch:
                if cid not in returned:  # deleted between the listing and the fetch
                    state.pop(cid, None)
            yield Page(records=found)
        _reject_if(problems, f"Moneybird administration {adm}: contacts that cannot be read")
        auto = sorted(f.name for f in flows.values() if f.auto_reminders)
        if auto:
            logger.warning(
                "moneybird administration %s: workflows that send reminders by themselves: %s",
                adm,
                ", ".join(auto),
            )
        unknown = sorted(f.name for f in flows.values() if f.auto_reminders is None)
        if unknown or not flows:
            logger.warning(
                "moneybird administration %s: cannot tell whether %s send reminders by "
                "themselves; their debtors are tagged %s: check those workflows in Moneybird",
                adm,
                ("the workflows " + ", ".join(unknown))
                if unknown
                else "its workflows (none could be read)",
                mapping.REMINDERS_UNKNOWN_TAG,
            )
        yield Page(cursor=_encode({"c": state, "w": fingerprint}))

    # --- open items ------------------------------------------------------------------------

    def _period(self) -> str:
        start = self.settings.open_items_since
        end = date(self._clock().year + 1, 12, 31)
        return f"{start:%Y%m%d}..{end:%Y%m%d}"

    def open_items(self, administration: Administration, cursor: str | None) -> Feed[OpenItem]:
        adm = administration.external_id
        previous = _decode(cursor, [k.value for k in InvoiceKind])
        period = self._period()
        current: dict[InvoiceKind, Mapping[str, int]] = {}
        listed: dict[InvoiceKind, Mapping[str, Mapping[str, Any]]] = {}
        for kind in InvoiceKind:
            current[kind], listed[kind] = self._versions(adm, kind, _open_filter(kind, period))
        plan: dict[InvoiceKind, list[str]] = {}
        total = 0
        for kind in InvoiceKind:
            before: Mapping[str, int] = previous[kind.value] if previous is not None else {}
            changed = [i for i, v in current[kind].items() if before.get(i) != v]
            gone = [i for i in before if i not in current[kind]]  # confirmed by a fresh read
            plan[kind] = changed + gone
            total += len(changed)
        pages = self._item_pages(adm, current, plan, listed)
        return Feed(pages=pages, complete=previous is None, total=total)

    def _versions(
        self, adm: str, kind: InvoiceKind, filter_: str
    ) -> tuple[dict[str, int], dict[str, Mapping[str, Any]]]:
        """id -> version of the open invoices of `kind`, and the full records when they came
        with it (the listing, where the synchronization path does not answer)."""
        if not self._listing_only(adm, kind):
            try:
                return self.client.versions(adm, kind.value, filter_), {}
            except LedgerError as exc:
                if kind is not InvoiceKind.EXTERNAL or exc.status not in _NO_SUCH_PATH:
                    raise
                self._no_synchronization.add(adm)
                logger.info(
                    "moneybird: %s has no external_sales_invoices/synchronization (HTTP %s); "
                    "reading the listing instead",
                    adm,
                    exc.status,
                )
        records: dict[str, Mapping[str, Any]] = {}
        for rows in self.client.pages(f"{adm}/{kind.value}.json", {"filter": filter_}):
            for row in rows:
                if isinstance(row, Mapping):
                    records[mapping.record_id(row)] = row
        versions = {rid: int(row.get("version") or 0) for rid, row in records.items()}
        return versions, records

    def _listing_only(self, adm: str, kind: InvoiceKind) -> bool:
        return kind is InvoiceKind.EXTERNAL and adm in self._no_synchronization

    def _records(
        self,
        adm: str,
        kind: InvoiceKind,
        ids: Sequence[str],
        listed: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Iterator[tuple[list[str], list[Any]]]:
        """The full records of `ids`, 100 at a time: `POST .../synchronization`, or where
        that path does not answer, the listed records and `GET .../{id}` for the rest."""
        if not ids:
            return
        if not self._listing_only(adm, kind):
            batches = self.client.fetch(adm, kind.value, ids)
            try:
                first = next(batches)
            except LedgerError as exc:
                if kind is not InvoiceKind.EXTERNAL or exc.status not in _NO_SUCH_PATH:
                    raise
                self._no_synchronization.add(adm)
            else:
                yield first
                yield from batches
                return
        known = listed or {}
        for start in range(0, len(ids), SYNC_BATCH):
            batch = list(ids[start : start + SYNC_BATCH])
            rows = [known[i] if i in known else self._one(adm, kind, i) for i in batch]
            yield batch, [row for row in rows if row is not None]

    def _one(self, adm: str, kind: InvoiceKind, rid: str) -> Mapping[str, Any] | None:
        """`GET .../{id}`: the record, or None when Moneybird has no such record."""
        try:
            row = self.client.get(f"{adm}/{kind.value}/{rid}.json")
        except LedgerError as exc:
            if exc.status == 404:
                return None
            raise
        return row if isinstance(row, Mapping) else None

    def _item_pages(
        self,
        adm: str,
        current: Mapping[InvoiceKind, Mapping[str, int]],
        plan: Mapping[InvoiceKind, Sequence[str]],
        listed: Mapping[InvoiceKind, Mapping[str, Mapping[str, Any]]],
    ) -> Iterator[Page[OpenItem]]:
        state: dict[str, dict[str, int]] = {k.value: dict(current[k]) for k in InvoiceKind}
        problems: list[str] = []
        for kind in InvoiceKind:
            versions = state[kind.value]
            for batch, rows in self._records(adm, kind, plan[kind], listed[kind]):
                records: list[OpenItem] = []
                removed: list[str] = []
                returned: set[str] = set()
                for row in rows:
                    try:
                        rid = mapping.record_id(row)
                        returned.add(rid)
                        item = mapping.open_item(kind, row)
                    except MappingError as exc:
                        problems.append(exc.problem)
                        continue
                    if item is None:
                        removed.append(mapping.external_id(kind, rid))
                        versions.pop(rid, None)
                    else:
                        records.append(item)
                        versions[rid] = int(row.get("version") or 0) or versions.get(rid, 0)
                for rid in batch:
                    if rid not in returned:  # deleted
                        removed.append(mapping.external_id(kind, rid))
                        versions.pop(rid, None)
                yield Page(records=records, removed=removed)
        _reject_if(problems, f"Moneybird administration {adm}: invoices that cannot be read")
        yield Page(cursor=_encode(state))

    def invoice_pdf(self, administration: Administration, item: OpenItem) -> bytes | None:
        """The sales invoice's PDF; an external invoice has no Moneybird PDF (None)."""
        if item.external_id.startswith("ext:"):
            return None
        path = f"{administration.external_id}/sales_invoices/{item.external_id}/download_pdf"
        return self.client.download(path)

    def read_items(
        self, administration: Administration, external_ids: Sequence[str]
    ) -> Sequence[OpenItem]:
        adm = administration.external_id
        wanted: dict[InvoiceKind, list[str]] = {kind: [] for kind in InvoiceKind}
        for ext in dict.fromkeys(external_ids):
            try:
                kind, rid = mapping.parse_external_id(ext)
            except MappingError:
                continue  # not an invoice of ours, so not open here
            wanted[kind].append(rid)
        found: list[OpenItem] = []
        problems: list[str] = []
        for kind in InvoiceKind:
            for _batch, rows in self._records(adm, kind, wanted[kind]):
                for row in rows:
                    try:
                        item = mapping.open_item(kind, row)
                    except MappingError as exc:
                        problems.append(exc.problem)
                        continue
                    if item is not None:
                        found.append(item)
        _reject_if(problems, f"Moneybird administration {adm}: invoices that cannot be read")
        return found

    # --- payments --------------------------------------------------------------------------

    def _invoice(self, adm: str, item: OpenItem) -> tuple[InvoiceKind, str, Mapping[str, Any]]:
        try:
            kind, rid = mapping.parse_external_id(item.external_id)
        except MappingError as exc:
            raise LedgerError(exc.problem) from None
        row = self.client.get(f"{adm}/{kind.value}/{rid}.json")
        if not isinstance(row, Mapping):
            msg = f"Moneybird returned no invoice for {item.invoice_number}"
            raise LedgerError(msg)
        return kind, rid, row

    def record_payment(
        self,
        administration: Administration,
        item: OpenItem,
        amount: Money,
        paid_on: date,
        idempotency_key: str,
    ) -> PaymentReceipt:
        adm = administration.external_id
        kind, rid, row = self._invoice(adm, item)
        done = self._already(row, idempotency_key, item)
        if done is not None:
            return done
        currency = self._currency(row, amount, item)
        open_now = mapping.open_amount(kind, row) or Decimal(0)
        booked = _capped(amount.amount, open_now)
        if booked == 0:
            logger.info(
                "moneybird: invoice %s is not open for %s any more; nothing booked (%s)",
                item.invoice_number,
                amount,
                idempotency_key,
            )
            return PaymentReceipt(ledger_reference="", amount=Money.zero(currency))
        created = self._post_payment(
            adm, kind, rid, row, administration, booked, paid_on, idempotency_key
        )
        return PaymentReceipt(ledger_reference=str(created), amount=Money(booked, currency))

    def reverse_payment(
        self,
        administration: Administration,
        item: OpenItem,
        amount: Money,
        idempotency_key: str,
    ) -> PaymentReceipt:
        adm = administration.external_id
        kind, rid, row = self._invoice(adm, item)
        done = self._already(row, idempotency_key, item)
        if done is not None:
            return done
        currency = self._currency(row, amount, item)
        where = f"invoice {item.invoice_number}"
        paid = mapping.decimal(row.get("total_paid", "0"), "total_paid", where)
        reversed_ = _capped(amount.amount, paid)
        if reversed_ == 0:
            logger.info(
                "moneybird: invoice %s has no payment left to reverse (%s)",
                item.invoice_number,
                idempotency_key,
            )
            return PaymentReceipt(ledger_reference="", amount=Money.zero(currency))
        today = self._clock().date()
        created = self._post_payment(
            adm, kind, rid, row, administration, -reversed_, today, idempotency_key
        )
        return PaymentReceipt(ledger_reference=str(created), amount=Money(reversed_, currency))

    @staticmethod
    def _already(
        row: Mapping[str, Any], idempotency_key: str, item: OpenItem
    ) -> PaymentReceipt | None:
        found = mapping.payment_with(row, idempotency_key)
        if found is None:
            return None
        where = f"invoice {item.invoice_number}"
        price = mapping.decimal(found.get("price", "0"), "price", where)
        currency = mapping.currency(row.get("currency"), where)
        return PaymentReceipt(
            ledger_reference=mapping.text(found.get("id")),
            amount=Money(abs(price), currency),
            already_recorded=True,
        )

    @staticmethod
    def _currency(row: Mapping[str, Any], amount: Money, item: OpenItem) -> str:
        currency = mapping.currency(row.get("currency"), f"invoice {item.invoice_number}")
        if amount.currency != currency:
            msg = (
                f"invoice {item.invoice_number} is in {currency}, the payment in "
                f"{amount.currency}; book it by hand in Moneybird"
            )
            raise LedgerError(msg)
        return currency

    def _post_payment(
        self,
        adm: str,
        kind: InvoiceKind,
        rid: str,
        row: Mapping[str, Any],
        administration: Administration,
        price: Decimal,
        paid_on: date,
        idempotency_key: str,
    ) -> str:
        currency = mapping.currency(row.get("currency"), f"invoice {rid}")
        payment: dict[str, Any] = {
            "payment_date": paid_on.isoformat(),
            "price": format_amount(price, currency),
            "transaction_identifier": idempotency_key,
        }
        if currency != administration.currency:
            # "Required for foreign currencies": the same share of the base amount.
            unpaid = mapping.decimal(row.get("total_unpaid"), "total_unpaid", rid)
            unpaid_base = mapping.decimal(row.get("total_unpaid_base"), "total_unpaid_base", rid)
            total = mapping.decimal(row.get("total_price_incl_tax"), "total", rid)
            total_base = mapping.decimal(row.get("total_price_incl_tax_base"), "total_base", rid)
            rate = unpaid_base / unpaid if unpaid else (total_base / total if total else None)
            if rate is None:
                msg = f"invoice {rid}: no exchange rate to book a {currency} payment"
                raise LedgerError(msg)
            base = (price * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            payment["price_base"] = format_amount(base, administration.currency)
        if self.settings.payment_action:
            payment["manual_payment_action"] = self.settings.payment_action
        if self.settings.payment_financial_account_id:
            payment["financial_account_id"] = self.settings.payment_financial_account_id
        created = self.client.post(f"{adm}/{kind.value}/{rid}/payments.json", {"payment": payment})
        if not isinstance(created, Mapping) or created.get("id") is None:
            msg = f"Moneybird did not return the payment it booked on invoice {rid}"
            raise LedgerError(msg)
        return str(created["id"])

    # --- disputes --------------------------------------------------------------------------

    def flag_dispute(
        self, administration: Administration, item: OpenItem, reason: str, idempotency_key: str
    ) -> None:
        adm = administration.external_id
        kind, rid, row = self._invoice(adm, item)
        paused = bool(row.get("paused"))
        if not mapping.has_note(row, idempotency_key):
            pausing = kind is InvoiceKind.SALES
            lines = [f"Disputed: {' '.join(reason.split()) or 'no reason given'}"]
            if pausing:
                lines.append(
                    "Moneybird's reminders for this invoice are paused until the dispute "
                    "is resolved (dunning-connector)."
                )
            lines.append(
                mapping.note_marker(idempotency_key)
                + (" pause=kept" if paused or not pausing else " pause=ours")
            )
            note: dict[str, Any] = {"note": "\n".join(lines), "todo": True}
            if self.settings.dispute_assignee_id:
                note["assignee_id"] = self.settings.dispute_assignee_id
            self.client.post(f"{adm}/{kind.value}/{rid}/notes.json", {"note": note})
        if kind is InvoiceKind.SALES and not paused:
            self._workflow(adm, rid, "pause")

    def clear_dispute(
        self, administration: Administration, item: OpenItem, idempotency_key: str
    ) -> None:
        adm = administration.external_id
        kind, rid, row = self._invoice(adm, item)
        resume = kind is InvoiceKind.SALES and bool(row.get("paused")) and mapping.our_pause(row)
        if not mapping.has_note(row, idempotency_key):
            lines = ["Dispute resolved."]
            if resume:
                lines.append("Moneybird's reminders for this invoice are resumed.")
            lines.append(mapping.note_marker(idempotency_key))
            self.client.post(
                f"{adm}/{kind.value}/{rid}/notes.json", {"note": {"note": "\n".join(lines)}}
            )
        if resume:
            self._workflow(adm, rid, "resume")

    def _workflow(self, adm: str, rid: str, action: str) -> None:
        try:
            self.client.post(f"{adm}/sales_invoices/{rid}/{action}.json", {}, safe=True)
        except LedgerError as exc:
            # "already paused" / "isn't paused": someone else got there first; that is fine.
            if exc.status != 422 or "paused" not in str(exc):
                raise


def _capped(wanted: Decimal, available: Decimal) -> Decimal:
    """`wanted`, but no more than `available` and only in its direction (zero otherwise)."""
    if wanted == 0 or available == 0 or (wanted > 0) != (available > 0):
        return Decimal(0)
    return wanted if abs(wanted) <= abs(available) else available


def _reject_if(problems: Sequence[str], message: str) -> None:
    if problems:
        shown = list(problems[:_MAX_PROBLEMS])
        if len(problems) > _MAX_PROBLEMS:
            shown.append(f"... and {len(problems) - _MAX_PROBLEMS} more")
        msg = f"{message} ({len(problems)}); nothing was changed"
        raise InputRejected(msg, shown)
