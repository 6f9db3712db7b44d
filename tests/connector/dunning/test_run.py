"""The run against a real store (SQLite and PostgreSQL): never twice, never for a paid item."""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from connector.channels.call import CallChannel
from connector.domain import Administration
from connector.domain import Debtor
from connector.dunning import store as dstore
from connector.dunning.model import ChannelKind
from connector.dunning.model import StepKind
from connector.dunning.plan import Snapshot
from connector.dunning.policy import DEFAULT_POLICY
from connector.dunning.policy import Step
from connector.dunning.policy import default_config
from connector.dunning.policy import make_policy
from connector.dunning.run import Dunning
from connector.dunning.tables import ActionStatus
from connector.dunning.tables import OverrideKind
from connector.dunning.tables import call_tasks
from connector.dunning.tables import dunning_actions
from connector.dunning.tables import payment_arrangements
from connector.errors import ChannelError
from connector.errors import ChannelUncertain
from connector.errors import ConfigError
from connector.errors import LedgerError
from connector.ports import Capabilities
from connector.store import records
from connector.store.schema import open_items
from tests.fakes.dunning import D
from tests.fakes.dunning import World
from tests.fakes.dunning import d
from tests.fakes.dunning import ledger_item
from tests.fakes.dunning import with_complete_sender

NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


def statuses(world: World) -> dict[str, str]:
    with world.store.begin() as conn:
        return {a.key: a.status for a in dstore.list_actions(conn)}


def test_a_letter_goes_out_once_and_running_again_the_same_day_sends_nothing(world: World):
    """Pain: duplicate reminders from a scheduler that runs often (Invoice Ninja #1693, #553)."""
    world.set_items([ledger_item(1), ledger_item(2), ledger_item(3, debtor="D2")])
    world.sync()
    first = world.run("2025-01-20")
    assert sorted(o.key for o in first.sent) == ["1/D1/reminder_1/1", "1/D2/reminder_1/1"]
    assert [len(letter.items) for letter in world.channels[ChannelKind.EMAIL].sent] == [2, 1]
    for _ in range(3):
        again = world.run("2025-01-20")
        assert again.sent == [] and again.stored == 0
    assert sorted(world.sent_keys()) == ["1/D1/reminder_1/1", "1/D2/reminder_1/1"]
    # Nor the next day, nor before the second step is due.
    assert world.run("2025-01-21").sent == []
    assert world.run("2025-02-04").sent == []
    assert [o.key for o in world.run("2025-02-05").sent] == [
        "1/D1/reminder_2/1",
        "1/D2/reminder_2/1",
    ]


def test_the_ledger_is_read_again_and_an_item_paid_since_the_sync_is_not_dunned(world: World):
    """Pain: reminders for invoices that were already paid (Akaunting #259; Odoo's advice to
    reconcile first)."""
    world.set_items([ledger_item(1), ledger_item(2)])
    world.sync()
    world.set_items([ledger_item(2)])  # X1 paid in the ledger after the last sync
    outcome = world.run("2025-01-20")
    assert world.ledger.targeted == [["X1", "X2"]]
    assert outcome.reread == 2 and outcome.closed == 1
    [letter] = world.channels[ChannelKind.EMAIL].sent
    assert [i.invoice_number for i in letter.items] == ["2025-00002"]
    with world.store.begin() as conn:
        status = conn.execute(
            select(open_items.c.status).where(open_items.c.external_id == "X1")
        ).scalar_one()
    assert status == "paid"


def test_an_amount_changed_in_the_ledger_is_what_the_letter_says(world: World):
    world.set_items([ledger_item(1, amount="100.00")])
    world.sync()
    world.set_items([ledger_item(1, amount="60.00")])  # part-paid since the sync
    world.run("2025-01-20")
    [letter] = world.channels[ChannelKind.EMAIL].sent
    assert letter.principal == D("60.00")


def test_without_a_targeted_read_the_administration_is_synced_first(world: World):
    world.ledger.capabilities = Capabilities(targeted_read=False)
    world.set_items([ledger_item(1), ledger_item(2)])
    world.sync()
    world.set_items([ledger_item(2)])
    seen = len(world.ledger.cursors_seen)
    world.run("2025-01-20")
    assert len(world.ledger.cursors_seen) == seen + 1  # a fresh sync of the administration
    assert world.ledger.targeted == []
    [letter] = world.channels[ChannelKind.EMAIL].sent
    assert [i.invoice_number for i in letter.items] == ["2025-00002"]


