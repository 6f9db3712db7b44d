"""The OpenAPI document of the HTTP surface, served at /openapi.json."""

from __future__ import annotations

from typing import Any

_ERROR = {
    "description": "A JSON error",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            }
        }
    },
}

_RAW_BODY = {
    "required": False,
    "content": {
        "application/json": {"schema": {}},
        "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
        "text/plain": {"schema": {"type": "string"}},
    },
}


def document(version: str) -> dict[str, Any]:
    token = {
        "name": "token",
        "in": "path",
        "required": True,
        "description": "The tenant's secret endpoint token (connector webhooks create-endpoint).",
        "schema": {"type": "string"},
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "dunning-connector HTTP edge",
            "version": version,
            "description": (
                "Payment-provider and ledger callbacks, OAuth sign-in, health and metrics. "
                "Webhook bodies are verified on their raw bytes; a 2xx is sent only after "
                "the events are stored."
            ),
        },
        "paths": {
            "/webhooks/{token}/{provider}": {
                "post": {
                    "summary": "A payment provider's webhook delivery",
                    "parameters": [
                        token,
                        {
                            "name": "provider",
                            "in": "path",
                            "required": True,
                            "schema": {
                                "type": "string",
                                "enum": ["mollie", "stripe", "buckaroo", "adyen"],
                            },
                        },
                    ],
                    "requestBody": _RAW_BODY,
                    "responses": {
                        "200": {"description": "Stored (or a duplicate of a stored event)"},
                        "400": _ERROR,
                        "401": _ERROR,
                        "404": _ERROR,
                        "413": {"description": "Body over 1 MiB"},
                        "503": _ERROR,
                    },
                }
            },
            "/ledger-webhooks/{token}/{ledger}": {
                "post": {
                    "summary": "A ledger's change notification (Moneybird, Exact): re-read it",
                    "parameters": [
                        token,
                        {
                            "name": "ledger",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": ["moneybird", "exact"]},
                        },
                    ],
                    "requestBody": _RAW_BODY,
                    "responses": {
                        "200": {"description": "Queued (an empty validation call: nothing)"},
                        "400": _ERROR,
                        "401": _ERROR,
                        "404": _ERROR,
                        "413": {"description": "Body over 1 MiB"},
                        "503": _ERROR,
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "The process is up",
                    "responses": {"200": {"description": "ok"}},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "The store is reachable",
                    "responses": {"200": {"description": "ready"}, "503": _ERROR},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text exposition format"}},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3 document"}},
                }
            },
        },
    }
