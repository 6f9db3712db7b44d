"""The collection channel: a hand-over dossier per debtor for a collection agency or bailiff.

For each hand-over letter it writes two files into the configured folder, named after the
letter's key: `<key>.json` with everything an agency asks for (research §1.5: the creditor and
whether it can deduct VAT, the debtor's contact data, the claim per invoice, every letter sent
with its date and channels, payments as the store knows them, disputes, and the amounts
claimed now) and `<key>.csv` with one row per invoice. Files are written atomically, so an
interrupted send leaves either the old file or the new one; sending the same letter again
rewrites the same files (never a second dossier).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from datetime import date
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from connector.domain import format_amount
from connector.dunning.model import ChannelKind
from connector.dunning.model import Delivery
from connector.dunning.model import Letter
from connector.dunning.model import Rendered
from connector.dunning.tables import ActionStatus
from connector.dunning.tables import ItemRole
from connector.dunning.tables import dunning_action_items
from connector.dunning.tables import dunning_actions
from connector.dunning.tables import dunning_deliveries
from connector.dunning.tables import dunning_disputes
from connector.errors import ChannelError
from connector.errors import ConfigError
from connector.errors import StoreError
from connector.store import Store
from connector.store.schema import open_items

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

CSV_COLUMNS = (
    "invoice_number",
    "invoice_date",
    "due_date",
    "currency",
    "amount",
    "open_amount",
    "paid",
    "interest",
    "disputed",
)


def file_stem(key: str) -> str:
    """A file name for a letter key: administration_debtor_step_cycle, safe on every system."""
    return _UNSAFE.sub("-", key.replace("/", "_")).strip("-") or "dossier"


def _write(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    msg = f"cannot write {type(value).__name__} as JSON"
    raise TypeError(msg)


class CollectionChannel:
    kind = ChannelKind.COLLECTION

    def __init__(self, store: Store, folder: str | Path) -> None:
        self.store = store
        self.folder = Path(folder).expanduser()
        if self.folder.exists() and not self.folder.is_dir():
            msg = f"collection folder {self.folder} is not a folder"
            raise ConfigError(msg)

    def send(self, letter: Letter, rendered: Rendered) -> Delivery:
        try:
            dossier = self.dossier(letter)
        except StoreError as exc:
            msg = f"could not read the dossier from the store: {exc}"
            raise ChannelError(msg) from exc
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            stem = file_stem(letter.key)
            json_path = self.folder / f"{stem}.json"
            _write(
                json_path,
                json.dumps(dossier, default=_json_default, ensure_ascii=False, indent=2).encode(),
            )
            _write(self.folder / f"{stem}.csv", self._csv(dossier).encode())
        except OSError as exc:
            msg = f"could not write the dossier in {self.folder}: {exc}"
            raise ChannelError(msg) from exc
        return Delivery(ChannelKind.COLLECTION, str(json_path), f"{len(letter.items)} item(s)")

    def dossier(self, letter: Letter) -> dict[str, Any]:
        debtor = letter.debtor
        sender = letter.sender
        cur = letter.currency
        item_ids = [item.item_id for item in letter.items]
        with self.store.begin() as conn:
            items = {
                row.id: row
                for row in conn.execute(select(open_items).where(open_items.c.id.in_(item_ids)))
            }
            disputes = conn.execute(
                select(dunning_disputes)
                .where(dunning_disputes.c.item_id.in_(item_ids))
                .order_by(dunning_disputes.c.id)
            ).all()
            a = dunning_actions.c
            sent = conn.execute(
                select(dunning_actions)
                .where(a.administration_id == letter.administration_id)
                .where(a.debtor_code == debtor.code)
                .where(a.status == ActionStatus.SENT.value)
                .order_by(a.sent_at, a.id)
            ).all()
            covered: dict[int, list[str]] = {}
            delivered: dict[int, list[dict[str, str]]] = {}
            if sent:
                ids = [row.id for row in sent]
                for action_id, number in conn.execute(
                    select(dunning_action_items.c.action_id, open_items.c.invoice_number)
                    .join(open_items, open_items.c.id == dunning_action_items.c.item_id)
                    .where(dunning_action_items.c.action_id.in_(ids))
                    .where(dunning_action_items.c.role != ItemRole.CREDIT.value)
                ):
                    covered.setdefault(action_id, []).append(number)
                for row in conn.execute(
                    select(dunning_deliveries).where(dunning_deliveries.c.action_id.in_(ids))
                ):
                    delivered.setdefault(row.action_id, []).append(
                        {"channel": row.channel, "reference": row.reference}
                    )
        disputed = {row.item_id for row in disputes}
        claim_items = []
        for item in letter.items:
            stored = items.get(item.item_id)
            amount = stored.amount if stored is not None and stored.amount is not None else None
            paid = amount - item.open_amount if amount is not None else None
            claim_items.append(
                {
                    "invoice_number": item.invoice_number,
                    "ledger_id": stored.external_id if stored is not None else "",
                    "description": stored.description if stored is not None else "",
                    "invoice_date": item.invoice_date,
                    "due_date": item.due_date,
                    "days_overdue": item.days_overdue,
                    "currency": cur,
                    "amount": format_amount(amount, cur) if amount is not None else None,
                    "open_amount": format_amount(item.open_amount, cur),
                    "paid": format_amount(paid, cur) if paid is not None else None,
                    "interest": format_amount(item.interest, cur),
                    "disputed": item.item_id in disputed,
                }
            )
        return {
            "dossier": letter.key,
            "date": letter.letter_date,
            "creditor": {
                "name": sender.name,
                "address": [sender.street, f"{sender.postal_code} {sender.city}".strip()],
                "country": sender.country,
                "email": sender.email,
                "phone": sender.phone,
                "iban": sender.iban,
                "kvk_number": sender.kvk_number,
                "vat_number": sender.vat_number,
                "can_deduct_vat": sender.creditor_deducts_vat,
            },
            "debtor": {
                "code": debtor.code,
                "name": debtor.name,
                "kind": debtor.kind.value,
                "email": debtor.email,
                "phone": debtor.phone,
                "street": debtor.address.street,
                "postal_code": debtor.address.postal_code,
                "city": debtor.address.city,
                "country": debtor.address.country,
                "kvk_number": debtor.kvk_number,
                "vat_number": debtor.vat_number,
                "iban": debtor.iban,
                "language": debtor.language,
            },
            "claim": {
                "currency": cur,
                "principal": format_amount(letter.principal, cur),
                "collection_costs": format_amount(letter.collection_costs, cur),
                "collection_costs_vat": format_amount(letter.collection_costs_vat, cur),
                "interest": format_amount(letter.interest, cur),
                "total": format_amount(letter.total, cur),
                "payment_reference": letter.payment_reference,
                "items": claim_items,
            },
            "letters": [
                {
                    "key": f"{row.administration_id}/{row.debtor_code}/{row.step_name}/{row.cycle}",
                    "step": row.step_name,
                    "kind": row.step_kind,
                    "sent_on": row.sent_on,
                    # 13.3: a presumption (post or e-mail), not a proof of delivery.
                    "presumed_delivered_on": row.delivered_on,
                    "term_end": row.term_end,
                    "channels": row.channels.split(","),
                    "deliveries": delivered.get(row.id, []),
                    "invoices": sorted(covered.get(row.id, [])),
                    "total": format_amount(row.total, row.currency),
                    "collection_costs": format_amount(
                        row.collection_costs + row.collection_costs_vat, row.currency
                    ),
                }
                for row in sent
            ],
            "disputes": [
                {
                    "invoice_number": items[row.item_id].invoice_number
                    if row.item_id in items
                    else "",
                    "status": row.status,
                    "reason": row.reason,
                    "resolution": row.resolution,
                    "opened_at": row.opened_at,
                    "resolved_at": row.resolved_at,
                }
                for row in disputes
            ],
        }

    @staticmethod
    def _csv(dossier: dict[str, Any]) -> str:
        out = io.StringIO()
        # The header is our own column names, written plainly. Every data cell is quoted: a
        # `;` or `,` in an invoice number stays inside its cell, whatever list separator the
        # spreadsheet uses.
        csv.writer(out, lineterminator="\n").writerow(CSV_COLUMNS)
        writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
        for item in dossier["claim"]["items"]:
            writer.writerow(
                ["" if item[column] is None else _cell(item[column]) for column in CSV_COLUMNS]
            )
        return out.getvalue()


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return value.isoformat()
    return neutralise_formulas(str(value))


# A spreadsheet starts a formula at these; `\t` and `\r` because some strip them first.
_FORMULA_START = frozenset("=+-@\t\r")
# Where a spreadsheet may split one CSV cell again: Dutch Excel's list separator is `;`,
# others use `,`, and a paste into a sheet splits on tabs.
_PART_SEPARATORS = re.compile(r"([;,\t])")


def neutralise_formulas(text: str) -> str:
    """`text` with a `'` before every part (split at `;`, `,` or a tab) that a spreadsheet
    could read as a formula, leading spaces included: `F4;=cmd|' /C calc'!A0` becomes
    `F4;'=cmd|' /C calc'!A0` (OWASP "CSV injection"). Plain numbers such as `-12.50` are
    left as they are; nothing is removed, so the text stays readable for the agency."""
    pieces = _PART_SEPARATORS.split(text)
    for index in range(0, len(pieces), 2):
        part = pieces[index].lstrip(" ")  # an import that trims spaces would start it there
        if part[:1] in _FORMULA_START and not _is_plain_number(part):
            pieces[index] = "'" + pieces[index]
    joined = "".join(pieces)
    # A tab is a separator above, so a cell that starts with one has not been guarded yet.
    return "'" + joined if joined.lstrip(" ")[:1] == "\t" else joined


def _is_plain_number(text: str) -> bool:
    """`-12.50`, `-1.234,56`: a minus and digits with `.`/`,`, which no spreadsheet reads
    as a formula. No regex: the text comes from the ledger."""
    digits = text[1:] if text[:1] == "-" else text
    return digits[:1].isdigit() and all(c in "0123456789.," for c in digits)
