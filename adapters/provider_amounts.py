"""The range and scale every payment-provider mapping checks before it builds Money.

A provider signs what it sends, so an amount of 10^40 or one with six decimals in euros is a
genuine event that can never be stored or booked: retrying it will not help. The mappings
raise `EventUnusable` with a one-line reason, and the edge keeps the event as rejected and
answers 200 so the provider stops (issue 16.9). Without this check such an amount reached the
store, failed there, and the edge answered 503 for days of retries.

Bounds: 0 <= amount < 10^12 major units (the store keeps NUMERIC(19,4) on PostgreSQL and
integers of 1/10,000 on SQLite; 10^12 leaves room for sums), and no more decimals than the
currency's minor unit has (EUR 2, JPY 0, KWD 3), trailing zeros aside ("121.000" is 121.00).
"""

from __future__ import annotations

from decimal import Decimal

from connector.domain import Money
from connector.domain import currency_exponent
from connector.domain import is_currency_code
from connector.errors import EventUnusable

MAX_AMOUNT = Decimal(10) ** 12


def usable_money(amount: Decimal, currency: str, what: str = "the amount") -> Money:
    """`amount` in `currency` as Money, or EventUnusable saying why it cannot be booked."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        msg = f"{what} is not a finite amount: {amount!r}"
        raise EventUnusable(msg)
    if not is_currency_code(currency):
        msg = f"{what} has no ISO 4217 currency code: {currency!r}"
        raise EventUnusable(msg)
    if amount < 0 or amount >= MAX_AMOUNT:
        msg = f"{what} {_short(amount)} {currency} is outside 0 to 10^12"
        raise EventUnusable(msg)
    # as_tuple, not normalize/quantize: those round to the context's 28 digits first
    _, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    extra = -exponent - currency_exponent(currency)
    if extra > 0 and any(digits[-extra:]):
        allowed = currency_exponent(currency)
        msg = f"{what} {_short(amount)} {currency} has more than {allowed} decimals"
        raise EventUnusable(msg)
    return Money(amount, currency)


def _short(amount: Decimal) -> str:
    text = str(amount)
    return text if len(text) <= 40 else f"{text[:37]}..."
