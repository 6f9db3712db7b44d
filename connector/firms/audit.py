"""The audit log: every action a user takes in the workspace, with what it changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import insert
from sqlalchemy import select

from connector.firms.tables import audit_log
from connector.firms.tables import users


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    user_email: str
    action: str
    administration_id: int | None
    subject: str
    before: Any
    after: Any


def record(
    conn: Connection,
    *,
    firm_id: int,
    user_id: int | None,
    action: str,
    now: datetime,
    administration_id: int | None = None,
    subject: str = "",
    before: Any = None,
    after: Any = None,
) -> None:
    """Write one entry, in the caller's transaction: the action and its entry commit together."""
    conn.execute(
        insert(audit_log).values(
            firm_id=firm_id,
            user_id=user_id,
            at=now,
            action=action,
            administration_id=administration_id,
            subject=subject,
            before=before,
            after=after,
        )
    )


def entries(
    conn: Connection,
    firm_id: int,
    administration_ids: Sequence[int] | None = None,
    limit: int = 200,
) -> list[AuditEntry]:
    a = audit_log.c
    query = (
        select(a.at, users.c.email, a.action, a.administration_id, a.subject, a.before, a.after)
        .outerjoin(users, users.c.id == a.user_id)
        .where(a.firm_id == firm_id)
        .order_by(a.at.desc(), a.id.desc())
        .limit(limit)
    )
    if administration_ids is not None:
        query = query.where(
            a.administration_id.in_(list(administration_ids)) | a.administration_id.is_(None)
        )
    return [
        AuditEntry(
            at=row.at,
            user_email=row.email or "(removed user)",
            action=row.action,
            administration_id=row.administration_id,
            subject=row.subject,
            before=row.before,
            after=row.after,
        )
        for row in conn.execute(query)
    ]
