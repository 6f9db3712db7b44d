"""Finding and reading export files: encodings, delimiters, line numbers, XLSX."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from adapters.files.client import DEBTORS_STEMS
from adapters.files.client import ITEMS_STEMS
from adapters.files.client import Table
from adapters.files.client import UnreadableFile
from adapters.files.client import decode
from adapters.files.client import find_files
from adapters.files.client import has_items_file
from adapters.files.client import open_csv
from adapters.files.client import read_table
from adapters.files.client import sniff_delimiter

CSV = Path("items.csv")
XLSX = Path("items.xlsx")


def rows(table: Table) -> list[tuple[int, list[object]]]:
    return [(line, list(row)) for line, row in table.rows]


def workbook_bytes(*sheets: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for number, sheet_rows in enumerate(sheets):
        sheet = book.create_sheet(f"Blad{number + 1}")
        for row in sheet_rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# Finding files -----------------------------------------------------------------------------


def test_find_files_by_stem_and_suffix_in_any_case(tmp_path: Path) -> None:
    for name in ("Posten.XLSX", "items.csv", "debiteuren.csv", "notes.txt", "items.xls"):
        (tmp_path / name).write_text("x")
    (tmp_path / "debtors.csv").mkdir()  # a directory is not a file
    assert [p.name for p in find_files(tmp_path, ITEMS_STEMS)] == ["items.csv", "Posten.XLSX"]
    assert [p.name for p in find_files(tmp_path, DEBTORS_STEMS)] == ["debiteuren.csv"]
    assert has_items_file(tmp_path)
    assert not has_items_file(tmp_path / "missing")


@pytest.mark.parametrize(
    "name",
    [
        "items.csv",
        "items.xlsx",
        "openstaande_posten.csv",
        "openstaande_posten.xlsx",
        "posten.csv",
        "posten.xlsx",
    ],
)
def test_every_items_file_name(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("x")
    assert [p.name for p in find_files(tmp_path, ITEMS_STEMS)] == [name]


@pytest.mark.parametrize(
    "name", ["debtors.csv", "debtors.xlsx", "debiteuren.csv", "debiteuren.xlsx"]
)
def test_every_debtors_file_name(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("x")
    assert [p.name for p in find_files(tmp_path, DEBTORS_STEMS)] == [name]


# CSV -------------------------------------------------------------------------------------


def test_utf8_with_bom() -> None:
    data = "\ufeffFactuurnummer,Omschrijving\nF1,Crème brûlée\n".encode()
    table = read_table(CSV, data)
    assert table.header == ("Factuurnummer", "Omschrijving")
    assert rows(table) == [(2, ["F1", "Crème brûlée"])]


def test_windows_1252_is_read_only_when_the_administration_says_so() -> None:
    data = "Factuurnummer;Omschrijving;Bedrag\nF1;Café Zoë;€ 12,50\n".encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    # Not guessed: UTF-8 is expected unless encoding = "cp1252" is set.
    with pytest.raises(UnreadableFile) as raised:
        read_table(CSV, data)
    assert raised.value.line == 2
    assert raised.value.message == (
        "cannot decode the file: byte 0xe9 at byte offset 40 is not UTF-8; save it as CSV "
        'UTF-8, or set encoding = "cp1252" in administration.toml if the export is Windows-1252'
    )
    table = read_table(CSV, data, "cp1252")
    assert rows(table) == [(2, ["F1", "Café Zoë", "€ 12,50"])]


def test_a_mixed_encoding_file_stops_at_the_first_foreign_byte(tmp_path: Path) -> None:
    # Mostly UTF-8, one line written by a Windows-1252 program: it once became mojibake.
    lines = ["Factuurnummer;Omschrijving", "F1;Crème brûlée", "F2;Café", "F3;Zoë"]
    data = "\n".join(lines[:2]).encode() + b"\n" + lines[2].encode("cp1252") + b"\n"
    data += lines[3].encode() + b"\n"
    path = tmp_path / "items.csv"
    path.write_bytes(data)
    with pytest.raises(UnreadableFile) as raised:
        open_csv(path)
    offset = data.index(b"\xe9")
    assert raised.value.line == 3
    assert f"byte 0xe9 at byte offset {offset} is not UTF-8" in raised.value.message
    # Declared Windows-1252, the UTF-8 lines are found instead of turned into "Ã¨".
    with pytest.raises(UnreadableFile) as raised:
        open_csv(path, "cp1252")
    assert raised.value.line == 2
    assert raised.value.message.startswith(
        "mixed encodings: the UTF-8 sequence for 'è' at byte offset 32 in a file declared "
        'encoding = "cp1252"'
    )


def test_the_offset_is_exact_across_chunk_boundaries(tmp_path: Path) -> None:
    # 0xc3 0xa9 ("é") split over the 1 MB chunk boundary is fine; a lone 0xff after it is not.
    head = b"a,b\n" + b"x" * ((1 << 20) - 5) + b"\n"
    data = head[:-1] + b"\xc3" + b"\xa9\n" + b"y\n\xff\n"
    path = tmp_path / "items.csv"
    path.write_bytes(data)
    with pytest.raises(UnreadableFile) as raised:
        open_csv(path)
    assert raised.value.line == 4
    offset = data.index(b"\xff")
    assert f"byte 0xff at byte offset {offset} " in raised.value.message


def test_utf16_with_bom_as_excel_writes_unicode_text() -> None:
    data = "Factuurnummer\tBedrag\r\nF1\t12,50\r\n".encode("utf-16")
    assert rows(read_table(CSV, data)) == [(2, ["F1", "12,50"])]


def test_undecodable_file_names_the_line() -> None:
    data = b"a,b\n1,2\n3,\x81\n"  # 0x81 is neither valid UTF-8 here nor defined in cp1252
    for encoding in ("utf-8", "cp1252"):
        with pytest.raises(UnreadableFile) as raised:
            read_table(CSV, data, encoding)
        assert raised.value.line == 3
        assert "byte 0x81 at byte offset 10 is not" in raised.value.message
    assert decode(b"plain") == "plain"


def test_a_streamed_file_reads_as_the_bytes_would(tmp_path: Path) -> None:
    text = 'sep=;\r\n\r\nFactuurnummer;Omschrijving\r\nF1;"twee\r\nregels"\r\n\r\nF2;b\r\n'
    path = tmp_path / "items.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    streamed = open_csv(path)
    assert streamed.header == ("Factuurnummer", "Omschrijving")
    assert rows(streamed) == rows(read_table(CSV, path.read_bytes()))
    assert rows(open_csv(path)) == [(4, ["F1", "twee\r\nregels"]), (7, ["F2", "b"])]


@pytest.mark.parametrize(
    ("line", "delimiter"),
    [
        ("a,b,c", ","),
        ("a;b;c", ";"),
        ("a\tb\tc", "\t"),
        ("a", ","),
        ("", ","),
        ('"Naam, voluit";Bedrag;Datum', ";"),
        ('"a;b;c;d",e,f', ","),
    ],
)
def test_sniff_delimiter(line: str, delimiter: str) -> None:
    assert sniff_delimiter(line) == delimiter


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_each_delimiter(delimiter: str) -> None:
    text = delimiter.join(["Factuurnummer", "Bedrag", "Omschrijving"]) + "\n"
    text += delimiter.join(["F1", '"1.234,56"', '"Werk; en, meer"']) + "\n"
    table = read_table(CSV, text.encode())
    assert table.header == ("Factuurnummer", "Bedrag", "Omschrijving")
    assert rows(table) == [(2, ["F1", "1.234,56", "Werk; en, meer"])]


def test_excel_sep_line() -> None:
    data = b"sep=;\r\nFactuurnummer;Bedrag,Valuta\r\nF1;12,50\r\n"
    table = read_table(CSV, data)
    assert table.header == ("Factuurnummer", "Bedrag,Valuta")
    assert table.header_line == 2
    assert rows(table) == [(3, ["F1", "12,50"])]


def test_line_numbers_count_blank_and_multiline_records() -> None:
    data = (
        b"\r\n"
        b" Factuurnummer , Omschrijving \r\n"
        b"F1,een\r\n"
        b"\r\n"
        b";;\r\n"
        b",  ,\r\n"
        b'F2,"twee\r\nregels"\r\n'
        b"F3,drie"
    )
    table = read_table(CSV, data)
    assert table.header == ("Factuurnummer", "Omschrijving")
    assert table.header_line == 2
    assert rows(table) == [
        (3, ["F1", "een"]),
        (5, [";;"]),
        (7, ["F2", "twee\r\nregels"]),
        (9, ["F3", "drie"]),
    ]


def test_old_mac_line_endings() -> None:
    assert rows(read_table(CSV, b"a,b\r1,2\r3,4\r")) == [(2, ["1", "2"]), (3, ["3", "4"])]


@pytest.mark.parametrize("data", [b"", b"  \r\n\n", b"\xef\xbb\xbf"])
def test_empty_csv(data: bytes) -> None:
    with pytest.raises(UnreadableFile) as raised:
        read_table(CSV, data)
    assert raised.value.line == 1
    assert "the file is empty" in raised.value.message


def test_header_only() -> None:
    table = read_table(CSV, b"Factuurnummer;Bedrag\n")
    assert table.header == ("Factuurnummer", "Bedrag")
    assert rows(table) == []


def test_unclosed_quote_names_the_line_where_the_record_starts() -> None:
    data = b'a,b\n1,2\n"3,4\n5,6\n' + b"x" * 200_000
    table = read_table(CSV, data)
    with pytest.raises(UnreadableFile) as raised:
        rows(table)
    assert raised.value.line == 3
    assert raised.value.message == (
        "not valid CSV: field larger than field limit (131072); "
        'check for a double quote (") that is opened and never closed'
    )


# XLSX ------------------------------------------------------------------------------------


def test_xlsx_first_sheet_typed_cells_and_row_numbers() -> None:
    data = workbook_bytes(
        [
            ["Factuurnummer", "Vervaldatum", "Openstaand", None, "Omschrijving"],
            [1001, datetime(2026, 3, 1), 12.5, None, "  werk  "],
            [None, None, None],
            ["F2", "01-03-2026", "12,50"],
        ],
        [["Other sheet"], ["ignored"]],
    )
    table = read_table(XLSX, data)
    assert table.header == ("Factuurnummer", "Vervaldatum", "Openstaand", "", "Omschrijving")
    assert rows(table) == [
        (2, [1001, datetime(2026, 3, 1), 12.5, "", "  werk  "]),
        (4, ["F2", "01-03-2026", "12,50"]),
    ]


def test_xlsx_header_below_blank_rows_keeps_sheet_row_numbers() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["B3"] = "Factuurnummer"
    sheet["B5"] = "F1"
    buffer = io.BytesIO()
    book.save(buffer)
    table = read_table(Path("posten.XLSX"), buffer.getvalue())
    assert table.header_line == 3
    assert table.header == ("", "Factuurnummer")
    assert rows(table) == [(5, ["", "F1"])]


def test_xlsx_formula_values_are_cached_results() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Bedrag"])
    sheet.append(["=1+1"])  # openpyxl stores no cached value: reads as empty
    buffer = io.BytesIO()
    book.save(buffer)
    table = read_table(XLSX, buffer.getvalue())
    assert rows(table) == []


@pytest.mark.parametrize("data", [b"", b"not a zip file", b"PK\x03\x04broken"])
def test_unreadable_xlsx(data: bytes) -> None:
    with pytest.raises(UnreadableFile) as raised:
        read_table(XLSX, data)
    assert raised.value.line == 1


def test_empty_sheet() -> None:
    with pytest.raises(UnreadableFile, match="first sheet of the workbook is empty"):
        read_table(XLSX, workbook_bytes([]))
