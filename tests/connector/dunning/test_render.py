"""The renderer: wording, formatting, the legal statements, the EPC QR code, overrides."""

from __future__ import annotations

import base64
import io
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pypdf
import pytest
import zxingcpp
from PIL import Image

from connector.dunning import law
from connector.dunning.model import ChannelKind
from connector.dunning.model import LetterItem
from connector.dunning.model import Rendered
from connector.dunning.render import BODY_END
from connector.dunning.render import BODY_START
from connector.dunning.render import EPC_MAX_BYTES
from connector.dunning.render import TEMPLATE_NAMES
from connector.dunning.render import TemplateRenderer
from connector.dunning.render import address_lines
from connector.dunning.render import epc_payload
from connector.dunning.render import epc_payload_for
from connector.dunning.render import extract_letter_body
from connector.dunning.render import format_date
from connector.dunning.render import format_money
from connector.dunning.render import letter_language
from connector.errors import ConfigError
from tests.fakes.letters import SENDER
from tests.fakes.letters import business_letter
from tests.fakes.letters import consumer_letter

D = Decimal
NBSP = "\xa0"


def plain(text: str) -> str:
    """No-break spaces as spaces, runs of white space as one: for comparing wording."""
    return " ".join(text.replace(NBSP, " ").split())


def pdf_text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return plain(" ".join(page.extract_text() for page in reader.pages))


def pdf_pages(pdf: bytes) -> int:
    return len(pypdf.PdfReader(io.BytesIO(pdf)).pages)


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer()


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def test_money_and_dates_per_language() -> None:
    assert format_money(D("1234.56"), "EUR", "nl") == f"€{NBSP}1.234,56"
    assert format_money(D("1234.56"), "EUR", "en") == "€1,234.56"
    assert format_money(D("-100"), "EUR", "nl") == f"€{NBSP}-100,00"
    assert format_money(D("-100"), "EUR", "en") == "-€100.00"
    # half-up to cents, not banker's rounding
    assert format_money(D("0.125"), "EUR", "en") == "€0.13"
    assert format_date(date(2026, 3, 1), "nl") == "1 maart 2026"
    assert format_date(date(2026, 3, 1), "en") == "1 March 2026"
    with pytest.raises(TypeError):
        format_money(1.5, "EUR", "nl")  # type: ignore[arg-type]


def test_language_fallback() -> None:
    assert letter_language("nl") == "nl"
    assert letter_language("NL-be") == "nl"
    assert letter_language("en") == "en"
    assert letter_language("de") == "en"


def test_address_lines_for_the_window() -> None:
    letter = consumer_letter()
    assert address_lines(letter) == (
        "Dhr. J.P. van der Berg",
        "Kastanjelaan 7 bis",
        "3581 KL  UTRECHT",
    )
    abroad = replace(
        letter, debtor=replace(letter.debtor, address=replace(letter.debtor.address, country="BE"))
    )
    assert address_lines(abroad)[-1] == "BELGIË"


# --------------------------------------------------------------------------------------------
# Dutch and English letters
# --------------------------------------------------------------------------------------------


def test_dutch_business_reminder(renderer: TemplateRenderer) -> None:
    letter = business_letter()
    out = renderer.render(letter, with_pdf=True)
    assert out.subject == "Herinnering: factuur F2026-0012"
    text = plain(out.text)
    assert "Geachte heer, mevrouw," in text
    assert "Wij verzoeken u het openstaande bedrag van € 1.234,56 uiterlijk 19 maart 2026" in text
    assert "F2026-0012 1 feb 2026 3 mrt 2026 2 € 1.234,56" in text
    assert "Totaal te betalen € 1.234,56" in text
    assert "NL91 ABNA 0417 1643 00" in text
    assert "Uiterlijk betalen op: 19 maart 2026" in text
    html = plain(out.html)
    assert "<td>F2026-0012</td>" in html
    assert "€ 1.234,56" in html
    assert out.pdf is not None and out.pdf.startswith(b"%PDF")
    pdf = pdf_text(out.pdf)
    assert "Herinnering: factuur F2026-0012" in pdf
    assert "€ 1.234,56" in pdf
    assert "5 maart 2026" in pdf  # the letter date
    assert "Pagina 1 van 1" in pdf
    assert pdf_pages(out.pdf) == 1


