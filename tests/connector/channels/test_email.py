"""The e-mail channel against a real SMTP server (aiosmtpd) on 127.0.0.1.

Plain, STARTTLS and implicit TLS with a self-signed certificate made here, login, and the
failure semantics the dunning run depends on: refused before the data -> ChannelError (safe
to retry), the connection lost after the data -> ChannelUncertain (never resent by itself).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import io
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from aiosmtpd.smtp import Envelope
from aiosmtpd.smtp import LoginPassword
from aiosmtpd.smtp import Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from PIL import Image

from connector.channels.email import EmailChannel
from connector.channels.email import MessageOptions
from connector.channels.email import SmtpSettings
from connector.channels.email import build_message
from connector.channels.email import message_bytes
from connector.channels.email import message_id
from connector.dunning.model import ChannelKind
from connector.dunning.render import TemplateRenderer
from connector.errors import ChannelError
from connector.errors import ChannelUncertain
from connector.errors import ConfigError
from tests.fakes.letters import business_letter
from tests.fakes.letters import consumer_letter

FROM = "herinneringen@goudenkorenaar.nl"
NOW = dt.datetime(2026, 3, 5, 8, 0, tzinfo=dt.UTC)
USER, PASSWORD = "dunning", "s3cret-pw"


# --------------------------------------------------------------------------------------------
# A real SMTP server
# --------------------------------------------------------------------------------------------


@dataclass
class Recorder:
    """An aiosmtpd handler that keeps what it receives and can misbehave on purpose."""

    received: list[Envelope] = field(default_factory=list)
    refuse_rcpt: set[str] = field(default_factory=set)
    data_reply: str = "250 2.0.0 queued as 42"
    drop_after_data: bool = False
    delay_after_data: float = 0.0

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse_rcpt:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.received.append(envelope)
        if self.drop_after_data:
            server.transport.close()  # the message arrived, the reply never goes out
        if self.delay_after_data:
            await asyncio.sleep(self.delay_after_data)
        return self.data_reply


def _authenticator(
    server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    handler: Recorder
    port: int
    ca_file: str = ""


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, made with `cryptography`."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def _start(handler: Recorder, **kwargs: Any) -> tuple[Controller, int]:
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller, port


@pytest.fixture
def plain_server() -> Iterator[Server]:
    handler = Recorder()
    controller, port = _start(handler)
    yield Server(handler, port)
    controller.stop()


@pytest.fixture
def plain_auth_server() -> Iterator[Server]:
    handler = Recorder()
    controller, port = _start(
        handler, authenticator=_authenticator, auth_required=True, auth_require_tls=False
    )
    yield Server(handler, port)
    controller.stop()


@pytest.fixture
def starttls_server(certificate: tuple[Path, Path]) -> Iterator[Server]:
    handler = Recorder()
    controller, port = _start(
        handler,
        tls_context=_server_context(certificate),
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
    )
    yield Server(handler, port, ca_file=str(certificate[0]))
    controller.stop()


@pytest.fixture
def ssl_server(certificate: tuple[Path, Path]) -> Iterator[Server]:
    handler = Recorder()
    controller, port = _start(
        handler,
        ssl_context=_server_context(certificate),
        authenticator=_authenticator,
        auth_required=True,
        auth_require_tls=False,  # aiosmtpd counts only STARTTLS as TLS; this is implicit TLS
    )
    yield Server(handler, port, ca_file=str(certificate[0]))
    controller.stop()


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer()


def _channel(server: Server, **settings: Any) -> EmailChannel:
    smtp = SmtpSettings(
        **{"host": "127.0.0.1", "port": server.port, "security": "plain", "timeout": 5, **settings}
    )
    return EmailChannel(smtp, MessageOptions(from_address=FROM), clock=lambda: NOW)


def _parse_bytes(content: bytes) -> EmailMessage:
    message = email.message_from_bytes(content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _parse(envelope: Envelope) -> EmailMessage:
    content = envelope.original_content or envelope.content
    assert isinstance(content, bytes)
    return _parse_bytes(content)


# --------------------------------------------------------------------------------------------
# Delivery
# --------------------------------------------------------------------------------------------


def test_plain_delivery_and_the_message(plain_server: Server, renderer: TemplateRenderer) -> None:
    letter = business_letter()
    rendered = renderer.render(letter, with_pdf=False)
    delivery = _channel(plain_server).send(letter, rendered)

    assert len(plain_server.handler.received) == 1
    envelope = plain_server.handler.received[0]
    assert envelope.mail_from == FROM
    assert envelope.rcpt_tos == ["admin@jansen.example"]
    message = _parse(envelope)
    assert delivery.channel is ChannelKind.EMAIL
    assert (
        delivery.reference == message["Message-ID"] == message_id(letter.key, "goudenkorenaar.nl")
    )
    assert "queued as 42" in delivery.detail
    assert message["Subject"] == "Herinnering: factuur F2026-0012"
    assert (
        message["Reply-To"] == '"Bakkerij De Gouden Korenaar B.V." <debiteuren@goudenkorenaar.nl>'
    )
    assert message["From"] == f'"Bakkerij De Gouden Korenaar B.V." <{FROM}>'
    assert message["To"] == '"Installatiebedrijf Jansen & Zn. B.V." <admin@jansen.example>'
    assert message["Date"] == "Thu, 05 Mar 2026 08:00:00 +0000"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Dunning-Key"] == letter.key
    # multipart/alternative: text and HTML, the QR code as an inline related image
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert text.get_content().replace("\r\n", "\n") == rendered.text
    assert "€\xa01.234,56" in html.get_content()
    related = message.get_payload()[1]  # type: ignore[index]
    assert related.get_content_type() == "multipart/related"
    image = related.get_payload()[1]
    assert image.get_content_type() == "image/png"
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html.get_content()
    assert "data:image/png" not in html.get_content()
    decoded = zxingcpp.read_barcode(Image.open(io.BytesIO(image.get_content())))
    assert decoded is not None and decoded.bytes.startswith(b"BCD\n002\n1\nSCT\n")
    # 7-bit clean: any relay takes it
    assert max(envelope.original_content or b"") < 128


def test_message_id_is_deterministic_per_action(
    plain_server: Server, renderer: TemplateRenderer
) -> None:
    letter = business_letter()
    rendered = renderer.render(letter, with_pdf=False)
    channel = _channel(plain_server)
    first = channel.send(letter, rendered)
    second = channel.send(letter, rendered)
    other = channel.send(replace(letter, key="1/D-2001/reminder_1/2"), rendered)
    assert first.reference == second.reference != other.reference
    ids = [_parse(envelope)["Message-ID"] for envelope in plain_server.handler.received]
    assert ids[0] == ids[1] != ids[2]


def test_starttls_with_login(starttls_server: Server, renderer: TemplateRenderer) -> None:
    letter = business_letter()
    channel = _channel(
        starttls_server,
        security="starttls",
        username=USER,
        password=PASSWORD,
        ca_file=starttls_server.ca_file,
    )
    channel.send(letter, renderer.render(letter, with_pdf=False))
    assert len(starttls_server.handler.received) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_with_login(ssl_server: Server, renderer: TemplateRenderer) -> None:
    letter = business_letter()
    channel = _channel(
        ssl_server, security="ssl", username=USER, password=PASSWORD, ca_file=ssl_server.ca_file
    )
    channel.send(letter, renderer.render(letter, with_pdf=False))
    assert len(ssl_server.handler.received) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_plain_login_for_a_local_relay(
    plain_auth_server: Server, renderer: TemplateRenderer
) -> None:
    letter = business_letter()
    _channel(plain_auth_server, username=USER, password=PASSWORD).send(
        letter, renderer.render(letter, with_pdf=False)
    )
    assert len(plain_auth_server.handler.received) == 1


def test_attachments(plain_server: Server, renderer: TemplateRenderer) -> None:
    invoice = ("factuur-F2026-0012.pdf", b"%PDF-1.4 the invoice")
    letter = business_letter(template="reminder_2", attach_invoices=True, invoice_pdfs=(invoice,))
    rendered = renderer.render(letter, with_pdf=False)
    smtp = SmtpSettings(host="127.0.0.1", port=plain_server.port, security="plain")
    options = MessageOptions(from_address=FROM, attach_letter_pdf=True)
    EmailChannel(smtp, options, clock=lambda: NOW).send(letter, rendered)
    message = _parse(plain_server.handler.received[0])
    assert message.get_content_type() == "multipart/mixed"
    files = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    assert files["factuur-F2026-0012.pdf"] == b"%PDF-1.4 the invoice"
    assert files["brief-D-2001-2026-03-05.pdf"].startswith(b"%PDF")
    # a step that also goes by post gets no PDF letter in the e-mail
    by_post = replace(letter, channels=(ChannelKind.EMAIL, ChannelKind.LETTER))
    message = _parse_bytes(message_bytes(build_message(by_post, rendered, options, now=NOW)))
    assert [part.get_filename() for part in message.iter_attachments()] == [
        "factuur-F2026-0012.pdf"
    ]


def test_several_addresses_and_bcc(plain_server: Server, renderer: TemplateRenderer) -> None:
    letter = business_letter()
    letter = replace(
        letter,
        debtor=replace(letter.debtor, email="admin@jansen.example; boekhouding@jansen.example"),
    )
    smtp = SmtpSettings(host="127.0.0.1", port=plain_server.port, security="plain")
    options = MessageOptions(from_address=FROM, bcc=("archief@goudenkorenaar.nl",))
    EmailChannel(smtp, options).send(letter, renderer.render(letter, with_pdf=False))
    envelope = plain_server.handler.received[0]
    assert envelope.rcpt_tos == [
        "admin@jansen.example",
        "boekhouding@jansen.example",
        "archief@goudenkorenaar.nl",
    ]
    message = _parse(envelope)
    assert "archief" not in str(message)  # Bcc only in the envelope
    assert "boekhouding@jansen.example" in message["To"]


def test_one_refused_recipient_of_two_still_delivers(
    plain_server: Server, renderer: TemplateRenderer
) -> None:
    plain_server.handler.refuse_rcpt = {"oud@jansen.example"}
    letter = business_letter()
    letter = replace(
        letter, debtor=replace(letter.debtor, email="oud@jansen.example, admin@jansen.example")
    )
    delivery = _channel(plain_server).send(letter, renderer.render(letter, with_pdf=False))
    assert plain_server.handler.received[0].rcpt_tos == ["admin@jansen.example"]
    assert "refused: oud@jansen.example" in delivery.detail


# --------------------------------------------------------------------------------------------
# Failures
# --------------------------------------------------------------------------------------------


def test_refused_connection_is_a_channel_error(renderer: TemplateRenderer) -> None:
    letter = business_letter()
    channel = _channel(Server(Recorder(), _free_port()))
    with pytest.raises(ChannelError, match="cannot connect") as caught:
        channel.send(letter, renderer.render(letter, with_pdf=False))
    assert not isinstance(caught.value, ChannelUncertain)


def test_wrong_password_is_a_channel_error(
    starttls_server: Server, renderer: TemplateRenderer
) -> None:
    letter = business_letter()
    channel = _channel(
        starttls_server,
        security="starttls",
        username=USER,
        password="wrong",
        ca_file=starttls_server.ca_file,
    )
    with pytest.raises(ChannelError, match="refused the login") as caught:
        channel.send(letter, renderer.render(letter, with_pdf=False))
    assert not isinstance(caught.value, ChannelUncertain)
    assert starttls_server.handler.received == []


def test_untrusted_certificate_is_a_channel_error(
    starttls_server: Server, renderer: TemplateRenderer
) -> None:
    letter = business_letter()
    channel = _channel(starttls_server, security="starttls", username=USER, password=PASSWORD)
    with pytest.raises(ChannelError, match="CERTIFICATE_VERIFY_FAILED|certificate verify"):
        channel.send(letter, renderer.render(letter, with_pdf=False))
    assert starttls_server.handler.received == []


def test_starttls_required_but_not_offered(
    plain_server: Server, renderer: TemplateRenderer
) -> None:
    letter = business_letter()
    with pytest.raises(ChannelError, match="does not offer STARTTLS"):
        _channel(plain_server, security="starttls").send(
            letter, renderer.render(letter, with_pdf=False)
        )


def test_every_recipient_refused(plain_server: Server, renderer: TemplateRenderer) -> None:
    plain_server.handler.refuse_rcpt = {"admin@jansen.example"}
    letter = business_letter()
    with pytest.raises(ChannelError, match="refused every recipient.*550") as caught:
        _channel(plain_server).send(letter, renderer.render(letter, with_pdf=False))
    assert not isinstance(caught.value, ChannelUncertain)
    assert plain_server.handler.received == []


def test_a_refusal_after_the_data_is_a_channel_error(
    plain_server: Server, renderer: TemplateRenderer
) -> None:
    plain_server.handler.data_reply = "451 4.3.0 try again later"
    letter = business_letter()
    with pytest.raises(ChannelError, match="451") as caught:
        _channel(plain_server).send(letter, renderer.render(letter, with_pdf=False))
    assert not isinstance(caught.value, ChannelUncertain)


def test_connection_dropped_after_data_is_uncertain(
    plain_server: Server, renderer: TemplateRenderer
) -> None:
    plain_server.handler.drop_after_data = True
    letter = business_letter()
    with pytest.raises(ChannelUncertain, match="may have been delivered"):
        _channel(plain_server).send(letter, renderer.render(letter, with_pdf=False))
    # and indeed the server has the message: resending it would send it twice
    assert len(plain_server.handler.received) == 1


def test_no_final_reply_in_time_is_uncertain(
    plain_server: Server, renderer: TemplateRenderer
) -> None:
    plain_server.handler.delay_after_data = 3
    letter = business_letter()
    with pytest.raises(ChannelUncertain, match="timed out"):
        _channel(plain_server, timeout=0.5).send(letter, renderer.render(letter, with_pdf=False))


def test_debtor_without_email_address(renderer: TemplateRenderer) -> None:
    letter = consumer_letter()
    letter = replace(letter, debtor=replace(letter.debtor, email=""))
    channel = _channel(Server(Recorder(), _free_port()))  # nothing listens: never connected
    with pytest.raises(ChannelError, match="K-10442.*has no e-mail address"):
        channel.send(letter, renderer.render(letter, with_pdf=False))
    bad = replace(letter, debtor=replace(letter.debtor, email="not an address"))
    with pytest.raises(ChannelError, match="'not an address' is not an e-mail address"):
        channel.send(bad, renderer.render(bad, with_pdf=False))


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="host"):
        SmtpSettings(host="")
    with pytest.raises(ConfigError, match="security"):
        SmtpSettings(host="x", security="tls")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="CONNECTOR_SMTP_PASSWORD"):
        SmtpSettings(host="x", username="me")
    with pytest.raises(ConfigError, match="from_address"):
        MessageOptions(from_address="nobody")
    assert SmtpSettings(host="x").effective_port == 587
    assert SmtpSettings(host="x", security="ssl").effective_port == 465
    assert "s3cret" not in repr(SmtpSettings(host="x", username="me", password="s3cret"))
