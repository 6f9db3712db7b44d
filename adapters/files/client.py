"""Finding and reading the exported files: CSV and XLSX, as header plus numbered rows.

CSV: the bytes are decoded as UTF-8 (a byte-order mark is dropped), or in the encoding the
administration names (`encoding = "cp1252"` in administration.toml: Windows-1252, what Excel
writes for "CSV" on a Dutch Windows machine); a UTF-16 file with a byte-order mark (Excel's
"Unicode text") is decoded as such. Nothing is guessed: a byte that is not valid in the
encoding stops the file with its line and byte offset, and so does a UTF-8 sequence in a file
declared Windows-1252 (a file of mixed encodings would otherwise become mojibake). The
delimiter is whichever of `,` `;` and tab occurs most often, outside quotes, in the first
line; Excel's `sep=;` first line is obeyed.

A CSV file is read as a stream, twice: once in binary chunks to check the encoding (and feed
the snapshot's digest), then decoded row by row; it is never held in memory whole.

XLSX: the first worksheet, through openpyxl in read-only mode with cached formula values.
Cells keep their type (numbers, dates); empty cells become "".

Rows carry their 1-based line number in the file (for XLSX the sheet's row number). The
header is the first non-blank row, normally line 1; blank rows are skipped.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import warnings
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from datetime import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from typing import TextIO
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
DEFAULT_ENCODING = "utf-8"


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


def read_table(path: Path, data: bytes, encoding: str = DEFAULT_ENCODING) -> Table:
    """Parse the bytes of `path` (already read) into a table.

    Raises:
        UnreadableFile: empty, undecodable, not a workbook; for CSV also while iterating
            the rows (a broken quote is found only when the reader gets there).
    """
    if path.suffix.lower() == ".xlsx":
        return _xlsx_table(data)
    return _csv_table(decode(data, encoding))


def open_csv(path: Path, encoding: str = DEFAULT_ENCODING, digest: Any = None) -> Table:
    """A CSV file as a table, streamed from disk: its encoding is checked first (in chunks,
    which also feed `digest`), then its rows are decoded and parsed as they are read.

    Raises:
        UnreadableFile: as `read_table`; OSError when the file cannot be read.
    """
    codec = scan(file_chunks(path, digest), encoding)
    handle = path.open(encoding=codec, newline="")
    try:
        return _csv_table(handle)
    except BaseException:
        handle.close()
        raise


# CSV -------------------------------------------------------------------------------------


_CHUNK = 1 << 20
# A UTF-8 sequence of two to four bytes: in a file declared Windows-1252 it means the file
# mixes encodings (Windows-1252 text shows these pairs only as mojibake such as "Ã©").
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def check_encoding(name: str) -> str:
    """The codec name of an `encoding` setting, normalised.

    Raises:
        LookupError: no such encoding.
    """
    return codecs.lookup(name).name


def _encoding_of(head: bytes, encoding: str) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    name = check_encoding(encoding)
    return "utf-8-sig" if name == "utf-8" else name


def _undecodable(encoding: str, byte: int, offset: int, line: int) -> UnreadableFile:
    if encoding in ("utf-8", "utf-8-sig"):
        what = "UTF-8"
        advice = (
            'save it as CSV UTF-8, or set encoding = "cp1252" in administration.toml '
            "if the export is Windows-1252"
        )
    else:
        what = "UTF-16" if encoding.startswith("utf-16") else encoding
        advice = "save it as CSV UTF-8 (and remove the encoding setting)"
    msg = (
        f"cannot decode the file: byte 0x{byte:02x} at byte offset {offset} is not {what}; {advice}"
    )
    return UnreadableFile(line, msg)


def scan(chunks: Iterator[bytes], encoding: str = DEFAULT_ENCODING) -> str:
    """Check that the bytes decode in `encoding` (a UTF-16 byte-order mark wins); returns the
    codec to read them with.

    Raises:
        UnreadableFile: a byte that does not decode (or, in Windows-1252, a UTF-8 sequence),
            with its line and byte offset.
    """
    decoder: codecs.IncrementalDecoder | None = None
    codec = ""
    offset = 0  # bytes of the file before `chunk`
    lines = 1  # line number at the start of `chunk`
    for chunk in chunks:
        if decoder is None:
            codec = _encoding_of(chunk, encoding)
            decoder = codecs.getincrementaldecoder(codec)("strict")
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            # exc.object is what the decoder held back from before, then this chunk
            held = len(exc.object) - len(chunk)
            at = offset - held + exc.start
            line = lines + chunk.count(b"\n", 0, max(exc.start - held, 0))
            raise _undecodable(codec, exc.object[exc.start], at, line) from None
        if codec == "cp1252":
            found = _UTF8_SEQUENCE.search(chunk)
            if found is not None:
                at = offset + found.start()
                line = lines + chunk.count(b"\n", 0, found.start())
                sample = found.group().decode("utf-8")
                msg = (
                    f"mixed encodings: the UTF-8 sequence for {sample!r} at byte offset {at} "
                    'in a file declared encoding = "cp1252"; save the whole file in one '
                    "encoding (CSV UTF-8 is best)"
                )
                raise UnreadableFile(line, msg)
        offset += len(chunk)
        lines += chunk.count(b"\n")
    if decoder is None:
        return _encoding_of(b"", encoding)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise _undecodable(
            codec, exc.object[exc.start], offset - len(exc.object) + exc.start, lines
        ) from None
    return codec


def decode(data: bytes, encoding: str = DEFAULT_ENCODING) -> str:
    """The text of CSV bytes: UTF-16 with BOM, else `encoding` (UTF-8: a BOM is dropped).

    Raises:
        UnreadableFile: see `scan`.
    """
    codec = scan(iter([data[i : i + _CHUNK] for i in range(0, len(data), _CHUNK)]), encoding)
    return data.decode(codec)


def file_chunks(path: Path, digest: Any = None) -> Iterator[bytes]:
    """The bytes of `path` in chunks of 1 MB, fed to `digest` on the way."""
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            if digest is not None:
                digest.update(chunk)
            yield chunk


def sniff_delimiter(line: str) -> str:
    """The most frequent of `,` `;` and tab outside double quotes; `,` when none occurs."""
    outside = "".join(line.split('"')[::2])
    best, best_count = ",", 0
    for delimiter in _DELIMITERS:
        count = outside.count(delimiter)
        if count > best_count:
            best, best_count = delimiter, count
    return best


def _csv_table(source: str | TextIO) -> Table:
    """A table over CSV text, or over a text stream (which the table's rows close when read
    to the end)."""
    handle = io.StringIO(source, newline="") if isinstance(source, str) else source
    first = handle.readline()
    if not first.strip() and not _rest_has_text(handle):
        handle.close()
        raise UnreadableFile(1, "the file is empty; expected a header row and one row per record")
    handle.seek(0)
    first = first.rstrip("\r\n")
    skipped = 0
    delimiter: str | None = None
    hint = first.strip().lower()
    if hint.startswith("sep=") and len(hint) == 5:  # Excel's delimiter line
        delimiter = first.strip()[4]
        handle.readline()
        skipped = 1
    if delimiter is None:
        start = handle.tell()
        delimiter = sniff_delimiter(_first_nonblank_line(handle))
        handle.seek(start)
    rows = _csv_rows(handle, delimiter, skipped)
    try:
        line, header = next(rows)
    except StopIteration:
        raise UnreadableFile(1, "the file has no header row") from None
    return Table(tuple(_header_text(cell) for cell in header), line, rows)


def _rest_has_text(handle: TextIO) -> bool:
    # readline, not iteration: iterating a text file disables tell() and seek() on it
    while line := handle.readline():
        if line.strip():
            return True
    return False


def _first_nonblank_line(handle: TextIO) -> str:
    while line := handle.readline():
        if line.strip():
            return line.rstrip("\r\n")
    return ""


def _csv_rows(handle: TextIO, delimiter: str, skipped: int) -> Iterator[tuple[int, Row]]:
    with handle:
        reader = csv.reader(handle, delimiter=delimiter)
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
