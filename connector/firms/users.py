"""Users of firms: create, sign in, grant administrations. The CLI and the workspace call these.

Owners see every administration of their firm; controllers and viewers only those granted to
them. An administration belongs to at most one firm (`firm_administrations`), so one
installation can serve many firms without one seeing another's books.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import Row
from sqlalchemy import Select
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from connector.errors import ConfigError
from connector.errors import NotFound
from connector.firms.passwords import MIN_LENGTH
from connector.firms.passwords import hash_password
from connector.firms.passwords import needs_rehash
from connector.firms.passwords import verify_password
from connector.firms.tables import Role
from connector.firms.tables import firm_administrations
from connector.firms.tables import firms
from connector.firms.tables import user_grants
from connector.firms.tables import users


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    firm_id: int
    firm_name: str
    email: str
    role: Role
    active: bool


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    if "@" not in value or value.startswith("@") or value.endswith("@") or " " in value:
        msg = f"not an e-mail address: {email!r}"
        raise ConfigError(msg)
    return value


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        msg = f"no role {value!r}; choose one of: {', '.join(r.value for r in Role)}"
        raise ConfigError(msg) from None


def firm_id(conn: Connection, name: str, now: datetime, *, create: bool) -> int:
    found = conn.execute(select(firms.c.id).where(firms.c.name == name)).scalar_one_or_none()
    if found is not None:
        return int(found)
    if not create:
        msg = f"no firm {name!r}"
        raise NotFound(msg)
    if not name.strip():
        msg = "a firm needs a name"
        raise ConfigError(msg)
    result = conn.execute(insert(firms).values(name=name, created_at=now).returning(firms.c.id))
    return int(result.scalar_one())


def _user_query() -> Select[Any]:
    return select(
        users.c.id,
        users.c.firm_id,
        firms.c.name.label("firm_name"),
        users.c.email,
        users.c.role,
        users.c.active,
    ).join(firms, firms.c.id == users.c.firm_id)


def _record(row: Row[Any]) -> UserRecord:
    return UserRecord(
        id=row.id,
        firm_id=row.firm_id,
        firm_name=row.firm_name,
        email=row.email,
        role=Role(row.role),
        active=bool(row.active),
    )


def get_user(conn: Connection, user_id: int) -> UserRecord | None:
    row = conn.execute(_user_query().where(users.c.id == user_id)).first()
    return _record(row) if row is not None else None


def list_users(conn: Connection, firm: int | None = None) -> list[UserRecord]:
    query = _user_query().order_by(firms.c.name, users.c.email)
    if firm is not None:
        query = query.where(users.c.firm_id == firm)
    return [_record(row) for row in conn.execute(query)]


def add_user(
    conn: Connection,
    *,
    email: str,
    firm: str,
    role: Role,
    password: str,
    now: datetime,
) -> UserRecord:
    """A new user of `firm` (made when it does not exist yet)."""
    address = normalise_email(email)
    if len(password) < MIN_LENGTH:
        msg = f"a password needs at least {MIN_LENGTH} characters"
        raise ConfigError(msg)
    taken = conn.execute(select(users.c.id).where(users.c.email == address)).first()
    if taken is not None:
        msg = f"a user {address} exists already"
        raise ConfigError(msg)
    fid = firm_id(conn, firm, now, create=True)
    result = conn.execute(
        insert(users)
        .values(
            firm_id=fid,
            email=address,
            password_hash=hash_password(password),
            role=role.value,
            active=True,
            created_at=now,
        )
        .returning(users.c.id)
    )
    user = get_user(conn, int(result.scalar_one()))
    assert user is not None
    return user


def authenticate(conn: Connection, email: str, password: str, now: datetime) -> UserRecord | None:
    """The active user with this e-mail and password, or None (same cost either way)."""
    address = email.strip().lower()
    row = conn.execute(
        select(users.c.id, users.c.password_hash, users.c.active).where(users.c.email == address)
    ).first()
    stored = row.password_hash if row is not None else None
    if not verify_password(stored, password) or row is None or not row.active:
        return None
    values: dict[str, object] = {"last_login_at": now}
    if needs_rehash(row.password_hash):
        values["password_hash"] = hash_password(password)
    conn.execute(update(users).where(users.c.id == row.id).values(**values))
    return get_user(conn, int(row.id))


def assign_administrations(conn: Connection, fid: int, administration_ids: Sequence[int]) -> None:
    """Make the administrations the firm's; one that belongs to another firm is an error."""
    fa = firm_administrations.c
    for admin_id in administration_ids:
        owner = conn.execute(
            select(fa.firm_id).where(fa.administration_id == admin_id)
        ).scalar_one_or_none()
        if owner is None:
            conn.execute(
                insert(firm_administrations).values(administration_id=admin_id, firm_id=fid)
            )
        elif owner != fid:
            msg = f"administration {admin_id} belongs to another firm"
            raise ConfigError(msg)


def grant(conn: Connection, user: UserRecord, administration_ids: Sequence[int]) -> None:
    """Let `user` see these administrations (made the firm's when nobody's yet)."""
    assign_administrations(conn, user.firm_id, administration_ids)
    have = set(
        conn.execute(
            select(user_grants.c.administration_id).where(user_grants.c.user_id == user.id)
        ).scalars()
    )
    for admin_id in administration_ids:
        if admin_id not in have:
            conn.execute(insert(user_grants).values(user_id=user.id, administration_id=admin_id))


def visible_administrations(conn: Connection, user: UserRecord) -> list[int]:
    """The ids of the administrations `user` may see: the firm's (owner) or the granted."""
    fa = firm_administrations.c
    query = select(fa.administration_id).where(fa.firm_id == user.firm_id)
    if user.role is not Role.OWNER:
        query = query.join(
            user_grants,
            (user_grants.c.administration_id == fa.administration_id)
            & (user_grants.c.user_id == user.id),
        )
    return sorted(int(x) for x in conn.execute(query).scalars())


def count_users(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(users)).scalar_one())
