from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from connector.domain import Administration
from connector.domain import Debtor
from connector.store import Store
from connector.store import records
from connector.store.schema import debtors
from connector.store.schema import open_items
from connector.sync import sync_all
from tests.fakes.ledger import FakeLedger
from tests.fakes.ledger import item

CLOCK = lambda: datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # noqa: E731


def _connect(store: Store, ledger: FakeLedger) -> None:
    with store.begin() as conn:
        c = records.save_connection(conn, name="fake", ledger="fake", config={}, now=CLOCK())
        records.save_administrations(conn, c.id, ledger.administrations())


def _sync(store: Store, ledger: FakeLedger, **kwargs):
    return sync_all(store, lambda _c: ledger, clock=CLOCK, batch_size=5, **kwargs)


def _state(store: Store, admin: str = "a") -> dict[str, tuple[str, Decimal]]:
    with store.begin() as conn:
        admin_id = records.find_administration(conn, admin).id
        rows = conn.execute(
            select(open_items.c.external_id, open_items.c.status, open_items.c.open_amount).where(
                open_items.c.administration_id == admin_id
            )
        )
        return {ext: (status, amount) for ext, status, amount in rows}


@pytest.fixture
def ledger() -> FakeLedger:
    fake = FakeLedger(admins=[Administration("a", "Alpha"), Administration("b", "Beta")])
    fake.debtors_by_admin = {"a": [Debtor("D1", "Jansen B.V.")], "b": [Debtor("D1", "Piet")]}
    fake.set_items("a", [item(n) for n in range(23)])
    fake.set_items("b", [item(n, open_amount="10.50") for n in range(4)])
    return fake


def test_first_sync_then_unchanged_then_changes(store: Store, ledger: FakeLedger):
    _connect(store, ledger)
    first = {s.administration: s for s in _sync(store, ledger)}
    assert (first["Alpha"].fetched, first["Alpha"].new, first["Alpha"].changed) == (23, 23, 0)
    assert first["Alpha"].debtors_new == 1 and first["Beta"].new == 4

    again = {s.administration: s for s in _sync(store, ledger, full=True)}
    assert (again["Alpha"].new, again["Alpha"].changed, again["Alpha"].closed) == (0, 0, 0)
    assert again["Alpha"].debtors_changed == 0

    items = [item(n) for n in range(20)]  # X20..X22 paid
    items[3] = item(3, open_amount="40.00")  # partly paid
    ledger.set_items("a", items + [item(99)])
    third = {s.administration: s for s in _sync(store, ledger, full=True)}["Alpha"]
    assert (third.new, third.changed, third.closed) == (1, 1, 3)
    state = _state(store)
    assert state["X3"] == ("open", Decimal("40.00"))
    assert state["X21"] == ("paid", Decimal(0))


def test_closed_item_that_reappears_reopens(store: Store, ledger: FakeLedger):
    _connect(store, ledger)
    _sync(store, ledger)
    ledger.set_items("b", [item(0, open_amount="10.50")])
    _sync(store, ledger, full=True)
    assert _state(store, "b")["X1"][0] == "paid"
    ledger.set_items("b", [item(n, open_amount="10.50") for n in range(2)])
    [summary] = [s for s in _sync(store, ledger, full=True) if s.administration == "Beta"]
    assert summary.changed == 1
    assert _state(store, "b")["X1"] == ("open", Decimal("10.50"))


def test_incremental_feed_uses_cursor_and_removed(store: Store, ledger: FakeLedger):
    ledger.incremental = True
    _connect(store, ledger)
    _sync(store, ledger)
    ledger.set_items("a", [item(n) for n in range(1, 23)] + [item(50)])  # X0 closed, X50 new
    ledger.cursors_seen.clear()
    [alpha] = [s for s in _sync(store, ledger) if s.administration == "Alpha"]
    assert ("a", "1") in ledger.cursors_seen or ("a", "2") in ledger.cursors_seen
    assert (alpha.fetched, alpha.new, alpha.closed) == (1, 1, 1)
    assert _state(store)["X0"][0] == "paid"
    assert _state(store)["X5"][0] == "open"  # an incremental feed closes only what it names


