"""Matching a payment to open items: pure, in a fixed order of certainty.

1. our own reference in the payment's metadata (set by the payment links we create),
2. the betalingskenmerk (structured reference) of a dunning letter,
3. an invoice number named in the description,
4. a unique debtor-and-amount match (debtor by the payer's IBAN or exact name).

Anything else is left unmatched for a person (the suspense list). Only candidates of the
tenant's own administrations are ever passed in, so a payment cannot reach another tenant.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from connector.payments.model import PaymentEvent

# Keys our payment links put in the provider's metadata.
ITEMS_KEY = "connector_items"  # comma-separated open_items ids
LETTER_KEY = "connector_letter"  # the dunning letter's key
REFERENCE_KEY = "betalingskenmerk"

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9/_.-]*[A-Za-z0-9]|[A-Za-z0-9]")
_KENMERK = re.compile(r"(?<!\d)(\d{4}[ .]?\d{4}[ .]?\d{4}[ .]?\d{4})(?!\d)")


@dataclass(frozen=True, slots=True)
class Candidate:
    item_id: int
    administration_id: int
    invoice_number: str
    debtor_code: str
    debtor_name: str
    debtor_iban: str
    due_date: date
    open_amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class Match:
    method: str  # metadata, betalingskenmerk, invoice_number, debtor_amount, manual
    allocations: tuple[tuple[int, Decimal], ...]  # (item id, amount applied)
    unallocated: Decimal  # paid beyond what the matched items had open


def allocate(method: str, items: Sequence[Candidate], amount: Decimal) -> Match:
    """Apply `amount` to the items, oldest due date first, none beyond its open amount.

    Credit notes among them are netted first: they add to what the payment can cover.
    """
    remaining = amount + sum((-c.open_amount for c in items if c.open_amount < 0), Decimal(0))
    allocations: list[tuple[int, Decimal]] = [
        (c.item_id, c.open_amount) for c in items if c.open_amount < 0
    ]
    for c in sorted((c for c in items if c.open_amount > 0), key=lambda c: (c.due_date, c.item_id)):
        if remaining <= 0:
            break
        applied = min(remaining, c.open_amount)
        allocations.append((c.item_id, applied))
        remaining -= applied
    return Match(method, tuple(allocations), max(remaining, Decimal(0)))


def _compact_iban(text: str) -> str:
    return re.sub(r"\s+", "", text).upper()


def match_payment(
    event: PaymentEvent,
    candidates: Sequence[Candidate],
    *,
    items_for_reference: Callable[[str], Sequence[int]] = lambda _ref: (),
) -> Match | None:
    """The items this payment pays, or None when nothing identifies them with certainty.

    `items_for_reference` maps a betalingskenmerk to the items of the letter that carried it.
    """
    currency = event.amount.currency
    usable = [c for c in candidates if c.currency == currency and c.open_amount != 0]
    by_id = {c.item_id: c for c in usable}
    amount = event.amount.amount

    listed = event.references.get(ITEMS_KEY, "")
    if listed:
        ids = [int(part) for part in listed.split(",") if part.strip().isdigit()]
        chosen = [by_id[i] for i in ids if i in by_id]
        if chosen:
            return allocate("metadata", chosen, amount)

    references = [event.references.get(REFERENCE_KEY, "")]
    references += [re.sub(r"[ .]", "", m) for m in _KENMERK.findall(event.description)]
    for reference in filter(None, references):
        chosen = [by_id[i] for i in items_for_reference(reference) if i in by_id]
        if chosen:
            return allocate("betalingskenmerk", chosen, amount)

    tokens = set(_TOKEN.findall(event.description))
    named = [c for c in usable if c.invoice_number in tokens]
    if named:
        return allocate("invoice_number", named, amount)

    iban = _compact_iban(event.payer_iban)
    name = event.payer_name.strip().casefold()
    debtors = {
        (c.administration_id, c.debtor_code)
        for c in usable
        if (iban and _compact_iban(c.debtor_iban) == iban)
        or (name and c.debtor_name.strip().casefold() == name)
    }
    if len(debtors) == 1:
        exact = [
            c
            for c in usable
            if (c.administration_id, c.debtor_code) in debtors and c.open_amount == amount
        ]
        if len(exact) == 1:
            return allocate("debtor_amount", exact, amount)
    return None
