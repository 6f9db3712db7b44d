"""The message channels (e-mail, PDF letter, files outbox) built from `[channels.*]`.

    [channels.email]     host, port, security (starttls|ssl|plain), username, from_address,
                         from_name, timeout, ca_file, attach_letter_pdf, bcc
    [channels.letter]    folder   (a print queue)
    [channels.outbox]    folder   (.eml and .pdf files; what the demo uses)

The SMTP password comes from CONNECTOR_SMTP_PASSWORD, never from the file. A channel that is
not configured is simply absent; a policy step that needs it is reported by the run.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from connector.channels.base import Channel
from connector.channels.email import EmailChannel
from connector.channels.email import MessageOptions
from connector.channels.email import SmtpSettings
from connector.channels.letter import LetterChannel
from connector.channels.outbox import OutboxChannel
from connector.dunning.model import ChannelKind
from connector.errors import ConfigError
from connector.settings import Settings

PASSWORD_ENV = "CONNECTOR_SMTP_PASSWORD"  # noqa: S105 - the variable's name, not a password

_EMAIL_KEYS = {
    "host",
    "port",
    "security",
    "username",
    "from_address",
    "from_name",
    "timeout",
    "ca_file",
    "attach_letter_pdf",
    "bcc",
}


def _check(section: Mapping[str, Any], known: set[str], where: str) -> None:
    for key in section:
        if key not in known:
            msg = f"{where}: unknown setting {key!r}; known: {', '.join(sorted(known))}"
            raise ConfigError(msg)


def _value(section: Mapping[str, Any], key: str, kind: type, where: str, default: Any) -> Any:
    value = section.get(key, default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        msg = f"{where}.{key}: expected {kind.__name__}, got {value!r}"
        raise ConfigError(msg)
    return value


def message_channels(settings: Settings, environ: Mapping[str, str]) -> dict[ChannelKind, Channel]:
    """The configured message channels; the others are left out."""
    file = settings.config_path or "connector.toml"
    channels: dict[ChannelKind, Channel] = {}
    builders: dict[str, Callable[[Mapping[str, Any], str], Channel]] = {
        "email": lambda section, where: _email(section, where, environ),
        "letter": lambda section, where: LetterChannel(
            _value(section, "folder", str, where, "./print-queue")
        ),
        "outbox": lambda section, where: OutboxChannel(
            _value(section, "folder", str, where, "./outbox")
        ),
    }
    configured = settings.section("channels")
    for name in configured:
        if name not in builders:
            msg = f"{file}: channels.{name}: unknown channel; known: email, letter, outbox"
            raise ConfigError(msg)
    for name, build in builders.items():
        if name in configured:
            where = f"{file}: channels.{name}"
            section = settings.section("channels", name)
            if name != "email":
                _check(section, {"folder"}, where)
            try:
                channel = build(section, where)
            except (TypeError, ValueError) as exc:
                msg = f"{where}: {exc}"
                raise ConfigError(msg) from exc
            channels[channel.kind] = channel
    return channels


def _email(section: Mapping[str, Any], where: str, environ: Mapping[str, str]) -> Channel:
    _check(section, _EMAIL_KEYS, where)
    if "host" not in section or "from_address" not in section:
        msg = f"{where}: host and from_address are required"
        raise ConfigError(msg)
    bcc = _value(section, "bcc", list, where, [])
    smtp = SmtpSettings(
        host=_value(section, "host", str, where, ""),
        port=_value(section, "port", int, where, 0),
        security=_value(section, "security", str, where, "starttls"),
        username=_value(section, "username", str, where, ""),
        password=environ.get(PASSWORD_ENV, ""),
        timeout=_value(section, "timeout", float, where, 30.0),
        ca_file=_value(section, "ca_file", str, where, ""),
    )
    options = MessageOptions(
        from_address=_value(section, "from_address", str, where, ""),
        from_name=_value(section, "from_name", str, where, ""),
        attach_letter_pdf=_value(section, "attach_letter_pdf", bool, where, False),
        bcc=tuple(str(b) for b in bcc),
    )
    return EmailChannel(smtp, options)
