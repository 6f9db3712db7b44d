"""Finding and reading the exported files: CSV and XLSX, as header plus numbered rows.

CSV: the bytes are decoded as UTF-8 (a byte-order mark is dropped), else as Windows-1252,
the encoding Excel uses for "CSV" on a Dutch Windows machine; a UTF-16 file with a byte-order
mark (Excel's "Unicode text") is decoded as such. The delimiter is whichever of `,` `;` and
tab occurs most often, outside quotes, in the first line; Excel's `sep=;` first line is obeyed.

XLSX: the first worksheet, through openpyxl in read-only mode with cached formula values.
Cells keep their type (numbers, dates); empty cells become "".

Rows carry their 1-based line number in the file (for XLSX the sheet's row number). The
header is the first non-blank row, normally line 1; blank rows are skipped.
"""

from __future__ import annotations

import codecs
import csv
import io
import warnings
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from datetime import time
from datetime import timedelta
from pathlib import Path
from typing import TypeAlias

import openpyxl

ITEMS_STEMS = ("items", "openstaande_posten", "posten")
DEBTORS_STEMS = ("debtors", "debiteuren")
SUFFIXES = (".csv", ".xlsx")
ADMINISTRATION_FILE = "administration.toml"

# What a cell can hold: text from a CSV file, or a typed value from an XLSX sheet.
Cell: TypeAlias = str | int | float | date | time | timedelta
Row: TypeAlias = Sequence[Cell]

_DELIMITERS = (",", ";", "\t")


class UnreadableFile(Exception):  # noqa: N818 - internal signal, becomes a listed problem
    """The file as a whole cannot be read; `line` is where the trouble is."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Table:
    """A file's header (as written, stripped) and its data rows, numbered."""

    header: tuple[str, ...]
    header_line: int
    rows: Iterator[tuple[int, Row]]


def find_files(directory: Path, stems: Sequence[str]) -> list[Path]:
    """The files in `directory` named stem.csv or stem.xlsx (any case), in `stems` order."""
    wanted = {
        f"{stem}{suffix}": (i, j)
        for i, stem in enumerate(stems)
        for j, suffix in enumerate(SUFFIXES)
    }
    found: list[tuple[tuple[int, int], Path]] = []
    try:
        entries = list(directory.iterdir())
    except OSError:
        return []
    for entry in entries:
        rank = wanted.get(entry.name.lower())
        if rank is not None and entry.is_file():
            found.append((rank, entry))
    return [path for _, path in sorted(found)]


def has_items_file(directory: Path) -> bool:
    return bool(find_files(directory, ITEMS_STEMS))


def read_table(path: Path, data: bytes) -> Table:
    """Parse the bytes of `path` (already read) into a table.

    Raises:
        UnreadableFile: empty, undecodable, not a workbook; for CSV also while iterating
            the rows (a broken quote is found only when the reader gets there).
    """
    if path.suffix.lower() == ".xlsx":
        return _xlsx_table(data)
    return _csv_table(data)


# CSV -------------------------------------------------------------------------------------


def decode(data: bytes) -> str:
    """The text of a CSV file: UTF-16 with BOM, else UTF-8 (BOM dropped), else Windows-1252."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            msg = "cannot decode the file as UTF-16; save it as CSV UTF-8"
            raise UnreadableFile(line, msg) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        msg = (
            f"cannot decode the file: byte 0x{data[exc.start]:02x} is neither UTF-8 nor "
            "Windows-1252; save it as CSV UTF-8"
        )
        raise UnreadableFile(line, msg) from exc


def sniff_delimiter(line: str) -> str:
    """The most frequent of `,` `;` and tab outside double quotes; `,` when none occurs."""
    outside = "".join(line.split('"')[::2])
    best, best_count = ",", 0
    for delimiter in _DELIMITERS:
        count = outside.count(delimiter)
        if count > best_count:
            best, best_count = delimiter, count
    return best


def _csv_table(data: bytes) -> Table:
    text = decode(data)
    if not text.strip():
        raise UnreadableFile(1, "the file is empty; expected a header row and one row per record")
    first_line_end = text.find("\n")
    first = text if first_line_end < 0 else text[:first_line_end]
    first = first.rstrip("\r")
    skipped = 0
    delimiter: str | None = None
    hint = first.strip().lower()
    if hint.startswith("sep=") and len(hint) == 5:  # Excel's delimiter line
        delimiter = first.strip()[4]
        text = "" if first_line_end < 0 else text[first_line_end + 1 :]
        skipped = 1
    if delimiter is None:
        delimiter = sniff_delimiter(_first_nonblank_line(text))
    rows = _csv_rows(text, delimiter, skipped)
    try:
        line, header = next(rows)
    except StopIteration:
        raise UnreadableFile(1, "the file has no header row") from None
    return Table(tuple(_header_text(cell) for cell in header), line, rows)


def _first_nonblank_line(text: str) -> str:
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        if text[start:end].strip():
            return text[start:end]
        start = end + 1
    return ""


def _csv_rows(text: str, delimiter: str, skipped: int) -> Iterator[tuple[int, Row]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    previous = 0
    try:
        for row in reader:
            start = previous + 1 + skipped
            previous = reader.line_num
            if row and (row[0].strip() or "".join(row).strip()):
                yield start, row
    except csv.Error as exc:
        msg = f"not valid CSV: {exc}"
        if "field limit" in str(exc):
            msg += '; check for a double quote (") that is opened and never closed'
        raise UnreadableFile(previous + 1 + skipped, msg) from exc


# XLSX ------------------------------------------------------------------------------------


def _xlsx_table(data: bytes) -> Table:
    if not data:
        raise UnreadableFile(1, "the file is empty; expected a workbook with a header row")
    rows = _xlsx_rows(data)
    if not rows:
        raise UnreadableFile(1, "the first sheet of the workbook is empty; expected a header row")
    line, header = rows[0]
    return Table(tuple(_header_text(cell) for cell in header), line, iter(rows[1:]))


def _xlsx_rows(data: bytes) -> list[tuple[int, Row]]:
    # openpyxl warns about features it drops (data validation, drawings); they do not matter
    # for reading values, and with warnings as errors they would break a sync. The rows are
    # read inside the block, so the warning filter is changed only for the duration.
    rows: list[tuple[int, Row]] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                if not workbook.worksheets:
                    return rows
                sheet = workbook.worksheets[0]
                sheet.reset_dimensions()  # trust the cells, not the stored dimension
                numbered = enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1)
                for number, values in numbered:
                    cells: list[Cell] = ["" if value is None else value for value in values]
                    if any(not isinstance(c, str) or c.strip() for c in cells):
                        rows.append((number, cells))
            finally:
                workbook.close()
    except Exception as exc:  # a damaged workbook fails in many ways inside openpyxl
        msg = f"not a readable XLSX workbook ({type(exc).__name__}: {exc}); save it again as .xlsx"
        raise UnreadableFile(1, msg) from exc
    return rows


def _header_text(cell: Cell) -> str:
    return cell.strip() if isinstance(cell, str) else str(cell).strip()
