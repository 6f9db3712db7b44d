"""Ledger webhooks (Moneybird, Exact) as hints: verify, queue, then re-read off the request path.

A ledger's callback is never trusted as data: it only says which record to read again. An
item hint becomes a targeted read (or, where the ledger cannot read one item, an incremental
sync); a debtor hint an incremental sync of that administration.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy import update

from connector.errors import ConnectorError
from connector.errors import StoreError
from connector.errors import WebhookRejected
from connector.payments.receive import Answer
from connector.payments.receive import LogLimiter
from connector.payments.receive import SecretCache
from connector.payments.receive import error_answer
from connector.payments.tables import endpoint_administrations
from connector.payments.tables import ledger_hints
from connector.ports import Ledger
from connector.ports import LedgerWebhooks
from connector.store import Store
from connector.store import records
from connector.store.records import AdministrationRecord
from connector.sync import refresh_items
from connector.sync import sync_administration
from connector.vault import Vault

logger = logging.getLogger(__name__)


def receive_hint(
    *,
    store: Store,
    vault: Vault,
    webhooks: Callable[[str], LedgerWebhooks | None],
    token: str,
    ledger: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    cache: SecretCache,
    log_limiter: LogLimiter,
) -> Answer:
    """Verify a ledger's callback and queue its hints; 200 only once they are stored."""
    try:
        verifier = webhooks(ledger)
    except ConnectorError:
        verifier = None
    if verifier is None:
        return error_answer(404, "not found", "unknown")
    try:
        found = cache.get(store, vault, token, ledger)
    except ConnectorError:  # the store, or a key that cannot decrypt: the ledger retries
        return error_answer(503, "temporarily unavailable", "unavailable")
    if found is None:
        return error_answer(404, "not found", "unknown")
    endpoint_id, endpoint_name, secrets = found
    if not secrets:
        return error_answer(401, "signature not verified", "rejected")
    try:
        hints = verifier.verify(body, headers, secrets, now.timestamp())
    except WebhookRejected as exc:
        if log_limiter.allow(f"{ledger}-{exc.status}"):
            logger.warning("%s webhook for %s rejected: %s", ledger, endpoint_name, exc)
        status = 401 if exc.status == 401 else 400
        return error_answer(
            status, "signature not verified" if status == 401 else "malformed body", "rejected"
        )
    too_long = [
        h
        for h in hints
        if len(h.record_id) > ledger_hints.c.record_id.type.length  # type: ignore[attr-defined]
        or len(h.administration_external_id) > ledger_hints.c.administration_external_id.type.length  # type: ignore[attr-defined]
    ]
    if too_long:
        # Signed, but no record of ours has such an id: a malformed callback, not a 500
        # from the store (PostgreSQL refuses the value; SQLite would keep it silently).
        if log_limiter.allow(f"{ledger}-too-long"):
            logger.warning(
                "%s webhook for %s names an id too long to be ours", ledger, endpoint_name
            )
        return error_answer(400, "malformed body", "rejected")
    try:
        with store.begin() as conn:
            for hint in hints:
                conn.execute(
                    ledger_hints.insert().values(
                        endpoint_id=endpoint_id,
                        ledger=ledger,
                        administration_external_id=hint.administration_external_id,
                        kind=hint.kind,
                        record_id=hint.record_id,
                        received_at=now,
                        status="received",
                        detail="",
                    )
                )
    except StoreError:
        return error_answer(503, "temporarily unavailable", "unavailable")
    return Answer(200, json.dumps({"queued": len(hints)}), outcome="verified", events=len(hints))


@dataclass(frozen=True, slots=True)
class HintSummary:
    done: int = 0
    skipped: int = 0
    failed: int = 0


def process_hints(
    store: Store,
    ledger_for: Callable[[AdministrationRecord], Ledger],
    *,
    now: datetime,
    limit: int = 200,
) -> HintSummary:
    """Re-read what the queued hints name; several hints for one record read it once."""
    with store.begin() as conn:
        rows = conn.execute(
            select(ledger_hints)
            .where(ledger_hints.c.status == "received")
            .order_by(ledger_hints.c.id)
            .limit(limit)
        ).all()
    groups: dict[tuple[int, str, str], list[tuple[int, str, str]]] = {}
    for row in rows:
        key = (row.endpoint_id, row.ledger, row.administration_external_id)
        groups.setdefault(key, []).append((row.id, row.kind, row.record_id))
    done = skipped = failed = 0
    for (endpoint_id, ledger_name, external_id), hints in groups.items():
        ids = [h[0] for h in hints]
        admin = _administration(store, endpoint_id, ledger_name, external_id)
        if admin is None:
            _settle(store, ids, "skipped", "no administration of this endpoint matches", now)
            skipped += len(ids)
            continue
        try:
            ledger = ledger_for(admin)
            items = sorted({h[2] for h in hints if h[1] == "item"})
            with store.begin() as conn:
                known = records.item_index(conn, admin.id)
            # A targeted read only when every hint names an item we hold (an Exact
            # transaction hint names an entry, not an item): otherwise an incremental sync.
            if (
                items
                and ledger.capabilities.targeted_read
                and all(h[1] == "item" for h in hints)
                and all(ext in known for ext in items)
            ):
                refresh_items(store, admin, items, ledger.read_items(admin.domain(), items), now)
            else:
                summary = sync_administration(store, ledger, admin, clock=lambda: now)
                if not summary.ok:
                    raise ConnectorError(summary.error)
        except ConnectorError as exc:
            _settle(store, ids, "failed", str(exc), now)
            failed += len(ids)
            continue
        _settle(store, ids, "done", "", now)
        done += len(ids)
    return HintSummary(done, skipped, failed)


def _administration(
    store: Store, endpoint_id: int, ledger: str, external_id: str
) -> AdministrationRecord | None:
    """The endpoint's own administration with that ledger id: never another tenant's."""
    with store.begin() as conn:
        allowed = set(
            conn.execute(
                select(endpoint_administrations.c.administration_id).where(
                    endpoint_administrations.c.endpoint_id == endpoint_id
                )
            ).scalars()
        )
        for admin in records.list_administrations(conn):
            if admin.id in allowed and admin.ledger == ledger and admin.external_id == external_id:
                return admin
    return None


def _settle(store: Store, ids: list[int], status: str, detail: str, now: datetime) -> None:
    with store.begin() as conn:
        conn.execute(
            update(ledger_hints)
            .where(ledger_hints.c.id.in_(ids))
            .values(status=status, detail=detail, processed_at=now)
        )
