"""The domain: what the connector knows about administrations, debtors and open items.

Everything here is a small frozen value. Money is a Decimal with an ISO 4217 currency and
never a float; due dates are plain dates, interpreted in the administration's timezone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from decimal import ROUND_HALF_UP
from decimal import Decimal

# Minor-unit exponents that differ from the usual two decimals (ISO 4217).
_CURRENCY_EXPONENTS: dict[str, int] = {
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
}


def currency_exponent(currency: str) -> int:
    """Number of decimals in the currency's minor unit."""
    return _CURRENCY_EXPONENTS.get(currency, 2)


def is_currency_code(code: str) -> bool:
    return len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str = "EUR"

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            msg = f"Money amount must be a Decimal, got {type(self.amount).__name__}"
            raise TypeError(msg)
        if not is_currency_code(self.currency):
            msg = f"not an ISO 4217 currency code: {self.currency!r}"
            raise ValueError(msg)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            msg = f"cannot combine {self.currency} and {other.currency}"
            raise ValueError(msg)

    @classmethod
    def zero(cls, currency: str = "EUR") -> Money:
        return cls(Decimal(0), currency)

    def quantized(self) -> Money:
        """The amount rounded to the currency's minor unit."""
        exp = Decimal(1).scaleb(-currency_exponent(self.currency))
        return Money(self.amount.quantize(exp, rounding=ROUND_HALF_UP), self.currency)

    def __str__(self) -> str:
        return f"{self.quantized().amount} {self.currency}"


def format_amount(amount: Decimal, currency: str = "EUR") -> str:
    """The machine form used in JSON and files: "1234.56", never an exponent."""
    return f"{Money(amount, currency).quantized().amount:f}"


class DebtorKind(enum.StrEnum):
    BUSINESS = "business"
    CONSUMER = "consumer"


class ItemStatus(enum.StrEnum):
    """The state of an open item as the store keeps it."""

    OPEN = "open"  # the ledger reports an amount still to be paid (or refunded, for credit notes)
    PAID = "paid"  # the ledger no longer reports it open: paid, credited or written off


class ItemKind(enum.StrEnum):
    """What an open item is. Payments the ledger holds unapplied (received, not matched to an
    invoice) are credit for the debtor like a credit note, but they are not invoices: their
    reference is not an invoice number."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    UNAPPLIED_PAYMENT = "unapplied_payment"


@dataclass(frozen=True, slots=True)
class Administration:
    """One set of books: an Exact division, a Moneybird administration, a Twinfield office."""

    external_id: str
    name: str
    currency: str = "EUR"
    timezone: str = "Europe/Amsterdam"
    country: str = "NL"


@dataclass(frozen=True, slots=True)
class Address:
    street: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = ""


@dataclass(frozen=True, slots=True)
class Debtor:
    code: str
    name: str
    # Not known means consumer: only a known business may be charged BIK at once (13.1).
    kind: DebtorKind = DebtorKind.CONSUMER
    email: str = ""
    phone: str = ""
    address: Address = field(default_factory=Address)
    iban: str = ""
    vat_number: str = ""
    kvk_number: str = ""
    language: str = "nl"
    payment_term_days: int | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OpenItem:
    """An invoice (or credit note, with a negative amount) as the ledger reports it.

    `external_id` is the ledger's own key for the item and is stable across syncs;
    `invoice_number` is what the debtor sees. `kind` says what it is (an invoice unless the
    ledger says otherwise); an unapplied payment carries its own reference in `description`
    and an invoice number only when the payment named one.
    """

    external_id: str
    invoice_number: str
    debtor_code: str
    invoice_date: date | None
    due_date: date
    open_amount: Money
    amount: Money | None = None  # the original invoice total, when the ledger tells it
    description: str = ""
    kind: ItemKind = ItemKind.INVOICE

    @property
    def is_credit(self) -> bool:
        return self.open_amount.amount < 0


#: A debtor tag: the ledger did not say whether this is a business or a consumer (then taken
#: as a consumer, issue 13.1), so that it is never silent; the sync counts such debtors.
KIND_UNKNOWN_TAG = "kind-unknown"