def test_when_the_ledger_cannot_be_read_nothing_is_sent(world: World):
    world.set_items([ledger_item(1)])
    world.sync()

    def broken(*_args, **_kwargs):
        raise LedgerError("ledger is down")

    world.ledger.read_items = broken  # type: ignore[method-assign]
    outcome = world.run("2025-01-20")
    assert outcome.error == "could not read the ledger again before dunning: ledger is down"
    assert world.sent_keys() == [] and statuses(world) == {}


def test_each_action_is_stored_before_it_is_sent(world: World):
    seen: list[str] = []
    email = world.channels[ChannelKind.EMAIL]
    original = email.send

    def checking(letter, rendered):
        with world.store.begin() as conn:
            row = conn.execute(
                select(dunning_actions.c.status).where(dunning_actions.c.debtor_code == "D1")
            ).one()
        seen.append(row.status)
        return original(letter, rendered)

    email.send = checking  # type: ignore[method-assign]
    world.set_items([ledger_item(1)])
    world.sync()
    world.run("2025-01-20")
    assert seen == ["sending"]
    assert statuses(world) == {"1/D1/reminder_1/1": "sent"}


def test_a_channel_error_leaves_the_action_pending_and_a_later_run_sends_it_once(world: World):
    email = world.channels[ChannelKind.EMAIL]
    email.fail, email.fail_times = ChannelError, 2
    world.set_items([ledger_item(1)])
    world.sync()
    first = world.run("2025-01-20")
    assert [o.key for o in first.retry] == ["1/D1/reminder_1/1"]
    assert statuses(world) == {"1/D1/reminder_1/1": "pending"}
    second = world.run("2025-01-21")  # still failing
    assert second.sent == [] and second.stored == 0
    third = world.run("2025-01-22")
    assert [o.key for o in third.sent] == ["1/D1/reminder_1/1"]
    assert email.keys == ["1/D1/reminder_1/1"]
    assert world.run("2025-01-22").sent == []
    with world.store.begin() as conn:
        action = dstore.list_actions(conn)[0]
    assert action.status == "sent" and action.attempts == 3
    assert action.sent_on == d("2025-01-22")  # dated the day it went out
    assert email.sent[0].letter_date == d("2025-01-22")


def test_a_channel_that_delivered_is_not_repeated_when_another_fails(world: World):
    world.config = default_config()
    letter_channel = world.channels[ChannelKind.LETTER]
    letter_channel.fail, letter_channel.fail_times = ChannelError, 1
    # Straight to the final notice (e-mail and letter) by giving the item its history.
    world.set_items([ledger_item(1, due="2025-01-10")])
    world.sync()
    for day in ("2025-01-12", "2025-01-28"):
        world.run(day)
    outcome = world.run("2025-02-13")
    assert [o.key for o in outcome.retry] == ["1/D1/final_notice/1"]
    assert world.channels[ChannelKind.EMAIL].keys.count("1/D1/final_notice/1") == 1
    world.run("2025-02-14")
    assert world.channels[ChannelKind.EMAIL].keys.count("1/D1/final_notice/1") == 1
    assert letter_channel.keys == ["1/D1/final_notice/1"]
    assert statuses(world)["1/D1/final_notice/1"] == "sent"


def test_an_uncertain_send_is_never_repeated_and_waits_for_a_person(world: World):
    email = world.channels[ChannelKind.EMAIL]
    email.fail, email.fail_times = ChannelUncertain, 1
    world.set_items([ledger_item(1)])
    world.sync()
    outcome = world.run("2025-01-20")
    assert [o.key for o in outcome.uncertain] == ["1/D1/reminder_1/1"]
    for day in ("2025-01-21", "2025-03-01"):
        assert world.run(day).sent == []
    assert email.keys == []
    with world.store.begin() as conn:
        [action] = dstore.list_actions(conn, statuses=["uncertain"])
        assert "is down" in action.status_reason
        dstore.resolve_uncertain(conn, action.id, delivered=True, now=NOW)
    # Confirmed sent: the item moves on to its next step in due course.
    assert [o.key for o in world.run("2025-03-01").sent] == ["1/D1/reminder_2/1"]