def test_english_business_reminder(renderer: TemplateRenderer) -> None:
    out = renderer.render(business_letter("en"), with_pdf=True)
    assert out.subject == "Reminder: invoice F2026-0012"
    text = plain(out.text)
    assert "Dear Sir or Madam," in text
    assert "Please pay the outstanding amount of €1,234.56 by 19 March 2026." in text
    assert "Total to pay €1,234.56" in text
    assert "maart" not in text and "Totaal" not in text
    assert out.pdf is not None
    pdf = pdf_text(out.pdf)
    assert "5 March 2026" in pdf and "Page 1 of 1" in pdf


def test_several_invoices_and_credit_note(renderer: TemplateRenderer) -> None:
    letter = consumer_letter()
    out = renderer.render(letter, with_pdf=False)
    assert out.subject == "Aanmaning: 2 openstaande facturen"  # the credit note is no invoice
    text = plain(out.text)
    assert "CN-2026-0007 (creditnota) 10 feb 2026 10 feb 2026 € -25,00" in text
    assert "2026-0188 2 feb 2026 16 feb 2026 18 € 1.089,50" in text
    assert "Openstaand bedrag € 1.214,45" in text
    en = plain(renderer.render(consumer_letter("en"), with_pdf=False).text)
    assert "CN-2026-0007 (credit note) 10 Feb 2026 10 Feb 2026 -€25.00" in en


def test_totals_show_costs_vat_and_interest(renderer: TemplateRenderer) -> None:
    letter = business_letter(
        template="final_notice",
        collection_costs=D("185.18"),
        collection_costs_vat=D("38.89"),
        interest=D("12.40"),
        total=D("1471.03"),
    )
    text = plain(renderer.render(letter, with_pdf=False).text)
    assert "Buitengerechtelijke incassokosten € 185,18" in text
    assert "Btw over de incassokosten € 38,89" in text
    assert "Wettelijke rente € 12,40" in text
    assert "Totaal te betalen € 1.471,03" in text
    assert "artikel 6:96 van het Burgerlijk Wetboek" in text
    assert "wettelijke handelsrente" in text
    # a plain reminder has no such rows
    reminder = plain(renderer.render(business_letter(), with_pdf=False).text)
    assert "incassokosten" not in reminder.lower()
    assert "Wettelijke rente" not in reminder


# --------------------------------------------------------------------------------------------
# The consumer 14-day letter
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["nl", "en"])
def test_fourteen_day_letter_carries_every_legal_statement(
    renderer: TemplateRenderer, language: str
) -> None:
    letter = consumer_letter(language)
    assert letter.legal_term is not None
    out = renderer.render(letter, with_pdf=True)
    assert out.pdf is not None
    text, html, pdf = plain(out.text), plain(out.html), pdf_text(out.pdf)
    for statement in letter.legal_term.statements:
        assert plain(statement) in text
        assert plain(statement) in pdf
        assert plain(statement).replace("&", "&amp;") in html
    costs = format_money(letter.legal_term.costs_if_unpaid, "EUR", language).replace(NBSP, " ")
    assert costs in text and costs in pdf  # the exact amount: 15 % of 1,214.45 = 182.17
    assert costs == ("€ 182,17" if language == "nl" else "€182.17")


def test_fourteen_day_letter_wording_and_no_end_date(renderer: TemplateRenderer) -> None:
    letter = consumer_letter(pay_by=date(2026, 3, 20))  # must not be printed in a 14-day letter
    assert letter.legal_term is not None
    out = renderer.render(letter, with_pdf=True)
    assert out.pdf is not None
    for body in (plain(out.text), pdf_text(out.pdf)):
        assert "binnen veertien dagen vanaf de dag nadat deze brief bij u is bezorgd" in body
        assert "geen incassokosten verschuldigd" in body
        assert "dagtekening" not in body and "na verzending" not in body
        for day in (letter.legal_term.term_end, letter.legal_term.delivered_on, letter.pay_by):
            assert day is not None
            assert format_date(day, "nl") not in body
            assert format_date(day, "nl", style="medium") not in body
        assert "Uiterlijk betalen op" not in body
        # payment details the law asks for: IBAN, account name and a reference
        assert "NL91 ABNA 0417 1643 00" in body
        assert "Ten name van" in body and SENDER.name in body
        assert "7000 0001 0442 0001" in body


