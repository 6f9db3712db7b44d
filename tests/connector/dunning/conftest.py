"""The `world` fixture: one administration in a store (both backends), a fake ledger behind
it and fake channels (see tests/fakes/dunning.py)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

import pytest

from connector.domain import Administration
from connector.domain import Debtor
from connector.domain import DebtorKind
from connector.dunning.model import ChannelKind
from connector.ports import Capabilities
from connector.store import Store
from connector.store import records
from connector.sync import discover
from tests.fakes.dunning import ADDRESS
from tests.fakes.dunning import FakeChannel
from tests.fakes.dunning import FakeRenderer
from tests.fakes.dunning import ReadCountingLedger
from tests.fakes.dunning import World


@pytest.fixture
def world(store: Store) -> World:
    ledger = ReadCountingLedger(
        admins=[Administration("A", "Acme")],
        capabilities=Capabilities(targeted_read=True),
    )
    ledger.debtors_by_admin["A"] = [
        Debtor(
            "D1",
            "Bakkerij De Korf B.V.",
            DebtorKind.BUSINESS,
            email="d1@example.nl",
            phone="050-1234567",
            address=ADDRESS,
        ),
        Debtor(
            "D2",
            "Jansen Installatie",
            DebtorKind.BUSINESS,
            "d2@example.nl",
            tags=("vip", "bouw"),
            address=ADDRESS,
        ),
        Debtor(
            "C1", "J. de Vries", kind=DebtorKind.CONSUMER, email="c1@example.nl", address=ADDRESS
        ),
    ]
    with store.begin() as conn:
        connection = records.save_connection(
            conn, name="fake", ledger="fake", config={}, now=datetime(2025, 1, 1, tzinfo=UTC)
        )
    discover(store, connection, ledger)
    channels = {kind: FakeChannel(kind) for kind in ChannelKind}
    return World(store=store, ledger=ledger, channels=channels, renderer=FakeRenderer())
