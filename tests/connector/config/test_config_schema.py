"""Point 12.4: the whole configuration is checked up front against one schema.

Every mistake stops the command with exit code 2 and one line: the file, the key path, what
was expected, and "did you mean" for a near miss. On main these all passed with exit 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import validate_document
from connector.errors import ConfigError
from connector.settings import load_settings
from tests.fakes.cli import cli_runner

STEP = '[[policies.standard.steps]]\nname = "r1"\ndays_after_due = 2\nchannels = ["email"]\n'


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setenv("CONNECTOR_CONFIG", str(tmp_path / "connector.toml"))
    return cli_runner(capsys)


CASES = [
    pytest.param(
        "[dunnig]\napproval = true\n",
        "dunnig: unknown table; expected one of",
        "did you mean 'dunning'?",
        id="unknown-table",
    ),
    pytest.param(
        '[channel.letter]\nfolder = "q"\n',
        "channel: unknown table",
        "did you mean 'channels'?",
        id="channel-singular",
    ),
    pytest.param(
        "[dunning]\napprovl = true\n",
        "dunning.approvl: unknown key",
        "did you mean 'approval'?",
        id="unknown-key",
    ),
    pytest.param(
        '[administrations.acme.sender]\niban = "NL91ABNA0417164301"\n',
        "administrations.acme.sender.iban: expected a valid IBAN",
        "got 'NL91ABNA0417164301'",
        id="invalid-iban",
    ),
    pytest.param(
        STEP + 'template = "reminder1"\n',
        "policies.standard.steps[0].template: expected a template",
        "did you mean 'reminder_1'?",
        id="unknown-template",
    ),
    pytest.param(
        STEP.replace("r1", "reminder_1").replace('["email"]', '["emial"]'),
        "policies.standard.steps[0].channels[0]: expected one of email / letter",
        "did you mean 'email'?",
        id="unknown-channel",
    ),
    pytest.param(
        '[dunning]\ndefault_policy = "standrd"\n' + STEP.replace("r1", "reminder_1"),
        "dunning.default_policy: expected a policy (default, standard)",
        "did you mean 'standard'?",
        id="unknown-policy",
    ),
    pytest.param(
        '[dunning]\nmode = "reveiw"\n',
        "dunning.mode: expected one of review / approval / live",
        "did you mean 'review'?",
        id="mode",
    ),
    pytest.param(
        '[ledgers.exact]\napi_ur = "https://start.exactonline.nl"\n',
        "ledgers.exact.api_ur: unknown key",
        "did you mean 'api_url'?",
        id="adapter-key",
    ),
    pytest.param(
        '[ledgers.exactt]\nclient_id = "x"\n',
        "ledgers.exactt: unknown ledger; installed: exact, files, moneybird, twinfield",
        "did you mean 'exact'?",
        id="unknown-ledger",
    ),
    pytest.param(
        '[providers.mollie]\napi_url = "ftp://x"\n',
        "providers.mollie.api_url: expected an http(s) URL",
        "got 'ftp://x'",
        id="provider-url",
    ),
    pytest.param(
        '[payment_links]\nprovider = "mollie"\napi_key = "test_x"\n',
        "payment_links.api_key: unknown key",
        "expected one of api_url",
        id="secret-in-the-file",
    ),
    pytest.param(
        '[channels.email]\nhost = "smtp"\nfrom_address = "a@b.nl"\nport = "587"\n',
        "channels.email.port: expected a valid integer",
        "got '587'",
        id="wrong-type",
    ),
]


@pytest.mark.parametrize(("text", "where", "hint"), CASES)
@pytest.mark.parametrize("command", [("administrations",), ("dunning", "plan"), ("check",)])
def test_every_command_stops_with_exit_2_and_one_line(cli, tmp_path, text, where, hint, command):
    config = tmp_path / "connector.toml"
    config.write_text(text, encoding="utf-8")
    result = cli(*command)
    assert result.code == 2, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert f"{config}: {where}" in lines[0]
    assert hint in lines[0]
    assert "Traceback" not in result.err


def test_a_correct_full_file_passes(tmp_path):
    folder = tmp_path / "tpl" / "nl"
    folder.mkdir(parents=True)
    (folder / "friendly.j2").write_text("{% extends layout %}", encoding="utf-8")
    text = f"""
