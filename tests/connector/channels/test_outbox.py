"""The files outbox: `<key>.eml` (the message the e-mail channel would send) and `<key>.pdf`."""

from __future__ import annotations

import datetime as dt
import email
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from connector.channels import letter as letter_module
from connector.channels.email import MessageOptions
from connector.channels.email import build_message
from connector.channels.email import message_bytes
from connector.channels.email import message_id
from connector.channels.letter import file_stem
from connector.channels.outbox import OutboxChannel
from connector.dunning.model import ChannelKind
from connector.dunning.render import TemplateRenderer
from connector.errors import ChannelError
from tests.fakes.letters import business_letter
from tests.fakes.letters import consumer_letter

NOW = dt.datetime(2026, 3, 5, 8, 0, tzinfo=dt.UTC)
OPTIONS = MessageOptions(from_address="herinneringen@goudenkorenaar.nl")


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer()


def _read(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_writes_eml_and_pdf(tmp_path: Path, renderer: TemplateRenderer) -> None:
    letter = business_letter(channels=(ChannelKind.OUTBOX,))
    rendered = renderer.render(letter, with_pdf=True)
    delivery = OutboxChannel(tmp_path, OPTIONS, clock=lambda: NOW).send(letter, rendered)
    eml, pdf = Path(delivery.reference), Path(delivery.detail)
    assert delivery.channel is ChannelKind.OUTBOX
    assert (eml.name, pdf.name) == (f"{file_stem(letter.key)}.eml", f"{file_stem(letter.key)}.pdf")
    assert pdf.read_bytes() == rendered.pdf
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([eml.name, pdf.name])
    written = _read(eml)
    # byte for byte what the e-mail channel sends (MIME boundaries come from the action key)
    assert eml.read_bytes() == message_bytes(build_message(letter, rendered, OPTIONS, now=NOW))
    assert written["Message-ID"] == message_id(letter.key, "goudenkorenaar.nl")
    assert written["Subject"] == "Herinnering: factuur F2026-0012"
    assert [part.get_content_type() for part in written.walk()] == [
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
    ]
    text = written.get_body(preferencelist=("plain",))
    assert text is not None and "€\xa01.234,56" in text.get_content()


def test_pdf_is_made_when_not_rendered_and_from_defaults(
    tmp_path: Path, renderer: TemplateRenderer
) -> None:
    letter = consumer_letter()
    delivery = OutboxChannel(tmp_path / "outbox").send(
        letter, renderer.render(letter, with_pdf=False)
    )
    assert Path(delivery.detail).read_bytes().startswith(b"%PDF")
    message = _read(Path(delivery.reference))
    assert message["From"].addresses[0].addr_spec == "debiteuren@goudenkorenaar.nl"
    assert message["To"].addresses[0].addr_spec == "jp.vdberg@example.nl"


def test_an_interrupted_run_leaves_no_half_file(
    tmp_path: Path, renderer: TemplateRenderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    letter = business_letter()
    rendered = renderer.render(letter, with_pdf=True)
    real_replace = letter_module.os.replace
    calls: list[str] = []

    def replace_then_crash(src: str, dst: str) -> None:
        calls.append(dst)
        if str(dst).endswith(".eml"):
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(letter_module.os, "replace", replace_then_crash)
    with pytest.raises(ChannelError, match="Input/output error"):
        OutboxChannel(tmp_path, OPTIONS).send(letter, rendered)
    names = sorted(p.name for p in tmp_path.iterdir())
    # the PDF went first and is whole; no .eml, no temporary file
    assert names == [f"{file_stem(letter.key)}.pdf"]
    assert (tmp_path / names[0]).read_bytes() == rendered.pdf


def test_debtor_without_email_still_fails_clearly(
    tmp_path: Path, renderer: TemplateRenderer
) -> None:
    from dataclasses import replace

    letter = business_letter()
    letter = replace(letter, debtor=replace(letter.debtor, email=""))
    with pytest.raises(ChannelError, match="no e-mail address"):
        OutboxChannel(tmp_path, OPTIONS).send(letter, renderer.render(letter, with_pdf=True))
