"""The call channel: a task for a person to phone the debtor, kept in the store.

`connector tasks` lists the open tasks; `connector tasks done ID` closes one. A task is keyed
by its letter's key, so sending the same letter twice (a retry) never makes a second task.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from connector.dunning.model import ChannelKind
from connector.dunning.model import Delivery
from connector.dunning.model import Letter
from connector.dunning.model import Rendered
from connector.dunning.tables import call_tasks
from connector.errors import ChannelError
from connector.errors import StoreError
from connector.store import Store


class CallChannel:
    kind = ChannelKind.CALL

    def __init__(self, store: Store) -> None:
        self.store = store

    def send(self, letter: Letter, rendered: Rendered) -> Delivery:
        insert = postgresql.insert if self.store.dialect == "postgresql" else sqlite.insert
        debtor = letter.debtor
        summary = rendered.text.strip() or rendered.subject
        try:
            with self.store.begin() as conn:
                conn.execute(
                    insert(call_tasks)
                    .values(
                        administration_id=letter.administration_id,
                        debtor_code=debtor.code,
                        action_key=letter.key,
                        debtor_name=debtor.name,
                        phone=debtor.phone,
                        summary=summary,
                        due_on=letter.letter_date,
                        status="open",
                        note="",
                        created_at=datetime.now(UTC),
                    )
                    .on_conflict_do_nothing(index_elements=["action_key"])
                )
                task_id = conn.execute(
                    select(call_tasks.c.id).where(call_tasks.c.action_key == letter.key)
                ).scalar_one()
        except StoreError as exc:
            msg = f"could not store the call task: {exc}"
            raise ChannelError(msg) from exc
        detail = f"call {debtor.phone}" if debtor.phone else "no phone number known"
        return Delivery(ChannelKind.CALL, f"task {task_id}", detail)
