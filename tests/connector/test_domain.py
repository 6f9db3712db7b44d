from __future__ import annotations

from decimal import Decimal

import pytest

from connector.domain import Money
from connector.domain import format_amount


def test_money_rejects_float_and_bad_currency():
    with pytest.raises(TypeError):
        Money(12.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(Decimal(1), "eur")


def test_money_arithmetic_keeps_currency():
    total = Money(Decimal("10.10")) + Money(Decimal("0.20")) - Money(Decimal("0.05"))
    assert total == Money(Decimal("10.25"))
    with pytest.raises(ValueError, match="cannot combine"):
        Money(Decimal(1), "EUR") + Money(Decimal(1), "USD")


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        ("1234.5", "EUR", "1234.50"),
        ("0.005", "EUR", "0.01"),
        ("-0.005", "EUR", "-0.01"),
        ("1E+3", "EUR", "1000.00"),
        ("100", "JPY", "100"),
        ("1.2345", "KWD", "1.235"),
    ],
)
def test_format_amount_uses_minor_unit(amount, currency, text):
    assert format_amount(Decimal(amount), currency) == text