timezone = "Europe/Amsterdam"
log_level = "info"
[scheduler]
dunning_time = "09:30"
[dunning]
default_policy = "standard"
mode = "review"
review_folder = "review"
interest_rates_file = "rates.toml"
templates_dir = "{tmp_path / "tpl"}"
[[dunning.segments]]
policy = "standard"
kind = "consumer"
outstanding_min = "1000.00"
[policies.standard]
interest_when_rate_unknown = "omit"
backlog_start_step = "second"
[[policies.standard.steps]]
name = "first"
days_after_due = 2
channels = ["email"]
fallback = "letter"
template = "friendly"
minimum_amount = "5.00"
[[policies.standard.steps]]
name = "second"
days_after_due = 20
channels = ["call"]
template = "no-template-needed-for-a-call"
[administrations."studio-noord"]
mode = "approval"
policy = "standard"
[administrations."studio-noord".sender]
iban = "NL91ABNA0417164300"
kvk_number = "12345678"
creditor_deducts_vat = true
[channels.email]
host = "smtp.example.nl"
port = 587
from_address = "a@example.nl"
timeout = 10
[channels.letter]
folder = "print"
[ledgers.exact]
client_id = "x"
api_url = "https://start.exactonline.nl"
divisions = [123, "456"]
payment_journals = {{ "123" = "21" }}
[ledgers.moneybird]
open_items_since = 2020-01-01
[providers.adyen]
capture = "manual"
[payment_links]
provider = "stripe"
redirect_url = "https://example.nl/thanks"
"""
    path = tmp_path / "connector.toml"
    path.write_text(text, encoding="utf-8")
    settings = load_settings({"CONNECTOR_CONFIG": str(path)})
    assert settings.section("dunning")["mode"] == "review"


def test_backlog_start_step_must_be_a_step_of_its_policy():
    document = {
        "policies": {
            "p": {
                "backlog_start_step": "secnd",
                "steps": [{"name": "second", "days_after_due": 2, "channels": ["call"]}],
            }
        }
    }
    with pytest.raises(ConfigError, match=r"policies\.p\.backlog_start_step: .*did you mean"):
        validate_document(document, "c.toml")


def test_a_missing_templates_folder_is_named(tmp_path: Path):
    with pytest.raises(ConfigError, match="dunning.templates_dir: expected an existing folder"):
        validate_document({"dunning": {"templates_dir": str(tmp_path / "nope")}}, "c.toml")


def test_files_ledger_takes_no_keys_in_the_file():
    with pytest.raises(ConfigError, match=r"ledgers\.files\.path: unknown key; this table"):
        validate_document({"ledgers": {"files": {"path": "x"}}}, "c.toml")


def test_a_plugin_schema_is_found_through_the_registry(monkeypatch):
    """A third-party ledger declares its keys in `<module>.settings_schema`."""
    from importlib.metadata import EntryPoint

    from connector import registry

    original = registry._entry_points

    def entry_points(group):
        found = dict(original(group))
        if group == registry.LEDGER_GROUP:
            found["acme"] = EntryPoint("acme", "adapters.exact:create_ledger", group)
        return found

    monkeypatch.setattr(registry, "_entry_points", entry_points)
    with pytest.raises(ConfigError, match=r"ledgers\.acme\.nope: unknown key"):
        validate_document({"ledgers": {"acme": {"nope": 1}}}, "c.toml")
    validate_document({"ledgers": {"acme": {"api_url": "https://x"}}}, "c.toml")
