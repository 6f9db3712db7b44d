"""Readiness, metrics and the API document (/healthz is part of the app factory)."""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import jsonify
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import generate_latest

from connector import __version__
from connector.errors import StoreError
from connector.payments.tables import webhook_events
from connector.store import Store
from webhooks.metrics import Metrics
from webhooks.openapi import document

READY_TIMEOUT = 1.0  # seconds; a load balancer's probe usually allows a few


def edge_blueprint(*, store: Store, metrics: Metrics) -> Blueprint:
    bp = Blueprint("edge", __name__)

    @bp.get("/readyz")
    def ready() -> tuple[Response, int]:
        # Ready means a webhook could be stored now: the events table can be written
        # within a second (not merely that a connection opens).
        try:
            store.check_ready(webhook_events.name, timeout=READY_TIMEOUT)
        except StoreError:
            return jsonify(error="store unreachable or locked"), 503
        return jsonify(status="ready"), 200

    @bp.get("/metrics")
    def metrics_view() -> Response:
        return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)

    @bp.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(document(__version__))

    json_errors(bp)
    return bp


def json_errors(bp: Blueprint) -> None:
    """Every error page of the app as one JSON line, never an HTML page or a bare 500."""
    from werkzeug.exceptions import HTTPException

    @bp.app_errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        code = exc.code or 500
        messages = {404: "not found", 405: "method not allowed", 413: "body too large"}
        return jsonify(error=messages.get(code, exc.name.lower())), code
