"""The renderer: one dunning letter as subject, plain text, HTML and (when asked) a PDF.

Templates are Jinja2 files under `connector/dunning/templates/`:

- `{nl,en}/<template>.j2`, one per letter kind (`reminder_1`, `reminder_2`, `final_notice`,
  `final_notice_consumer`, `collection_notice`, `arrangement_broken`): the wording only, as
  blocks `subject`, `intro` and `closing` of plain text (paragraphs separated by a blank line).
  Each starts with `{% extends layout %}`: the same file is rendered once into the HTML body
  (`_body.html`, autoescaped) and once into the plain-text body (`_body.txt`), so the wording of
  the e-mail's two parts and of the PDF letter cannot drift apart.
- `_body.html` / `_body.txt`: what every letter contains around the wording: the salutation, the
  table of invoices, the totals, the legal statements of the consumer 14-day letter, the payment
  details (IBAN, betalingskenmerk, payment link, SEPA QR code) and the signature.
- `_email.html`: the e-mail document around the HTML body (letterhead and footer). The body
  sits between `BODY_START` and `BODY_END`; the PDF letter (`connector.channels.letter`) lays
  out exactly that part of the e-mail, so "the letter" and "the e-mail" are one text.
- `{nl,en}/_labels.j2`: the words of the layouts (table headings, labels), per language.

A per-administration templates folder (`TemplateRenderer(templates_dirs=...)`) mirrors that
layout: a file there with the same relative name wins, anything else falls back to the shipped
file. Templates run in Jinja's sandbox with StrictUndefined: a template cannot reach Python
internals, and a misspelt variable is an error (`ConfigError`), not an empty string in a letter.

Amounts and dates are formatted with Babel for the letter's language: `€ 1.234,56` and
`1 maart 2026` in Dutch (nl_NL), `€1,234.56` and `1 March 2026` in English (en_GB, which writes
dates the way the rest of Europe reads them). The space in `€ 1.234,56` is a no-break space.

The SEPA payment QR code follows EPC069-12 ("BCD", version 002); see `epc_payload`.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
import re
import textwrap
from collections.abc import Callable
from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from typing import Final
from typing import Literal
from typing import cast

import zxingcpp
from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.numbers import format_currency
from jinja2 import BaseLoader
from jinja2 import ChoiceLoader
from jinja2 import FileSystemLoader
from jinja2 import PackageLoader
from jinja2 import StrictUndefined
from jinja2 import Template
from jinja2 import TemplateError
from jinja2 import TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup
from markupsafe import escape
from PIL import Image
from stdnum import iban as stdnum_iban

from connector.domain import currency_exponent
from connector.dunning.law import format_betalingskenmerk
from connector.dunning.law import is_valid_betalingskenmerk
from connector.dunning.model import Letter
from connector.dunning.model import Rendered
from connector.errors import ConfigError

__all__ = [
    "BODY_END",
    "BODY_START",
    "EPC_MAX_BYTES",
    "TEMPLATE_NAMES",
    "Language",
    "TemplateRenderer",
    "address_lines",
    "data_uri",
    "epc_payload",
    "epc_payload_for",
    "extract_letter_body",
    "format_date",
    "format_iban",
    "format_money",
    "letter_language",
    "qr_png",
]

log = logging.getLogger(__name__)

Language = Literal["nl", "en"]

#: The letter kinds that ship with templates in both languages.
TEMPLATE_NAMES: Final = (
    "reminder_1",
    "reminder_2",
    "final_notice",
    "final_notice_consumer",
    "collection_notice",
    "arrangement_broken",
)

#: Markers around the part of the e-mail HTML that is also the body of the PDF letter.
BODY_START: Final = "<!-- letter-body -->"
BODY_END: Final = "<!-- /letter-body -->"

_LOCALES: Final[dict[str, Locale]] = {"nl": Locale.parse("nl_NL"), "en": Locale.parse("en_GB")}


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def letter_language(language: str) -> Language:
    """The template language for a debtor's language: Dutch for `nl` (and `nl-BE`, `NL`),
    English for everything else, the language a foreign debtor is most likely to read."""
    return "nl" if language.strip().lower()[:2] == "nl" else "en"


@functools.lru_cache(maxsize=8192)
def format_money(amount: Decimal, currency: str, language: str) -> str:
    """`€ 1.234,56` (nl) or `€1,234.56` (en), rounded half-up to the currency's minor unit.
    A credit is negative: `€ -100,00` (nl), `-€100.00` (en)."""
    if not isinstance(amount, Decimal):
        msg = f"an amount must be a Decimal, got {type(amount).__name__}"
        raise TypeError(msg)
    exponent = Decimal(1).scaleb(-currency_exponent(currency))
    rounded = amount.quantize(exponent, rounding=ROUND_HALF_UP)
    return format_currency(rounded, currency, locale=_LOCALES[letter_language(language)])


@functools.lru_cache(maxsize=8192)
def format_date(value: date, language: str, *, style: str = "long") -> str:
    """`1 maart 2026` (nl) or `1 March 2026` (en); `style="medium"` gives `1 mrt 2026`."""
    return babel_format_date(value, style, locale=_LOCALES[letter_language(language)])


def format_iban(iban: str) -> str:
    """An IBAN in groups of four, as printed: `NL91 ABNA 0417 1643 00`."""
    compact = stdnum_iban.compact(iban)
    return " ".join(compact[index : index + 4] for index in range(0, len(compact), 4))


def format_reference(reference: str) -> str:
    """A betalingskenmerk in groups of four (`5000 0567 8901 2345`); anything else as given."""
    if reference and is_valid_betalingskenmerk(reference):
        return format_betalingskenmerk(reference)
    return reference


def country_name(code: str, language: str) -> str:
    """The country's name in the letter's language (`BE` -> `België`), or the code."""
    names = _LOCALES[letter_language(language)].territories
    return str(names.get(code.upper(), code)) if code else ""


def address_lines(letter: Letter) -> tuple[str, ...]:
    """The debtor's postal address as it goes in the envelope window: name, street, postal
    code and city (two spaces between them, city in capitals, as PostNL asks for printed
    addresses), and the country in capitals when it is not the sender's country."""
    debtor = letter.debtor
    address = debtor.address
    lines = [debtor.name]
    if address.street:
        lines.extend(part.strip() for part in address.street.splitlines() if part.strip())
    place = "  ".join(part for part in (address.postal_code.strip(), address.city.upper()) if part)
    if place:
        lines.append(place)
    country = address.country.strip().upper()
    if country and country != letter.sender.country.strip().upper():
        lines.append(country_name(country, letter.language).upper())
    return tuple(lines)


