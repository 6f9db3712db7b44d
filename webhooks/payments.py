"""The payment-provider webhooks: POST /webhooks/<endpoint token>/<provider>.

The blueprint is built per app by `payments_blueprint(...)` with its services in the
closure, so there is no module-level state. All decisions live in
`connector.payments.receive`; this module only moves bytes and headers in and out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
from webhooks.metrics import Metrics


def payments_blueprint(
    *,
    store: Store,
    vault: Vault,
    providers: Callable[[str], PaymentProvider],
    metrics: Metrics,
    clock: Callable[[], datetime],
    ledger_webhooks: Callable[[str], LedgerWebhooks | None] = lambda _name: None,
) -> Blueprint:
    bp = Blueprint("payments", __name__)
    limiter = LogLimiter()
    secrets = SecretCache()
    writer = EventWriter(store)

    @bp.post("/webhooks/<token>/<provider>")
    def webhook(token: str, provider: str) -> Response:
        started = time.perf_counter()
        body = request.get_data(cache=False)
        headers = Headers(request.headers)
        headers[REQUEST_URL_HEADER] = request.url  # never what the caller claims
        answer = receive(
            store=store,
            vault=vault,
            providers=providers,
            token=token,
            provider_name=provider,
            body=body,
            # Headers is a case-insensitive mapping, which is what signature checks need.
            headers=cast(Mapping[str, str], headers),
            now=clock(),
            log_limiter=limiter,
            cache=secrets,
            writer=writer,
        )
        # Label only installed providers, so strangers cannot grow the metric's label set.
        label = provider if answer.outcome != "unknown" else "unknown"
        metrics.received.labels(label).inc()
        if answer.outcome == "verified":
            metrics.verified.labels(label).inc()
        elif answer.outcome == "duplicate":
            metrics.duplicate.labels(label).inc()
        else:
            metrics.rejected.labels(label, str(answer.status)).inc()
        metrics.latency.labels(label).observe(time.perf_counter() - started)
        return Response(answer.body, status=answer.status, content_type=answer.content_type)

    @bp.post("/ledger-webhooks/<token>/<ledger>")
    def ledger_webhook(token: str, ledger: str) -> Response:
        answer = receive_hint(
            store=store,
            vault=vault,
            webhooks=ledger_webhooks,
            token=token,
            ledger=ledger,
            body=request.get_data(cache=False),
            headers=cast(Mapping[str, str], Headers(request.headers)),
            now=clock(),
            cache=secrets,
            log_limiter=limiter,
        )
        return Response(answer.body, status=answer.status, content_type=answer.content_type)

    return bp