def test_fourteen_day_letter_with_vat_declaration(renderer: TemplateRenderer) -> None:
    letter = consumer_letter(creditor_deducts_vat=False)
    out = renderer.render(letter, with_pdf=True)
    assert out.pdf is not None
    for body in (plain(out.text), pdf_text(out.pdf)):
        assert "€ 182,17 plus € 38,26 btw, in totaal € 220,43" in body
        assert "Wij verklaren nadrukkelijk dat wij de btw" in body


def test_fourteen_day_letter_with_one_invoice_fits_one_page(renderer: TemplateRenderer) -> None:
    items = (LetterItem(1, "2026-0143", date(2026, 1, 15), date(2026, 1, 29), 36, D("149.95")),)
    out = renderer.render(consumer_letter(items=items), with_pdf=True)
    assert out.pdf is not None
    assert pdf_pages(out.pdf) == 1
    assert "€ 40,00" in pdf_text(out.pdf)  # the BIK minimum


# --------------------------------------------------------------------------------------------
# Payment details: betalingskenmerk, SEPA QR code, payment link
# --------------------------------------------------------------------------------------------


def test_betalingskenmerk_is_valid_and_grouped(renderer: TemplateRenderer) -> None:
    letter = business_letter()
    assert law.is_valid_betalingskenmerk(letter.payment_reference)
    out = renderer.render(letter, with_pdf=False)
    printed = re.search(r"Betalingskenmerk:\s+([\d ]+)\n", out.text)
    assert printed is not None
    assert printed.group(1).strip() == "9000 0000 2001 0012"
    assert law.is_valid_betalingskenmerk(printed.group(1))
    assert printed.group(1).replace(" ", "") == letter.payment_reference


EXPECTED_EPC = (
    "BCD\n002\n1\nSCT\nABNANL2A\nBakkerij De Gouden Korenaar B.V.\n"
    "NL91ABNA0417164300\nEUR1234.56\n\n\n9000000020010012"
)


def test_epc_payload_exactly(renderer: TemplateRenderer) -> None:
    assert epc_payload_for(business_letter()) == EXPECTED_EPC
    # without a BIC (version 002 allows that in the EEA) the line stays, empty
    assert epc_payload(
        name="Acme", iban="nl91 abna 0417 1643 00", amount=D("12.3"), remittance="5000056789012345"
    ) == ("BCD\n002\n1\nSCT\n\nAcme\nNL91ABNA0417164300\nEUR12.30\n\n\n5000056789012345")


def _decode_qr(image: Image.Image) -> zxingcpp.Barcode:
    found = zxingcpp.read_barcode(image)
    assert found is not None and found.valid
    return found


def test_qr_code_in_the_html_encodes_the_payload(renderer: TemplateRenderer) -> None:
    out = renderer.render(business_letter(), with_pdf=False)
    match = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', out.html)
    assert match is not None
    found = _decode_qr(Image.open(io.BytesIO(base64.b64decode(match.group(1)))))
    assert found.bytes == EXPECTED_EPC.encode("utf-8")
    assert found.ec_level == "M"  # EPC069-12: error correction level M
    assert found.symbology_identifier == "]Q1"  # byte mode without an ECI header
    assert int(found.extra["Version"]) <= 13


def _pdf_images(pdf: bytes) -> list[Image.Image]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return [picture.image for page in reader.pages for picture in page.images]


def test_qr_code_is_in_the_pdf(renderer: TemplateRenderer) -> None:
    with_qr = renderer.render(business_letter(), with_pdf=True).pdf
    without = renderer.render(business_letter(currency="USD"), with_pdf=True).pdf
    assert with_qr is not None and without is not None
    (image,) = _pdf_images(with_qr)
    assert _decode_qr(image.convert("L")).bytes == EXPECTED_EPC.encode("utf-8")
    assert _pdf_images(without) == []


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"currency": "USD"}, "not euro"),
        ({"total": D("0")}, "nothing to pay"),
        ({"total": D("1000000000.00")}, "above the EPC maximum"),
        ({"sender": replace(SENDER, iban="")}, "no IBAN"),
        ({"sender": replace(SENDER, iban="NL91ABNA0417164301")}, "a wrong check digit"),
        ({"sender": replace(SENDER, bic="ABN")}, "a malformed BIC"),
    ],
)
def test_no_qr_code_when_it_does_not_apply(changes: dict[str, object], why: str) -> None:
    assert epc_payload_for(business_letter(**changes)) is None, why


