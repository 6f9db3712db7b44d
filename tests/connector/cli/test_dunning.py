"""`connector dunning | dispute | arrangement | pause | tasks` end to end on a files ledger."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.fakes.cli import cli_runner

AMOUNT = re.compile(r"^-?\d+\.\d{2}$")

ITEMS = """invoice_number,debtor_code,invoice_date,due_date,amount,open_amount,currency
F-1,K1,2024-12-01,2025-01-01,100.00,100.00,EUR
F-2,K1,2024-12-05,2025-01-05,250.00,250.00,EUR
F-3,K1,2024-12-20,2025-01-20,-30.00,-30.00,EUR
F-4,K2,2024-12-01,2025-01-01,80.00,80.00,EUR
F-5,K3,2024-12-01,2025-03-01,500.00,500.00,EUR
"""
DEBTORS = """debtor_code,name,kind,email,phone,street,postal_code,city,country
K1,Bakkerij Korf,business,k1@example.nl,050-1111111,Dorpsstraat 1,9711 AA,Groningen,NL
K2,J. Jansen,consumer,,,Kerkpad 2,9712 BB,Groningen,NL
K3,Later BV,business,k3@example.nl,,Markt 3,9713 CC,Groningen,NL
"""
# The administration as sender: complete, so that its letters are not held.
SENDER = """
[administrations.export.sender]
street = "Molenstraat 12"
postal_code = "3512 AB"
city = "Utrecht"
email = "debiteuren@export.example"
iban = "NL91ABNA0417164300"
kvk_number = "12345678"
"""
# Until the e-mail, letter and outbox channels are wired in the CLI, runs use these two.
CALLS = """
[policies.default]
min_days_between_letters = 0
[[policies.default.steps]]
name = "bellen"
kind = "reminder"
days_after_due = 3
channels = ["call"]
[[policies.default.steps]]
name = "incasso"
kind = "collection"
days_after_previous = 14
channels = ["collection"]
template = "collection_notice"
collection_costs = "bik"
"""


@pytest.fixture
def cli(store_url, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)

    return cli_runner(capsys)


@pytest.fixture
def books(cli, tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "items.csv").write_text(ITEMS, encoding="utf-8")
    (folder / "debtors.csv").write_text(DEBTORS, encoding="utf-8")
    assert cli("init").code == 0
    assert cli("connect", "files", "--path", str(folder)).code == 0
    result = cli("sync")
    assert result.code == 0, result.err
    config(tmp_path, "", monkeypatch)
    return folder


def config(tmp_path: Path, text: str, monkeypatch) -> None:
    path = tmp_path / "connector.toml"
    path.write_text(text + SENDER, encoding="utf-8")
    monkeypatch.setenv("CONNECTOR_CONFIG", str(path))


def test_plan_json_has_one_object_per_letter(cli, books):
    result = cli("dunning", "plan", "--date", "2025-01-10", "--json")
    assert result.code == 0, result.err
    letters = result.json()
    assert [(x["debtor_code"], x["step"]) for x in letters] == [
        ("K1", "reminder_1"),
        ("K2", "reminder_1"),
    ]
    k1 = letters[0]
    for key in (
        "administration",
        "debtor_code",
        "step",
        "channels",
        "invoice_numbers",
        "principal",
        "collection_costs",
        "interest",
        "total",
    ):
        assert key in k1
    assert k1["invoice_numbers"] == ["F-1", "F-2", "F-3"]  # the credit note is netted
    assert k1["principal"] == "320.00" and k1["total"] == "320.00"
    assert k1["channels"] == ["email"]
    assert letters[1]["channels"] == ["letter"]  # no e-mail address
    for letter in letters:
        for field in ("principal", "collection_costs", "interest", "total"):
            assert AMOUNT.match(letter[field]), letter[field]
    text = cli("dunning", "plan", "--date", "2025-01-10")
    assert "reminder_1" in text.out and "320.00" in text.out
    assert "K2/reminder_1/1: debtor has no e-mail address: sent by letter instead of email" in (
        text.out
    )


def test_run_sends_once_and_history_and_tasks_show_it(cli, books, tmp_path, monkeypatch):
    config(tmp_path, CALLS, monkeypatch)
    dry = cli("dunning", "run", "--date", "2025-01-10", "--dry-run")
    assert dry.code == 0 and "dry run" in dry.out and "bellen" in dry.out
    assert cli("dunning", "history", "--json").json() == []  # a dry run stores nothing
    first = cli("dunning", "run", "--date", "2025-01-10")
    assert first.code == 0, first.err
    assert "sent 1/K1/bellen/1: task" in first.out
    assert "sent 1/K2/bellen/1: task" in first.out
    second = cli("dunning", "run", "--date", "2025-01-10")
    assert second.code == 0 and " 0 sent" in second.out
    tasks = cli("tasks", "--json").json()
    assert [(t["debtor_code"], t["phone"], t["status"]) for t in tasks] == [
        ("K1", "050-1111111", "open"),
        ("K2", "", "open"),
    ]
    assert cli("tasks", "done", str(tasks[0]["id"]), "--note", "belt morgen terug").code == 0
    assert [t["debtor_code"] for t in cli("tasks", "--json").json()] == ["K2"]
    history = cli("dunning", "history", "--json").json()
    assert [(h["key"], h["status"]) for h in history] == [
        ("1/K1/bellen/1", "sent"),
        ("1/K2/bellen/1", "sent"),
    ]
    assert all(AMOUNT.match(h["total"]) for h in history)
    # The hand-over: a dossier per debtor in JSON and CSV.
    handover = cli("dunning", "run", "--date", "2025-01-24")
    assert handover.code == 0, handover.err
    dossier = json.loads((tmp_path / "collection" / "1_K1_incasso_1.json").read_text())
    assert dossier["debtor"]["name"] == "Bakkerij Korf"
    assert [i["invoice_number"] for i in dossier["claim"]["items"]] == ["F-1", "F-2", "F-3"]
    assert dossier["claim"]["collection_costs"] == "48.00"  # BIK over 320.00
    assert [x["step"] for x in dossier["letters"]] == ["bellen"]
    assert (
        (tmp_path / "collection" / "1_K1_incasso_1.csv")
        .read_text()
        .startswith("invoice_number,invoice_date")
    )


def test_a_missing_channel_is_one_line_and_exit_2(cli, books):
    result = cli("dunning", "run", "--date", "2025-01-10")
    assert result.code == 2
    assert result.err.strip() == (
        "connector: error: dunning needs the email, letter channels, which are not configured; "
        "configure it or change the policy's channels"
    )


def test_approval_mode(cli, books, tmp_path, monkeypatch):
    config(tmp_path, CALLS + "\n[administrations.export]\napproval = true\n", monkeypatch)
    first = cli("dunning", "run", "--date", "2025-01-10")
    assert "2 letter(s) await approval" in first.out and " 0 sent" in first.out
    assert cli("dunning", "approve").code == 2
    ids = [h["id"] for h in cli("dunning", "history", "--json").json() if h["debtor_code"] == "K1"]
    approved = cli("dunning", "approve", *map(str, ids))
    assert approved.code == 0 and "approved 1 letter(s)" in approved.out
    assert "sent 1/K1/bellen/1" in cli("dunning", "run", "--date", "2025-01-10").out
    assert "approved 1 letter(s)" in cli("dunning", "approve", "--all").out


def test_dispute_pauses_one_item_and_resolve_resumes(cli, books):
    opened = cli("dispute", "open", "F-1", "--reason", "broden niet geleverd")
    assert opened.code == 0, opened.err
    assert "dunning paused; the files ledger cannot record disputes" in opened.out
    letters = cli("dunning", "plan", "--date", "2025-01-10", "--json").json()
    assert letters[0]["invoice_numbers"] == ["F-2", "F-3"]
    listed = cli("dispute", "list", "--json").json()
    assert [(x["invoice_number"], x["status"]) for x in listed] == [("F-1", "open")]
    assert cli("dispute", "resolve", "F-1", "--note", "creditnota volgt").code == 0
    letters = cli("dunning", "plan", "--date", "2025-01-10", "--json").json()
    assert letters[0]["invoice_numbers"] == ["F-1", "F-2", "F-3"]
    again = cli("dispute", "resolve", "F-1")
    assert again.code == 2 and "has no open dispute" in again.err
    missing = cli("dispute", "open", "F-99", "--reason", "x")
    assert missing.code == 1 and "no item 'F-99'" in missing.err


def test_arrangement_holds_the_debtors_items(cli, books):
    created = cli(
        "arrangement", "create", "--debtor", "K1", "--instalments", "3", "--first", "2025-01-31"
    )
    assert created.code == 0, created.err
    assert (
        "320.00 EUR for debtor K1 in 3 instalment(s) from 2025-01-31 to 2025-03-31" in created.out
    )
    [found] = cli("arrangement", "list", "--json").json()
    assert [(i["due_on"], i["amount"]) for i in found["instalments"]] == [
        ("2025-01-31", "106.66"),
        ("2025-02-28", "106.66"),
        ("2025-03-31", "106.68"),
    ]
    letters = cli("dunning", "plan", "--date", "2025-01-10", "--json").json()
    assert [x["debtor_code"] for x in letters] == ["K2"]
    twice = cli(
        "arrangement", "create", "--debtor", "K1", "--instalments", "2", "--first", "2025-02-01"
    )
    assert twice.code == 2 and "already has payment arrangement" in twice.err
    bad = cli(
        "arrangement",
        "create",
        "--debtor",
        "K1",
        "--instalments",
        "2",
        "--first",
        "2025-02-01",
        "--every",
        "1y",
    )
    assert bad.code == 2 and "--every: expected a period such as 1m, 2w or 14d" in bad.err
    assert cli("arrangement", "cancel", str(found["id"])).code == 0
    letters = cli("dunning", "plan", "--date", "2025-01-10", "--json").json()
    assert [x["debtor_code"] for x in letters] == ["K1", "K2"]


def test_pause_exclude_and_policy_overrides(cli, books, tmp_path, monkeypatch):
    config(
        tmp_path,
        CALLS.replace("[policies.default]", "[policies.calls]").replace(
            "policies.default.steps", "policies.calls.steps"
        ),
        monkeypatch,
    )
    paused = cli("pause", "add", "--debtor", "K1", "--until", "2025-02-01", "--reason", "mahnstop")
    assert paused.code == 0 and "debtor K1 paused until 2025-02-01" in paused.out
    assert [
        x["debtor_code"] for x in cli("dunning", "plan", "--date", "2025-01-10", "--json").json()
    ] == ["K2"]
    assert cli("pause", "add", "--item", "F-4", "--exclude").code == 2  # needs a reason
    assert cli("pause", "add", "--item", "F-4", "--exclude", "--reason", "bewind").code == 0
    assert cli("dunning", "plan", "--date", "2025-01-10", "--json").json() == []
    rerouted = cli("pause", "add", "--debtor", "K3", "--policy", "calls")
    assert rerouted.code == 0 and "dunned under policy calls" in rerouted.out
    planned = cli("dunning", "plan", "--date", "2025-03-05", "--json").json()
    [k3] = [x for x in planned if x["debtor_code"] == "K3"]
    assert (k3["debtor_code"], k3["step"]) == ("K3", "bellen")
    overrides = cli("pause", "list", "--json").json()
    assert [o["kind"] for o in overrides] == ["pause", "exclude", "policy"]
    assert cli("pause", "lift", str(overrides[0]["id"])).code == 0
    assert cli("pause", "lift", str(overrides[0]["id"])).code == 2
    assert [
        x["debtor_code"] for x in cli("dunning", "plan", "--date", "2025-01-10", "--json").json()
    ] == ["K1"]
    unknown = cli("pause", "add", "--debtor", "K3", "--policy", "nope")
    assert unknown.code == 2 and "no policy 'nope'" in unknown.err
    neither = cli("pause", "add", "--until", "2025-02-01", "--reason", "x")
    assert neither.code == 2 and "name either --item ITEM or --debtor CODE" in neither.err


def test_resolve_an_uncertain_letter_needs_a_verdict(cli, books):
    assert cli("dunning", "resolve", "1").code == 2
    missing = cli("dunning", "resolve", "1", "--sent")
    assert missing.code == 1 and "no dunning action 1" in missing.err


def test_an_interrupted_letter_is_listed_as_uncertain_and_can_be_resolved(
    cli, books, tmp_path, monkeypatch
):
    from sqlalchemy import update

    from connector.dunning.tables import dunning_actions
    from connector.store import Store

    config(tmp_path, CALLS + "\n[administrations.export]\napproval = true\n", monkeypatch)
    assert cli("dunning", "run", "--date", "2025-01-10").code == 0
    [k1, _k2] = cli("dunning", "history", "--json").json()
    store = Store(monkeypatch_url(monkeypatch))
    with store.begin() as conn:  # as a run killed while sending leaves it
        conn.execute(
            update(dunning_actions).where(dunning_actions.c.id == k1["id"]).values(status="sending")
        )
    store.dispose()
    run = cli("dunning", "run", "--date", "2025-01-11")
    assert run.code == 0, run.err
    assert f"UNCERTAIN 1/K1/bellen/1 (action {k1['id']})" in run.out
    assert f"connector dunning resolve {k1['id']} --sent|--not-sent" in run.out
    listed = cli("dunning", "history", "--status", "uncertain", "--json").json()
    assert [x["key"] for x in listed] == ["1/K1/bellen/1"]
    assert "interrupted" in listed[0]["status_reason"]
    resolved = cli("dunning", "resolve", str(k1["id"]), "--not-sent")
    assert resolved.code == 0 and "is now failed" in resolved.out


def monkeypatch_url(monkeypatch) -> str:
    import os

    return os.environ["CONNECTOR_DATABASE_URL"]


def test_the_scheduler_job_runs_every_administration_and_logs(
    cli, books, tmp_path, monkeypatch, caplog
):
    from connector.cli.dunning import dunning_job

    config(tmp_path, CALLS, monkeypatch)
    with caplog.at_level("INFO", logger="connector.dunning"):
        dunning_job(str(tmp_path / "connector.toml"))
    history = cli("dunning", "history", "--json").json()
    assert sorted((h["debtor_code"], h["status"]) for h in history) == [
        ("K1", "sent"),
        ("K2", "sent"),
        ("K3", "sent"),
    ]
    assert "dunning export" in caplog.text and "3 sent" in caplog.text


def test_a_ledger_that_records_disputes_is_told(cli, books, monkeypatch):
    """`dispute open/resolve` flag and clear the dispute in a ledger that can take it."""
    import os
    from types import SimpleNamespace

    from sqlalchemy import select

    from connector.cli import dunning as dunning_cli
    from connector.ports import Capabilities
    from connector.store import Store
    from connector.store import records
    from connector.store.schema import open_items

    calls: list[tuple[str, str, str]] = []

    class Flagging:
        name = "fake"
        capabilities = Capabilities(flag_dispute=True)

        def flag_dispute(self, administration, item, reason, idempotency_key):
            calls.append(("flag", item.invoice_number, idempotency_key))

        def clear_dispute(self, administration, item, idempotency_key):
            calls.append(("clear", item.invoice_number, idempotency_key))

    store = Store(os.environ["CONNECTOR_DATABASE_URL"])
    ctx = SimpleNamespace(store=lambda: store, ledger_for=lambda _c: Flagging())
    with store.begin() as conn:
        [admin] = records.list_administrations(conn)
        row = conn.execute(select(open_items).where(open_items.c.invoice_number == "F-1")).one()
    told = dunning_cli._tell_ledger(ctx, admin, row, True, "klacht", "dispute-1-open")
    assert told == "the ledger was told"
    dunning_cli._tell_ledger(ctx, admin, row, False, "opgelost", "dispute-1-resolve")
    assert calls == [("flag", "F-1", "dispute-1-open"), ("clear", "F-1", "dispute-1-resolve")]
    store.dispose()
