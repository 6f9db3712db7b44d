"""Shared bits of the Exact tests: fixtures from JSON (amounts as Decimal), a recording
clock, and a token stub."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
API = "https://start.exactonline.nl"


def fixture(name: str) -> Any:
    """A fixture as Exact's client reads it: numbers with a fraction become Decimal."""
    return json.loads((FIXTURES / f"{name}.json").read_text(), parse_float=Decimal)


def raw(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text()


class FakeClock:
    """Epoch seconds that move only when the code sleeps (or a test says so)."""

    def __init__(self, start: float = 1_780_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Tokens:
    """An `AccessTokens` stub: one token, counts how often it was asked for."""

    def __init__(self, token: str = "at-SECRET-0001") -> None:  # noqa: S107 - a test value
        self.token = token
        self.asked = 0
        self.rejected_calls = 0

    def access_token(self) -> str:
        self.asked += 1
        return self.token

    def rejected(self, access_token: str) -> str:
        self.rejected_calls += 1
        return self.token
