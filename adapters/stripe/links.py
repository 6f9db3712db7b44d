"""Stripe Payment Links for dunning letters (the `PaymentLinks` port).

Why Payment Links and not Checkout Sessions: a Checkout Session expires after at most 24 hours,
and a reminder is read (or a posted letter arrives) days later. A Payment Link does not expire.
It needs a Price, so each letter gets a one-off Price for its total (with an inline product),
then a link limited to one completed payment (`restrictions.completed_sessions.limit = 1`) so
the debtor cannot pay the same letter twice.

Our references travel twice: in the link's `metadata` and in `payment_intent_data.metadata`,
which Stripe copies onto the PaymentIntent each visit creates. `payment_intent.succeeded`
therefore carries them, and the webhook matches exactly (`connector_items`, the store's
open-item ids; `connector_letter`, the letter key; `betalingskenmerk`). The PaymentIntent's
description carries the betalingskenmerk and the invoice numbers as a fallback for matching.

Idempotency: both POSTs carry an `Idempotency-Key` derived from the letter key, its total and
currency, so a retry after a lost answer (Stripe keeps keys for 24 hours) returns the same
objects; a `LinkStore` keeps the URL for later runs (the default keeps it in memory only).
A changed total gives a new link.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from decimal import ROUND_HALF_UP
from decimal import Decimal
from typing import Any
from typing import Protocol

from adapters.stripe.client import DEFAULT_API_URL
from adapters.stripe.client import StripeApiError
from adapters.stripe.client import StripeClient
from connector.domain import currency_exponent
from connector.dunning.model import Letter
from connector.errors import ChannelError
from connector.errors import ConfigError

# The metadata keys the core's matching reads (connector.payments.matching).
ITEMS_KEY = "connector_items"
LETTER_KEY = "connector_letter"
REFERENCE_KEY = "betalingskenmerk"
ADMINISTRATION_KEY = "connector_administration"
_METADATA_VALUE_MAX = 500  # Stripe's limit per metadata value
_DESCRIPTION_MAX = 250


class LinkStore(Protocol):
    """Where created links are kept, by link key, so a letter is never given two links."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, url: str) -> None: ...


class MemoryLinkStore:
    def __init__(self) -> None:
        self._links: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self._links.get(key)

    def put(self, key: str, url: str) -> None:
        self._links[key] = url


def link_key(letter: Letter) -> str:
    """One key per letter and amount: the same letter re-run gets the same link."""
    total = _quantized(letter.total, letter.currency)
    raw = f"{letter.key}|{total}|{letter.currency}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:40]


def _quantized(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-currency_exponent(currency)), rounding=ROUND_HALF_UP)


def minor_units(amount: Decimal, currency: str) -> int:
    """Exact minor units: 121.00 EUR -> 12100, 500 JPY -> 500, 1.234 KWD -> 1234."""
    return int(_quantized(amount, currency).scaleb(currency_exponent(currency)))


def letter_metadata(letter: Letter) -> dict[str, str]:
    metadata = {
        LETTER_KEY: letter.key[:_METADATA_VALUE_MAX],
        ADMINISTRATION_KEY: str(letter.administration_id),
    }
    items = ",".join(str(item.item_id) for item in letter.items)
    if items and len(items) <= _METADATA_VALUE_MAX:
        metadata[ITEMS_KEY] = items
    if letter.payment_reference:
        metadata[REFERENCE_KEY] = letter.payment_reference
    return metadata


def letter_description(letter: Letter) -> str:
    """Betalingskenmerk first (it survives truncation on a bank statement), then invoices."""
    parts = [letter.payment_reference] if letter.payment_reference else []
    parts.extend(item.invoice_number for item in letter.items if item.invoice_number)
    text = " ".join(parts) or letter.key
    return text[:_DESCRIPTION_MAX]


class StripePaymentLinks:
    """`link_for(letter)`: a Stripe Payment Link for the letter's total."""

    def __init__(
        self,
        client: StripeClient,
        *,
        store: LinkStore | None = None,
        redirect_url: str = "",
    ) -> None:
        self.client = client
        self.store: LinkStore = store if store is not None else MemoryLinkStore()
        self.redirect_url = redirect_url

    def link_for(self, letter: Letter) -> str:
        """The link's URL.

        Raises:
            ValueError: the letter asks for nothing (total zero or negative).
            ChannelError: Stripe refused or could not be reached; no link was made.
        """
        if letter.total <= 0:
            msg = f"letter {letter.key} has nothing to pay ({letter.total} {letter.currency})"
            raise ValueError(msg)
        key = link_key(letter)
        known = self.store.get(key)
        if known:
            return known
        try:
            url = self._create(letter, key)
        except StripeApiError as exc:
            msg = f"no Stripe payment link for {letter.key}: {exc}"
            raise ChannelError(msg) from exc
        self.store.put(key, url)
        return url

    def _create(self, letter: Letter, key: str) -> str:
        currency = letter.currency.lower()
        name = f"{letter.sender.name}: {letter_description(letter)}".strip(": ")
        price = self.client.post(
            "/v1/prices",
            {
                "currency": currency,
                "unit_amount": minor_units(letter.total, letter.currency),
                "product_data": {"name": name[:_DESCRIPTION_MAX]},
                "metadata": letter_metadata(letter),
            },
            idempotency_key=f"dc-price-{key}",
        )
        price_id = price.get("id")
        if not isinstance(price_id, str):
            msg = "Stripe created a price without an id"
            raise StripeApiError(msg)
        params: dict[str, Any] = {
            "line_items": [{"price": price_id, "quantity": 1}],
            "metadata": letter_metadata(letter),
            "payment_intent_data": {
                "metadata": letter_metadata(letter),
                "description": letter_description(letter),
            },
            "restrictions": {"completed_sessions": {"limit": 1}},
        }
        if self.redirect_url:
            params["after_completion"] = {
                "type": "redirect",
                "redirect": {"url": self.redirect_url},
            }
        link = self.client.post("/v1/payment_links", params, idempotency_key=f"dc-link-{key}")
        url = link.get("url")
        if not isinstance(url, str) or not url.startswith("https://"):
            msg = "Stripe created a payment link without a URL"
            raise StripeApiError(msg)
        return url


def links_from_config(
    config: Mapping[str, Any], store: LinkStore | None = None
) -> StripePaymentLinks:
    """Payment links from `[payment_links.stripe]`-style settings: api_key, api_url,
    redirect_url (all but api_key optional).

    Raises:
        ConfigError: the api_key is missing or a URL is not a URL.
    """
    api_key = config.get("api_key")
    if not isinstance(api_key, str) or not api_key:
        msg = "stripe payment links need api_key (the secret key, sk_...)"
        raise ConfigError(msg)
    api_url = config.get("api_url", DEFAULT_API_URL)
    if not isinstance(api_url, str) or not api_url.startswith(("https://", "http://")):
        msg = f"stripe api_url must be an http(s) URL, got {api_url!r}"
        raise ConfigError(msg)
    redirect_url = config.get("redirect_url", "")
    if not isinstance(redirect_url, str):
        msg = "stripe redirect_url must be a URL"
        raise ConfigError(msg)
    return StripePaymentLinks(
        StripeClient(api_key, api_url=api_url), store=store, redirect_url=redirect_url
    )
