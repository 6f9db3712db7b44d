"""The PDF letter: layout (window, pages, letterhead) and the print-queue channel."""

from __future__ import annotations

import io
import os
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pypdf
import pytest
from PIL import Image

from connector.channels import letter as letter_module
from connector.channels.letter import WINDOW_H
from connector.channels.letter import WINDOW_W
from connector.channels.letter import WINDOW_X
from connector.channels.letter import WINDOW_Y
from connector.channels.letter import LetterChannel
from connector.channels.letter import build_letter_pdf
from connector.channels.letter import file_stem
from connector.channels.letter import pdf_page_count
from connector.dunning.model import ChannelKind
from connector.dunning.model import LetterItem
from connector.dunning.render import TemplateRenderer
from connector.errors import ChannelError
from tests.fakes.letters import SENDER
from tests.fakes.letters import business_letter
from tests.fakes.letters import consumer_letter

MM = 72 / 25.4  # PDF points per millimetre
PAGE_HEIGHT = 297 * MM


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer()


def _positions(pdf: bytes, page: int = 0) -> list[tuple[str, float, float]]:
    """(text, x mm from the left, y mm from the top) of every text run on a page."""
    found: list[tuple[str, float, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], *_: object) -> None:
        if text.strip():
            x, y = tm[4] * cm[0] + cm[4], tm[5] * cm[3] + cm[5]
            found.append((text.strip(), x / MM, (PAGE_HEIGHT - y) / MM))

    pypdf.PdfReader(io.BytesIO(pdf)).pages[page].extract_text(visitor_text=visit)
    return found


def _text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def test_the_address_sits_in_the_envelope_window(renderer: TemplateRenderer) -> None:
    letter = consumer_letter()
    pdf = renderer.render(letter, with_pdf=True).pdf
    assert pdf is not None
    positions = _positions(pdf)
    for line in ("Dhr. J.P. van der Berg", "Kastanjelaan 7 bis", "3581 KL  UTRECHT"):
        matches = [(x, y) for text, x, y in positions if text == line]
        assert matches, f"{line!r} not on the first page"
        x, y = matches[0]
        assert WINDOW_X - 0.5 <= x <= WINDOW_X + WINDOW_W
        assert WINDOW_Y <= y <= WINDOW_Y + WINDOW_H
    # nothing of the body shows through the window: the subject starts below it
    subject = [y for text, _, y in positions if text.startswith("Aanmaning:")]
    assert subject and subject[0] > WINDOW_Y + WINDOW_H
    # the sender's return address is the window's first, small line
    returns = [y for text, _, y in positions if text.startswith(SENDER.name + " · Molenstraat 12")]
    assert returns and WINDOW_Y <= returns[0] < WINDOW_Y + 5


def test_letterhead_reference_column_and_footer(renderer: TemplateRenderer) -> None:
    pdf = renderer.render(business_letter(), with_pdf=True).pdf
    assert pdf is not None
    (page,) = _text(pdf)
    for expected in (
        SENDER.name,
        "Molenstraat 12",
        "3512 AB Utrecht",
        "Datum",
        "5 maart 2026",
        "Klantnummer",
        "D-2001",
        "Betalingskenmerk",
        "9000 0000 2001 0012",
        "KvK 12345678",
        "Btw NL001234567B01",
        "IBAN NL91 ABNA 0417 1643 00",
        "Pagina 1 van 1",
        "Installatiebedrijf Jansen & Zn. B.V.",
        "5600 AM  EINDHOVEN",
    ):
        assert expected in page, expected
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    box = reader.pages[0].mediabox
    assert (round(float(box.width) / MM), round(float(box.height) / MM)) == (210, 297)  # A4
    assert (
        reader.metadata is not None and reader.metadata.title == "Herinnering: factuur F2026-0012"
    )


def test_long_letters_get_page_numbers_and_a_running_header(renderer: TemplateRenderer) -> None:
    items = tuple(
        LetterItem(n, f"2025-{n:04d}", date(2025, 11, 1), date(2025, 12, 1), 90, Decimal("100.00"))
        for n in range(1, 41)
    )
    letter = business_letter(items=items, principal=Decimal("4000.00"), total=Decimal("4000.00"))
    pdf = renderer.render(letter, with_pdf=True).pdf
    assert pdf is not None
    pages = _text(pdf)
    assert len(pages) >= 2
    assert pdf_page_count(pdf) == len(pages)
    for number, page in enumerate(pages, start=1):
        assert f"Pagina {number} van {len(pages)}" in page
    assert "Klantnummer D-2001" in pages[1]  # the header of a following page
    assert all(f"2025-{n:04d}" in "".join(pages) for n in range(1, 41))