def test_a_send_interrupted_mid_way_ends_uncertain_and_is_listed(world: World):
    email = world.channels[ChannelKind.EMAIL]
    email.fail, email.fail_times = KeyboardInterrupt, 1  # the process dies while sending
    world.set_items([ledger_item(1), ledger_item(2, debtor="D2")])
    world.sync()
    with pytest.raises(KeyboardInterrupt):
        world.run("2025-01-20")
    assert statuses(world) == {"1/D1/reminder_1/1": "sending", "1/D2/reminder_1/1": "pending"}
    resumed = world.run("2025-01-20")
    assert [o.key for o in resumed.recovered] == ["1/D1/reminder_1/1"]
    assert [o.key for o in resumed.sent] == ["1/D2/reminder_1/1"]  # never sent: sent now
    assert statuses(world) == {"1/D1/reminder_1/1": "uncertain", "1/D2/reminder_1/1": "sent"}
    assert email.keys == ["1/D2/reminder_1/1"]
    assert world.run("2025-01-21").sent == []
    # A person says it did not go out: its item is dunned afresh, under a new cycle.
    with world.store.begin() as conn:
        [action] = dstore.list_actions(conn, statuses=["uncertain"])
        assert dstore.resolve_uncertain(conn, action.id, delivered=False, now=NOW) == "failed"
    assert [o.key for o in world.run("2025-01-22").sent] == ["1/D1/reminder_1/2"]


def test_an_unexpected_error_in_a_channel_is_uncertain_not_retried(world: World):
    email = world.channels[ChannelKind.EMAIL]
    email.fail, email.fail_times = RuntimeError, 1
    world.set_items([ledger_item(1)])
    world.sync()
    outcome = world.run("2025-01-20")
    assert [o.key for o in outcome.uncertain] == ["1/D1/reminder_1/1"]
    assert world.run("2025-01-21").sent == []


def test_approval_mode_holds_letters_until_approved(world: World):
    world.config = default_config().__class__(policies=default_config().policies, approval=True)
    world.set_items([ledger_item(1), ledger_item(2, debtor="D2")])
    world.sync()
    outcome = world.run("2025-01-20")
    assert outcome.sent == [] and outcome.awaiting_approval == 2
    assert set(statuses(world).values()) == {"pending_approval"}
    assert world.run("2025-01-20").stored == 0  # not planned twice while waiting
    with world.store.begin() as conn:
        assert dstore.approve(conn, NOW, debtor_code="D2") != []
    assert [o.key for o in world.run("2025-01-21").sent] == ["1/D2/reminder_1/1"]
    with world.store.begin() as conn:
        assert len(dstore.approve(conn, NOW)) == 1
    assert [o.key for o in world.run("2025-01-21").sent] == ["1/D1/reminder_1/1"]


def test_a_waiting_letter_whose_item_was_paid_is_cancelled_not_sent(world: World):
    world.config = default_config().__class__(policies=default_config().policies, approval=True)
    world.set_items([ledger_item(1), ledger_item(2)])
    world.sync()
    world.run("2025-01-20")
    world.set_items([ledger_item(2, amount="70.00")])  # X1 paid, X2 part-paid
    with world.store.begin() as conn:
        dstore.approve(conn, NOW)
    outcome = world.run("2025-01-21")
    assert [o.key for o in outcome.cancelled] == ["1/D1/reminder_1/1"]
    assert "2025-00001 was paid or closed in the ledger" in outcome.cancelled[0].detail
    # A fresh letter for what is still open waits for approval in its turn.
    assert statuses(world) == {
        "1/D1/reminder_1/1": "cancelled",
        "1/D1/reminder_1/2": "pending_approval",
    }
    with world.store.begin() as conn:
        dstore.approve(conn, NOW)
    world.run("2025-01-22")
    [letter] = world.channels[ChannelKind.EMAIL].sent
    assert letter.key == "1/D1/reminder_1/2" and letter.principal == D("70.00")


