"""The e-mail channel: a rendered letter as a MIME message over SMTP.

The message is multipart/alternative (plain text and HTML); images that the HTML carries as
data URIs (the SEPA QR code, the logo) become inline parts referenced by `cid:`, because many
mail clients do not show data URIs. The invoice PDFs go along when the step asks for a copy,
and the PDF letter when configured for a step that has no postal letter. `Reply-To` is the
administration's address; the `Message-ID` is derived from the action key, so a message sent
twice for one action would carry the same id and be recognisable as the same message.

Failure semantics, which the dunning run relies on:

- anything that goes wrong before the server has the message data (connection refused, TLS
  or login failure, a 4xx/5xx reply to MAIL, RCPT or DATA, a timeout there) raises
  `ChannelError`: nothing was delivered and trying again later is safe;
- once the message data has started to go out, a lost connection or a timeout before the
  server's final reply raises `ChannelUncertain`: the server may have accepted it;
- a 4xx/5xx final reply to the data is a refusal: `ChannelError`.

The SMTP password is passed in (the composition root reads it from the environment); this
module reads no environment variables.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from email import policy
from email.charset import QP
from email.charset import Charset
from email.encoders import encode_base64
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime
from email.utils import formataddr
from typing import Final
from typing import Literal
from typing import cast

from connector.dunning.model import ChannelKind
from connector.dunning.model import Delivery
from connector.dunning.model import Letter
from connector.dunning.model import Rendered
from connector.dunning.render import letter_language
from connector.email_address import MAX_ADDRESS_LENGTH  # noqa: F401 - re-exported
from connector.email_address import is_email_address
from connector.errors import ChannelError
from connector.errors import ChannelUncertain
from connector.errors import ConfigError

__all__ = [
    "EmailChannel",
    "MessageOptions",
    "SmtpSettings",
    "build_message",
    "debtor_addresses",
    "message_bytes",
    "message_id",
]

Security = Literal["starttls", "ssl", "plain"]
SECURITY_MODES: Final = ("starttls", "ssl", "plain")
DEFAULT_PORTS: Final[dict[str, int]] = {"starttls": 587, "ssl": 465, "plain": 25}

MESSAGE_POLICY: Final = policy.compat32.clone(linesep="\r\n", max_line_length=998)
_UTF8_QP: Final = Charset("utf-8")
_UTF8_QP.body_encoding = QP
_UTF8_QP.header_encoding = QP

#: RFC 5321 4.5.3.1.3: a path is at most 256 octets with its angle brackets.
_DATA_URI_IMG = re.compile(
    r"""src=(["'])data:(image/(?:png|jpeg|gif|svg\+xml));base64,([A-Za-z0-9+/=\s]+)\1"""
)


@dataclass(frozen=True, slots=True)
class MessageOptions:
    """How a letter becomes a message, shared by the e-mail and the outbox channels.

    `from_address` is the envelope and From address (the SMTP account's); `from_name` the
    display name, by default the administration's name. `attach_letter_pdf` attaches the PDF
    letter to e-mails of steps that do not also go by post.
    """

    from_address: str
    from_name: str = ""
    attach_letter_pdf: bool = False
    bcc: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not is_email_address(self.from_address):
            msg = f"e-mail from_address {self.from_address!r} is not an e-mail address"
            raise ConfigError(msg)
        for address in self.bcc:
            if not is_email_address(address):
                msg = f"e-mail bcc {address!r} is not an e-mail address"
                raise ConfigError(msg)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """An SMTP server. `security`: "starttls" (port 587), "ssl" (implicit TLS, port 465) or
    "plain" (no TLS: only for a relay on the same machine or network). `ca_file` trusts an
    extra certificate authority (a company relay's own CA); `ssl_context` replaces the
    default verifying context entirely. `timeout` is in seconds per network operation."""

    host: str
    port: int = 0  # 0: the default port for `security`
    security: Security = "starttls"
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 30.0
    ca_file: str = ""
    local_hostname: str | None = None
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.host:
            msg = "e-mail: the SMTP host is not set"
            raise ConfigError(msg)
        if self.security not in SECURITY_MODES:
            modes = ", ".join(SECURITY_MODES)
            msg = f"e-mail: security must be one of {modes}, not {self.security!r}"
            raise ConfigError(msg)
        if self.username and not self.password:
            msg = (
                "e-mail: an SMTP username is set but no password; set the password in the "
                "environment (CONNECTOR_SMTP_PASSWORD)"
            )
            raise ConfigError(msg)
        if self.timeout <= 0:
            msg = f"e-mail: timeout must be positive, got {self.timeout}"
            raise ConfigError(msg)

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]

    def tls_context(self) -> ssl.SSLContext:
        if self.ssl_context is not None:
            return self.ssl_context
        context = ssl.create_default_context(cafile=self.ca_file or None)
        return context


