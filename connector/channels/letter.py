"""The PDF letter: its layout, and the channel that puts it in a print queue folder.

The letter is laid out with fpdf2 (pure Python; its only dependencies are Pillow, fontTools
and defusedxml, all wheels, so it installs from pip alone). The frame is placed by coordinates,
because a window envelope needs millimetres, not a flow: the letterhead, the debtor's address
in the window, the reference column, the subject, the folding marks and a footer with the
sender's registration details and "page n of m" on every page. The body of the letter is the
e-mail's HTML body (between `BODY_START` and `BODY_END` of `Rendered.html`) written with
fpdf2's HTML support, so the e-mail and the printed letter are one text from one template.

The address window follows the Dutch window envelope for an A4 folded in three (EA5/6 or
DL with the window on the left): the address block starts 22 mm from the left edge and
50 mm from the top and stays within 85 x 35 mm, which also fits C5/6 and DIN 676 type A
windows (45-90 mm from the top, 20 mm from the left). The first fold is at 99 mm: nothing
below the address block shows through the window.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from datetime import UTC
from datetime import datetime
from datetime import time
from pathlib import Path
from typing import Final

from fpdf import FPDF
from fpdf.fonts import FontFace
from fpdf.fonts import TextStyle
from fpdf.html import HTML2FPDF

from connector.dunning.model import ChannelKind
from connector.dunning.model import Delivery
from connector.dunning.model import Letter
from connector.dunning.model import Rendered
from connector.dunning.render import address_lines
from connector.dunning.render import extract_letter_body
from connector.dunning.render import format_date
from connector.dunning.render import format_iban
from connector.dunning.render import format_reference
from connector.dunning.render import letter_language
from connector.errors import ChannelError

__all__ = ["LetterChannel", "atomic_write", "build_letter_pdf", "file_stem"]

log = logging.getLogger(__name__)

FONT_DIR: Final = Path(__file__).with_name("fonts")
_FONT: Final = "opensans"

# Page geometry in millimetres (A4 portrait).
PAGE_WIDTH: Final = 210.0
LEFT: Final = 22.0
RIGHT: Final = 20.0
TOP_NEXT_PAGES: Final = 22.0
BOTTOM: Final = 20.0
#: The address window: x, y of the first line of the block (the return address), width.
WINDOW_X: Final = 22.0
WINDOW_Y: Final = 50.0
WINDOW_W: Final = 85.0
WINDOW_H: Final = 35.0
#: The reference column to the right of the window.
META_X: Final = 128.0
META_W: Final = PAGE_WIDTH - RIGHT - META_X
SUBJECT_Y: Final = 93.0
FOLDS: Final = (99.0, 198.0)
TABLE_GAP: Final = 1.5
BODY_FONT_SIZE: Final = 9.0

_GREY: Final = (90, 90, 90)
_LIGHT: Final = (150, 150, 150)
_BLACK: Final = (20, 20, 20)

_FRAME_LABELS: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "date": "Datum",
        "customer": "Klantnummer",
        "reference": "Betalingskenmerk",
        "contact": "Contact",
        "page": "Pagina {page} van {pages}",
        "kvk": "KvK",
        "vat": "Btw",
        "iban": "IBAN",
    },
    "en": {
        "date": "Date",
        "customer": "Customer number",
        "reference": "Payment reference",
        "contact": "Contact",
        "page": "Page {page} of {pages}",
        "kvk": "Chamber of Commerce",
        "vat": "VAT",
        "iban": "IBAN",
    },
}
_PAGES_ALIAS: Final = "{nb}"


class _LetterHTML(HTML2FPDF):
    """fpdf2's HTML reader, with two changes: an image in a table cell honours the cell's
    rowspan (the QR code stands beside the rows of payment details), and a table is set off
    by TABLE_GAP instead of a whole blank line before and after it (fpdf2 2.8 calls `_ln()`
    without a height only there; the one-page test of the 14-day letter guards this)."""

    def _ln(self, h: float | None = None) -> None:
        super()._ln(TABLE_GAP if h is None else h)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img" and self.table_row is not None and self.td_th is not None:
            source = dict(attrs).get("src") or ""
            self._tags_stack.append(tag)
            if source:
                self.table_row.cell(
                    img=source,
                    img_fill_width=True,
                    rowspan=int(self.td_th.get("rowspan") or 1),
                    colspan=int(self.td_th.get("colspan") or 1),
                )
                self.td_th["inserted"] = True
            return
        super().handle_starttag(tag, attrs)


class _LetterPDF(FPDF):
    HTML2FPDF_CLASS = _LetterHTML

    def __init__(self, letter: Letter, subject: str, *, italics: bool = False) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.letter = letter
        self.subject = subject
        self.labels = _FRAME_LABELS[letter_language(letter.language)]
        # Every font added is parsed and embedded (subset), used or not: add what the letter
        # uses. The shipped templates use regular and bold only; italics come with an
        # override that asks for them.
        self.add_font(_FONT, "", FONT_DIR / "OpenSans-Regular.ttf")
        self.add_font(_FONT, "B", FONT_DIR / "OpenSans-Bold.ttf")
        if italics:
            self.add_font(_FONT, "I", FONT_DIR / "OpenSans-Italic.ttf")
            self.add_font(_FONT, "BI", FONT_DIR / "OpenSans-Italic.ttf")
        self.set_margins(LEFT, TOP_NEXT_PAGES, RIGHT)
        self.set_auto_page_break(auto=True, margin=BOTTOM)
        self.alias_nb_pages(_PAGES_ALIAS)
        self.c_margin = 0.6

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.set_font(_FONT, "", 7.5)
        self.set_text_color(*_GREY)
        self.set_xy(LEFT, 10)
        text = f"{self.letter.sender.name} · {self.subject} · {self.labels['customer']} "
        self.cell(self.epw, 4, _fit(self, text + self.letter.debtor.code, self.epw))
        self.set_y(TOP_NEXT_PAGES)

    def footer(self) -> None:
        sender = self.letter.sender
        parts = [sender.name]
        if sender.kvk_number:
            parts.append(f"{self.labels['kvk']} {sender.kvk_number}")
        if sender.vat_number:
            parts.append(f"{self.labels['vat']} {sender.vat_number}")
        if sender.iban:
            parts.append(f"{self.labels['iban']} {format_iban(sender.iban)}")
        if sender.website:
            parts.append(sender.website)
        page = self.labels["page"].format(page=self.page_no(), pages=_PAGES_ALIAS)
        self.set_draw_color(*_LIGHT)
        self.set_line_width(0.2)
        self.line(LEFT, 297 - 17, PAGE_WIDTH - RIGHT, 297 - 17)
        self.set_font(_FONT, "", 7)
        self.set_text_color(*_GREY)
        page_width = 28.0
        width = self.epw - page_width
        lines = [" · ".join(parts)]
        if self.get_string_width(lines[0]) > width:  # two lines rather than a cut-off IBAN
            half = (len(parts) + 1) // 2
            lines = [" · ".join(parts[:half]), " · ".join(parts[half:])]
        self.set_xy(LEFT + width, 297 - 16)
        self.cell(page_width, 3.5, page, align="R")
        for index, line in enumerate(lines):
            self.set_xy(LEFT, 297 - 16 + index * 3.5)
            self.cell(width, 3.5, _fit(self, line, width))


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """`text` cut with an ellipsis to fit `width` in the current font."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _letterhead(pdf: _LetterPDF, letter: Letter) -> None:
    sender = letter.sender
    if sender.logo_path and Path(sender.logo_path).is_file():
        try:
            pdf.image(sender.logo_path, x=LEFT, y=14, w=70, h=20, keep_aspect_ratio=True)
        except Exception as exc:  # a broken logo must not stop a letter
            log.warning("logo %s cannot be placed in the PDF letter: %s", sender.logo_path, exc)
    x = PAGE_WIDTH - RIGHT - 80
    pdf.set_xy(x, 14)
    pdf.set_font(_FONT, "B", 12)
    pdf.set_text_color(*_BLACK)
    pdf.cell(80, 6, _fit(pdf, sender.name, 80), align="R", new_x="LEFT", new_y="NEXT")
    pdf.set_font(_FONT, "", 8)
    pdf.set_text_color(*_GREY)
    lines = [sender.street, " ".join(p for p in (sender.postal_code, sender.city) if p)]
    lines += [sender.phone, sender.email, sender.website]
    for line in lines:
        if line:
            pdf.set_x(x)
            pdf.cell(80, 3.8, _fit(pdf, line, 80), align="R", new_x="LEFT", new_y="NEXT")


