"""Shared pieces of the Moneybird tests: recorded-shape fixtures and a token stub."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.moneybird import StubTokens

FIXTURES = Path(__file__).parent / "fixtures"
API = "https://moneybird.test/api/v2"


@pytest.fixture
def load() -> Callable[[str], Any]:
    """A fresh copy of a fixture file's JSON (tests may change it)."""
    cache: dict[str, Any] = {}

    def loader(name: str) -> Any:
        if name not in cache:
            cache[name] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
        return copy.deepcopy(cache[name])

    return loader


@pytest.fixture
def tokens() -> StubTokens:
    return StubTokens("token-one", "token-two")
