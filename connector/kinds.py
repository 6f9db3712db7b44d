"""Whether a debtor is a business or a consumer, when the ledger does not say so outright.

Issue 13.1: a consumer taken for a business gets the B2B sommatie with BIK charged at once,
costs a court strikes (art. 6:96 lid 5-6 BW; the BIK scale is mandatory toward consumers). So
where the kind is not known, the debtor is a consumer; only a VAT or KvK (Chamber of
Commerce) number makes an unmarked debtor a business. Each adapter applies this where its
ledger has no explicit kind (README "Debtor kind per ledger").
"""

from __future__ import annotations

from connector.domain import DebtorKind


def kind_from_registration(vat_number: str, kvk_number: str) -> DebtorKind:
    """A business when the debtor has a VAT or a KvK number; otherwise a consumer."""
    return DebtorKind.BUSINESS if vat_number.strip() or kvk_number.strip() else DebtorKind.CONSUMER


def describe_kind(kind: str, vat_number: str, kvk_number: str) -> str:
    """The kind with the reason it has, for listings: "consumer (no VAT/KvK number)"."""
    registered = bool(vat_number.strip() or kvk_number.strip())
    if kind == DebtorKind.CONSUMER.value and not registered:
        return "consumer (no VAT/KvK number)"
    if kind == DebtorKind.BUSINESS.value and registered:
        return "business (VAT/KvK number)"
    if kind in (DebtorKind.BUSINESS.value, DebtorKind.CONSUMER.value):
        return f"{kind} (as the ledger says)"
    # A stored value the engine does not know is read as a consumer (store._debtor).
    return f"consumer (unknown kind {kind!r})"