def test_a_dispute_pauses_one_item_and_resolving_it_resumes(world: World):
    world.set_items([ledger_item(1), ledger_item(2)])
    world.sync()
    x1 = world.item_id("X1")
    with world.store.begin() as conn:
        dispute = dstore.open_dispute(conn, x1, "levering onvolledig", NOW)
        assert dstore.open_dispute(conn, x1, "again", NOW).id == dispute.id  # one open dispute
    world.run("2025-01-20")
    [letter] = world.channels[ChannelKind.EMAIL].sent
    assert [i.invoice_number for i in letter.items] == ["2025-00002"]
    with world.store.begin() as conn:
        dstore.resolve_dispute(conn, x1, "credit note promised", NOW)
    # The resumed item gets its own first reminder once the debtor's spacing allows.
    assert world.run("2025-01-21").sent == []
    assert [o.key for o in world.run("2025-01-27").sent] == ["1/D1/reminder_1/2"]
    assert [i.invoice_number for i in world.channels[ChannelKind.EMAIL].sent[-1].items] == [
        "2025-00001"
    ]


def test_a_pause_until_a_date(world: World):
    world.set_items([ledger_item(1), ledger_item(2, debtor="D2")])
    world.sync()
    with world.store.begin() as conn:
        dstore.add_override(
            conn,
            administration_id=world.admin_id,
            debtor_code="D1",
            item_id=None,
            kind=OverrideKind.PAUSE,
            until=d("2025-02-01"),
            policy="",
            reason="mahnstop: in overleg",
            now=NOW,
        )
    assert [o.key for o in world.run("2025-01-20").sent] == ["1/D2/reminder_1/1"]
    assert [o.key for o in world.run("2025-02-01").sent] == ["1/D1/reminder_1/1"]


def test_a_broken_arrangement_gets_a_notice_and_dunning_resumes_where_it_stopped(world: World):
    world.set_items([ledger_item(1, amount="300.00")])
    world.sync()
    world.run("2025-01-12")  # reminder_1
    with world.store.begin() as conn:
        dstore.create_arrangement(
            conn,
            administration_id=world.admin_id,
            debtor_code="D1",
            instalments=[(d("2025-02-01"), D("150.00")), (d("2025-03-01"), D("150.00"))],
            items=[(world.item_id("X1"), D("300.00"))],
            currency="EUR",
            every="1m",
            grace_days=5,
            today=d("2025-01-15"),
            now=NOW,
        )
    assert world.run("2025-02-05").sent == []  # kept (within the grace period)
    notice = world.run("2025-02-07")
    assert [o.key for o in notice.sent] == ["1/D1/arrangement_broken/1"]
    with world.store.begin() as conn:
        status, broken_on = conn.execute(
            select(payment_arrangements.c.status, payment_arrangements.c.broken_on)
        ).one()
    assert (status, broken_on) == ("broken", d("2025-02-07"))
    assert world.run("2025-02-08").sent == []  # the notice was the message for this week
    resumed = world.run("2025-02-14")
    assert [o.key for o in resumed.sent] == ["1/D1/reminder_2/1"]  # not back to reminder_1


def test_a_kept_arrangement_that_is_paid_off_is_completed(world: World):
    world.set_items([ledger_item(1, amount="300.00")])
    world.sync()
    with world.store.begin() as conn:
        arrangement_id = dstore.create_arrangement(
            conn,
            administration_id=world.admin_id,
            debtor_code="D1",
            instalments=[(d("2025-02-01"), D("300.00"))],
            items=[(world.item_id("X1"), D("300.00"))],
            currency="EUR",
            every="1m",
            grace_days=5,
            today=d("2025-01-15"),
            now=NOW,
        )
    world.set_items([])
    world.sync()
    world.run("2025-02-03")
    with world.store.begin() as conn:
        [found] = dstore.list_arrangements(conn, [world.admin_id])
    assert (found.id, found.status) == (arrangement_id, "completed")


def test_a_missing_channel_is_a_configuration_error_before_anything_is_sent(world: World):
    world.set_items([ledger_item(1)])
    world.sync()
    with pytest.raises(
        ConfigError, match="dunning needs the email channel, which is not configured"
    ):
        world.run("2025-01-20", channels={})
    assert statuses(world) == {}


