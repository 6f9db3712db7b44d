"""Printing listings: aligned text tables for people, JSON arrays for programs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import date
from datetime import datetime
from decimal import Decimal
from typing import Any
from typing import TextIO


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    msg = f"cannot write {type(value).__name__} as JSON"
    raise TypeError(msg)


def write_json(rows: Sequence[Mapping[str, Any]], out: TextIO) -> None:
    """A JSON array of objects; amounts should already be strings like "1234.56"."""
    json.dump(list(rows), out, default=_json_default, ensure_ascii=False, indent=2)
    out.write("\n")


def write_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    out: TextIO,
    *,
    right: Sequence[int] = (),
) -> None:
    """Columns padded to their widest cell; `right` lists the columns to right-align."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        parts = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        out.write("  ".join(parts).rstrip() + "\n")
        if n == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


def amount_text(amount: Decimal) -> str:
    """For tables: thousands separated, two decimals."""
    return f"{amount:,.2f}"
