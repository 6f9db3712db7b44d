"""`connector check` (point 12.4): one line per problem, exit 1 if any, exit 0 on the demo.

The SMTP check talks to a real SMTP server (aiosmtpd) on 127.0.0.1.
"""

from __future__ import annotations

import socket
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from connector.cli.check import CHECKS
from connector.cli.check import run_checks
from connector.cli.context import Context
from connector.oauth import records as oauth_records
from connector.store import Store
from connector.store import records
from tests.fakes.cli import cli_runner

ITEMS = (
    "administration,debtor_code,debtor_name,invoice_number,due_date,open_amount,currency\n"
    "acme,K1,Klant Een,F-1,2024-12-01,100.00,EUR\n"
)


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setenv("CONNECTOR_CONFIG", str(tmp_path / "connector.toml"))
    _config(tmp_path, "")
    return cli_runner(capsys)


# The shipped interest-rate table ends before today (its next half-year is not confirmed), so
# `connector check` rightly reports it on any real date. These tests check the other checks, so
# they add one row through `[dunning] interest_rates_file`: test data, not a published rate.
TEST_RATES = (
    "format = 1\nknown_through = 2099-12-31\n[[rates]]\neffective_from = 2026-07-01\n"
    'consumer = "4"\ncommercial = "10.15"\nsource = "test data only"\n'
)
# acme's complete sender, so that the dunning readiness check finds nothing to hold.
ACME_SENDER = (
    '[administrations.acme.sender]\nname = "Acme B.V."\nstreet = "Kade 1"\n'
    'postal_code = "1011 AA"\ncity = "Amsterdam"\niban = "NL91ABNA0417164300"\n'
    'kvk_number = "12345678"\nemail = "debiteuren@acme.example"\n'
)


def _config(tmp_path: Path, text: str) -> None:
    """connector.toml with `text`; where it configures dunning, with acme's sender and the
    test rate row too."""
    (tmp_path / "rates.toml").write_text(TEST_RATES, encoding="utf-8")
    if not text:
        pass  # no dunning configured: no dunning checks
    elif "[dunning]" in text:
        text = text.replace(
            "[dunning]\n", f'[dunning]\ninterest_rates_file = "{tmp_path / "rates.toml"}"\n', 1
        )
    else:
        text = f'[dunning]\ninterest_rates_file = "{tmp_path / "rates.toml"}"\n' + text
    if text and "[administrations.acme" not in text:
        text += "\n" + ACME_SENDER
    (tmp_path / "connector.toml").write_text(text, encoding="utf-8")


@pytest.fixture
def books(cli, tmp_path):
    folder = tmp_path / "acme"  # the administration's name
    folder.mkdir()
    (folder / "items.csv").write_text(ITEMS, encoding="utf-8")
    assert cli("init").code == 0
    assert cli("connect", "files", "--name", "books", "--path", str(folder)).code == 0
    assert cli("sync").code == 0
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Sink:
    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        return "250 OK"


def test_the_demo_store_checks_clean(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    cli = cli_runner(capsys)
    assert cli("demo").code == 0
    result = cli("check")
    # Today lies past the shipped rate table: that, and only that, is reported.
    assert result.code == 1
    assert [line.split(":")[0] for line in result.out.strip().splitlines()] == [
        "interest rate table ends 2026-06-30"
    ]
    (tmp_path / "rates.toml").write_text(TEST_RATES, encoding="utf-8")
    config = tmp_path / "connector.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "[dunning]\n", f'[dunning]\ninterest_rates_file = "{tmp_path / "rates.toml"}"\n', 1
        ),
        encoding="utf-8",
    )
    result = cli("check")
    assert result.code == 0, result.out + result.err
    assert "no problems" in result.out


def test_a_store_that_is_not_set_up_is_one_line(cli):
    result = cli("check")
    assert result.code == 1
    assert result.out.strip().splitlines() == [
        f"the store sqlite:///{Path.cwd() / 'c.db'} is not set up; run: connector init"
    ]