def test_call_tasks_are_kept_once_per_letter(world: World):
    call_only = make_policy(
        "default",
        [Step("bellen", StepKind.REMINDER, (ChannelKind.CALL,), "call", days_after_due=3)],
    )
    world.config = default_config().__class__(policies={"default": call_only})
    call = CallChannel(world.store)
    world.set_items([ledger_item(1)])
    world.sync()
    outcome = world.run("2025-01-20", channels={ChannelKind.CALL: call})
    assert outcome.sent[0].references == ("task 1",)
    # Sending the same letter again (a retry after a lost answer) makes no second task.
    letter = world.dunning().plan_only(world.admins(), d("2025-01-20"))
    assert letter.actions == []
    with world.store.begin() as conn:
        [action] = dstore.list_actions(conn)
        rebuilt = world.dunning().letter(
            world.admins()[0],
            action,
            dstore.action_items(conn, action.id),
            world.ledger.debtors_by_admin["A"][0],
            d("2025-01-20"),
        )
    from connector.dunning.run import summary

    assert call.send(rebuilt, summary(rebuilt)).reference == "task 1"
    with world.store.begin() as conn:
        tasks = dstore.list_tasks(conn, [world.admin_id])
        assert conn.execute(select(call_tasks.c.id)).all() == [(1,)]
    assert [(t.debtor_code, t.phone) for t in tasks] == [("D1", "050-1234567")]


def test_the_lock_keeps_two_runs_off_one_administration(world: World):
    world.set_items([ledger_item(1)])
    world.sync()
    admin = world.admin_id
    with world.store.begin() as conn:
        assert dstore.acquire_lock(conn, admin, "other:1", NOW, timedelta(minutes=30)) is None
    outcome = world.run("2025-01-20")
    assert outcome.busy == "other:1" and world.sent_keys() == []
    # A lock older than the limit belonged to a run that died: it is taken over.
    later = NOW + timedelta(minutes=31)
    outcome = world.run("2025-01-20", clock=lambda: later)
    assert [o.key for o in outcome.sent] == ["1/D1/reminder_1/1"]


def test_storing_the_same_plan_twice_stores_it_once(world: World):
    world.set_items([ledger_item(1), ledger_item(2, debtor="D2")])
    world.sync()
    result = world.dunning().plan_only(world.admins(), d("2025-01-20"))
    with world.store.begin() as conn:
        first = dstore.store_actions(conn, result.actions, NOW)
    with world.store.begin() as conn:
        second = dstore.store_actions(conn, result.actions, NOW)
    assert len(first) == 2 and second == {}
    with world.store.begin() as conn:
        assert len(dstore.list_actions(conn)) == 2


def test_the_snapshot_round_trips_what_the_run_stored(world: World):
    world.set_items([ledger_item(1, due="2025-01-10"), ledger_item(2, amount="-20.00")])
    world.sync()
    world.run("2025-01-12")
    with world.store.begin() as conn:
        snap: Snapshot = dstore.load_snapshot(conn, world.config, world.admins())
    x1 = world.item_id("X1")
    state = snap.states[x1]
    assert (state.step_name, state.status, state.sent_on) == ("reminder_1", "sent", d("2025-01-12"))
    assert world.item_id("X2") not in snap.states  # a credit note has no step
    assert snap.last_message_on == {(world.admin_id, "D1"): d("2025-01-12")}
    assert snap.max_cycle == {(world.admin_id, "D1", "reminder_1"): 1}
    assert snap.debtors[(world.admin_id, "D2")].tags == ("vip", "bouw")
    assert snap.debtors[(world.admin_id, "D1")].phone == "050-1234567"


def test_segments_by_payment_behaviour_read_the_closed_items(world: World):
    from connector.dunning.policy import DunningConfig
    from connector.dunning.segments import parse_rules

    calls = make_policy(
        "calls", [Step("bellen", StepKind.REMINDER, (ChannelKind.CALL,), "call", days_after_due=2)]
    )
    policies = {"default": DEFAULT_POLICY, "calls": calls}
    world.config = DunningConfig(
        policies=policies,
        segments=parse_rules(
            [
                {"policy": "calls", "avg_days_late_min": 30},
                {"policy": "calls", "tags_any": ["vip"]},
            ],
            "s",
            policies,
        ),
    )
    # D1 paid an invoice due 2024-01-10 when the store saw it closed: long after.
    world.set_items([ledger_item(9, due="2024-01-10")])
    world.sync()
    world.set_items([ledger_item(1), ledger_item(2, debtor="D2"), ledger_item(3, debtor="C1")])
    world.sync()
    with world.store.begin() as conn:
        late = dstore.average_days_late(conn, world.admins())
    assert late[(world.admin_id, "D1")] > 30
    result = world.dunning().plan_only(world.admins(), d("2025-01-20"))
    assert sorted((a.letter.debtor.code, a.policy) for a in result.actions) == [
        ("C1", "default"),
        ("D1", "calls"),  # a late payer
        ("D2", "calls"),  # a vip
    ]


