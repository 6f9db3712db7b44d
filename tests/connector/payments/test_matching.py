from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import Decimal

import pytest

from connector.domain import Money
from connector.payments.matching import Candidate
from connector.payments.matching import allocate
from connector.payments.matching import match_payment
from connector.payments.model import PaymentEvent
from connector.payments.model import PaymentEventKind

D = Decimal


def cand(
    item_id,
    number,
    amount,
    *,
    debtor="D1",
    due=date(2026, 1, 1),
    admin=1,
    name="Jansen",
    iban="NL91ABNA0417164300",
    currency="EUR",
):
    return Candidate(item_id, admin, number, debtor, name, iban, due, D(amount), currency)


def event(amount="100.00", *, description="", references=None, payer_name="", payer_iban=""):
    return PaymentEvent(
        provider="stripe",
        event_id="evt_1",
        kind=PaymentEventKind.PAID,
        payment_id="pi_1",
        amount=Money(D(amount)),
        occurred_at=datetime(2026, 3, 2, tzinfo=UTC),
        description=description,
        references=references or {},
        payer_name=payer_name,
        payer_iban=payer_iban,
    )


CANDIDATES = [
    cand(1, "2026-001", "100.00"),
    cand(2, "2026-002", "250.00", due=date(2026, 2, 1)),
    cand(3, "2026-003", "100.00", debtor="D2", name="Smit", iban="NL02RABO0123456789"),
    cand(4, "2026-004", "-30.00"),
]


def test_metadata_reference_wins_over_everything():
    m = match_payment(
        event("100.00", description="2026-003", references={"connector_items": "1"}), CANDIDATES
    )
    assert m.method == "metadata" and m.allocations == ((1, D("100.00")),)


def test_metadata_of_another_tenants_item_is_not_followed():
    m = match_payment(
        event(references={"connector_items": "999"}, description="nothing"), CANDIDATES
    )
    assert m is None


def test_betalingskenmerk_from_description():
    seen = []

    def lookup(ref):
        seen.append(ref)
        return [2] if ref == "1234567890123456" else []

    m = match_payment(
        event("250.00", description="Betaling 1234 5678 9012 3456"),
        CANDIDATES,
        items_for_reference=lookup,
    )
    assert seen == ["1234567890123456"] and m.method == "betalingskenmerk"
    assert m.allocations == ((2, D("250.00")),)


def test_invoice_number_in_description_as_a_whole_token():
    m = match_payment(event("250.00", description="Factuur 2026-002 dank"), CANDIDATES)
    assert m.method == "invoice_number" and m.allocations == ((2, D("250.00")),)
    assert match_payment(event(description="Factuur 2026-0021"), CANDIDATES) is None


def test_several_invoices_oldest_first_and_partial():
    m = match_payment(event("120.00", description="2026-001 2026-002"), CANDIDATES)
    assert m.allocations == ((1, D("100.00")), (2, D("20.00")))
    assert m.unallocated == 0


def test_overpayment_is_reported_not_allocated():
    m = match_payment(event("130.00", description="2026-001"), CANDIDATES)
    assert m.allocations == ((1, D("100.00")),) and m.unallocated == D("30.00")


def test_credit_note_is_netted_first():
    m = allocate("metadata", [CANDIDATES[0], CANDIDATES[3]], D("70.00"))
    assert m.allocations == ((4, D("-30.00")), (1, D("100.00")))
    assert m.unallocated == 0


@pytest.mark.parametrize(
    ("payer", "expected"),
    [
        pytest.param({"payer_iban": "NL02 RABO 0123 4567 89"}, 3, id="iban"),
        pytest.param({"payer_name": "smit"}, 3, id="name"),
        pytest.param({"payer_name": "Jansen"}, 1, id="unique-amount-of-debtor"),
        pytest.param({"payer_name": "Onbekend"}, None, id="unknown-payer"),
    ],
)
def test_debtor_and_amount(payer, expected):
    m = match_payment(event("100.00", **payer), CANDIDATES)
    assert (m.allocations[0][0] if m else None) == expected


def test_debtor_with_two_equal_amounts_is_not_guessed():
    twins = [cand(1, "A", "50.00"), cand(2, "B", "50.00")]
    assert match_payment(event("50.00", payer_name="Jansen"), twins) is None


def test_other_currency_never_matches():
    usd = [cand(1, "2026-001", "100.00", currency="USD")]
    assert match_payment(event("100.00", description="2026-001"), usd) is None