def test_a_connection_that_needs_a_person_and_a_missing_folder(cli, books, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    with store.begin() as conn:
        gone = records.save_connection(
            conn,
            name="old",
            ledger="files",
            config={"path": str(tmp_path / "nope")},
            now=datetime.now(UTC),
        )
        dead = records.save_connection(
            conn,
            name="dead",
            ledger="files",
            config={"path": str(books)},
            now=datetime.now(UTC),
        )
        oauth_records.set_status(
            conn,
            dead.id,
            oauth_records.RECONNECT_REQUIRED,
            "the grant was revoked",
            datetime.now(UTC),
        )
    store.dispose()
    result = cli("check")
    assert result.code == 1
    lines = result.out.strip().splitlines()
    assert any(
        line.startswith("connection 'dead' (files): reconnect_required: the grant was revoked")
        for line in lines
    ), lines
    assert any(
        line.startswith("connection 'old' (files):") and "does not exist" in line for line in lines
    ), lines
    assert gone.id != dead.id and len(lines) == 2


def test_a_typoed_administration_is_caught_where_the_store_is_known(cli, books, tmp_path):
    _config(tmp_path, "[administrations.acmee]\napproval = true\n")
    result = cli("check")
    assert result.code == 1
    (line,) = [x for x in result.out.splitlines() if "acmee" in x]
    assert "administrations.acmee: no administration 'acmee' in the store" in line
    assert "did you mean 'acme'?" in line
    plan = cli("dunning", "plan")
    assert plan.code == 2
    assert plan.err.strip().splitlines() == [f"connector: error: {line}"]


def test_channels_smtp_reachable_and_folders_writable(cli, books, tmp_path):
    controller = Controller(_Sink(), hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        (tmp_path / "a-file").write_text("x", encoding="utf-8")
        closed = _free_port()
        good = (
            f'[channels.email]\nhost = "127.0.0.1"\nport = {controller.port}\n'
            'security = "plain"\nfrom_address = "a@example.nl"\ntimeout = 5\n'
            '[channels.letter]\nfolder = "print/queue"\n'
        )
        _config(tmp_path, good)
        result = cli("check")
        assert result.code == 0, result.out + result.err
        _config(
            tmp_path,
            good.replace(str(controller.port), str(closed)).replace("print/queue", "a-file/q"),
        )
        result = cli("check")
        assert result.code == 1
        lines = result.out.strip().splitlines()
        assert lines[0].startswith(f"cannot reach the SMTP server 127.0.0.1:{closed}: ")
        assert lines[1].startswith("the letter folder a-file/q cannot be made")
        assert len(lines) == 2
    finally:
        controller.stop()


def test_a_policy_channel_that_is_not_configured(cli, books, tmp_path):
    _config(
        tmp_path,
        '[dunning]\ndefault_policy = "p"\n[[policies.p.steps]]\nname = "reminder_1"\n'
        'days_after_due = 2\nchannels = ["letter"]\n',
    )
    result = cli("check")
    assert result.code == 1
    assert result.out.strip().splitlines() == [
        f"{tmp_path / 'connector.toml'}: policies.p sends by letter (steps reminder_1), but "
        "[channels.letter] is not configured"
    ]


def test_more_checks_are_one_line_each(cli, books):
    ctx = Context(config_path=None, debug=False)
    try:
        extra = [*CHECKS, lambda _ctx: ["sender of acme has no IBAN"]]
        assert run_checks(ctx, extra) == ["sender of acme has no IBAN"]
    finally:
        ctx.close()


def test_payment_links_without_their_api_key(cli, books, tmp_path, monkeypatch):
    monkeypatch.delenv("CONNECTOR_MOLLIE_API_KEY", raising=False)
    _config(tmp_path, '[payment_links]\nprovider = "mollie"\n')
    result = cli("check")
    assert result.code == 1
    assert "CONNECTOR_MOLLIE_API_KEY is not set" in result.out