# --- "today" is the administration's date --------------------------------------------------------


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        # Spring forward: 2026-03-29 02:00 Amsterdam. 23:30 UTC on the 28th is already the
        # 29th in Amsterdam (UTC+1), so the reminder due on the 29th goes out.
        (datetime(2026, 3, 28, 22, 59, tzinfo=UTC), None),
        (datetime(2026, 3, 28, 23, 30, tzinfo=UTC), date(2026, 3, 29)),
        # Fall back: 2026-10-25 03:00 CEST -> 02:00 CET. 22:30 UTC on the 24th is 00:30 CEST
        # on the 25th; one hour earlier it is still the 24th.
        (datetime(2026, 10, 24, 21, 30, tzinfo=UTC), None),
        (datetime(2026, 10, 24, 22, 30, tzinfo=UTC), date(2026, 10, 25)),
    ],
)
def test_today_is_the_administrations_local_date_across_dst(world: World, utc, expected):
    """Pain: due dates and reminders off by a day around midnight and DST (Invoice Ninja #792,
    #8665, #12158)."""
    due = (expected or utc.date() + timedelta(days=1)) - timedelta(days=2)
    world.set_items([ledger_item(1, due=due.isoformat())])
    world.sync()
    report = world.dunning(clock=lambda: utc).run(world.admins())
    [outcome] = report.administrations
    if expected is None:
        assert outcome.sent == []
    else:
        assert outcome.date == expected
        [letter] = world.channels[ChannelKind.EMAIL].sent
        assert letter.letter_date == expected
        assert letter.items[0].days_overdue == 2


def test_each_administration_has_its_own_date(store):
    from connector.sync import discover
    from connector.sync import sync_all
    from tests.fakes.dunning import FakeChannel
    from tests.fakes.dunning import FakeRenderer
    from tests.fakes.dunning import ReadCountingLedger

    ledger = ReadCountingLedger(
        admins=[
            Administration("NL", "Amsterdam BV", timezone="Europe/Amsterdam"),
            Administration("CW", "Willemstad NV", timezone="America/Curacao"),
        ],
        capabilities=Capabilities(targeted_read=True),
    )
    for ext in ("NL", "CW"):
        ledger.set_items(ext, [ledger_item(1, due="2026-03-27")])
        ledger.debtors_by_admin[ext] = [Debtor("D1", "Klant", email="klant@example.nl")]
    with store.begin() as conn:
        connection = records.save_connection(conn, name="f", ledger="f", config={}, now=NOW)
    discover(store, connection, ledger)
    sync_all(store, lambda _c: ledger)
    email = FakeChannel(ChannelKind.EMAIL)
    runner = Dunning(
        store,
        with_complete_sender(default_config(), "Amsterdam BV"),
        ledger_for=lambda _c: ledger,
        channels={ChannelKind.EMAIL: email},
        renderer=FakeRenderer(),
        clock=lambda: datetime(2026, 3, 29, 2, 0, tzinfo=UTC),  # 04:00 NL, 22:00 (28th) CW
    )
    with store.begin() as conn:
        admins = records.list_administrations(conn)
    report = runner.run(admins)
    dates = {o.administration: o.date for o in report.administrations}
    assert dates == {"Amsterdam BV": date(2026, 3, 29), "Willemstad NV": date(2026, 3, 28)}
    assert [letter.debtor.code for letter in email.sent] == ["D1"]
    assert email.sent[0].administration_id == admins[0].id