# --------------------------------------------------------------------------------------------
# The message
# --------------------------------------------------------------------------------------------


def debtor_addresses(letter: Letter) -> tuple[str, ...]:
    """The debtor's e-mail addresses (a ledger field may hold several, split by `;` or `,`).

    Raises:
        ChannelError: the debtor has no usable e-mail address.
    """
    candidates = [part.strip() for part in re.split(r"[;,]", letter.debtor.email)]
    addresses = tuple(dict.fromkeys(part for part in candidates if is_email_address(part)))
    if not addresses:
        written = letter.debtor.email
        shown = (
            repr(written) if len(written) <= 80 else f"{written[:40]!r}... ({len(written)} chars)"
        )
        what = f"{shown} is not an e-mail address" if written else "no e-mail address"
        msg = (
            f"debtor {letter.debtor.code} ({letter.debtor.name}) has {what}; add one in the "
            "ledger or send this step by letter"
        )
        raise ChannelError(msg)
    return addresses


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower()


def message_id(key: str, domain: str) -> str:
    """`<dunning.<40 hex digits of SHA-256(key)>@domain>`: the same action key always gives the
    same Message-ID, and the key itself (with a debtor code in it) is not disclosed."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
    return f"<dunning.{digest}@{domain}>"


def _inline_images(html: str, key: str, domain: str) -> tuple[str, list[tuple[str, str, bytes]]]:
    """Replace data-URI images by `cid:` references; returns the HTML and the images as
    (content id, mime type, bytes)."""
    images: list[tuple[str, str, bytes]] = []
    seen: dict[str, str] = {}
    stem = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]

    def replace(match: re.Match[str]) -> str:
        quote, mime, encoded = match.group(1), match.group(2), match.group(3)
        compact = "".join(encoded.split())
        content_id = seen.get(compact)
        if content_id is None:
            try:
                data = base64.b64decode(compact, validate=True)
            except (binascii.Error, ValueError):
                return match.group(0)
            content_id = f"img{len(images) + 1}.{stem}@{domain}"
            seen[compact] = content_id
            images.append((content_id, mime, data))
        return f"src={quote}cid:{content_id}{quote}"

    return _DATA_URI_IMG.sub(replace, html), images


def _pdf_name(letter: Letter, rendered: Rendered) -> str:
    word = "brief" if letter_language(letter.language) == "nl" else "letter"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{word}-{letter.debtor.code}-{letter.letter_date}")
    return f"{stem.strip('-')}.pdf"


def _text_part(subtype: str, text: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(text, _UTF8_QP)
    return part


def _binary_part(mime: str, data: bytes) -> MIMENonMultipart:
    maintype, _, subtype = mime.partition("/")
    part = MIMENonMultipart(maintype, subtype or "octet-stream")
    part.set_payload(data)
    encode_base64(part)
    return part


def _address(name: str, address: str) -> str:
    return formataddr((_one_line(name), address), charset="utf-8")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _header(text: str) -> str | Header:
    text = _one_line(text)
    return text if text.isascii() else Header(text, "utf-8")


def build_message(
    letter: Letter,
    rendered: Rendered,
    options: MessageOptions,
    *,
    now: datetime | None = None,
) -> Message:
    """The MIME message for a letter, exactly as the e-mail channel sends it (its bytes:
    `message_bytes`).

    multipart/alternative of the plain text and the HTML (in multipart/related with its inline
    images), inside multipart/mixed when there are attachments. Bodies are quoted-printable,
    so the message is 7-bit clean for any relay. The MIME boundaries are derived from the
    action key, so the same letter gives the same bytes but for the Date header. (Built with
    the compat32 MIME classes: the policy-based API parses every header it is given and is
    three times slower, which the 200 e-mails/s aim cannot afford.)

    Raises:
        ChannelError: the debtor has no e-mail address.
    """
    recipients = debtor_addresses(letter)
    domain = _domain(options.from_address)
    digest = hashlib.sha256(letter.key.encode("utf-8")).hexdigest()[:24]

    alternative = MIMEMultipart("alternative", boundary=f"=_alt_{digest}")
    alternative.attach(_text_part("plain", rendered.text))
    html, images = _inline_images(rendered.html, letter.key, domain)
    if images:
        related = MIMEMultipart("related", boundary=f"=_rel_{digest}")
        related.attach(_text_part("html", html))
        for content_id, mime, data in images:
            image = _binary_part(mime, data)
            image["Content-ID"] = f"<{content_id}>"
            image["Content-Disposition"] = "inline"
            related.attach(image)
        alternative.attach(related)
    else:
        alternative.attach(_text_part("html", html))

    files: list[tuple[str, str, bytes]] = []
    if options.attach_letter_pdf and ChannelKind.LETTER not in letter.channels:
        pdf = rendered.pdf
        if pdf is None:
            from connector.channels.letter import build_letter_pdf

            pdf = build_letter_pdf(letter, rendered)
        files.append((_pdf_name(letter, rendered), "application/pdf", pdf))
    files.extend(rendered.attachments)
    message: Message = alternative
    if files:
        message = MIMEMultipart("mixed", boundary=f"=_mix_{digest}")
        message.attach(alternative)
        for filename, mime, content in files:
            attachment = _binary_part(mime, content)
            attachment.add_header("Content-Disposition", "attachment", filename=filename)
            message.attach(attachment)

    from_name = options.from_name or letter.sender.name
    message["From"] = _address(from_name, options.from_address)
    message["To"] = ", ".join(
        _address(letter.debtor.name if index == 0 else "", address)
        for index, address in enumerate(recipients)
    )
    if letter.sender.email and is_email_address(letter.sender.email):
        message["Reply-To"] = _address(letter.sender.name, letter.sender.email)
    message["Subject"] = cast(str, _header(rendered.subject))  # compat32 takes a Header too
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = message_id(letter.key, domain)
    message["Content-Language"] = letter_language(letter.language)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to the debtor
    message["X-Dunning-Key"] = letter.key
    return message


def message_bytes(message: Message) -> bytes:
    """The message as it goes over the wire and into an `.eml` file: CRLF line ends, headers
    folded only past the RFC 5322 limit (a folded Message-ID trips up some software)."""
    return message.as_bytes(policy=MESSAGE_POLICY)


# --------------------------------------------------------------------------------------------
# SMTP
# --------------------------------------------------------------------------------------------

_LINE_START_DOT = re.compile(rb"(?m)^\.")
_BARE_LINE_END = re.compile(rb"\r\n|\r|\n")


def _smtp_data(message: bytes) -> bytes:
    """The message as SMTP DATA: CRLF line ends, leading dots doubled, CRLF.CRLF at the end."""
    data = _LINE_START_DOT.sub(b"..", _BARE_LINE_END.sub(b"\r\n", message))
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return f"{exc.smtp_code} {text}".strip()
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class EmailChannel:
    """Sends letters by SMTP. One connection per letter: a run sends at most one letter per
    debtor per step, and a fresh connection keeps a failure confined to one letter."""

    kind = ChannelKind.EMAIL

    def __init__(
        self,
        smtp: SmtpSettings,
        options: MessageOptions,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.smtp = smtp
        self.options = options
        self._clock = clock or (lambda: datetime.now(UTC))

    def _where(self) -> str:
        return f"{self.smtp.host}:{self.smtp.effective_port}"

    def _connect(self) -> smtplib.SMTP:
        settings = self.smtp
        try:
            client: smtplib.SMTP
            if settings.security == "ssl":
                client = smtplib.SMTP_SSL(
                    settings.host,
                    settings.effective_port,
                    local_hostname=settings.local_hostname,
                    timeout=settings.timeout,
                    context=settings.tls_context(),
                )
            else:
                client = smtplib.SMTP(
                    settings.host,
                    settings.effective_port,
                    local_hostname=settings.local_hostname,
                    timeout=settings.timeout,
                )
        except (OSError, smtplib.SMTPException) as exc:
            msg = f"cannot connect to the SMTP server {self._where()}: {_describe(exc)}"
            raise ChannelError(msg) from exc
        try:
            client.ehlo()
            if settings.security == "starttls":
                if not client.has_extn("starttls"):
                    msg = f"the SMTP server {self._where()} does not offer STARTTLS"
                    raise ChannelError(msg)
                client.starttls(context=settings.tls_context())
                client.ehlo()
            if settings.username:
                client.login(settings.username, settings.password)
        except ChannelError:
            _close(client)
            raise
        except smtplib.SMTPAuthenticationError as exc:
            _close(client)
            msg = (
                f"the SMTP server {self._where()} refused the login of {settings.username!r}: "
                f"{_describe(exc)}"
            )
            raise ChannelError(msg) from exc
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            _close(client)
            msg = f"SMTP session with {self._where()} failed: {_describe(exc)}"
            raise ChannelError(msg) from exc
        return client

    def send(self, letter: Letter, rendered: Rendered) -> Delivery:
        try:
            message = build_message(letter, rendered, self.options, now=self._clock())
            data = _smtp_data(message_bytes(message))
        except ChannelError:
            raise
        except Exception as exc:  # nothing has left the building: safe to retry after a fix
            msg = f"cannot build the e-mail for {letter.debtor.code}: {type(exc).__name__}: {exc}"
            raise ChannelError(msg) from exc
        recipients = list(debtor_addresses(letter)) + list(self.options.bcc)
        client = self._connect()
        data_started = False
        try:
            refused: dict[str, tuple[int, bytes]] = {}
            code, reply = client.mail(self.options.from_address, _mail_options(client, data))
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, self.options.from_address)
            for address in recipients:
                code, reply = client.rcpt(address)
                if code not in (250, 251):
                    refused[address] = (code, reply)
            if len(refused) == len(recipients):
                raise smtplib.SMTPRecipientsRefused(refused)
            client.putcmd("data")
            code, reply = client.getreply()
            if code != 354:
                raise smtplib.SMTPDataError(code, reply)
            data_started = True
            client.send(data)
            code, reply = client.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            _close(client)
            if data_started and not isinstance(exc, smtplib.SMTPResponseException):
                msg = (
                    f"the connection to {self._where()} was lost after the message for "
                    f"{letter.debtor.code} was handed over ({_describe(exc)}); it may have "
                    "been delivered: check before sending it again"
                )
                raise ChannelUncertain(msg) from exc
            if isinstance(exc, smtplib.SMTPRecipientsRefused):
                details = "; ".join(
                    f"{address}: {_describe(smtplib.SMTPResponseException(*answer))}"
                    for address, answer in exc.recipients.items()
                )
                msg = f"the SMTP server {self._where()} refused every recipient: {details}"
            else:
                msg = (
                    f"the SMTP server {self._where()} did not accept the message: {_describe(exc)}"
                )
            raise ChannelError(msg) from exc
        if code != 250:
            _close(client)
            text = reply.decode("utf-8", "replace")
            msg = f"the SMTP server {self._where()} refused the message: {code} {text}".strip()
            raise ChannelError(msg)
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            _close(client)
        detail = reply.decode("utf-8", "replace").strip()
        if refused:
            detail += "; refused: " + ", ".join(sorted(refused))
        reference = message_id(letter.key, _domain(self.options.from_address))
        return Delivery(channel=self.kind, reference=reference, detail=detail)


def _mail_options(client: smtplib.SMTP, data: bytes) -> list[str]:
    options: list[str] = []
    if client.has_extn("size"):
        options.append(f"SIZE={len(data)}")
    return options


def _close(client: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):  # closing a broken socket
        client.close()
