"""The baseline for bench/webhooks.py: a Flask endpoint that reads the body and answers 200."""

from __future__ import annotations

from flask import Flask
from flask import request


def create() -> Flask:
    app = Flask("bare")

    @app.post("/webhooks/<token>/<provider>")
    def webhook(token: str, provider: str) -> tuple[str, int]:
        request.get_data(cache=False)
        return "", 200

    return app