def data_uri(mime_type: str, data: bytes) -> str:
    return f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}"


_BODY_RE = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE)


def extract_letter_body(html: str) -> str:
    """The part of an e-mail HTML document that is also the PDF letter's body: between
    `BODY_START` and `BODY_END`, or the whole `<body>` when an overriding `_email.html`
    dropped the markers."""
    start = html.find(BODY_START)
    end = html.find(BODY_END, start + 1) if start >= 0 else -1
    if start >= 0 and end > start:
        return html[start + len(BODY_START) : end]
    match = _BODY_RE.search(html)
    return match.group(1) if match else html


# --------------------------------------------------------------------------------------------
# SEPA payment QR code: EPC069-12
# --------------------------------------------------------------------------------------------

#: EPC069-12: the payload is at most 331 bytes, which fits QR version 13 at error level M.
EPC_MAX_BYTES: Final = 331
_EPC_MAX_AMOUNT = Decimal("999999999.99")
_EPC_MIN_AMOUNT = Decimal("0.01")
_BIC_RE = re.compile(r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def epc_payload(*, name: str, iban: str, amount: Decimal, remittance: str, bic: str = "") -> str:
    """The data of an EPC069-12 QR code ("GiroCode") for one SEPA credit transfer.

    The elements, one per line, separated by a line feed, with nothing after the last one:

    1. service tag `BCD`; 2. version `002` (the BIC may be left empty within the EEA);
    3. character set `1` (UTF-8); 4. identification `SCT`; 5. the beneficiary's BIC (empty
    when not configured); 6. the beneficiary's name (at most 70 characters, cut to fit);
    7. the IBAN (compact, upper case); 8. `EUR` and the amount with a decimal point and two
    decimals (0.01 to 999999999.99); 9. purpose code (empty); 10. structured remittance
    (empty, see below); 11. unstructured remittance (at most 140 characters).

    The structured field (10) is for a creditor reference; the guidelines name the ISO 11649
    `RF` reference, and a payer's bank checks it as one. A Dutch betalingskenmerk is not an
    ISO 11649 reference: in a SEPA transfer it travels as a structured reference with issuer
    `CUR`, which field 10 cannot say. So the betalingskenmerk goes in the unstructured field
    (11), as its 16 digits without spaces, where every banking app shows it and the matching
    of incoming payments finds it as text (research §2.8, matching rule 2). Field 12 (a note
    to the payer) is left out.
    """
    if not isinstance(amount, Decimal):
        msg = f"amount must be a Decimal, got {type(amount).__name__}"
        raise TypeError(msg)
    compact_iban = stdnum_iban.compact(iban)
    if not stdnum_iban.is_valid(compact_iban):
        msg = f"not a valid IBAN: {iban!r}"
        raise ValueError(msg)
    compact_bic = bic.replace(" ", "").upper()
    if compact_bic and not _BIC_RE.match(compact_bic):
        msg = f"not a valid BIC: {bic!r}"
        raise ValueError(msg)
    rounded = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if not _EPC_MIN_AMOUNT <= rounded <= _EPC_MAX_AMOUNT:
        msg = f"an EPC QR code carries 0.01 to 999999999.99 EUR, not {amount}"
        raise ValueError(msg)
    beneficiary = _one_line(name)[:70].strip()
    if not beneficiary:
        msg = "an EPC QR code needs the beneficiary's name"
        raise ValueError(msg)
    text = _one_line(remittance)[:140].strip()
    lines = [
        "BCD",
        "002",
        "1",
        "SCT",
        compact_bic,
        beneficiary,
        compact_iban,
        f"EUR{rounded:.2f}",
        "",
        "",
        text,
    ]
    while lines[-1] == "":
        lines.pop()
    payload = "\n".join(lines)
    while len(payload.encode("utf-8")) > EPC_MAX_BYTES and text:
        # Only a name or remittance of many multi-byte characters gets here: shorten the text.
        text = text[:-1].rstrip()
        lines[-1] = text
        payload = "\n".join(lines)
    return payload


def epc_payload_for(letter: Letter) -> str | None:
    """The EPC QR payload for a letter's total, or None when a QR code does not apply: not in
    euro, nothing to pay, no IBAN, or an IBAN or BIC that does not validate (an invalid IBAN
    is still printed as configured, but never put in a code a bank app would act on)."""
    sender = letter.sender
    if letter.currency != "EUR" or not sender.iban or not sender.name.strip():
        return None
    if not _EPC_MIN_AMOUNT <= letter.total <= _EPC_MAX_AMOUNT:
        return None
    if letter.payment_reference:
        remittance = letter.payment_reference.replace(" ", "").replace(".", "")
    else:
        numbers = " ".join(item.invoice_number for item in letter.items if item.open_amount > 0)
        remittance = f"{letter.debtor.code} {numbers}".strip()
    try:
        return epc_payload(
            name=sender.name,
            iban=sender.iban,
            amount=letter.total,
            remittance=remittance,
            bic=sender.bic,
        )
    except ValueError as exc:
        log.warning("no payment QR code for %s: %s", letter.key, exc)
        return None


def qr_png(payload: str, *, scale: int = 4) -> bytes:
    """The QR code of an EPC payload as a 1-bit PNG: byte mode without an ECI header (the
    payload's third line names its character set), error correction level M as EPC069-12
    requires, the mask chosen by the ISO/IEC 18004 penalty rules, and the standard quiet zone
    of four modules. Encoded by zxing-cpp (a maintained C++ encoder with binary wheels; about
    twenty times faster than a pure-Python encoder, which matters at 200 letters a second)."""
    code = zxingcpp.create_barcode(
        payload.encode("utf-8"), zxingcpp.BarcodeFormat.QRCode, ec_level="M"
    )
    # zxingcpp.Image exports the buffer protocol; its stub does not say so.
    view = memoryview(cast(Any, code.to_image(scale=scale, add_quiet_zones=True)))
    height, width = view.shape or (0, 0)
    modules = width // scale - 8
    if modules > 17 + 4 * 13:  # pragma: no cover - excluded by EPC_MAX_BYTES
        msg = f"an EPC QR code is at most version 13, got {(modules - 17) // 4}"
        raise ValueError(msg)
    image = Image.frombytes("L", (width, height), view.tobytes()).convert("1")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# Template filters
# --------------------------------------------------------------------------------------------

_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def _split_paragraphs(text: str) -> list[str]:
    return [" ".join(chunk.split()) for chunk in _BLANK_LINE.split(text) if chunk.strip()]


def _html_paragraphs(value: str) -> Markup:
    """Paragraphs separated by blank lines -> `<p>` elements (the text is already escaped)."""
    text = str(value if isinstance(value, Markup) else escape(value))
    # The text was escaped above (or came escaped from an autoescaping template).
    return Markup("\n".join(f"<p>{chunk}</p>" for chunk in _split_paragraphs(text)))  # noqa: S704


def _text_paragraphs(value: str, width: int = 76) -> str:
    """Paragraphs separated by blank lines, each wrapped at `width` columns."""
    return "\n\n".join(
        textwrap.fill(chunk, width=width, break_long_words=False, break_on_hyphens=False)
        for chunk in _split_paragraphs(str(value))
    )


def _html_lines(value: str) -> Markup:
    """Lines of text -> joined with `<br>` (for a signature or an address)."""
    text = str(value if isinstance(value, Markup) else escape(value))
    lines = (line.strip() for line in text.strip().splitlines())
    return Markup("<br>\n".join(lines))  # noqa: S704 - escaped above


def _text_lines(value: str) -> str:
    return "\n".join(line.strip() for line in str(value).strip().splitlines())


def _ljust(value: object, width: int) -> str:
    """Left-aligned in a column of `width`, with at least one space after it."""
    text = str(value)
    return text.ljust(width) if len(text) < width else text + " "


def _rjust(value: object, width: int) -> str:
    """Right-aligned in a column of `width`, with at least one space before it."""
    text = str(value)
    return text.rjust(width) if len(text) < width else " " + text


# --------------------------------------------------------------------------------------------
# The renderer
# --------------------------------------------------------------------------------------------

_Key = tuple[str | None, bool]


class TemplateRenderer:
    """Renders letters from the shipped templates and any per-administration overrides.

    `templates_dir` is a folder whose files override the shipped ones for every
    administration; `templates_dirs` maps an administration id to its own folder, which wins
    over `templates_dir`. Both mirror the shipped layout (`nl/reminder_1.j2`, `_body.html`).
    One renderer is meant to live as long as the process: compiled templates, logos and the
    environments are kept per folder.
    """

    def __init__(
        self,
        *,
        templates_dir: str | Path | None = None,
        templates_dirs: Mapping[int, str | Path] | None = None,
    ) -> None:
        self._default_dir = str(templates_dir) if templates_dir is not None else None
        self._dirs = {key: str(value) for key, value in (templates_dirs or {}).items()}
        for folder in (self._default_dir, *self._dirs.values()):
            if folder is not None and not Path(folder).is_dir():
                msg = f"templates folder {folder} does not exist or is not a folder"
                raise ConfigError(msg)
        self._envs: dict[_Key, SandboxedEnvironment] = {}
        self._logos: dict[str, tuple[float, str]] = {}

    # -- environments ------------------------------------------------------------------------

    def _folders(self, administration_id: int) -> tuple[str, ...]:
        own = self._dirs.get(administration_id)
        return tuple(folder for folder in (own, self._default_dir) if folder is not None)

    def _env(self, administration_id: int, *, html: bool) -> SandboxedEnvironment:
        folders = self._folders(administration_id)
        key: _Key = ("\0".join(folders) or None, html)
        env = self._envs.get(key)
        if env is None:
            loaders: list[BaseLoader] = [FileSystemLoader(folder) for folder in folders]
            loaders.append(PackageLoader("connector.dunning", "templates"))
            env = SandboxedEnvironment(
                loader=ChoiceLoader(loaders),
                autoescape=html,
                undefined=StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=False,
            )
            env.filters["paragraphs"] = _html_paragraphs if html else _text_paragraphs
            env.filters["lines"] = _html_lines if html else _text_lines
            env.filters["ljust"] = _ljust
            env.filters["rjust"] = _rjust
            env.filters["kenmerk"] = format_reference
            env.filters["iban"] = format_iban
            self._envs[key] = env
        return env

    def _template(self, env: SandboxedEnvironment, name: str) -> Template:
        try:
            return env.get_template(name)
        except TemplateNotFound as exc:
            msg = (
                f"no template {name!r}: the shipped templates are "
                f"{', '.join(TEMPLATE_NAMES)} in nl/ and en/"
            )
            raise ConfigError(msg) from exc
        except TemplateError as exc:
            msg = f"template {name}: {exc}"
            raise ConfigError(msg) from exc

    # -- assets ------------------------------------------------------------------------------

    def _logo_uri(self, path: str) -> str:
        """The sender's logo as a data URI, read once per file version; empty when missing."""
        if not path:
            return ""
        file = Path(path)
        try:
            mtime = file.stat().st_mtime
        except OSError:
            log.warning("logo %s not found; the letter goes out without it", path)
            return ""
        cached = self._logos.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        suffix = file.suffix.lower()
        mime = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}.get(suffix)
        if suffix == ".svg":
            mime = "image/svg+xml"
        if mime is None:
            log.warning("logo %s is not a PNG, JPEG or SVG file; it is left out", path)
            return ""
        uri = data_uri(mime, file.read_bytes())
        self._logos[path] = (mtime, uri)
        return uri

    # -- rendering ---------------------------------------------------------------------------

    def _context(self, letter: Letter, language: Language) -> dict[str, Any]:
        payload = epc_payload_for(letter)
        money: Callable[[Decimal], str] = partial(
            format_money, currency=letter.currency, language=language
        )
        long_date: Callable[[date], str] = partial(format_date, language=language)
        short_date: Callable[[date], str] = partial(format_date, language=language, style="medium")
        credit_notes = [item for item in letter.items if item.open_amount < 0]
        invoices = [item for item in letter.items if item.open_amount >= 0]
        return {
            "letter": letter,
            "sender": letter.sender,
            "debtor": letter.debtor,
            "items": letter.items,
            "invoices": invoices,
            "credit_notes": credit_notes,
            "one_invoice": len(invoices) == 1,
            "lang": language,
            "money": money,
            "date": long_date,
            "short_date": short_date,
            "reference": format_reference(letter.payment_reference),
            "iban": format_iban(letter.sender.iban) if letter.sender.iban else "",
            "qr": data_uri("image/png", qr_png(payload)) if payload else "",
            "epc_payload": payload or "",
            "logo": self._logo_uri(letter.sender.logo_path),
            "address": address_lines(letter),
            "legal": letter.legal_term,
            "country_name": partial(country_name, language=language),
        }

    def render(self, letter: Letter, *, with_pdf: bool) -> Rendered:
        """Subject, text, HTML and, when `with_pdf`, the PDF letter of one letter.

        Raises:
            ConfigError: the template does not exist or fails (a syntax error, a misspelt
                variable): a fault in the templates folder, never a reason to retry.
        """
        language = letter_language(letter.language)
        name = f"{language}/{letter.template}.j2"
        context = self._context(letter, language)
        html_env = self._env(letter.administration_id, html=True)
        text_env = self._env(letter.administration_id, html=False)
        try:
            text_template = self._template(text_env, name)
            subject = _one_line(
                "".join(
                    text_template.blocks["subject"](
                        text_template.new_context({**context, "layout": "_body.txt"})
                    )
                )
                if "subject" in text_template.blocks
                else ""
            )
            if not subject:
                msg = f"template {name} has no subject block"
                raise ConfigError(msg)
            context["subject"] = subject
            text = text_template.render(layout="_body.txt", **context).strip() + "\n"
            body = self._template(html_env, name).render(layout="_body.html", **context)
            # `body` is the output of an autoescaping template: already safe HTML.
            safe_body = Markup(body)  # noqa: S704
            html = self._template(html_env, "_email.html").render(body=safe_body, **context)
        except TemplateError as exc:
            msg = f"template {name}: {exc}"
            raise ConfigError(msg) from exc
        attachments: tuple[tuple[str, str, bytes], ...] = ()
        if letter.attach_invoices:
            attachments = tuple(
                (filename, "application/pdf", content) for filename, content in letter.invoice_pdfs
            )
        rendered = Rendered(subject=subject, text=text, html=html, attachments=attachments)
        if with_pdf:
            # Imported here: the letter channel imports this module for its formatting.
            from connector.channels.letter import build_letter_pdf

            rendered = Rendered(
                subject=subject,
                text=text,
                html=html,
                pdf=build_letter_pdf(letter, rendered),
                attachments=attachments,
            )
        return rendered
