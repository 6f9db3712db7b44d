from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from decimal import Decimal

import pytest
from sqlalchemy import event
from sqlalchemy import select

from connector.errors import ConfigError
from connector.store import Store
from connector.store import records
from connector.store.schema import open_items
from connector.store.upsert import upsert

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _admin(store: Store) -> int:
    from connector.domain import Administration

    with store.begin() as conn:
        c = records.save_connection(conn, name="t", ledger="files", config={"path": "/x"}, now=NOW)
        [a] = records.save_administrations(conn, c.id, [Administration("a", "A")])
    return a.id


def _row(admin_id: int, n: int, amount: str) -> dict:
    return {
        "administration_id": admin_id,
        "external_id": f"X{n}",
        "invoice_number": f"I{n}",
        "debtor_code": "D",
        "invoice_date": None,
        "due_date": NOW.date(),
        "currency": "EUR",
        "amount": Decimal(amount),
        "open_amount": Decimal(amount),
        "description": "",
        "status": "open",
        "fingerprint": "f",
        "first_seen_at": NOW,
        "updated_at": NOW,
        "closed_at": None,
    }


def test_amounts_round_trip_exactly(store: Store):
    admin = _admin(store)
    amounts = ["0.01", "-12.34", "1234567890.1234", "0.0001", "99999999.99"]
    with store.begin() as conn:
        upsert(
            conn,
            open_items,
            [_row(admin, n, a) for n, a in enumerate(amounts)],
            keys=("administration_id", "external_id"),
        )
        got = dict(conn.execute(select(open_items.c.external_id, open_items.c.open_amount)).all())
    assert [got[f"X{n}"] for n in range(len(amounts))] == [Decimal(a) for a in amounts]
    with store.begin() as conn:
        total = conn.execute(select(open_items.c.open_amount)).all()
    assert sum(r[0] for r in total) == sum(Decimal(a) for a in amounts)


def test_more_than_four_decimals_is_refused(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    store.migrate()
    admin = _admin(store)
    with pytest.raises(Exception, match="more than 4 decimals"), store.begin() as conn:
        upsert(
            conn, open_items, [_row(admin, 1, "0.00001")], keys=("administration_id", "external_id")
        )


def test_datetimes_come_back_aware_utc(store: Store):
    admin = _admin(store)
    amsterdam = timezone(timedelta(hours=1))
    row = _row(admin, 1, "1") | {"updated_at": datetime(2026, 3, 1, 10, 30, tzinfo=amsterdam)}
    with store.begin() as conn:
        upsert(conn, open_items, [row], keys=("administration_id", "external_id"))
        value = conn.execute(select(open_items.c.updated_at)).scalar_one()
    assert value == NOW and value.tzinfo is not None


def test_upsert_is_one_statement_per_batch_and_updates(store: Store):
    admin = _admin(store)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("INSERT"):
            statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    rows = [_row(admin, n, "10.00") for n in range(1000)]
    with store.begin() as conn:
        upsert(conn, open_items, rows, keys=("administration_id", "external_id"))
    assert len(statements) == 1
    changed = [_row(admin, n, "5.00") for n in range(500)] + [_row(admin, 1000, "7.00")]
    statements.clear()
    with store.begin() as conn:
        upsert(
            conn,
            open_items,
            changed,
            keys=("administration_id", "external_id"),
            keep=("first_seen_at",),
        )
        got = dict(conn.execute(select(open_items.c.external_id, open_items.c.open_amount)).all())
    assert len(statements) == 1
    assert len(got) == 1001
    assert got["X0"] == Decimal("5.00") and got["X999"] == Decimal("10.00")


def test_migrate_is_repeatable_and_checked(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    with pytest.raises(ConfigError, match="run: connector init"):
        store.check_current()
    assert store.migrate() == store.migrate() == Store.head()
    store.check_current()


def test_sqlite_uses_wal(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    with store.begin() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_missing_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        Store(f"sqlite:///{tmp_path / 'nope' / 's.db'}")


def test_administration_lookup_by_id_external_id_and_name(store: Store):
    admin = _admin(store)
    with store.begin() as conn:
        assert records.find_administration(conn, str(admin)).id == admin
        assert records.find_administration(conn, "a").id == admin
        assert records.find_administration(conn, "A").id == admin
        with pytest.raises(Exception, match="no administration 'b'"):
            records.find_administration(conn, "b")


def test_connection_name_cannot_change_ledger(store: Store):
    _admin(store)
    with store.begin() as conn, pytest.raises(ConfigError, match="already exists"):
        records.save_connection(conn, name="t", ledger="exact", config={}, now=NOW)


def test_migrations_create_exactly_the_declared_tables(store: Store):
    """The migrated database and the table definitions agree (no drift between them)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from connector.store.tables import all_metadata

    metadata = all_metadata()
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [
            d
            for d in compare_metadata(context, metadata)
            if d[0] != "remove_table" or d[1].name not in {"alembic_version", "scheduler_jobs"}
        ]
    assert diff == []
