"""The payment-provider webhooks: POST /webhooks/<endpoint token>/<provider>.

One blueprint per installed provider, built per app by `payments_blueprints(...)` around a
shared `PaymentsEdge`, so there is no module-level state. All decisions live in
`connector.payments.receive`; this module only moves bytes and headers in and out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from datetime import datetime
from typing import cast

from flask import Blueprint
from flask import Response
from flask import request
from werkzeug.datastructures import Headers

from connector.payments.hints import receive_hint
from connector.payments.model import REQUEST_URL_HEADER
from connector.payments.receive import LogLimiter
from connector.payments.receive import SecretCache
from connector.payments.receive import receive
from connector.payments.writer import EventWriter
from connector.ports import LedgerWebhooks
from connector.ports import PaymentProvider
from connector.store import Store
from connector.vault import Vault
from webhooks.body import BODY_LIMIT
from webhooks.body import read_body
from webhooks.metrics import Metrics

__all__ = ["BODY_LIMIT", "PaymentsEdge", "payments_blueprints"]


class PaymentsEdge:
    """What every provider's blueprint shares: the store, the secrets cache, the group-commit
    writer, the log limiter and the metrics of this app."""

    def __init__(
        self,
        *,
        store: Store,
        vault: Vault,
        providers: Callable[[str], PaymentProvider],
        metrics: Metrics,
        clock: Callable[[], datetime],
        ledger_webhooks: Callable[[str], LedgerWebhooks | None],
    ) -> None:
        self.store = store
        self.vault = vault
        self.providers = providers
        self.metrics = metrics
        self.clock = clock
        self.ledger_webhooks = ledger_webhooks
        self.limiter = LogLimiter()
        self.secrets = SecretCache()
        self.writer = EventWriter(store)

    def provider_call(self, token: str, provider: str) -> Response:
        started = time.perf_counter()
        body = read_body()
        headers = Headers(request.headers)
        headers[REQUEST_URL_HEADER] = request.url  # never what the caller claims
        answer = receive(
            store=self.store,
            vault=self.vault,
            providers=self.providers,
            token=token,
            provider_name=provider,
            body=body,
            # Headers is a case-insensitive mapping, which is what signature checks need.
            headers=cast(Mapping[str, str], headers),
            now=self.clock(),
            log_limiter=self.limiter,
            cache=self.secrets,
            writer=self.writer,
        )
        metrics = self.metrics
        metrics.received.labels(provider).inc()
        if answer.outcome == "verified":
            metrics.verified.labels(provider).inc()
        elif answer.outcome == "duplicate":
            metrics.duplicate.labels(provider).inc()
        elif answer.outcome == "unusable":
            metrics.unusable.labels(provider).inc()
        else:
            metrics.rejected.labels(provider, str(answer.status)).inc()
        metrics.latency.labels(provider).observe(time.perf_counter() - started)
        return Response(answer.body, status=answer.status, content_type=answer.content_type)

    def ledger_call(self, token: str, ledger: str) -> Response:
        answer = receive_hint(
            store=self.store,
            vault=self.vault,
            webhooks=self.ledger_webhooks,
            token=token,
            ledger=ledger,
            body=read_body(),
            headers=cast(Mapping[str, str], Headers(request.headers)),
            now=self.clock(),
            cache=self.secrets,
            log_limiter=self.limiter,
        )
        return Response(answer.body, status=answer.status, content_type=answer.content_type)


def provider_blueprint(edge: PaymentsEdge, provider: str) -> Blueprint:
    """POST /webhooks/<endpoint token>/<provider>, one blueprint per installed provider."""
    bp = Blueprint(f"webhooks_{provider}", __name__)

    @bp.post(f"/webhooks/<token>/{provider}")
    def webhook(token: str) -> Response:
        return edge.provider_call(token, provider)

    return bp


def ledger_blueprint(edge: PaymentsEdge) -> Blueprint:
    """POST /ledger-webhooks/<endpoint token>/<ledger>: Moneybird's and Exact's callbacks."""
    bp = Blueprint("ledger_webhooks", __name__)

    @bp.post("/ledger-webhooks/<token>/<ledger>")
    def ledger_webhook(token: str, ledger: str) -> Response:
        return edge.ledger_call(token, ledger)

    return bp


def payments_blueprints(
    *,
    store: Store,
    vault: Vault,
    providers: Callable[[str], PaymentProvider],
    provider_names: Iterable[str],
    metrics: Metrics,
    clock: Callable[[], datetime],
    ledger_webhooks: Callable[[str], LedgerWebhooks | None] = lambda _name: None,
) -> list[Blueprint]:
    """A blueprint per payment provider plus the ledger callbacks, sharing one edge."""
    edge = PaymentsEdge(
        store=store,
        vault=vault,
        providers=providers,
        metrics=metrics,
        clock=clock,
        ledger_webhooks=ledger_webhooks,
    )
    return [*(provider_blueprint(edge, name) for name in provider_names), ledger_blueprint(edge)]
