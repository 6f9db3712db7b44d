"""The files ledger through its port: layouts, feeds, rejection, caching, write-backs."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import openpyxl
import pytest

from adapters.files import FilesLedger
from adapters.files import client
from adapters.files import create_ledger
from connector.domain import Administration
from connector.domain import Debtor
from connector.domain import DebtorKind
from connector.domain import Money
from connector.domain import OpenItem
from connector.errors import ConfigError
from connector.errors import InputRejected
from connector.errors import NotFound
from connector.errors import NotSupported
from connector.ports import Capabilities
from connector.ports import Feed

T = TypeVar("T")
KIND_UNKNOWN = "kind-unknown"

ITEMS = """\
Factuurnummer;Debiteurnummer;Factuurdatum;Vervaldatum;Bedrag;Openstaand;Omschrijving
2026-001;D1;01-02-2026;01-03-2026;1.210,00;1.210,00;Werk februari
2026-002;D2;2026-02-03;03/03/2026;500,00;250,00;Deels betaald
2026-003;D1;1-1-2026;1-2-2026;99,95;0,00;Betaald
C-001;D2;2026-02-10;2026-02-10;-50,00;-50,00;Creditnota
"""
DEBTORS = """\
Debiteurnummer;Naam;Soort;E-mail;IBAN
D1;Acme B.V.;zakelijk;info@acme.nl;NL91ABNA0417164300
D2;Jan Jansen;particulier;jan@example.nl;
D3;Zonder posten;;;
"""


def write(directory: Path, files: dict[str, str | bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = directory / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return directory


def collect(feed: Feed[T]) -> list[T]:
    return [record for page in feed.pages for record in page.records]


def only_administration(ledger: FilesLedger) -> Administration:
    [administration] = ledger.administrations()
    return administration


def rejected(ledger: FilesLedger, administration: Administration) -> InputRejected:
    with pytest.raises(InputRejected) as raised:
        ledger.debtors(administration, None)
    return raised.value


# Configuration -----------------------------------------------------------------------------


def test_create_ledger_checks_the_path(tmp_path: Path) -> None:
    ledger = create_ledger({"path": str(tmp_path)})
    assert isinstance(ledger, FilesLedger)
    assert ledger.name == "files"
    assert ledger.capabilities == Capabilities(targeted_read=True)
    with pytest.raises(ConfigError, match="needs a 'path' setting"):
        create_ledger({})
    with pytest.raises(ConfigError, match="needs a 'path' setting"):
        create_ledger({"path": "  "})
    with pytest.raises(ConfigError, match="must be a directory path"):
        create_ledger({"path": 42})
    with pytest.raises(ConfigError, match=r"does not exist; point 'path' at the export directory"):
        create_ledger({"path": str(tmp_path / "nope")})
    (tmp_path / "file.csv").write_text("x")
    with pytest.raises(ConfigError, match="is not a directory"):
        create_ledger({"path": tmp_path / "file.csv"})


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any directory")
def test_unreadable_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    try:
        with pytest.raises(ConfigError, match="is not readable"):
            create_ledger({"path": str(locked)})
    finally:
        locked.chmod(0o755)


def test_a_ledger_whose_directory_disappears(tmp_path: Path) -> None:
    ledger = create_ledger({"path": str(write(tmp_path / "acme", {"items.csv": ITEMS}))})
    (tmp_path / "acme" / "items.csv").unlink()
    (tmp_path / "acme").rmdir()
    with pytest.raises(ConfigError, match="does not exist"):
        ledger.administrations()


# Layouts ---------------------------------------------------------------------------------


def test_one_administration_directory(tmp_path: Path) -> None:
    directory = write(tmp_path / "acme", {"items.csv": ITEMS})
    write(directory / "other", {"items.csv": ITEMS})  # not an administration in this layout
    ledger = FilesLedger(directory)
    assert ledger.administrations() == [Administration(external_id="acme", name="acme")]


def test_one_administration_given_as_a_relative_dot(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path / "bakkerij", {"posten.csv": ITEMS})
    monkeypatch.chdir(tmp_path / "bakkerij")
    ledger = create_ledger({"path": "."})
    administration = only_administration(ledger)
    assert administration.external_id == "bakkerij"
    assert len(collect(ledger.open_items(administration, None))) == 3


def test_many_administrations_sorted_by_name(tmp_path: Path) -> None:
    write(tmp_path / "zeta", {"items.xlsx": xlsx([["Factuur", "Debiteur", "Vervaldag", "Saldo"]])})
    write(tmp_path / "acme", {"openstaande_posten.csv": ITEMS})
    write(tmp_path / "Beta", {"posten.csv": ITEMS})
    write(tmp_path / "no-items", {"debtors.csv": DEBTORS})
    write(tmp_path / ".hidden", {"items.csv": ITEMS})
    (tmp_path / "README.txt").write_text("exports")
    ledger = FilesLedger(tmp_path)
    assert [a.external_id for a in ledger.administrations()] == ["Beta", "acme", "zeta"]


def test_no_administrations(tmp_path: Path) -> None:
    assert FilesLedger(tmp_path).administrations() == []


def test_administration_settings(tmp_path: Path) -> None:
    write(
        tmp_path / "acme",
        {
            "items.csv": ITEMS,
            "administration.toml": 'name = "Acme Holding B.V."\ncurrency = "usd"\n'
            'timezone = "America/Curacao"\ncountry = "cw"\n',
        },
    )
    write(tmp_path / "beta", {"items.csv": ITEMS, "administration.toml": 'name = "Beta"\n'})
    acme, beta = FilesLedger(tmp_path).administrations()
    assert acme == Administration(
        external_id="acme",
        name="Acme Holding B.V.",
        currency="USD",
        timezone="America/Curacao",
        country="CW",
    )
    assert beta == Administration(external_id="beta", name="Beta")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("name = ", "acme/administration.toml: cannot read it: "),
        (
            'valuta = "EUR"',
            "acme/administration.toml: unknown key 'valuta' "
            "(expected name, currency, timezone, country, encoding)",
        ),
        (
            'encoding = "klingon"',
            "acme/administration.toml: encoding: not an encoding: 'klingon' "
            '(such as "utf-8" or "cp1252")',
        ),
        ("name = 3", "acme/administration.toml: name: expected a non-empty string, got 3"),
        (
            'currency = "EURO"',
            "acme/administration.toml: currency: not a 3-letter currency code: 'EURO'",
        ),
        (
            'timezone = "Europe/Utrecht"',
            "acme/administration.toml: timezone: unknown time zone 'Europe/Utrecht'",
        ),
        ('country = "NLD"', "acme/administration.toml: country: not a 2-letter country code"),
    ],
)
def test_bad_administration_settings(tmp_path: Path, toml: str, message: str) -> None:
    write(tmp_path / "acme", {"items.csv": ITEMS, "administration.toml": toml})
    with pytest.raises(ConfigError) as raised:
        FilesLedger(tmp_path).administrations()
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_unknown_administration(tmp_path: Path) -> None:
    write(tmp_path / "acme", {"items.csv": ITEMS})
    write(tmp_path / "empty", {"notes.txt": "x"})
    ledger = FilesLedger(tmp_path)
    for external_id in ("beta", "empty", "..", ".", "", "acme/../acme", "/etc"):
        with pytest.raises(NotFound):
            ledger.debtors(Administration(external_id=external_id, name="x"), None)
    single = FilesLedger(tmp_path / "acme")
    with pytest.raises(NotFound, match="no administration 'beta'"):
        single.open_items(Administration(external_id="beta", name="x"), None)


# Feeds -------------------------------------------------------------------------------------


def test_debtors_and_items_from_csv(tmp_path: Path) -> None:
    ledger = FilesLedger(write(tmp_path / "acme", {"items.csv": ITEMS, "debtors.csv": DEBTORS}))
    administration = only_administration(ledger)

    feed = ledger.debtors(administration, None)
    assert feed.complete and feed.total == 3
    debtors = collect(feed)
    assert [d.code for d in debtors] == ["D1", "D2", "D3"]
    assert debtors[0] == Debtor(
        code="D1",
        name="Acme B.V.",
        kind=DebtorKind.BUSINESS,
        email="info@acme.nl",
        iban="NL91ABNA0417164300",
    )
    assert debtors[1].kind is DebtorKind.CONSUMER

    feed_items = ledger.open_items(administration, None)
    assert feed_items.complete and feed_items.total == 3
    found = collect(feed_items)
    assert found == [
        OpenItem(
            "2026-001",
            "2026-001",
            "D1",
            date(2026, 2, 1),
            date(2026, 3, 1),
            Money(Decimal("1210.00")),
            Money(Decimal("1210.00")),
            "Werk februari",
        ),
        OpenItem(
            "2026-002",
            "2026-002",
            "D2",
            date(2026, 2, 3),
            date(2026, 3, 3),
            Money(Decimal("250.00")),
            Money(Decimal("500.00")),
            "Deels betaald",
        ),
        OpenItem(
            "C-001",
            "C-001",
            "D2",
            date(2026, 2, 10),
            date(2026, 2, 10),
            Money(Decimal("-50.00")),
            Money(Decimal("-50.00")),
            "Creditnota",
        ),
    ]
    assert found[2].is_credit  # credit notes are open items too; the settled 2026-003 is not


def test_the_cursor_fingerprints_the_files(tmp_path: Path) -> None:
    directory = write(tmp_path / "acme", {"items.csv": ITEMS, "debtors.csv": DEBTORS})
    ledger = FilesLedger(directory)
    administration = only_administration(ledger)
    [page] = list(ledger.debtors(administration, None).pages)
    [item_page] = list(ledger.open_items(administration, "sha256:stale").pages)
    assert page.cursor is not None and page.cursor.startswith("sha256:")
    assert len(page.cursor) == len("sha256:") + 64
    assert item_page.cursor == page.cursor

    each = []
    for name, text in (("debtors.csv", DEBTORS), ("items.csv", ITEMS)):
        data = text.encode()
        each.append(hashlib.sha256(f"{name}\0{len(data)}\0".encode() + data).digest())
    expected = hashlib.sha256(b"".join(each))
    assert page.cursor == f"sha256:{expected.hexdigest()}"

    # Same bytes, new ledger: same fingerprint. Other bytes: another one.
    again = FilesLedger(directory)
    assert list(again.debtors(administration, page.cursor).pages)[0].cursor == page.cursor
    (directory / "items.csv").write_text(ITEMS.replace("Werk februari", "Werk maart"))
    [changed] = list(FilesLedger(directory).open_items(administration, None).pages)
    assert changed.cursor != page.cursor


def test_pages_of_a_thousand_with_the_cursor_on_the_last(tmp_path: Path) -> None:
    lines = ["factuurnummer,debiteurnummer,vervaldatum,openstaand"]
    lines += [f"F{i},D{i % 7},2026-03-01,{i + 1}.00" for i in range(2500)]
    ledger = FilesLedger(write(tmp_path / "acme", {"items.csv": "\n".join(lines)}))
    administration = only_administration(ledger)
    feed = ledger.open_items(administration, None)
    assert feed.total == 2500
    pages = list(feed.pages)
    assert [len(p.records) for p in pages] == [1000, 1000, 500]
    assert [p.cursor is not None for p in pages] == [False, False, True]
    assert all(not p.removed for p in pages)
    debtor_feed = ledger.debtors(administration, None)
    assert debtor_feed.total == 7


def test_empty_feeds_still_carry_the_cursor(tmp_path: Path) -> None:
    settled = "Factuur;Debiteur;Vervaldag;Saldo\nF1;D1;1-3-2026;0\n"
    ledger = FilesLedger(write(tmp_path / "acme", {"items.csv": settled}))
    administration = only_administration(ledger)
    feed = ledger.open_items(administration, None)
    assert feed.total == 0 and feed.complete
    [page] = list(feed.pages)
    assert page.records == () and page.cursor is not None
    assert collect(ledger.debtors(administration, None)) == [
        Debtor(code="D1", name="D1", tags=(KIND_UNKNOWN,))
    ]


def test_derived_debtors_with_and_without_names(tmp_path: Path) -> None:
    named = "Factuur,Klantnummer,Klantnaam,Vervaldag,Saldo\nF1,K1,Klant Een,1-3-2026,5\n"
    named += "F2,K2,,1-3-2026,5\nF3,K1,Anders,1-3-2026,5\n"
    write(tmp_path / "a", {"items.csv": named})
    write(tmp_path / "b", {"items.csv": "Factuur,Klantnummer,Vervaldag,Saldo\nF1,K9,1-3-2026,5\n"})
    ledger = FilesLedger(tmp_path)
    a, b = ledger.administrations()
    # Debtors from the items file alone: their kind is unknown, and said so.
    assert collect(ledger.debtors(a, None)) == [
        Debtor(code="K1", name="Klant Een", tags=(KIND_UNKNOWN,)),
        Debtor(code="K2", name="K2", tags=(KIND_UNKNOWN,)),
    ]
    assert collect(ledger.debtors(b, None)) == [Debtor(code="K9", name="K9", tags=(KIND_UNKNOWN,))]


def xlsx(rows: Sequence[Sequence[object]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_xlsx_administration(tmp_path: Path) -> None:
    items = xlsx(
        [
            ["Factuurnummer", "Debiteur", "Factuurdatum", "Vervaldatum", "Bedrag", "Openstaand"],
            [1001, 20001, date(2026, 2, 1), date(2026, 3, 1), 0.1 + 0.2, 0.1 + 0.2],
            ["1002", "20002", "01-02-2026", "2026-03-01", "1.234,56", 1234.56],
            ["1003", "20001", date(2026, 2, 1), date(2026, 3, 1), 10, 0],
        ]
    )
    debtors = xlsx(
        [
            ["Debiteurnummer", "Bedrijfsnaam", "Betalingstermijn"],
            [20001, "Acme", 30],
            [20002, "Beta", 14.0],
        ]
    )
    ledger = FilesLedger(
        write(tmp_path / "acme", {"posten.xlsx": items, "debiteuren.xlsx": debtors})
    )
    administration = only_administration(ledger)
    assert [
        (d.code, d.payment_term_days) for d in collect(ledger.debtors(administration, None))
    ] == [("20001", 30), ("20002", 14)]
    found = collect(ledger.open_items(administration, None))
    assert [(i.invoice_number, i.open_amount.amount) for i in found] == [
        ("1001", Decimal("0.30")),
        ("1002", Decimal("1234.56")),
    ]


def test_cp1252_semicolon_export(tmp_path: Path) -> None:
    data = (
        "Factuurnr.;Relatienummer;Vervaldag;Openstaand bedrag;Omschrijving\r\n"
        "F1;R1;01-03-2026;€ 1.234,56;Café Zoë – lunch\r\n"
    ).encode("cp1252")
    directory = write(tmp_path / "acme", {"items.csv": data})
    ledger = FilesLedger(directory)
    # Not guessed: stopped, naming file, line and byte offset, and the option to set.
    error = rejected(ledger, only_administration(ledger))
    assert error.problems == (
        "items.csv:2: (file): cannot decode the file: byte 0x80 at byte offset 84 is not "
        'UTF-8; save it as CSV UTF-8, or set encoding = "cp1252" in administration.toml if '
        "the export is Windows-1252",
    )
    write(directory, {"administration.toml": 'encoding = "cp1252"\n'})
    [item] = collect(ledger.open_items(only_administration(ledger), None))
    assert item.description == "Café Zoë – lunch"
    assert item.open_amount == Money(Decimal("1234.56"))


def test_item_currency_defaults_to_the_administrations(tmp_path: Path) -> None:
    items = "Factuur,Debiteur,Vervaldag,Saldo,Valuta\nF1,D1,1-3-2026,5,\nF2,D1,1-3-2026,5,eur\n"
    write(tmp_path / "acme", {"items.csv": items, "administration.toml": 'currency = "GBP"\n'})
    ledger = FilesLedger(tmp_path)
    administration = only_administration(ledger)
    found = collect(ledger.open_items(administration, None))
    assert [i.open_amount.currency for i in found] == ["GBP", "EUR"]


# Rejection -------------------------------------------------------------------------------


def test_a_bad_file_rejects_the_administration_whole(tmp_path: Path) -> None:
    items = ITEMS + "2026-004;D9;2026-02-01;31-02-2026;10,00;10,00;Onbekende klant\n"
    debtors = DEBTORS + "D4;Dubbel;;geen-mail;\nD4;Dubbel;;;\n"
    write(tmp_path / "acme", {"items.csv": items, "debtors.csv": debtors})
    write(tmp_path / "beta", {"items.csv": ITEMS})
    ledger = FilesLedger(tmp_path)
    acme, beta = ledger.administrations()

    error = rejected(ledger, acme)
    assert str(error) == "acme: 4 problems in the files; nothing was changed"
    assert error.problems == (
        "acme/debtors.csv:5: E-mail: not an email address: 'geen-mail'",
        "acme/debtors.csv:6: Debiteurnummer: duplicate debtor code 'D4' (also on line 5)",
        "acme/items.csv:6: Debiteurnummer: unknown debtor 'D9': not in acme/debtors.csv",
        "acme/items.csv:6: Vervaldatum: not a date: '31-02-2026' "
        "(expected 2026-03-01 or 01-03-2026)",
    )
    with pytest.raises(InputRejected):
        ledger.open_items(acme, None)
    with pytest.raises(InputRejected):
        ledger.read_items(acme, ["2026-001"])
    # The other administration is fine.
    assert len(collect(ledger.open_items(beta, None))) == 3


def test_one_problem_is_singular(tmp_path: Path) -> None:
    ledger = FilesLedger(write(tmp_path / "acme", {"items.csv": ITEMS.replace("1-2-2026", "")}))
    error = rejected(ledger, only_administration(ledger))
    assert str(error) == "acme: 1 problem in the files; nothing was changed"
    assert error.problems == ("items.csv:4: Vervaldatum: empty; a due date is required",)


def test_problems_are_capped_at_fifty(tmp_path: Path) -> None:
    lines = ["Factuurnummer,Debiteurnummer,Vervaldatum,Openstaand"]
    lines += [f"F{i},D1,2026-13-01,5" for i in range(70)]
    write(tmp_path / "acme", {"items.csv": "\n".join(lines)})
    ledger = FilesLedger(tmp_path)
    error = rejected(ledger, only_administration(ledger))
    assert str(error) == "acme: 70 problems in the files; nothing was changed"
    assert len(error.problems) == 51
    assert error.problems[0] == (
        "acme/items.csv:2: Vervaldatum: not a date: '2026-13-01' "
        "(expected 2026-03-01 or 01-03-2026)"
    )
    assert error.problems[49].startswith("acme/items.csv:51: ")
    assert error.problems[50] == "... and 20 more problems not listed"


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        (
            {"items.csv": b""},
            "acme/items.csv:1: (file): the file is empty; expected a header "
            "row and one row per record",
        ),
        (
            {"items.csv": b"a,b\n\x81\n"},
            "acme/items.csv:2: (file): cannot decode the file: "
            "byte 0x81 at byte offset 4 is not UTF-8; "
            "save it as CSV UTF-8",
        ),
        (
            {"items.xlsx": b"PK not really"},
            "acme/items.xlsx:1: (file): not a readable XLSX workbook",
        ),
        (
            {"items.csv": ITEMS, "items.xlsx": b""},
            "acme/items.csv:1: (file): more than one "
            "items file (items.csv and items.xlsx); "
            "keep one",
        ),
        ({"items.csv": ITEMS, "debtors.csv": b""}, "acme/debtors.csv:1: (file): the file is empty"),
        (
            {"items.csv": "Factuurnummer;Debiteurnummer;Vervaldatum\n"},
            "acme/items.csv:1: open_amount: missing required column (expected a header such as "
            "open_amount, openstaand, openstaand_bedrag, saldo, outstanding, open)",
        ),
        (
            {"items.csv": 'invoice;debiteur;due_date;open\nF1;D1;2026-03-01;"5\n' + "x" * 140_000},
            "acme/items.csv:2: (file): not valid CSV: field larger than field limit",
        ),
    ],
)
def test_file_level_problems(tmp_path: Path, files: dict[str, str | bytes], problem: str) -> None:
    write(tmp_path / "acme", files)
    write(tmp_path / "beta", {"items.csv": ITEMS})
    ledger = FilesLedger(tmp_path)
    error = rejected(ledger, ledger.administrations()[0])
    assert error.problems[0].startswith(problem)


def test_an_unreadable_debtors_file_does_not_make_every_debtor_unknown(tmp_path: Path) -> None:
    write(tmp_path / "acme", {"items.csv": ITEMS, "debtors.csv": "Naam\nAcme\n"})
    ledger = FilesLedger(tmp_path)
    error = rejected(ledger, only_administration(ledger))
    assert error.problems == (
        "acme/debtors.csv:1: debtor_code: missing required column (expected a header such as "
        "debtor_code, debiteurnummer, debiteurnr, debiteur, klantnummer, relatienummer, "
        "customer_code, customer_id)",
    )


# Targeted reads ----------------------------------------------------------------------------


def test_read_items_returns_what_is_still_open(tmp_path: Path) -> None:
    directory = write(tmp_path / "acme", {"items.csv": ITEMS})
    ledger = FilesLedger(directory)
    administration = only_administration(ledger)
    found = ledger.read_items(administration, ["C-001", "2026-003", "nope", "2026-001", "C-001"])
    assert [i.external_id for i in found] == ["C-001", "2026-001"]
    assert ledger.read_items(administration, []) == []

    # Paid since: the next read no longer lists it.
    (directory / "items.csv").write_text(ITEMS.replace("1.210,00;Werk", "0,00;Werk"))
    assert ledger.read_items(administration, ["2026-001"]) == []


# Write-backs -------------------------------------------------------------------------------


def test_write_backs_are_not_supported(tmp_path: Path) -> None:
    ledger = FilesLedger(write(tmp_path / "acme", {"items.csv": ITEMS}))
    administration = only_administration(ledger)
    [item, *_] = collect(ledger.open_items(administration, None))
    capabilities = ledger.capabilities
    assert not (
        capabilities.record_payment
        or capabilities.flag_dispute
        or capabilities.incremental_sync
        or capabilities.oauth
    )
    with pytest.raises(NotSupported) as raised:
        ledger.record_payment(administration, item, item.open_amount, date(2026, 3, 2), "k1")
    assert str(raised.value) == (
        "the files ledger cannot record payments; record it in your bookkeeping package "
        "and re-export"
    )
    with pytest.raises(NotSupported, match="cannot flag disputes"):
        ledger.flag_dispute(administration, item, "wrong amount", "k2")
    with pytest.raises(NotSupported, match="cannot clear disputes"):
        ledger.clear_dispute(administration, item, "k3")


# The parse cache ---------------------------------------------------------------------------


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files the ledger parses, in order."""
    seen: list[str] = []
    read_table, open_csv = client.read_table, client.open_csv

    def counting(path: Path, *args: object) -> client.Table:
        seen.append(path.name)
        return read_table(path, *args)  # type: ignore[arg-type]

    def counting_csv(path: Path, *args: object) -> client.Table:
        seen.append(path.name)
        return open_csv(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(client, "read_table", counting)
    monkeypatch.setattr(client, "open_csv", counting_csv)
    return seen


def test_files_are_parsed_once_while_unchanged(tmp_path: Path, reads: list[str]) -> None:
    directory = write(tmp_path / "acme", {"items.csv": ITEMS, "debtors.csv": DEBTORS})
    ledger = FilesLedger(directory)
    administration = only_administration(ledger)
    collect(ledger.debtors(administration, None))
    collect(ledger.open_items(administration, None))
    ledger.read_items(administration, ["2026-001"])
    assert reads == ["debtors.csv", "items.csv"]


def test_a_large_items_file_is_read_again_for_each_feed(
    tmp_path: Path, reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = write(tmp_path / "acme", {"items.csv": ITEMS, "debtors.csv": DEBTORS})
    small = FilesLedger(directory)
    administration = only_administration(small)
    kept_items = collect(small.open_items(administration, None))
    kept_cursor = list(small.open_items(administration, None).pages)[-1].cursor
    reads.clear()

    monkeypatch.setattr("adapters.files.ledger.KEEP_BYTES", 0)  # every file is "large"
    ledger = FilesLedger(directory)
    feed = ledger.open_items(administration, None)
    assert reads == ["debtors.csv", "items.csv"]  # checked whole, the items not kept
    assert feed.total == 3
    pages = list(feed.pages)
    assert [i for p in pages for i in p.records] == kept_items
    assert pages[-1].cursor == kept_cursor
    assert ledger.read_items(administration, ["C-001", "2026-001"]) == [
        kept_items[2],
        kept_items[0],
    ]
    assert reads == ["debtors.csv", "items.csv", "items.csv", "items.csv"]

    # Changed between the check and the reading (same size and time): refused, not mixed.
    items_file = directory / "items.csv"
    stat = items_file.stat()
    feed = ledger.open_items(administration, None)
    items_file.write_text(ITEMS.replace("2026-002;D2", "2026-00X;D2"))
    os.utime(items_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(InputRejected, match="items.csv changed while it was read"):
        list(feed.pages)


def test_a_changed_file_is_read_again(tmp_path: Path, reads: list[str]) -> None:
    directory = write(tmp_path / "acme", {"items.csv": ITEMS, "debtors.csv": DEBTORS})
    ledger = FilesLedger(directory)
    administration = only_administration(ledger)
    assert len(collect(ledger.open_items(administration, None))) == 3

    items_file = directory / "items.csv"
    stat = items_file.stat()
    items_file.write_text(ITEMS.replace("2026-002;D2", "2026-00X;D2"))  # same size
    os.utime(items_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    found = collect(ledger.open_items(administration, None))
    assert [i.invoice_number for i in found] == ["2026-001", "2026-00X", "C-001"]
    assert reads == ["debtors.csv", "items.csv", "debtors.csv", "items.csv"]

    (directory / "debtors.csv").unlink()  # now the debtors come from the items
    assert [d.code for d in collect(ledger.debtors(administration, None))] == ["D1", "D2"]
    assert reads[-1:] == ["items.csv"]


def test_a_rejection_is_cached_too_and_fixed_by_a_new_file(
    tmp_path: Path, reads: list[str]
) -> None:
    directory = write(tmp_path / "acme", {"items.csv": ITEMS.replace("1-2-2026", "gisteren")})
    ledger = FilesLedger(directory)
    administration = only_administration(ledger)
    first = rejected(ledger, administration)
    second = rejected(ledger, administration)
    assert first.problems == second.problems and first is not second
    assert reads == ["items.csv"]
    (directory / "items.csv").write_text(ITEMS)
    assert len(collect(ledger.open_items(administration, None))) == 3
    assert reads == ["items.csv", "items.csv"]


def test_the_cache_knows_the_currency(tmp_path: Path) -> None:
    ledger = FilesLedger(write(tmp_path / "acme", {"items.csv": ITEMS}))
    euro = only_administration(ledger)
    dollar = Administration(external_id="acme", name="acme", currency="USD")
    assert collect(ledger.open_items(euro, None))[0].open_amount.currency == "EUR"
    assert collect(ledger.open_items(dollar, None))[0].open_amount.currency == "USD"


# The shipped demo data -------------------------------------------------------------------


def test_the_demo_data_reads_without_problems() -> None:
    root = Path(__file__).resolve().parents[3] / "connector" / "demo_data"
    if not root.is_dir():
        pytest.skip("no demo data in this checkout")
    ledger = FilesLedger(root)
    administrations = ledger.administrations()
    assert administrations
    for administration in administrations:
        assert collect(ledger.debtors(administration, None))
        assert collect(ledger.open_items(administration, None))
