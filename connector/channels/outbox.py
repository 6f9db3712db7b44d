"""The files outbox: each letter as `<key>.eml` and `<key>.pdf` in a folder.

The `.eml` file is the complete MIME message the e-mail channel would send (open it in any
mail program); the `.pdf` is the printed letter. Used by the demo, for review before a real
mail server is configured, and by anyone who lets their own mail system pick the files up.
Each file is written atomically (a temporary file, then a rename), so an interrupted run
never leaves half a file; the PDF is written first and the `.eml` last, so an `.eml` in the
folder always has its PDF beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from pathlib import Path

from connector.channels.email import MessageOptions
from connector.channels.email import build_message
from connector.channels.email import message_bytes
from connector.channels.letter import atomic_write
from connector.channels.letter import ensure_folder
from connector.channels.letter import file_stem
from connector.channels.letter import pdf_or_channel_error
from connector.dunning.model import ChannelKind
from connector.dunning.model import Delivery
from connector.dunning.model import Letter
from connector.dunning.model import Rendered
from connector.errors import ChannelError

__all__ = ["OutboxChannel"]

DEFAULT_FROM = "dunning@localhost.localdomain"


class OutboxChannel:
    """Writes `<key>.eml` and `<key>.pdf` into `folder`; the Delivery's reference is the
    `.eml` path and its detail the `.pdf` path.

    `options` are the e-mail channel's message options, so the `.eml` is byte for byte what
    would be sent (but for the Date header); without them the From address is the
    administration's own (Sender.email) or a placeholder.
    """

    kind = ChannelKind.OUTBOX

    def __init__(
        self,
        folder: str | Path,
        options: MessageOptions | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.options = options
        self._clock = clock or (lambda: datetime.now(UTC))

    def _options(self, letter: Letter) -> MessageOptions:
        if self.options is not None:
            return self.options
        try:
            return MessageOptions(from_address=letter.sender.email or DEFAULT_FROM)
        except ValueError:
            return MessageOptions(from_address=DEFAULT_FROM)

    def send(self, letter: Letter, rendered: Rendered) -> Delivery:
        pdf = rendered.pdf if rendered.pdf is not None else pdf_or_channel_error(letter, rendered)
        if rendered.pdf is None:
            rendered = Rendered(
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                pdf=pdf,
                attachments=rendered.attachments,
            )
        try:
            data = message_bytes(
                build_message(letter, rendered, self._options(letter), now=self._clock())
            )
        except ChannelError:
            raise
        except Exception as exc:  # nothing written yet: safe to retry after a fix
            msg = f"cannot build the e-mail for {letter.debtor.code}: {type(exc).__name__}: {exc}"
            raise ChannelError(msg) from exc
        folder = ensure_folder(self.folder, "outbox")
        stem = file_stem(letter.key)
        eml_path = folder / f"{stem}.eml"
        pdf_path = folder / f"{stem}.pdf"
        try:
            atomic_write(pdf_path, pdf)
            atomic_write(eml_path, data)
        except OSError as exc:
            msg = f"cannot write to the outbox {folder}: {exc.strerror or exc}"
            raise ChannelError(msg) from exc
        return Delivery(channel=self.kind, reference=str(eml_path), detail=str(pdf_path))