def _window(pdf: _LetterPDF, letter: Letter) -> None:
    sender = letter.sender
    place = " ".join(p for p in (sender.postal_code, sender.city) if p)
    return_address = " · ".join(p for p in (sender.name, sender.street, place) if p)
    pdf.set_xy(WINDOW_X, WINDOW_Y)
    pdf.set_font(_FONT, "", 6.5)
    pdf.set_text_color(*_GREY)
    pdf.cell(WINDOW_W, 3, _fit(pdf, return_address, WINDOW_W))
    pdf.set_draw_color(*_LIGHT)
    pdf.set_line_width(0.1)
    pdf.line(WINDOW_X, WINDOW_Y + 3.3, WINDOW_X + WINDOW_W, WINDOW_Y + 3.3)
    pdf.set_font(_FONT, "", 10)
    pdf.set_text_color(*_BLACK)
    y = WINDOW_Y + 6
    line_height = 4.6
    for line in address_lines(letter)[: int((WINDOW_H - 6) // line_height)]:
        pdf.set_xy(WINDOW_X, y)
        pdf.cell(WINDOW_W, line_height, _fit(pdf, line, WINDOW_W))
        y += line_height


def _meta(pdf: _LetterPDF, letter: Letter) -> None:
    labels = pdf.labels
    language = letter_language(letter.language)
    rows = [
        (labels["date"], format_date(letter.letter_date, language)),
        (labels["customer"], letter.debtor.code),
    ]
    if letter.payment_reference:
        rows.append((labels["reference"], format_reference(letter.payment_reference)))
    contact = letter.sender.phone or letter.sender.email
    if contact:
        rows.append((labels["contact"], contact))
    y = WINDOW_Y
    for label, value in rows:
        pdf.set_xy(META_X, y)
        pdf.set_font(_FONT, "", 7)
        pdf.set_text_color(*_GREY)
        pdf.cell(META_W, 3.5, label)
        pdf.set_xy(META_X, y + 3.4)
        pdf.set_font(_FONT, "", 9.5)
        pdf.set_text_color(*_BLACK)
        pdf.cell(META_W, 4.5, _fit(pdf, value, META_W))
        y += 9.2


def _fold_marks(pdf: _LetterPDF) -> None:
    pdf.set_draw_color(*_LIGHT)
    pdf.set_line_width(0.2)
    for y in FOLDS:
        pdf.line(4, y, 8, y)


_TAG_STYLES: Final[dict[str, TextStyle | FontFace]] = {
    "h3": TextStyle(
        font_family=_FONT,
        font_style="B",
        font_size_pt=10.5,
        color=_BLACK,
        t_margin=3,
        b_margin=1,
    ),
    "a": FontFace(color=(6, 69, 173), emphasis="UNDERLINE"),
    "p": TextStyle(t_margin=0.8, b_margin=0.8),
}


# Whitespace holding a line break between two tags. The first break is matched by `\n` after
# whitespace that cannot be one, so no two parts of the pattern compete for the same
# characters (`>\s*\n\s*<` was quadratic in the whitespace after a tag, issue 16.4).
_BETWEEN_TAGS: Final = re.compile(r">[^\S\n]*\n\s*<")
_ITALIC_TAG: Final = re.compile(r"<(i|em|blockquote)[\s>]", re.IGNORECASE)


#: A letter that spills onto a second page for at most this much (mm below the top margin of
#: the next page: a handful of lines, a signature) is set again in a smaller body font.
SPILL_MM: Final = 45.0
#: The body font sizes tried, largest first, to keep such a letter on one page.
FIT_FONT_SIZES: Final = (BODY_FONT_SIZE, 8.5, 8.0)


def build_letter_pdf(letter: Letter, rendered: Rendered) -> bytes:
    """The PDF letter (A4) for `letter`, its body taken from `rendered.html`.

    A letter whose last few lines would spill onto a second page is laid out again in a
    slightly smaller body font (down to 8 pt) so that it fits on one page; a letter that is
    really longer keeps the normal size and runs on."""
    # Whitespace with a line break between two tags is layout of the template file, not
    # text: fpdf2 would turn it into empty lines.
    body = _BETWEEN_TAGS.sub("><", extract_letter_body(rendered.html)).strip()
    first, pages, spill = _layout(letter, rendered, body, FIT_FONT_SIZES[0])
    if pages != 2 or spill > SPILL_MM:
        return first
    for size in FIT_FONT_SIZES[1:]:
        smaller, pages, _ = _layout(letter, rendered, body, size)
        if pages == 1:
            return smaller
    return first


def _layout(
    letter: Letter, rendered: Rendered, body: str, font_size: float
) -> tuple[bytes, int, float]:
    """The PDF at one body font size, its number of pages and how far (mm) the text runs
    down the last page below its top margin."""
    pdf = _LetterPDF(letter, rendered.subject, italics=_ITALIC_TAG.search(body) is not None)
    created = datetime.combine(letter.letter_date, time(0, 0), tzinfo=UTC)
    pdf.set_creation_date(created)
    pdf.set_title(rendered.subject)
    pdf.set_author(letter.sender.name)
    pdf.set_creator("dunning-connector")
    pdf.set_lang(letter_language(letter.language))
    pdf.add_page()
    _letterhead(pdf, letter)
    _window(pdf, letter)
    _meta(pdf, letter)
    _fold_marks(pdf)
    pdf.set_xy(LEFT, SUBJECT_Y)
    pdf.set_font(_FONT, "B", 11)
    pdf.set_text_color(*_BLACK)
    pdf.multi_cell(pdf.epw, 5.5, rendered.subject, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font(_FONT, "", font_size)
    pdf.write_html(
        body,
        font_family=_FONT,
        tag_styles=_TAG_STYLES,
        table_line_separators=True,
        warn_on_tags_not_matching=False,
    )
    pages = pdf.page_no()
    spill = pdf.get_y() - TOP_NEXT_PAGES
    return bytes(pdf.output()), pages, spill


# --------------------------------------------------------------------------------------------
# Files: names by action key, atomic writes
# --------------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_stem(key: str) -> str:
    """A file name for an action key: the key with anything but letters, digits, `.`, `_`
    and `-` replaced by `_`, plus eight hex digits of its SHA-256, so that two keys that
    differ only in such characters never share a file ("3/C 01/x" and "3/C_01/x")."""
    readable = _UNSAFE.sub("_", key).strip("._")[:120] or "letter"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]
    return f"{readable}-{digest}"


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that the path holds either nothing (or its old content) or
    all of `data`: a temporary file in the same folder, flushed to disk, then renamed."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        directory = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. a platform without directory handles
        return
    try:
        os.fsync(directory)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(directory)


def pdf_or_channel_error(letter: Letter, rendered: Rendered) -> bytes:
    """`build_letter_pdf`, with a failure reported as a ChannelError: nothing was written."""
    try:
        return build_letter_pdf(letter, rendered)
    except Exception as exc:
        msg = f"cannot lay out the PDF letter for {letter.debtor.code}: {type(exc).__name__}: {exc}"
        raise ChannelError(msg) from exc


def ensure_folder(folder: Path, what: str) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"cannot create the {what} folder {folder}: {exc.strerror or exc}"
        raise ChannelError(msg) from exc
    return folder


class LetterChannel:
    """Writes the PDF letter into a folder, a print queue, as `<action key>.pdf`.

    The Delivery's reference is the file's path. Writing is atomic: an interrupted run
    leaves no half-written letter for a print job to pick up.
    """

    kind = ChannelKind.LETTER

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def send(self, letter: Letter, rendered: Rendered) -> Delivery:
        pdf = rendered.pdf if rendered.pdf is not None else pdf_or_channel_error(letter, rendered)
        folder = ensure_folder(self.folder, "letter")
        path = folder / f"{file_stem(letter.key)}.pdf"
        try:
            atomic_write(path, pdf)
        except OSError as exc:
            msg = f"cannot write the letter {path}: {exc.strerror or exc}"
            raise ChannelError(msg) from exc
        return Delivery(channel=self.kind, reference=str(path), detail=f"{len(pdf)} bytes")


def pdf_page_count(pdf: bytes) -> int:
    """The number of pages of a PDF this module wrote (for reports and benchmarks)."""
    count = _page_tree_count(pdf)
    if count is None:
        count = _number(_FIRST_COUNT.search(pdf)) or 0
    return count


def _number(match: re.Match[bytes] | None) -> int | None:
    # More digits than any page count: not one (and int() refuses over 4300 digits).
    digits = match.group(1) if match else b""
    return int(digits) if 0 < len(digits) <= 9 else None


_FIRST_COUNT: Final = re.compile(rb"/Count (\d+)")
_COUNT_AFTER: Final = re.compile(rb"\s*/Count (\d+)")
_SPACE: Final = re.compile(rb"\s*")


def _page_tree_count(pdf: bytes) -> int | None:
    """n of the first `/Type /Pages /Kids [...] /Count n`, found without a regex that
    rescans from every `/Type /Pages` (quadratic on a PDF full of them): the `]` after
    `/Kids [` and what follows it are read once, however many starts share them."""
    close, after = -1, None  # the last `]` looked at, and the /Count right after it
    start = pdf.find(b"/Type /Pages")
    while start >= 0:
        space = _SPACE.match(pdf, start + len(b"/Type /Pages"))
        kids = space.end() if space else start
        if pdf.startswith(b"/Kids [", kids):
            if close < kids + len(b"/Kids ["):
                close = pdf.find(b"]", kids + len(b"/Kids ["))
                if close < 0:
                    return None  # no later start has a `]` after it either
                after = _number(_COUNT_AFTER.match(pdf, close + 1))
            if after is not None:
                return after
        start = pdf.find(b"/Type /Pages", start + 1)
    return None
