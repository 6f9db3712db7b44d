"""The four payment providers are found by name through the entry points, and fill the port."""

from __future__ import annotations

import pytest

from connector.payments.model import WebhookReply
from connector.registry import PROVIDER_GROUP
from connector.registry import available
from connector.registry import provider_factory

NAMES = ["adyen", "buckaroo", "mollie", "stripe"]


def test_all_four_are_installed() -> None:
    assert set(NAMES) <= set(available(PROVIDER_GROUP))


@pytest.mark.parametrize("name", NAMES)
def test_each_loads_with_defaults_and_answers_a_reply(name: str) -> None:
    provider = provider_factory(name)({})
    assert provider.name == name
    assert callable(provider.parse_webhook)
    reply = provider.reply([])
    assert isinstance(reply, WebhookReply)
    assert 200 <= reply.status < 300
    assert reply.body == ("[accepted]" if name == "adyen" else "")


def test_only_mollie_is_polled_and_it_fills_the_polling_protocol() -> None:
    from connector.payments.polling import PollingProvider

    polled = {name for name in NAMES if isinstance(provider_factory(name)({}), PollingProvider)}
    assert polled == {"mollie"}
