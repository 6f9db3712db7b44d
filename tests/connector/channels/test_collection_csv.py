"""The collection dossier CSV cannot smuggle a formula into a spreadsheet (issue 16.5)."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from connector.channels.collection import CSV_COLUMNS
from connector.channels.collection import CollectionChannel
from connector.channels.collection import neutralise_formulas

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
ATTACK = "F4;=cmd|' /C calc'!A0"


def dossier(*numbers: str) -> dict[str, Any]:
    items = [
        {
            "invoice_number": number,
            "invoice_date": date(2026, 1, 5),
            "due_date": date(2026, 2, 4),
            "currency": "EUR",
            "amount": "-12.50",
            "open_amount": "100.00",
            "paid": None,
            "interest": "0.00",
            "disputed": False,
        }
        for number in numbers
    ]
    return {"claim": {"items": items}}


def rows(text: str, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


def parts(cell: str) -> list[str]:
    for separator in (";", "\t"):
        cell = cell.replace(separator, ",")
    return cell.split(",")


def is_plain_number(part: str) -> bool:
    digits = part.removeprefix("-")
    return digits[:1].isdigit() and all(c in "0123456789.," for c in digits)


def looks_like_a_formula(cell: str) -> bool:
    """A part of the cell, split as some spreadsheet would split it, starting a formula."""
    starts = [(p.lstrip(" ")[:1], p.lstrip(" ")) for p in parts(cell)]
    return cell.lstrip(" ")[:1] == "\t" or any(
        first and first in DANGEROUS and not is_plain_number(part) for first, part in starts
    )


def test_a_formula_after_a_list_separator_is_neutralised_and_every_cell_quoted() -> None:
    text = CollectionChannel._csv(dossier(ATTACK, "2026-0001"))
    header, first, second = rows(text)
    assert header == list(CSV_COLUMNS)
    assert first[0] == "F4;'=cmd|' /C calc'!A0"
    assert second[0] == "2026-0001"
    assert first[4] == "-12.50"  # a negative amount is a number, not a formula
    # Every data cell is quoted, so a `;` stays inside its cell in a Dutch Excel too.
    lines = text.splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS)
    for line, cells in zip(lines[1:], rows(text)[1:], strict=True):
        assert line == ",".join('"' + c.replace('"', '""') + '"' for c in cells)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ATTACK, "F4;'=cmd|' /C calc'!A0"),
        ("=1+1", "'=1+1"),
        ("a,+1", "a,'+1"),
        ("a\t@SUM(A1)", "a\t'@SUM(A1)"),
        ("\t=1", "'\t'=1"),
        ("a;\r=1", "a;'\r=1"),
        ("a; =1", "a;' =1"),
        ("-12.50", "-12.50"),
        ("-1.234,-56", "-1.234,-56"),
        ("2026-001;F-2", "2026-001;F-2"),
        ("-cmd", "'-cmd"),
        ("", ""),
    ],
)
def test_each_part_is_neutralised(text: str, expected: str) -> None:
    assert neutralise_formulas(text) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([*DANGEROUS, ";", ",", "\t", " ", "'", '"', "1", ".", "F4", "cmd|"]),
            st.text(max_size=4),
        ),
        max_size=12,
    ).map("".join)
)
def test_no_cell_can_start_a_formula_and_nothing_is_lost(number: str) -> None:
    [_, cells] = rows(CollectionChannel._csv(dossier(number)))
    for cell in cells:
        assert not looks_like_a_formula(cell), cell
    # Only apostrophes were added: the agency reads what the ledger holds.
    assert cells[0].replace("'", "") == number.replace("'", "")
