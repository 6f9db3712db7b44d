"""Issue 12 acceptance on the CLI: the demo's letters are complete and nothing unreachable is
sent; `dunning plan` / `history` show held letters with their reason; `dunning preview`
writes the .eml and PDF; listings show debtor names and filter by debtor."""

from __future__ import annotations

import email
import io
import re
from datetime import date
from email.message import Message
from pathlib import Path

import pypdf
import pytest
import zxingcpp
from PIL import Image

from connector.dunning import law
from tests.fakes.cli import cli_runner

NBSP = "\xa0"


@pytest.fixture
def cli(store_url, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    return cli_runner(capsys)


def _parts(message: Message) -> tuple[str, str, list[bytes]]:
    text = html = ""
    images: list[bytes] = []
    for part in message.walk():
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and not part.get_filename():
            text = payload.decode(part.get_content_charset() or "utf-8")
        elif kind == "text/html":
            html = payload.decode(part.get_content_charset() or "utf-8")
        elif kind == "image/png":
            images.append(payload)
    return text.replace(NBSP, " "), html.replace(NBSP, " "), images


def _qr_payloads(images: list[bytes]) -> list[str]:
    found: list[str] = []
    for png in images:
        for barcode in zxingcpp.read_barcodes(Image.open(io.BytesIO(png))):
            found.append(bytes(barcode.bytes).decode("utf-8"))
    return found


def test_every_demo_letter_is_complete_and_reaches_its_debtor(cli):
    """Acceptance (issue 12): IBAN, QR, postal address, KvK and reference in both parts of
    every letter; none to a debtor it cannot reach; interest computed or the letter held."""
    result = cli("demo")
    assert result.code == 0, result.err
    emls = sorted(Path("review").rglob("*.eml"))
    assert len(emls) >= 50
    debtors = {(d["administration"], d["code"]): d for d in cli("debtors", "--json").json()}
    for path in emls:
        message = email.message_from_bytes(path.read_bytes())
        text, html, images = _parts(message)
        iban = re.search(r"NL\d\d DEMO \d{4} \d{4} \d\d", text)
        assert iban, f"{path}: no IBAN in the plain-text part"
        assert iban.group(0) in html, f"{path}: no IBAN in the HTML part"
        reference = re.search(r"Betalingskenmerk:?\s+(\d{4} \d{4} \d{4} \d{4})", text) or re.search(
            r"Payment reference:?\s+(\d{4} \d{4} \d{4} \d{4})", text
        )
        assert reference, f"{path}: no payment reference in the plain-text part"
        assert reference.group(1) in html
        assert law.is_valid_betalingskenmerk(reference.group(1).replace(" ", ""))
        assert re.search(r"KvK \d{8}", text) and re.search(r"KvK \d{8}", html)
        assert re.search(r"\d{4} [A-Z]{2}", text), f"{path}: no postal address of the sender"
        assert "€ " in text and "€ " in html  # the amount, in both parts
        payloads = _qr_payloads(images)
        assert payloads and payloads[0].startswith("BCD\n002\n1\nSCT\n"), path
        assert reference.group(1).replace(" ", "") in payloads[0]
        pdf = path.with_suffix(".pdf")
        pdf_text = " ".join(p.extract_text() for p in pypdf.PdfReader(pdf).pages)
        assert iban.group(0).replace(" ", "") in pdf_text.replace(" ", "").replace(NBSP, "")
        assert message["From"] and "localhost" not in message["From"]
        # The recipient can be reached on every channel the letter names.
        key = path.stem.rsplit("-", 1)[0].split("_")
        debtor = debtors[(int(key[0]), key[1])]
        assert debtor["email"] and debtor["city"]
    history = cli("dunning", "history", "--json").json()
    assert history and {h["status"] for h in history} <= {"review", "blocked"}
    for held in (h for h in history if h["status"] == "blocked"):
        assert held["status_reason"], held
    # Interest: computed where the table covers, otherwise the letter is held and says so.
    table_end = law.shipped_rate_table().known_through
    if date.today() > table_end:
        assert any(h["status_reason"] == f"interest rate table ends {table_end}" for h in history)
    # The demo wrote its senders and review mode to ./connector.toml: the plan agrees.
    plan = cli("dunning", "plan")
    assert plan.code == 0
    if date.today() > table_end:
        assert plan.out.startswith(
            f"interest rate table ends {table_end}: letters that would charge interest are "
            f"held; add the rates from {date.fromordinal(table_end.toordinal() + 1)} to "
            "[dunning] interest_rates_file"
        )
    assert "blocked: sender" not in plan.out


ITEMS = """invoice_number,debtor_code,invoice_date,due_date,amount,open_amount,currency
F-1,K1,2024-12-01,2025-01-01,100.00,100.00,EUR
F-2,K2,2024-12-01,2025-01-01,80.00,80.00,EUR
F-3,K1,2024-12-20,2025-01-20,-30.00,-30.00,EUR
"""
DEBTORS = """debtor_code,name,kind,email,phone,street,postal_code,city,country
K1,Bakkerij Korf,business,k1@example.nl,,Dorpsstraat 1,9711 AA,Groningen,NL
K2,J. Jansen,consumer,,,,,,NL
"""


@pytest.fixture
def books(cli, tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "items.csv").write_text(ITEMS, encoding="utf-8")
    (folder / "debtors.csv").write_text(DEBTORS, encoding="utf-8")
    assert cli("init").code == 0
    assert cli("connect", "files", "--path", str(folder)).code == 0
    assert cli("sync").code == 0
    return folder


def _config(tmp_path: Path, monkeypatch, text: str) -> None:
    path = tmp_path / "connector.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("CONNECTOR_CONFIG", str(path))


SENDER = """
[administrations.export.sender]
street = "Molenstraat 12"
postal_code = "3512 AB"
city = "Utrecht"
email = "debiteuren@export.example"
iban = "NL91ABNA0417164300"
kvk_number = "12345678"
"""


def test_plan_and_history_show_held_letters_with_their_reason(cli, books, tmp_path, monkeypatch):
    """Without a sender's IBAN nothing goes; with it, a debtor without any address is held."""
    plan = cli("dunning", "plan", "--date", "2025-01-10")
    assert plan.code == 0
    assert "1/K1/reminder_1/1: blocked: sender has no postal address" in plan.out
    assert "K1 Bakkerij Korf" in plan.out  # the name beside the code
    letters = cli("dunning", "plan", "--date", "2025-01-10", "--json").json()
    assert {x["status"] for x in letters} == {"blocked"}
    _config(tmp_path, monkeypatch, SENDER + '\n[dunning]\nmode = "review"\n')
    plan = cli("dunning", "plan", "--date", "2025-01-10", "--json").json()
    by_debtor = {x["debtor_code"]: x for x in plan}
    assert by_debtor["K1"]["status"] == "ready"
    assert by_debtor["K2"]["blocked"] == (
        "debtor has no e-mail address (email); fallback letter: debtor has no postal address"
    )
    run = cli("dunning", "run", "--date", "2025-01-10")
    assert run.code == 0, run.err
    assert "review mode: 1 letter(s) written for reading, none sent" in run.out
    history = cli("dunning", "history")
    assert re.search(r"\d+ blocked: debtor has no e-mail address \(email\); fallback", history.out)
    assert re.search(r"\d+ review: written to review/", history.out)
    only_k1 = cli("dunning", "plan", "--date", "2025-01-10", "--debtor", "K1", "--json").json()
    assert [x["debtor_code"] for x in only_k1] == ["K1"]


def test_preview_writes_the_eml_and_pdf_and_sends_nothing(cli, books, tmp_path, monkeypatch):
    _config(tmp_path, monkeypatch, SENDER)
    result = cli("dunning", "preview", "K1", "--date", "2025-01-10", "--out", "look")
    assert result.code == 0, result.err
    [eml] = list(Path("look").glob("*.eml"))
    assert eml.with_suffix(".pdf").exists()
    text, html, _images = _parts(email.message_from_bytes(eml.read_bytes()))
    assert "NL91 ABNA 0417 1643 00" in text and "NL91 ABNA 0417 1643 00" in html
    assert cli("dunning", "history", "--json").json() == []  # nothing stored, nothing sent
    missing = cli("dunning", "preview", "NOBODY", "--date", "2025-01-10")
    assert missing.code != 0 and "no letter 'NOBODY'" in missing.err
    # A stored letter by its id.
    _config(tmp_path, monkeypatch, SENDER + '\n[dunning]\nmode = "review"\n')
    assert cli("dunning", "run", "--date", "2025-01-10").code == 0
    [stored] = [h for h in cli("dunning", "history", "--json").json() if h["debtor_code"] == "K1"]
    again = cli("dunning", "preview", str(stored["id"]), "--date", "2025-01-10", "--out", "two")
    assert again.code == 0, again.err
    assert len(list(Path("two").glob("*.eml"))) == 1


def test_items_show_names_filter_by_debtor_and_credit_notes_are_never_overdue(cli, books):
    items = cli("items", "--json").json()
    assert {(i["debtor_code"], i["debtor_name"]) for i in items} == {
        ("K1", "Bakkerij Korf"),
        ("K2", "J. Jansen"),
    }
    credit = next(i for i in items if i["invoice_number"] == "F-3")
    assert credit["status"] == "open"  # due in the past, but a credit note is never overdue
    overdue = cli("items", "--status", "overdue", "--json").json()
    assert "F-3" not in {i["invoice_number"] for i in overdue}
    only = cli("items", "--debtor", "K2", "--json").json()
    assert [i["invoice_number"] for i in only] == ["F-2"]
    table = cli("items")
    assert "Bakkerij Korf" in table.out
    assert [d["code"] for d in cli("debtors", "--debtor", "K1", "--json").json()] == ["K1"]