def test_epc_remittance_without_betalingskenmerk_and_limits() -> None:
    letter = business_letter(payment_reference="", sender=replace(SENDER, name="N" * 90))
    payload = epc_payload_for(letter)
    assert payload is not None
    lines = payload.split("\n")
    assert lines[5] == "N" * 70  # the name is cut to 70 characters
    assert lines[-1] == "D-2001 F2026-0012"  # unstructured: debtor code and invoice numbers
    assert len(lines) == 11 and not payload.endswith("\n")
    long = epc_payload(
        name="Ω" * 70, iban="NL91ABNA0417164300", amount=D("1"), remittance="é" * 140
    )
    assert len(long.encode("utf-8")) <= EPC_MAX_BYTES
    with pytest.raises(ValueError, match="0.01"):
        epc_payload(name="A", iban="NL91ABNA0417164300", amount=D("0.001"), remittance="x")


def test_payment_link_when_present(renderer: TemplateRenderer) -> None:
    link = "https://pay.example.nl/l/abc123"
    out = renderer.render(consumer_letter(), with_pdf=True)
    assert f'<a href="{link}">{link}</a>' in out.html
    assert link in out.text
    assert out.pdf is not None and link in pdf_text(out.pdf)
    without = renderer.render(business_letter(), with_pdf=False)
    assert "iDEAL" not in without.html and "iDEAL" not in without.text


# --------------------------------------------------------------------------------------------
# Every template, escaping, attachments
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("template", TEMPLATE_NAMES)
def test_every_template_renders(renderer: TemplateRenderer, template: str, language: str) -> None:
    out = renderer.render(business_letter(language, template=template), with_pdf=True)
    assert out.subject and "\n" not in out.subject
    for body in (out.text, out.html):
        assert "{{" not in body and "{%" not in body
    assert BODY_START in out.html and BODY_END in out.html
    assert out.pdf is not None and out.subject in pdf_text(out.pdf)
    assert ("Geachte heer, mevrouw," in out.text) is (language == "nl")


def test_subjects_differ_per_template_and_language(renderer: TemplateRenderer) -> None:
    subjects = {
        (template, language): renderer.render(
            business_letter(language, template=template), with_pdf=False
        ).subject
        for template in TEMPLATE_NAMES
        for language in ("nl", "en")
    }
    assert len(set(subjects.values())) == len(subjects)


def test_html_is_escaped_and_text_is_not(renderer: TemplateRenderer) -> None:
    letter = business_letter()
    letter = replace(letter, sender=replace(SENDER, name="Smit & <Zn>"))
    out = renderer.render(letter, with_pdf=True)
    assert "Smit &amp; &lt;Zn&gt;" in out.html and "<Zn>" not in out.html
    assert "Smit & <Zn>" in out.text
    assert out.pdf is not None and "Smit & <Zn>" in pdf_text(out.pdf)


def test_invoice_copies_become_attachments(renderer: TemplateRenderer) -> None:
    pdfs = (("factuur-F2026-0012.pdf", b"%PDF-1.4 invoice"),)
    out = renderer.render(
        business_letter(template="reminder_2", attach_invoices=True, invoice_pdfs=pdfs),
        with_pdf=False,
    )
    assert out.attachments == (("factuur-F2026-0012.pdf", "application/pdf", b"%PDF-1.4 invoice"),)
    assert "Een kopie van de factuur is bijgevoegd." in plain(out.text)
    assert out.pdf is None
    no_copy = renderer.render(business_letter(invoice_pdfs=pdfs), with_pdf=False)
    assert no_copy.attachments == ()


def test_extract_letter_body() -> None:
    html = f"<html><body><p>head</p>{BODY_START}<p>body</p>{BODY_END}</body></html>"
    assert extract_letter_body(html) == "<p>body</p>"
    assert extract_letter_body("<html><body><p>all</p></body></html>") == "<p>all</p>"


# --------------------------------------------------------------------------------------------
# Per-administration templates
# --------------------------------------------------------------------------------------------


