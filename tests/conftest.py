"""Shared fixtures: a migrated store on SQLite and, where configured, on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.engine import make_url

from connector.store import Store

PG_ENV = "CONNECTOR_TEST_POSTGRES_URL"
SKIP_PG = f"{PG_ENV} is not set; PostgreSQL runs of the store tests are skipped"


@dataclass
class _PgTemplate:
    admin: Engine
    base_url: str
    name: str


@pytest.fixture(scope="session")
def pg_template() -> Iterator[_PgTemplate | None]:
    """A migrated template database; each test clones it (CREATE DATABASE ... TEMPLATE)."""
    url = os.environ.get(PG_ENV)
    if not url:
        yield None
        return
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"connector_tmpl_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    store = Store(make_url(url).set(database=name).render_as_string(hide_password=False))
    store.migrate()
    store.dispose()
    yield _PgTemplate(admin, url, name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path, pg_template) -> Iterator[str]:
    """A URL of a freshly migrated store, once per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'connector.db'}"
        store = Store(url)
        store.migrate()
        store.dispose()
        yield url
        return
    if pg_template is None:
        pytest.skip(SKIP_PG)
    name = f"connector_test_{uuid.uuid4().hex[:10]}"
    with pg_template.admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template.name}"'))
    yield make_url(pg_template.base_url).set(database=name).render_as_string(hide_password=False)
    with pg_template.admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.dispose()
