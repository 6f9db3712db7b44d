"""Mollie Payment Links for dunning letters (the `PaymentLinks` port).

`POST /v2/payment-links` with the letter's total, a description, and optionally `webhookUrl`,
`redirectUrl`, `profileId` and `expiresAt`. A payment link does not expire unless asked to,
so a posted letter's link still works when it arrives.

Limitation: Mollie's Payment Links API takes no `metadata` (its create payload is description,
amount, redirectUrl, webhookUrl, profileId, reusable, expiresAt; checked in mollie-api-php's
`CreatePaymentLinkPayload`), so our references cannot travel as metadata the way they do for
Stripe. They travel in the description instead, which Mollie copies onto the payment made
through the link: the betalingskenmerk first (16 digits with a check digit, unique per letter,
and first so that it survives the truncation of short bank-statement descriptions), then the
invoice numbers. The core's matcher finds both in the payment's description (matching steps
2 and 3), and the webhook events carry `payment_link_id` when the payment came through a link.

Idempotency: the POST carries an `Idempotency-Key` derived from the letter key, its total and
currency (Mollie honours it for a limited time, so a retry after a lost answer gets the same
link), and a `LinkStore` keeps the URL per letter for later runs (in memory by default; the
core can hand in one backed by its store).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import timedelta
from decimal import ROUND_HALF_UP
from decimal import Decimal
from typing import Any
from typing import Protocol

from adapters.mollie.client import DEFAULT_API_URL
from adapters.mollie.client import MollieClient
from connector.domain import currency_exponent
from connector.dunning.model import Letter
from connector.errors import ChannelError
from connector.errors import ConfigError
from connector.errors import LedgerError

_DESCRIPTION_MAX = 255  # Mollie truncates longer descriptions


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


def amount_value(amount: Decimal, currency: str) -> str:
    """Mollie's amount string: exactly the currency's decimals, no exponent ("121.00")."""
    exponent = currency_exponent(currency)
    quantized = amount.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP)
    return f"{quantized:f}"


def link_key(letter: Letter) -> str:
    raw = f"{letter.key}|{amount_value(letter.total, letter.currency)}|{letter.currency}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:40]


def letter_description(letter: Letter) -> str:
    parts = [letter.payment_reference] if letter.payment_reference else []
    parts.extend(item.invoice_number for item in letter.items if item.invoice_number)
    return (" ".join(parts) or letter.key)[:_DESCRIPTION_MAX]


class MolliePaymentLinks:
    """`link_for(letter)`: a Mollie payment link for the letter's total."""

    def __init__(
        self,
        client: MollieClient,
        *,
        store: LinkStore | None = None,
        webhook_url: str = "",
        redirect_url: str = "",
        profile_id: str = "",
        expires_days: int | None = None,
    ) -> None:
        self.client = client
        self.store: LinkStore = store if store is not None else MemoryLinkStore()
        self.webhook_url = webhook_url
        self.redirect_url = redirect_url
        self.profile_id = profile_id
        self.expires_days = expires_days

    def link_for(self, letter: Letter) -> str:
        """The link's URL.

        Raises:
            ValueError: the letter asks for nothing (total zero or negative).
            ChannelError: Mollie refused or could not be reached; no link was made.
        """
        if letter.total <= 0:
            msg = f"letter {letter.key} has nothing to pay ({letter.total} {letter.currency})"
            raise ValueError(msg)
        key = link_key(letter)
        known = self.store.get(key)
        if known:
            return known
        body: dict[str, Any] = {
            "description": letter_description(letter),
            "amount": {
                "currency": letter.currency,
                "value": amount_value(letter.total, letter.currency),
            },
        }
        if self.webhook_url:
            body["webhookUrl"] = self.webhook_url
        if self.redirect_url:
            body["redirectUrl"] = self.redirect_url
        if self.profile_id:
            body["profileId"] = self.profile_id
        if self.expires_days:
            expires = letter.letter_date + timedelta(days=self.expires_days)
            body["expiresAt"] = f"{expires.isoformat()}T23:59:59+00:00"
        try:
            created = self.client.create_payment_link(body, idempotency_key=f"dc-link-{key}")
        except LedgerError as exc:
            msg = f"no Mollie payment link for {letter.key}: {exc}"
            raise ChannelError(msg) from exc
        links = created.get("_links")
        link = links.get("paymentLink") if isinstance(links, Mapping) else None
        url = link.get("href") if isinstance(link, Mapping) else None
        if not isinstance(url, str) or not url.startswith("https://"):
            msg = f"Mollie created a payment link for {letter.key} without a URL"
            raise ChannelError(msg)
        self.store.put(key, url)
        return url


def links_from_config(
    config: Mapping[str, Any], store: LinkStore | None = None
) -> MolliePaymentLinks:
    """Payment links from settings: api_key (required), api_url, webhook_url, redirect_url,
    profile_id, expires_days.

    Raises:
        ConfigError: the api_key is missing or a setting has the wrong type.
    """
    api_key = config.get("api_key")
    if not isinstance(api_key, str) or not api_key:
        msg = "mollie payment links need api_key (live_... or test_...)"
        raise ConfigError(msg)
    texts = {}
    for name in ("api_url", "webhook_url", "redirect_url", "profile_id"):
        value = config.get(name, DEFAULT_API_URL if name == "api_url" else "")
        if not isinstance(value, str):
            msg = f"mollie {name} must be text, got {value!r}"
            raise ConfigError(msg)
        texts[name] = value
    if not texts["api_url"].startswith(("https://", "http://")):
        msg = f"mollie api_url must be an http(s) URL, got {texts['api_url']!r}"
        raise ConfigError(msg)
    expires = config.get("expires_days")
    if expires is not None and (
        isinstance(expires, bool) or not isinstance(expires, int) or expires <= 0
    ):
        msg = f"mollie expires_days must be a positive number of days, got {expires!r}"
        raise ConfigError(msg)
    return MolliePaymentLinks(
        MollieClient(api_key, api_url=texts["api_url"], timeout=10.0, attempts=3),
        store=store,
        webhook_url=texts["webhook_url"],
        redirect_url=texts["redirect_url"],
        profile_id=texts["profile_id"],
        expires_days=expires,
    )
