"""Notes on a debtor: what a person learned (a call, a promise to pay), on the timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy import insert
from sqlalchemy import select

from connector.errors import ConfigError
from connector.firms.tables import debtor_notes
from connector.firms.tables import users

MAX_LENGTH = 4000


@dataclass(frozen=True, slots=True)
class Note:
    id: int
    author: str
    body: str
    created_at: datetime


def add_note(
    conn: Connection,
    *,
    administration_id: int,
    debtor_code: str,
    user_id: int | None,
    body: str,
    now: datetime,
) -> int:
    text = body.strip()
    if not text:
        msg = "a note needs some text"
        raise ConfigError(msg)
    if len(text) > MAX_LENGTH:
        msg = f"a note is at most {MAX_LENGTH} characters"
        raise ConfigError(msg)
    result = conn.execute(
        insert(debtor_notes)
        .values(
            administration_id=administration_id,
            debtor_code=debtor_code,
            user_id=user_id,
            body=text,
            created_at=now,
        )
        .returning(debtor_notes.c.id)
    )
    return int(result.scalar_one())


def notes_of(conn: Connection, administration_id: int, debtor_code: str) -> list[Note]:
    n = debtor_notes.c
    query = (
        select(n.id, users.c.email, n.body, n.created_at)
        .outerjoin(users, users.c.id == n.user_id)
        .where(n.administration_id == administration_id)
        .where(n.debtor_code == debtor_code)
        .order_by(n.created_at, n.id)
    )
    return [
        Note(
            id=row.id,
            author=row.email or "(removed user)",
            body=row.body,
            created_at=row.created_at,
        )
        for row in conn.execute(query)
    ]
