"""Column types that keep money exact and datetimes aware on every backend."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy import DateTime
from sqlalchemy import Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlalchemy.types import TypeEngine

SCALE = 4  # four decimals: cents plus room for currencies with three and for exact rates


class Amount(TypeDecorator[Decimal]):
    """A Decimal amount: NUMERIC(19,4) on PostgreSQL, a scaled integer on SQLite.

    SQLite has no exact decimal type (its NUMERIC is a float), so it gets integers of
    1/10,000; sums in SQL then stay exact on both backends.
    """

    impl = BigInteger
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(19, SCALE, asdecimal=True))
        return dialect.type_descriptor(BigInteger())

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            msg = f"amounts must be Decimal, got {type(value).__name__}"
            raise TypeError(msg)
        if dialect.name == "postgresql":
            return value
        scaled = value.scaleb(SCALE)
        integral = scaled.to_integral_value()
        if scaled != integral:
            msg = f"amount {value} has more than {SCALE} decimals"
            raise ValueError(msg)
        return int(integral)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return Decimal(value)
        return Decimal(value).scaleb(-SCALE)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes, also on SQLite (which stores them naive)."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(DateTime(timezone=dialect.name == "postgresql"))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            msg = "naive datetime given to the store; use an aware UTC datetime"
            raise ValueError(msg)
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