def test_the_files_ledger_is_read_again_before_dunning(store, tmp_path: Path):
    """The files ledger re-reads its export: an item paid in the file since the last sync is
    not dunned."""
    from adapters.files import create_ledger
    from connector.sync import discover
    from connector.sync import sync_all
    from tests.fakes.dunning import FakeChannel
    from tests.fakes.dunning import FakeRenderer

    folder = tmp_path / "export"
    folder.mkdir()
    header = "invoice_number,debtor_code,invoice_date,due_date,amount,open_amount,currency\n"
    (folder / "debtors.csv").write_text(
        "debtor_code,name,kind,email\nK1,Klant Een,business,k1@example.nl\n", encoding="utf-8"
    )
    (folder / "items.csv").write_text(
        header
        + "F-1,K1,2024-12-01,2025-01-01,100.00,100.00,EUR\n"
        + "F-2,K1,2024-12-02,2025-01-02,200.00,200.00,EUR\n",
        encoding="utf-8",
    )
    ledger = create_ledger({"path": str(folder)})
    with store.begin() as conn:
        connection = records.save_connection(
            conn, name="files", ledger="files", config={"path": str(folder)}, now=NOW
        )
    discover(store, connection, ledger)
    assert all(s.ok for s in sync_all(store, lambda _c: ledger))
    # F-1 is paid: the next export no longer lists it.
    (folder / "items.csv").write_text(
        header + "F-2,K1,2024-12-02,2025-01-02,200.00,200.00,EUR\n", encoding="utf-8"
    )
    email = FakeChannel(ChannelKind.EMAIL)
    with store.begin() as conn:
        names = [a.name for a in records.list_administrations(conn)]
    runner = Dunning(
        store,
        with_complete_sender(default_config(), names[0]),
        ledger_for=lambda _c: create_ledger({"path": str(folder)}),
        channels={ChannelKind.EMAIL: email},
        renderer=FakeRenderer(),
    )
    with store.begin() as conn:
        admins = records.list_administrations(conn)
    [outcome] = runner.run(admins, on_date=date(2025, 1, 20)).administrations
    assert outcome.closed == 1
    [letter] = email.sent
    assert [i.invoice_number for i in letter.items] == ["F-2"]
    assert letter.principal == Decimal("200.00")
    assert ActionStatus.SENT.value == "sent"
    assert DEFAULT_POLICY.steps[0].name == letter.step_name


def test_the_letters_render_with_the_shipped_templates(world: World):
    """The contract with the channels side: the engine's letters render as they are."""
    from connector.dunning.render import TemplateRenderer

    world.renderer = TemplateRenderer()  # type: ignore[assignment]
    world.set_items(
        [
            ledger_item(1, due="2024-03-01", amount="3000.00", debtor="C1"),
            ledger_item(2, due="2024-03-01", amount="250.00", debtor="D1"),
        ]
    )
    world.sync()
    for day in ("2024-03-03", "2024-03-19"):
        world.run(day)
    final = world.run("2024-04-04")
    assert sorted(o.key for o in final.sent) == ["1/C1/final_notice/1", "1/D1/final_notice/1"]
    letters = {x.key: x for x in world.channels[ChannelKind.LETTER].sent}
    consumer = letters["1/C1/final_notice/1"]
    assert consumer.template == "final_notice_consumer"
    text = " ".join(TemplateRenderer().render(consumer, with_pdf=False).text.split())
    assert "binnen veertien dagen vanaf de dag nadat deze brief bij u is bezorgd" in text
    assert "€ 425,00" in text


def test_a_long_run_renews_its_lock_while_sending(world: World):
    from connector.dunning.tables import dunning_locks

    ticks = iter(NOW + timedelta(seconds=61 * n) for n in range(1000))
    seen = []
    email = world.channels[ChannelKind.EMAIL]
    original = email.send

    def watching(letter, rendered):
        with world.store.begin() as conn:
            seen.append(conn.execute(select(dunning_locks.c.acquired_at)).scalar_one())
        return original(letter, rendered)

    email.send = watching  # type: ignore[method-assign]
    world.set_items([ledger_item(1), ledger_item(2, debtor="D2")])
    world.sync()
    outcome = world.run("2025-01-20", clock=lambda: next(ticks))
    assert len(outcome.sent) == 2
    assert seen[0] > NOW and seen[1] > seen[0]
    with world.store.begin() as conn:
        assert conn.execute(select(dunning_locks)).all() == []  # released at the end
