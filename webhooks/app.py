"""The Flask app factory: `create_app(settings, services)`; no module-level app, no globals.

The composition root (the CLI's `serve`/`run`, or a WSGI server through a small wrapper)
builds `Services` once and passes them in; views reach them through `services()` from
`app.extensions["connector"]`. Each part of the HTTP edge is a blueprint: the hosted OAuth
sign-in (`webhooks.oauth`) is registered here, other parts pass theirs in `blueprints`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import cast

from flask import Blueprint
from flask import Flask
from flask import current_app

from connector.oauth.service import OAuthLedgers
from connector.settings import Settings
from connector.store import Store
from workspace import init_workspace

EXTENSION = "connector"


@dataclass(frozen=True)
class Services:
    """What the views need. Later parts add fields (with defaults) for their own services.

    `admin_key` (from `CONNECTOR_ADMIN_KEY`) guards the pages a person uses, such as
    starting a sign-in; without it those pages are switched off.
    """

    store: Store
    oauth: OAuthLedgers
    admin_key: str | None = field(default=None, repr=False)


def services() -> Services:
    """The running app's services (inside a request)."""
    return cast(Services, current_app.extensions[EXTENSION])


def create_app(
    settings: Settings, services: Services, *, blueprints: Iterable[Blueprint] = ()
) -> Flask:
    from webhooks.body import read_before_views
    from webhooks.oauth import bp as oauth_bp

    app = Flask("webhooks")
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024  # callbacks are small (webhooks.body)
    app.extensions[EXTENSION] = services
    app.extensions[f"{EXTENSION}.settings"] = settings
    app.before_request(read_before_views)
    app.register_blueprint(oauth_bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    init_workspace(app, services.store)  # the workspace pages (/w/); off without a secret

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
