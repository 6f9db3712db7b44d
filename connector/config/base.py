"""Building blocks of the configuration schema, shared by the core and the adapters' schemas.

Every table of `connector.toml` is a pydantic model with `extra="forbid"` (a key nobody reads
is an error, not ignored) and `strict=True` (TOML has types: `port = "587"` is a mistake, not
something to coerce). Checks a type cannot express are `AfterValidator`s whose message starts
with "expected ...", so that the one line a person sees reads `file: key: expected ..., got ...`.

An adapter package declares its own `[ledgers.NAME]` / `[providers.NAME]` keys with a model
built from these (see `connector.config.plugins`); an OAuth ledger starts from
`OAuthLedgerSection`, which holds the keys the core's OAuth handling reads.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from decimal import InvalidOperation
from typing import Annotated
from typing import Any
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import ConfigDict


class Section(BaseModel):
    """One TOML table: unknown keys are errors, values are not coerced between types."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def suggestion(word: str, options: Iterable[str]) -> str:
    """`; did you mean 'x'?` for a near miss (difflib), else empty."""
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def one_of(*values: str) -> Callable[[str], str]:
    """A validator: the value is one of `values`, with a suggestion for a near miss."""

    def check(value: str) -> str:
        if value not in values:
            msg = f"expected one of {' / '.join(values)}, got {value!r}{suggestion(value, values)}"
            raise ValueError(msg)
        return value

    return check


def _at_least(minimum: int) -> Callable[[int], int]:
    def check(value: int) -> int:
        if value < minimum:
            msg = f"expected a whole number >= {minimum}, got {value!r}"
            raise ValueError(msg)
        return value

    return check


def _seconds(value: float) -> float:
    if value < 0:
        msg = f"expected a number of seconds >= 0, got {value!r}"
        raise ValueError(msg)
    return value


def _positive(value: float) -> float:
    if not value > 0:
        msg = f"expected a number > 0, got {value!r}"
        raise ValueError(msg)
    return value


def _share(value: float) -> float:
    if not 0 < value <= 1:
        msg = f"expected a share above 0 and at most 1, got {value!r}"
        raise ValueError(msg)
    return value


def _url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        msg = f"expected an http(s) URL, got {value!r}"
        raise ValueError(msg)
    return value


def _url_or_empty(value: str) -> str:
    return _url(value) if value else value


def _amount(value: str | int) -> str | int:
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite() or number < 0:
        msg = f'expected an amount >= 0 written as a string, e.g. "5.00", got {value!r}'
        raise ValueError(msg)
    return value


def _number(value: str | int) -> str | int:
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        msg = f"expected a number, got {value!r}"
        raise ValueError(msg)
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"expected an IANA timezone such as Europe/Amsterdam, got {value!r}"
        raise ValueError(msg) from None
    return value


def _nonempty(value: str) -> str:
    if not value.strip():
        msg = "expected a non-empty string"
        raise ValueError(msg)
    return value


def _date_text(value: str | date) -> str | date:
    if isinstance(value, str):
        try:
            date.fromisoformat(value)
        except ValueError:
            msg = f"expected a date like 2000-01-01, got {value!r}"
            raise ValueError(msg) from None
    return value


PositiveInt = Annotated[int, AfterValidator(_at_least(1))]
NonNegativeInt = Annotated[int, AfterValidator(_at_least(0))]
Seconds = Annotated[float, AfterValidator(_seconds)]
PositiveNumber = Annotated[float, AfterValidator(_positive)]
Share = Annotated[float, AfterValidator(_share)]  # a fraction: 0 < x <= 1
Url = Annotated[str, AfterValidator(_url)]
UrlOrEmpty = Annotated[str, AfterValidator(_url_or_empty)]
Amount = Annotated[str | int, AfterValidator(_amount)]
Number = Annotated[str | int, AfterValidator(_number)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
Text = Annotated[str, AfterValidator(_nonempty)]
DateValue = Annotated[str | date, AfterValidator(_date_text)]


def at_least(minimum: int) -> Any:
    """A whole number >= `minimum` (for adapter schemas with their own lower bounds)."""
    return Annotated[int, AfterValidator(_at_least(minimum))]


def choice(*values: str) -> Any:
    """A string that is one of `values` (a near miss gets a suggestion)."""
    return Annotated[str, AfterValidator(one_of(*values))]


class OAuthLedgerSection(Section):
    """The keys of `[ledgers.NAME]` that the core's OAuth handling reads
    (`connector.oauth.config`, `webhooks.oauth`); an OAuth ledger's schema extends this."""

    client_id: str | None = None
    authorize_url: Url | None = None
    token_url: Url | None = None
    revoke_url: UrlOrEmpty | None = None
    scopes: list[str] | str | None = None
    refresh_leeway_seconds: Seconds | None = None
    min_token_age_seconds: Seconds | None = None
    keepalive_seconds: Seconds | None = None
    redirect_uri: UrlOrEmpty | None = None
