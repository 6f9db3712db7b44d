"""Readiness, metrics and the API document (/healthz is part of the app factory)."""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import jsonify
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import generate_latest
from sqlalchemy import text

from connector import __version__
from connector.errors import StoreError
from connector.store import Store
from webhooks.metrics import Metrics
from webhooks.openapi import document


def edge_blueprint(*, store: Store, metrics: Metrics) -> Blueprint:
    bp = Blueprint("edge", __name__)

    @bp.get("/readyz")
    def ready() -> tuple[Response, int]:
        try:
            with store.begin() as conn:
                conn.execute(text("SELECT 1"))
        except StoreError:
            return jsonify(error="store unreachable"), 503
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
