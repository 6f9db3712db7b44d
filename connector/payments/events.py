"""Storing received events durably, before the provider gets its 2xx.

A duplicate delivery (same endpoint, provider and event id) changes nothing and is reported
as such, so the edge can answer 2xx again.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import bindparam
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from connector.errors import ConfigError
from connector.errors import NotFound
from connector.payments.model import PaymentEvent
from connector.payments.tables import endpoint_administrations
from connector.payments.tables import provider_secrets
from connector.payments.tables import webhook_endpoints
from connector.payments.tables import webhook_events

RECEIVED = "received"
REJECTED = "rejected"  # verified but unusable: kept with the reason, never processed
UNUSABLE_KIND = "unusable"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: int
    name: str
    administration_ids: tuple[int, ...]


def create_endpoint(
    conn: Connection, *, name: str, administration_ids: Sequence[int], now: datetime
) -> tuple[Endpoint, str]:
    """A new endpoint and its token; the token is shown once and only its hash is kept."""
    if conn.execute(select(webhook_endpoints.c.id).where(webhook_endpoints.c.name == name)).first():
        msg = f"a webhook endpoint named {name!r} already exists"
        raise ConfigError(msg)
    token = secrets.token_urlsafe(32)
    endpoint_id = conn.execute(
        webhook_endpoints.insert()
        .values(name=name, token_hash=token_hash(token), created_at=now)
        .returning(webhook_endpoints.c.id)
    ).scalar_one()
    if administration_ids:
        conn.execute(
            endpoint_administrations.insert(),
            [{"endpoint_id": endpoint_id, "administration_id": a} for a in administration_ids],
        )
    return Endpoint(endpoint_id, name, tuple(administration_ids)), token


def _endpoint(conn: Connection, row_id: int, name: str) -> Endpoint:
    admins = conn.execute(
        select(endpoint_administrations.c.administration_id)
        .where(endpoint_administrations.c.endpoint_id == row_id)
        .order_by(endpoint_administrations.c.administration_id)
    ).scalars()
    return Endpoint(row_id, name, tuple(admins))


def endpoint_for_token(conn: Connection, token: str) -> Endpoint | None:
    row = conn.execute(
        select(webhook_endpoints.c.id, webhook_endpoints.c.name).where(
            webhook_endpoints.c.token_hash == token_hash(token)
        )
    ).first()
    return None if row is None else _endpoint(conn, row.id, row.name)


def find_endpoint(conn: Connection, name: str) -> Endpoint:
    row = conn.execute(
        select(webhook_endpoints.c.id, webhook_endpoints.c.name).where(
            webhook_endpoints.c.name == name
        )
    ).first()
    if row is None:
        msg = f"no webhook endpoint {name!r}; see: connector webhooks endpoints"
        raise NotFound(msg)
    return _endpoint(conn, row.id, row.name)


def secrets_for(conn: Connection, token: str, provider: str) -> tuple[int, str, list[str]] | None:
    """The endpoint behind a token with that provider's encrypted secrets, newest first, in
    one query (the receiving hot path); None for an unknown token."""
    rows = conn.execute(
        select(webhook_endpoints.c.id, webhook_endpoints.c.name, provider_secrets.c.secret)
        .outerjoin(
            provider_secrets,
            (provider_secrets.c.endpoint_id == webhook_endpoints.c.id)
            & (provider_secrets.c.provider == provider),
        )
        .where(webhook_endpoints.c.token_hash == token_hash(token))
        .order_by(provider_secrets.c.id.desc())
    ).all()
    if not rows:
        return None
    return rows[0].id, rows[0].name, [r.secret for r in rows if r.secret is not None]


@cache
def _insert_event(dialect: str) -> Any:
    """Built once per dialect: constructing the statement per call costs more than running it."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    names = [c.name for c in webhook_events.columns if c.name not in ("id", "processed_at")]
    return (
        insert(webhook_events)
        .values({name: bindparam(name, type_=webhook_events.c[name].type) for name in names})
        .on_conflict_do_nothing(index_elements=["endpoint_id", "provider", "event_id"])
        .returning(webhook_events.c.id)
    )