def _override(folder: Path, name: str, content: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")


def test_a_file_in_the_administrations_folder_wins(tmp_path: Path) -> None:
    own = tmp_path / "admin7"
    _override(
        own,
        "nl/reminder_1.j2",
        "{% extends layout %}{% block subject %}Even een seintje van {{ sender.name }}"
        "{% endblock %}{% block intro %}Eigen tekst voor {{ debtor.name }}.{% endblock %}",
    )
    shared = tmp_path / "shared"
    _override(shared, "nl/_labels.j2", _labels_with(salutation="Beste klant,"))
    renderer = TemplateRenderer(templates_dir=shared, templates_dirs={7: own})
    mine = renderer.render(business_letter(administration_id=7), with_pdf=True)
    assert mine.subject == f"Even een seintje van {SENDER.name}"
    assert "Eigen tekst voor Installatiebedrijf Jansen &amp; Zn. B.V." in mine.html
    assert "Eigen tekst voor Installatiebedrijf Jansen & Zn. B.V." in mine.text
    assert "Beste klant," in mine.text  # the shared folder applies to administration 7 too
    assert mine.pdf is not None and "Eigen tekst" in pdf_text(mine.pdf)
    other = renderer.render(business_letter(administration_id=8), with_pdf=False)
    assert other.subject == "Herinnering: factuur F2026-0012"
    assert "Beste klant," in other.text
    # English is untouched by Dutch overrides
    english = renderer.render(business_letter("en", administration_id=7), with_pdf=False)
    assert english.subject == "Reminder: invoice F2026-0012"


def _labels_with(**changes: str) -> str:
    shipped = (
        Path(__file__).parents[3] / "connector" / "dunning" / "templates" / "nl" / "_labels.j2"
    ).read_text(encoding="utf-8")
    for name, value in changes.items():
        shipped = re.sub(rf'{{% set {name} = ".*?" %}}', f'{{% set {name} = "{value}" %}}', shipped)
    return shipped


def test_template_errors_are_config_errors(tmp_path: Path) -> None:
    _override(
        tmp_path,
        "nl/reminder_1.j2",
        "{% extends layout %}{% block subject %}{{ debtor.nickname }}{% endblock %}",
    )
    _override(
        tmp_path,
        "nl/reminder_2.j2",
        "{% extends layout %}{% block subject %}{{ letter.__class__.__mro__ }}{% endblock %}",
    )
    renderer = TemplateRenderer(templates_dir=tmp_path)
    with pytest.raises(ConfigError, match="nickname"):
        renderer.render(business_letter(), with_pdf=False)  # StrictUndefined
    with pytest.raises(ConfigError, match="unsafe|__class__"):
        renderer.render(business_letter(template="reminder_2"), with_pdf=False)  # sandbox
    with pytest.raises(ConfigError, match="no template 'nl/nonsense.j2'"):
        renderer.render(business_letter(template="nonsense"), with_pdf=False)
    with pytest.raises(ConfigError, match="does not exist"):
        TemplateRenderer(templates_dirs={1: tmp_path / "missing"})


def test_rendered_is_the_contract_type(renderer: TemplateRenderer) -> None:
    out = renderer.render(
        business_letter(channels=(ChannelKind.EMAIL, ChannelKind.LETTER)), with_pdf=False
    )
    assert isinstance(out, Rendered)
    assert out.text.endswith("\n") and not out.text.startswith("\n")


# --- issue 12.9: a named consumer is addressed by name ----------------------------------------


def test_a_named_consumer_is_addressed_by_name_and_a_business_as_sir_or_madam(renderer):
    consumer = renderer.render(consumer_letter(), with_pdf=False)
    name = consumer_letter().debtor.name

    def salutation(text: str) -> str:
        # the 14-day letter also goes by post, so its e-mail opens with "this is a copy" (13.11)
        return next(line for line in text.splitlines() if line.startswith(("Geachte", "Dear")))

    assert salutation(consumer.text) == f"Geachte {name},"
    assert f"<p>Geachte {name},</p>" in consumer.html.replace("&amp;", "&")
    assert "Geachte heer, mevrouw" not in consumer.text
    business = renderer.render(business_letter(), with_pdf=False)
    assert business.text.startswith("Geachte heer, mevrouw,")
    english = renderer.render(consumer_letter("en"), with_pdf=False)
    assert salutation(english.text) == f"Dear {name},"
