"""The store-bound channels: call tasks and the collection hand-over dossier."""

from __future__ import annotations

import csv
import json
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest

from connector.channels.call import CallChannel
from connector.channels.collection import CollectionChannel
from connector.channels.collection import file_stem
from connector.dunning import store as dstore
from connector.dunning.model import ChannelKind
from connector.dunning.run import summary
from connector.errors import ChannelError
from tests.fakes.dunning import D
from tests.fakes.dunning import World
from tests.fakes.dunning import d
from tests.fakes.dunning import ledger_item

NOW = datetime(2025, 3, 1, tzinfo=UTC)


def hand_over(world: World, folder: Path) -> dict:
    """Take D1's two invoices through the default policy up to the hand-over."""
    world.channels[ChannelKind.COLLECTION] = CollectionChannel(world.store, folder)  # type: ignore[assignment]
    world.set_items(
        [
            ledger_item(1, amount="1000.00", due="2025-01-10"),
            ledger_item(2, amount="500.00", due="2025-01-12"),
        ]
    )
    world.sync()
    with world.store.begin() as conn:
        dispute = dstore.open_dispute(conn, world.item_id("X2"), "verkeerde prijs", NOW)
        dstore.resolve_dispute(conn, world.item_id("X2"), "prijs klopt", NOW)
    assert dispute.status == "open"
    for day in ("2025-01-14", "2025-01-30", "2025-02-15"):
        assert world.run(day).sent, day
    world.set_items(
        [
            ledger_item(1, amount="600.00", due="2025-01-10", total="1000.00"),
            ledger_item(2, amount="500.00", due="2025-01-12"),
        ]
    )  # 400.00 paid on the first invoice after the final notice
    outcome = world.run("2025-03-10")
    [sent] = outcome.sent
    assert sent.key == "1/D1/collection/1"
    path = Path(sent.references[0])
    assert path == folder / "1_D1_collection_1.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_dossier_holds_what_an_agency_asks_for(world: World, tmp_path: Path):
    dossier = hand_over(world, tmp_path / "handover")
    assert dossier["creditor"]["name"] == "Acme"
    assert dossier["creditor"]["can_deduct_vat"] is True
    debtor = dossier["debtor"]
    assert (debtor["code"], debtor["name"], debtor["kind"]) == (
        "D1",
        "Bakkerij De Korf B.V.",
        "business",
    )
    assert debtor["email"] == "d1@example.nl" and debtor["phone"] == "050-1234567"
    claim = dossier["claim"]
    items = {i["invoice_number"]: i for i in claim["items"]}
    assert items["2025-00001"]["open_amount"] == "600.00"
    assert items["2025-00001"]["paid"] == "400.00"
    assert items["2025-00001"]["disputed"] is False
    assert items["2025-00002"]["disputed"] is True  # a dispute ever: the agency must know
    # The final notice charged BIK over 1,500.00 = 225.00; the hand-over carries it.
    assert claim["collection_costs"] == "225.00"
    assert claim["principal"] == "1100.00"
    assert [(x["step"], x["sent_on"]) for x in dossier["letters"]] == [
        ("reminder_1", "2025-01-14"),
        ("reminder_2", "2025-01-30"),
        ("final_notice", "2025-02-15"),
    ]
    final = dossier["letters"][-1]
    assert final["channels"] == ["email", "letter"]
    assert {x["channel"] for x in final["deliveries"]} == {"email", "letter"}
    assert final["invoices"] == ["2025-00001", "2025-00002"]
    assert [(x["invoice_number"], x["status"], x["reason"]) for x in dossier["disputes"]] == [
        ("2025-00002", "resolved", "verkeerde prijs")
    ]
    with (tmp_path / "handover" / "1_D1_collection_1.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["invoice_number"], r["open_amount"], r["paid"]) for r in rows] == [
        ("2025-00001", "600.00", "400.00"),
        ("2025-00002", "500.00", "0.00"),
    ]


def test_a_dossier_that_cannot_be_written_is_a_channel_error(world: World, tmp_path: Path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    channel = CollectionChannel(world.store, blocker / "sub")
    world.set_items([ledger_item(1)])
    world.sync()
    result = world.dunning().plan_only(world.admins(), d("2025-01-20"))
    letter = result.actions[0].letter
    with pytest.raises(ChannelError, match="could not write the dossier"):
        channel.send(letter, summary(letter))


def test_invoice_numbers_cannot_become_spreadsheet_formulas(world: World, tmp_path: Path):
    from connector.channels.collection import _cell

    assert _cell('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert _cell("-12.50") == "-12.50"
    assert _cell("-cmd") == "'-cmd"
    assert _cell("2025-001") == "2025-001"
    assert file_stem("1/D 1/collection/2") == "1_D-1_collection_2"


def test_call_tasks_are_stored_once_per_letter(world: World):
    channel = CallChannel(world.store)
    world.set_items([ledger_item(1)])
    world.sync()
    letter = world.dunning().plan_only(world.admins(), d("2025-01-20")).actions[0].letter
    first = channel.send(letter, summary(letter))
    second = channel.send(letter, summary(letter))
    assert first == second
    assert first.channel is ChannelKind.CALL and first.detail == "call 050-1234567"
    with world.store.begin() as conn:
        [task] = dstore.list_tasks(conn, [world.admin_id])
        assert "2025-00001" in task.summary and task.due_on == d("2025-01-20")
        assert dstore.complete_task(conn, task.id, "belt terug", NOW)
        assert not dstore.complete_task(conn, task.id, "again", NOW)
        assert dstore.list_tasks(conn, [world.admin_id]) == []
        assert [t.note for t in dstore.list_tasks(conn, [world.admin_id], open_only=False)] == [
            "belt terug"
        ]


def test_the_payments_side_opens_and_resolves_disputes_through_the_hook(world: World):
    hook = dstore.DunningDisputes()
    world.set_items([ledger_item(1), ledger_item(2)])
    world.sync()
    x1 = world.item_id("X1")
    with world.store.begin() as conn:
        hook.open(conn, x1, "chargeback stripe pi_1", NOW)
    plan = world.dunning().plan_only(world.admins(), d("2025-01-20"))
    assert [i.item_id for i in plan.actions[0].letter.items] == [world.item_id("X2")]
    with world.store.begin() as conn:
        hook.resolve(conn, x1, "chargeback reversed", NOW)
        [dispute] = dstore.list_disputes(conn, [world.admin_id])
    assert (dispute.status, dispute.resolution) == ("resolved", "chargeback reversed")
    plan = world.dunning().plan_only(world.admins(), d("2025-01-20"))
    assert len(plan.actions[0].letter.items) == 2
    assert plan.actions[0].letter.principal == D("200.00")