def store_events(
    conn: Connection, endpoint_id: int, events: Sequence[PaymentEvent], now: datetime
) -> list[bool]:
    """Insert the events; for each, True when it is new, False for a duplicate."""
    stmt = _insert_event(conn.dialect.name)
    fresh: list[bool] = []
    for event in events:
        params = {
            "endpoint_id": endpoint_id,
            "provider": event.provider,
            "event_id": event.event_id,
            "kind": event.kind.value,
            "payment_id": event.payment_id,
            "amount": event.amount.amount,
            "currency": event.amount.currency,
            "occurred_at": event.occurred_at,
            "received_at": now,
            "description": event.description,
            "references": dict(event.references),
            "payer_name": event.payer_name,
            "payer_iban": event.payer_iban,
            "status": RECEIVED,
            "detail": "",
        }
        # RETURNING rather than rowcount: psycopg does not report a count here.
        fresh.append(conn.execute(stmt, params).first() is not None)
    return fresh


def rejected_id(key: bytes | str) -> str:
    """A stable event id for a rejected delivery, so a retry of it is a duplicate."""
    data = key.encode() if isinstance(key, str) else key
    return "rejected:" + hashlib.sha256(data).hexdigest()[:48]


def store_rejected(
    conn: Connection, endpoint_id: int, provider: str, event_id: str, reason: str, now: datetime
) -> bool:
    """Keep a verified event that cannot be used, with the reason; True when it is new.

    It carries no amount or payer (they are what could not be used): status REJECTED and
    the reason in `detail` are what a person sees (`connector payments rejected`). It is
    never processed, so nothing is matched or written to a ledger from it.
    """
    stmt = _insert_event(conn.dialect.name)
    params = {
        "endpoint_id": endpoint_id,
        "provider": provider,
        "event_id": event_id,
        "kind": UNUSABLE_KIND,
        "payment_id": "",
        "amount": Decimal(0),
        "currency": "",
        "occurred_at": now,
        "received_at": now,
        "description": "",
        "references": {},
        "payer_name": "",
        "payer_iban": "",
        "status": REJECTED,
        "detail": reason[:500],
    }
    return conn.execute(stmt, params).first() is not None


def add_secret(
    conn: Connection, endpoint_id: int, provider: str, encrypted: str, now: datetime
) -> None:
    """Add a provider secret (already encrypted); several may be active during a rotation."""
    conn.execute(
        provider_secrets.insert().values(
            endpoint_id=endpoint_id, provider=provider, secret=encrypted, created_at=now
        )
    )


def drop_secrets(conn: Connection, endpoint_id: int, provider: str) -> int:
    result = conn.execute(
        provider_secrets.delete()
        .where(provider_secrets.c.endpoint_id == endpoint_id)
        .where(provider_secrets.c.provider == provider)
    )
    return int(result.rowcount or 0)


def encrypted_secrets(conn: Connection, endpoint_id: int, provider: str) -> list[str]:
    """The provider's secrets for this endpoint, newest first, still encrypted."""
    return list(
        conn.execute(
            select(provider_secrets.c.secret)
            .where(provider_secrets.c.endpoint_id == endpoint_id)
            .where(provider_secrets.c.provider == provider)
            .order_by(provider_secrets.c.id.desc())
        ).scalars()
    )


def list_endpoints(conn: Connection) -> list[tuple[Endpoint, list[str]]]:
    """Every endpoint with the providers it has secrets for (never the secrets)."""
    rows = conn.execute(
        select(webhook_endpoints.c.id, webhook_endpoints.c.name).order_by(webhook_endpoints.c.id)
    ).all()
    result = []
    for row in rows:
        providers = conn.execute(
            select(provider_secrets.c.provider)
            .where(provider_secrets.c.endpoint_id == row.id)
            .distinct()
            .order_by(provider_secrets.c.provider)
        ).scalars()
        result.append((_endpoint(conn, row.id, row.name), list(providers)))
    return result
