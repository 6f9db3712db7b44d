"""The shipped demo data set and `connector.demo.materialize`."""

from __future__ import annotations

import csv
import importlib.util
import re
import sys
import tomllib
from collections import Counter
from datetime import date
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest
from stdnum import iban
from stdnum.eu import vat
from stdnum.nl import postcode

from connector.demo import anchor_date
from connector.demo import materialize
from connector.demo import shipped_data

DEBTOR_COLUMNS = [
    "debtor_code",
    "name",
    "kind",
    "email",
    "phone",
    "street",
    "postal_code",
    "city",
    "country",
    "iban",
    "vat_number",
    "kvk_number",
    "language",
    "payment_term_days",
    "tags",
]
ITEM_COLUMNS = [
    "invoice_number",
    "debtor_code",
    "invoice_date",
    "due_date",
    "amount",
    "open_amount",
    "currency",
    "description",
]
EMAIL = re.compile(r"^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$")
AMOUNT = re.compile(r"^-?\d+\.\d{2}$")
INVOICE_NUMBER = re.compile(r"^\d{4}-\d{5}$")

# The stages a dunning policy distinguishes, as (label, lowest, highest) days overdue.
STAGES = [
    ("not yet due", None, 0),
    ("1-2 days", 1, 2),
    ("3-17 days", 3, 17),
    ("18-33 days", 18, 33),
    ("34-47 days", 34, 47),
    ("48+ days", 48, None),
    (">90 days", 91, None),
]
TODAYS = [date(2026, 3, 2), date(2027, 7, 19)]


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def administrations(root: Path) -> dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]]:
    """Directory name -> (debtors, items)."""
    return {
        directory.name: (
            read_csv(directory / "debtors.csv")[1],
            read_csv(directory / "items.csv")[1],
        )
        for directory in sorted(root.iterdir())
        if directory.is_dir()
    }


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data set as shipped (materialized at the anchor: the dates are unchanged)."""
    return materialize(tmp_path_factory.mktemp("demo"), anchor_date())


@pytest.fixture(scope="module")
def admins(data: Path) -> dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]]:
    return administrations(data)


def all_debtors(
    admins: dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]],
) -> list[dict[str, str]]:
    return [d for debtors, _ in admins.values() for d in debtors]


def all_items(
    admins: dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]],
) -> list[dict[str, str]]:
    return [i for _, items in admins.values() for i in items]


# --- shape and counts --------------------------------------------------------------------------


def test_three_administrations_with_their_settings(data: Path) -> None:
    directories = sorted(p for p in data.iterdir() if p.is_dir())
    assert len(directories) == 3
    names = set()
    for directory in directories:
        settings = tomllib.loads((directory / "administration.toml").read_text(encoding="utf-8"))
        assert settings["currency"] == "EUR"
        assert settings["timezone"] == "Europe/Amsterdam"
        assert settings["country"] == "NL"
        assert settings["name"].strip()
        names.add(settings["name"])
        assert read_csv(directory / "debtors.csv")[0] == DEBTOR_COLUMNS
        assert read_csv(directory / "items.csv")[0] == ITEM_COLUMNS
    assert len(names) == 3


def test_counts(admins: dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]]) -> None:
    assert 180 <= len(all_debtors(admins)) <= 220
    assert 1400 <= len(all_items(admins)) <= 1600


def test_shipped_files_are_readable_from_the_package() -> None:
    root = shipped_data()
    assert (root / "README.md").is_file()
    assert anchor_date().isoformat() == (root / "anchor.txt").read_text(encoding="utf-8").strip()
    assert sum(1 for entry in root.iterdir() if entry.is_dir()) == 3


# --- debtors -----------------------------------------------------------------------------------


def test_ibans_validate(
    admins: dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]],
) -> None:
    debtors = all_debtors(admins)
    ibans = [d["iban"] for d in debtors if d["iban"]]
    assert all(iban.is_valid(number) for number in ibans), [
        n for n in ibans if not iban.is_valid(n)
    ]
    assert all(number == iban.compact(number) for number in ibans)
    dutch = [d["iban"] for d in debtors if d["iban"] and d["country"] == "NL"]
    assert all(number.startswith("NL") for number in dutch)
    assert 0 < len(debtors) - len(ibans) < len(debtors) // 10  # a few without an IBAN


def test_emails_well_formed_and_unique_per_administration(
    admins: dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]],
) -> None:
    for name, (debtors, _) in admins.items():
        emails = [d["email"] for d in debtors]
        assert all(EMAIL.match(e) for e in emails), (
            name,
            [e for e in emails if not EMAIL.match(e)],
        )
        assert len(set(emails)) == len(emails), name


def test_debtor_codes_and_names_unique_per_administration(
    admins: dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]],
) -> None:
    for debtors, _ in admins.values():
        codes = [d["debtor_code"] for d in debtors]
        assert all(codes) and len(set(codes)) == len(codes)
        names = [d["name"] for d in debtors]
        assert len(set(names)) == len(names)


def test_debtor_fields(
    admins: dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]],
) -> None:
    debtors = all_debtors(admins)
    for d in debtors:
        assert d["kind"] in ("business", "consumer")
        assert d["language"] in ("nl", "en")
        assert d["payment_term_days"].isdigit()
        if d["country"] == "NL":
            assert postcode.is_valid(d["postal_code"]), d["postal_code"]
            assert re.fullmatch(r"\d{4} [A-Z]{2}", d["postal_code"])
        if d["vat_number"]:
            assert vat.is_valid(d["vat_number"]), d["vat_number"]
        if d["kind"] == "consumer":
            assert d["kvk_number"] == "" and d["vat_number"] == ""
            assert d["payment_term_days"] == "14"
        elif d["country"] == "NL":
            assert re.fullmatch(r"\d{8}", d["kvk_number"]), d["kvk_number"]
        assert all(tag == tag.strip() and tag for tag in d["tags"].split(";") if d["tags"])
    assert {d["language"] for d in debtors} == {"nl", "en"}
    assert {d["country"] for d in debtors} >= {"NL", "BE", "DE"}
    terms = Counter(d["payment_term_days"] for d in debtors)
    assert terms["14"] + terms["30"] > 0.8 * len(debtors)


def test_both_kinds_and_one_consumer_business(
    admins: dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]],
) -> None:
    kinds = Counter(d["kind"] for d in all_debtors(admins))
    assert kinds["business"] >= 50 and kinds["consumer"] >= 50
    consumer_share = [
        sum(d["kind"] == "consumer" for d in debtors) / len(debtors)
        for debtors, _ in admins.values()
    ]
    assert max(consumer_share) > 0.5  # one company sells mostly to households
    assert min(consumer_share) < 0.3


# --- items -------------------------------------------------------------------------------------


def test_invoice_numbers_unique_per_administration(
    admins: dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]],
) -> None:
    for name, (_, items) in admins.items():
        numbers = [i["invoice_number"] for i in items]
        assert all(INVOICE_NUMBER.match(n) for n in numbers), name
        assert len(set(numbers)) == len(numbers), name


def test_every_item_has_its_debtor_and_term(
    admins: dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]],
) -> None:
    for name, (debtors, items) in admins.items():
        by_code = {d["debtor_code"]: d for d in debtors}
        for item in items:
            debtor = by_code.get(item["debtor_code"])
            assert debtor is not None, (name, item["invoice_number"])
            invoice_date = date.fromisoformat(item["invoice_date"])
            due_date = date.fromisoformat(item["due_date"])
            assert due_date - invoice_date == timedelta(days=int(debtor["payment_term_days"]))
            assert invoice_date <= anchor_date()
        assert {i["debtor_code"] for i in items} == set(by_code)  # nobody without open items


def test_amounts(admins: dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]]) -> None:
    items = all_items(admins)
    for item in items:
        assert AMOUNT.match(item["amount"]) and AMOUNT.match(item["open_amount"]), item
        assert item["currency"] == "EUR"
        assert item["description"].strip()
        amount, open_amount = Decimal(item["amount"]), Decimal(item["open_amount"])
        assert amount != 0 and open_amount != 0
        assert (amount > 0) == (open_amount > 0)
        assert abs(open_amount) <= abs(amount)
    credits = [i for i in items if Decimal(i["amount"]) < 0]
    assert len(credits) >= 10
    assert all(i["description"].startswith("Creditnota") for i in credits)
    partial = [i for i in items if Decimal(i["open_amount"]) != Decimal(i["amount"])]
    assert len(partial) >= 20
    assert len(partial) < len(items) / 5  # mostly nothing paid yet


def test_amounts_fit_the_trade(
    admins: dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]],
) -> None:
    def median(name: str) -> Decimal:
        amounts = sorted(Decimal(i["amount"]) for i in admins[name][1])
        return amounts[len(amounts) // 2]

    bakery, installer = median("bakkerij-van-dijk"), median("installatiebedrijf-jansen")
    assert (
        Decimal(10)
        < bakery
        < Decimal(1000)
        < max(Decimal(i["amount"]) for i in admins["installatiebedrijf-jansen"][1])
    )
    assert installer > bakery


# --- dates relative to today -------------------------------------------------------------------


def stage_counts(root: Path, today: date) -> dict[str, int]:
    counts = dict.fromkeys((label for label, _, _ in STAGES), 0)
    for item in all_items(administrations(root)):
        overdue = (today - date.fromisoformat(item["due_date"])).days
        for label, low, high in STAGES:
            if (low is None or overdue >= low) and (high is None or overdue <= high):
                counts[label] += 1
    return counts


@pytest.mark.parametrize("today", TODAYS)
def test_every_dunning_stage_is_represented(tmp_path: Path, today: date) -> None:
    root = materialize(tmp_path / "demo", today)
    counts = stage_counts(root, today)
    assert all(n >= 20 for n in counts.values()), counts
    oldest = min(date.fromisoformat(i["due_date"]) for i in all_items(administrations(root)))
    assert (today - oldest).days > 365  # some debts more than a year old
    newest = max(date.fromisoformat(i["invoice_date"]) for i in all_items(administrations(root)))
    assert newest <= today


def test_shifted_dates_differ_by_the_difference_between_the_todays(tmp_path: Path) -> None:
    first = administrations(materialize(tmp_path / "a", TODAYS[0]))
    second = administrations(materialize(tmp_path / "b", TODAYS[1]))
    difference = TODAYS[1] - TODAYS[0]
    assert first.keys() == second.keys()
    for name in first:
        assert first[name][0] == second[name][0]  # debtors carry no dates
        items_a, items_b = first[name][1], second[name][1]
        assert len(items_a) == len(items_b)
        for a, b in zip(items_a, items_b, strict=True):
            assert a["invoice_number"] == b["invoice_number"]
            for column in ("invoice_date", "due_date"):
                assert date.fromisoformat(b[column]) - date.fromisoformat(a[column]) == difference
            assert {k: v for k, v in a.items() if not k.endswith("_date")} == {
                k: v for k, v in b.items() if not k.endswith("_date")
            }


def test_materialize_at_the_anchor_is_the_shipped_data(tmp_path: Path) -> None:
    root = materialize(tmp_path / "demo", anchor_date())
    shipped = shipped_data()
    for directory in sorted(p for p in root.iterdir()):
        for file in ("administration.toml", "debtors.csv", "items.csv"):
            assert (directory / file).read_bytes() == (shipped / directory.name / file).read_bytes()


def test_materialize_overwrites_its_earlier_copy(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "demo"
    assert materialize(target, TODAYS[0]) == target
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    materialize(target, TODAYS[1])
    fresh = materialize(tmp_path / "fresh", TODAYS[1])
    for directory in sorted(p for p in fresh.iterdir()):
        for file in directory.iterdir():
            assert (target / directory.name / file.name).read_bytes() == file.read_bytes()
    assert (target / "notes.txt").read_text(encoding="utf-8") == "mine"


# --- the generator -----------------------------------------------------------------------------

GENERATOR = Path(__file__).resolve().parents[2] / "scripts" / "make_demo_data.py"


def load_generator(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_demo_data", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look themselves up
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not GENERATOR.exists(), reason="runs from a source checkout only")
def test_shipped_data_is_what_the_generator_writes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    generator = load_generator(monkeypatch)
    monkeypatch.setattr(generator, "OUT", tmp_path / "demo_data")
    generator.main()
    capsys.readouterr()
    shipped = shipped_data()
    assert anchor_date() == generator.ANCHOR
    written = sorted(
        p.relative_to(tmp_path / "demo_data")
        for p in (tmp_path / "demo_data").rglob("*")
        if p.is_file()
    )
    assert len(written) == 2 + 3 * 4  # administration, debtors, items, sender
    for relative in written:
        target = shipped.joinpath(*relative.parts)
        assert target.read_bytes() == (tmp_path / "demo_data" / relative).read_bytes(), (
            f"{relative} is out of date: run python scripts/make_demo_data.py"
        )