def test_logo(tmp_path: Path, renderer: TemplateRenderer) -> None:
    logo = tmp_path / "logo.png"
    Image.new("RGB", (300, 100), (200, 30, 30)).save(logo)
    with_logo = business_letter(sender=replace(SENDER, logo_path=str(logo)))
    pdf = renderer.render(with_logo, with_pdf=True).pdf
    assert pdf is not None
    images = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].images
    assert len(images) == 2  # the logo and the QR code
    missing = business_letter(sender=replace(SENDER, logo_path=str(tmp_path / "gone.png")))
    pdf = renderer.render(missing, with_pdf=True).pdf
    assert pdf is not None and len(pypdf.PdfReader(io.BytesIO(pdf)).pages[0].images) == 1


def test_channel_writes_the_pdf_named_by_the_key(
    tmp_path: Path, renderer: TemplateRenderer
) -> None:
    letter = business_letter(channels=(ChannelKind.LETTER,))
    rendered = renderer.render(letter, with_pdf=True)
    folder = tmp_path / "print-queue"  # made when missing
    delivery = LetterChannel(folder).send(letter, rendered)
    path = Path(delivery.reference)
    assert delivery.channel is ChannelKind.LETTER
    assert path.parent == folder and path.name == f"{file_stem(letter.key)}.pdf"
    assert path.name.startswith("1_D-2001_reminder_1_1-")
    assert path.read_bytes() == rendered.pdf
    assert sorted(p.name for p in folder.iterdir()) == [path.name]  # no temporary files left


def test_channel_renders_the_pdf_when_the_renderer_did_not(
    tmp_path: Path, renderer: TemplateRenderer
) -> None:
    letter = business_letter()
    rendered = renderer.render(letter, with_pdf=False)
    delivery = LetterChannel(tmp_path).send(letter, rendered)
    data = Path(delivery.reference).read_bytes()
    assert data.startswith(b"%PDF")
    assert "Herinnering: factuur F2026-0012" in _text(data)[0]
    assert len(data) == len(build_letter_pdf(letter, rendered))


def test_an_interrupted_write_leaves_no_file(
    tmp_path: Path, renderer: TemplateRenderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    letter = business_letter()
    rendered = renderer.render(letter, with_pdf=True)

    def crash(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(letter_module.os, "replace", crash)
    with pytest.raises(ChannelError, match="No space left on device"):
        LetterChannel(tmp_path).send(letter, rendered)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_is_a_channel_error(tmp_path: Path, renderer: TemplateRenderer) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    letter = business_letter()
    with pytest.raises(ChannelError, match="cannot create the letter folder"):
        LetterChannel(blocker / "queue").send(letter, renderer.render(letter, with_pdf=True))


def test_file_stems_are_safe_and_distinct() -> None:
    assert file_stem("3/C 01/x") != file_stem("3/C_01/x")
    for key in ("../../etc/passwd", "a/b\\c", "..", "3/Ç-01/step/1"):
        stem = file_stem(key)
        assert "/" not in stem and "\\" not in stem and not stem.startswith(".")
        assert os.path.basename(stem) == stem
    assert file_stem("1/D-2001/reminder_1/1") == file_stem("1/D-2001/reminder_1/1")


def test_a_layout_failure_is_a_channel_error(
    tmp_path: Path, renderer: TemplateRenderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    letter = business_letter()
    rendered = renderer.render(letter, with_pdf=False)

    def broken(*_: object) -> bytes:
        raise RuntimeError("fpdf2 failed")

    monkeypatch.setattr(letter_module, "build_letter_pdf", broken)
    with pytest.raises(
        ChannelError, match="cannot lay out the PDF letter for D-2001.*fpdf2 failed"
    ):
        LetterChannel(tmp_path).send(letter, rendered)
    assert list(tmp_path.iterdir()) == []


def test_a_letter_that_spills_a_few_lines_onto_page_two_is_fitted_on_one(
    renderer: TemplateRenderer,
) -> None:
    """Pain (issue 12.9): a second page holding only the signature."""
    from connector.channels.letter import _BETWEEN_TAGS as between
    from connector.channels.letter import BODY_FONT_SIZE
    from connector.channels.letter import SPILL_MM
    from connector.channels.letter import _layout
    from connector.dunning.render import extract_letter_body

    for extra in range(1, 60):
        signature = "Met vriendelijke groet,\n\n" + "\n".join(f"Regel {n}" for n in range(extra))
        letter = business_letter(sender=replace(SENDER, signature=signature))
        rendered = renderer.render(letter, with_pdf=False)
        body = between.sub("><", extract_letter_body(rendered.html)).strip()
        _pdf, pages, spill = _layout(letter, rendered, body, BODY_FONT_SIZE)
        if pages == 2:
            break
    else:  # pragma: no cover - the sample letter always overflows at some length
        pytest.fail("no signature length made the letter spill")
    assert spill <= SPILL_MM  # only a handful of lines on page two at the normal size
    fitted = build_letter_pdf(letter, rendered)
    assert pdf_page_count(fitted) == 1
    assert f"Regel {extra - 1}" in _text(fitted)[0]
