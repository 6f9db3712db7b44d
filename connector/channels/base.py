"""The channel port: how the dunning run hands a letter to a way of delivering it."""

from __future__ import annotations

from typing import Protocol

from connector.dunning.model import ChannelKind
from connector.dunning.model import Delivery
from connector.dunning.model import Letter
from connector.dunning.model import Rendered


class Channel(Protocol):
    kind: ChannelKind

    def send(self, letter: Letter, rendered: Rendered) -> Delivery:
        """Deliver the letter once.

        Raises:
            ChannelError: delivery failed and nothing was delivered; the run retries later.
            ChannelUncertain: it is not known whether the letter went out (the connection
                dropped after the data was handed over); the action is kept for a person.
        """
        ...


class Renderer(Protocol):
    def render(self, letter: Letter, *, with_pdf: bool) -> Rendered:
        """Render subject, text, HTML and (when asked) the PDF letter from the templates."""
        ...


class PaymentLinks(Protocol):
    """The payment-link port the payments issue fills (Mollie, Stripe)."""

    def link_for(self, letter: Letter) -> str:
        """A payment link for the letter's total, carrying the letter's item references."""
        ...