def test_failure_rolls_back_that_administration_only(store: Store, ledger: FakeLedger):
    _connect(store, ledger)
    _sync(store, ledger)
    before = _state(store)
    ledger.set_items("a", [item(n, open_amount="1.00") for n in range(23)])
    ledger.set_items("b", [item(n, open_amount="2.00") for n in range(4)])
    ledger.fail_after = {"a": 14}
    summaries = {s.administration: s for s in _sync(store, ledger, full=True)}
    assert "ledger broke" in summaries["Alpha"].error
    assert summaries["Beta"].ok and summaries["Beta"].changed == 4
    assert _state(store) == before  # not one row of the failed administration moved
    assert set(_state(store, "b").values()) == {("open", Decimal("2.00"))}
    with store.begin() as conn:
        alpha = records.find_administration(conn, "Alpha")
        alpha_items = (
            conn.execute(
                select(open_items.c.open_amount).where(open_items.c.administration_id == alpha.id)
            )
            .scalars()
            .all()
        )
    assert set(alpha_items) == {Decimal("100.00")}
    assert alpha.last_sync_status == "error" and "ledger broke" in alpha.last_sync_error


def test_sync_of_one_administration(store: Store, ledger: FakeLedger):
    _connect(store, ledger)
    with store.begin() as conn:
        beta = records.find_administration(conn, "b").id
    summaries = _sync(store, ledger, administration_ids=[beta])
    assert [s.administration for s in summaries] == ["Beta"]


def test_debtor_changes_are_detected(store: Store, ledger: FakeLedger):
    _connect(store, ledger)
    _sync(store, ledger)
    ledger.debtors_by_admin["a"] = [
        Debtor("D1", "Jansen B.V.", email="factuur@jansen.nl"),
        Debtor("D2", "Smit"),
    ]
    [alpha] = [s for s in _sync(store, ledger) if s.administration == "Alpha"]
    assert (alpha.debtors_new, alpha.debtors_changed) == (1, 1)
    with store.begin() as conn:
        emails = dict(conn.execute(select(debtors.c.name, debtors.c.email)).all())
    assert emails["Jansen B.V."] == "factuur@jansen.nl"


def test_new_administration_is_discovered_and_lost_one_deactivated(store, ledger):
    _connect(store, ledger)
    ledger.admins = [Administration("a", "Alpha"), Administration("c", "Gamma")]
    ledger.set_items("c", [item(1, due=date(2026, 2, 1))])
    names = {s.administration for s in _sync(store, ledger)}
    assert names == {"Alpha", "Gamma"}
    with store.begin() as conn:
        active = {a.name for a in records.list_administrations(conn)}
    assert active == {"Alpha", "Gamma"}


def test_a_write_during_the_ledger_read_does_not_wait_for_the_sync(store: Store, ledger):
    """A token refresh falls due while the sync reads the ledger: its write transaction must
    not queue behind the sync's (on SQLite that waited out the busy timeout and failed)."""
    import time

    from connector.store.schema import connections as connections_table

    _connect(store, ledger)
    original = ledger._pages
    waited: list[float] = []

    def pages_with_a_refresh(ext):
        for n, page in enumerate(original(ext)):
            if n == 1:
                started = time.monotonic()
                with store.begin(immediate=True) as conn:  # what the token vault does
                    conn.execute(connections_table.update().values(updated_at=CLOCK()))
                waited.append(time.monotonic() - started)
            yield page

    ledger._pages = pages_with_a_refresh
    summaries = _sync(store, ledger)
    assert all(s.ok for s in summaries), [s.error for s in summaries]
    assert waited and max(waited) < 2


def test_a_large_feed_is_spooled_to_disk_and_arrives_whole(
    store: Store, ledger: FakeLedger, monkeypatch: pytest.MonkeyPatch
):
    # Issue 12.6: a feed beyond _KEEP_RECORDS is pickled to a temporary file between the
    # reading and the writing instead of held in memory; what lands is the same.
    import connector.sync as engine

    _connect(store, ledger)
    _sync(store, ledger)
    expected = _state(store)
    spooled: list[object] = []
    real = engine._replayed

    def counting(spool, count):
        spooled.append(count)
        return real(spool, count)

    monkeypatch.setattr(engine, "_KEEP_RECORDS", 5)
    monkeypatch.setattr(engine, "_replayed", counting)
    items = [item(n, open_amount="7.00") for n in range(23)]
    ledger.set_items("a", items)
    [alpha] = [s for s in _sync(store, ledger, full=True) if s.administration == "Alpha"]
    assert spooled and (alpha.fetched, alpha.changed) == (23, 23)
    assert set(_state(store).values()) == {("open", Decimal("7.00"))}
    assert _state(store).keys() == expected.keys()
