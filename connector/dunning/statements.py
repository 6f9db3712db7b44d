"""What a consumer's 14-day letter must say, checked in what is actually sent (issue 13.5).

The statements of art. 6:96 lid 6 BW (term of fourteen days from the day after delivery, no
costs when paid in time, the exact costs otherwise) live in an overridable template block, so
an administration's own template could drop them while the engine still records the term and
later charges costs. Before the term is stored, the rendered plain text and the PDF are read
back; a letter that lacks a statement, or that prints the term's end date (13.4: the term runs
from delivery, so no date can be right), is refused and nothing is sent.
"""

from __future__ import annotations

import io
from datetime import date

from connector.dunning.model import Letter
from connector.dunning.model import Rendered
from connector.dunning.render import format_date

_NBSP = "\xa0"


def _plain(text: str) -> str:
    return " ".join(text.replace(_NBSP, " ").replace("\u202f", " ").split())


def pdf_text(pdf: bytes) -> str:
    """The text of a PDF, white space normalised (pypdf reads what a printer would print)."""
    import pypdf  # imported here: only 14-day letters need it

    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return _plain(" ".join(page.extract_text() or "" for page in reader.pages))


def _dates(day: date, language: str) -> tuple[str, ...]:
    return (
        _plain(format_date(day, language)),
        _plain(format_date(day, language, style="medium")),
        day.isoformat(),
        day.strftime("%d-%m-%Y"),
    )


def term_letter_problems(letter: Letter, rendered: Rendered) -> list[str]:
    """One line per problem with a 14-day letter as rendered; empty when it may go out."""
    legal = letter.legal_term
    if legal is None:
        return []
    parts = {"text": _plain(rendered.text)}
    if rendered.pdf is not None:
        try:
            parts["PDF"] = pdf_text(rendered.pdf)
        except Exception as exc:  # an unreadable PDF proves nothing: refuse
            return [f"the PDF cannot be read back ({type(exc).__name__}) to check its statements"]
    problems: list[str] = []
    for where, body in parts.items():
        for statement in legal.statements:
            wanted = _plain(statement)
            if wanted and wanted not in body:
                short = wanted if len(wanted) <= 60 else wanted[:57] + "..."
                problems.append(f"the {where} lacks the required statement {short!r}")
        for day in {legal.term_end, letter.pay_by}:
            if day is None or day == letter.letter_date:
                continue
            if any(form in body for form in _dates(day, letter.language)):
                problems.append(
                    f"the {where} prints the term's end date {day}: a 14-day letter may not"
                )
    return problems
