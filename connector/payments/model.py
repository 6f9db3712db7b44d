"""Payment events as the core sees them, whatever provider sent them.

A provider adapter verifies a webhook on its raw body and turns it into one or more
`PaymentEvent`s. The core stores each under (provider, event_id) before acknowledging, then
matches and processes it off the request path.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime

from connector.domain import Money


class PaymentEventKind(enum.StrEnum):
    PAID = "paid"  # the full amount was received
    PARTIALLY_PAID = "partially_paid"
    REFUNDED = "refunded"  # money went back to the payer (amount = refunded part)
    DISPUTE_OPENED = "dispute_opened"  # a chargeback is announced; money not yet withdrawn
    CHARGED_BACK = "charged_back"  # the chargeback is booked: the amount is open again
    CHARGEBACK_REVERSED = "chargeback_reversed"  # the merchant won: the money is back
    FAILED = "failed"  # failed, expired or cancelled: nothing was paid


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """One thing that happened to a payment.

    `event_id` is the provider's key for deduplication: a delivery of the same event twice
    yields the same id (for Mollie classic, a state such as "tr_x:paid:refunded=0.00:cb=0.00",
    because Mollie sends only the payment id). `amount` is what this event moves: the paid
    amount, the refunded or charged-back part. `references` carries what the payment was
    tagged with (our item references from the payment link's metadata, the betalingskenmerk,
    the invoice number) for matching.
    """

    provider: str
    event_id: str
    kind: PaymentEventKind
    payment_id: str
    amount: Money
    occurred_at: datetime
    description: str = ""
    references: Mapping[str, str] = field(default_factory=dict)
    payer_name: str = ""
    payer_iban: str = ""


@dataclass(frozen=True, slots=True)
class WebhookReply:
    """What the HTTP edge answers after the events are stored (Adyen wants "[accepted]")."""

    status: int = 200
    body: str = ""
    content_type: str = "text/plain"


# The HTTP edge passes the URL the provider called in this header (some providers sign it,
# e.g. Buckaroo's JSON push); whatever the caller sent under that name is overwritten.
REQUEST_URL_HEADER = "X-Connector-Request-Url"
