from __future__ import annotations

from pathlib import Path

import pytest

from connector.channels.email import EmailChannel
from connector.channels.letter import LetterChannel
from connector.channels.outbox import OutboxChannel
from connector.cli.channels import message_channels
from connector.dunning.model import ChannelKind
from connector.errors import ConfigError
from connector.settings import load_settings


def settings(tmp_path: Path, text: str):
    path = tmp_path / "connector.toml"
    path.write_text(text)
    return load_settings({"CONNECTOR_CONFIG": str(path)})


def test_configured_channels_are_built_and_the_password_comes_from_the_environment(tmp_path):
    s = settings(
        tmp_path,
        """
[channels.email]
host = "smtp.example.nl"
port = 587
username = "dunning@example.nl"
from_address = "herinneringen@example.nl"
bcc = ["archief@example.nl"]

[channels.outbox]
folder = "out"
""",
    )
    channels = message_channels(s, {"CONNECTOR_SMTP_PASSWORD": "s3cret"})
    assert set(channels) == {ChannelKind.EMAIL, ChannelKind.OUTBOX}
    email = channels[ChannelKind.EMAIL]
    assert isinstance(email, EmailChannel) and email.smtp.password == "s3cret"
    assert "s3cret" not in repr(email.smtp)
    assert email.options.bcc == ("archief@example.nl",)
    assert isinstance(channels[ChannelKind.OUTBOX], OutboxChannel)


def test_nothing_configured_means_no_message_channels(tmp_path):
    assert message_channels(settings(tmp_path, ""), {}) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # The schema (connector.config) stops these when the file is read.
        ('[channels.fax]\nnumber = "1"\n', "channels.fax: unknown table"),
        ('[channels.email]\nhost = "x"\n', "channels.email.from_address: required"),
        (
            '[channels.email]\nhost = "x"\nfrom_address = "a@b.nl"\nport = "25"\n',
            "channels.email.port: expected a valid integer",
        ),
        ('[channels.letter]\nfolder = "q"\ncolour = true\n', "letter.colour: unknown key"),
    ],
)
def test_bad_channel_settings_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        message_channels(settings(tmp_path, text), {})


def test_letter_folder_default(tmp_path):
    channels = message_channels(settings(tmp_path, "[channels.letter]\n"), {})
    assert isinstance(channels[ChannelKind.LETTER], LetterChannel)
