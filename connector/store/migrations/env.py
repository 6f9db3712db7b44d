"""Alembic environment: run with a connection handed in by connector.store.engine.migrate."""

from __future__ import annotations

from alembic import context

from connector.store.tables import all_metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=all_metadata(),
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
