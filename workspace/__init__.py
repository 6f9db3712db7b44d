"""The workspace: the web pages credit controllers and accountants work in (issue 19).

`init_workspace(app, store)` is called once by the app factory (webhooks.app.create_app). It
needs a secret for sessions, CSRF tokens and opaque ids: CONNECTOR_WORKSPACE_SECRET, or else
one derived from CONNECTOR_SECRET_KEY (the vault key) so that an installation with a vault needs
nothing new. Without either the workspace stays off (its routes are 404) and a warning says why.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Mapping

from flask import Flask

from connector.store import Store

SECRET_ENV = "CONNECTOR_WORKSPACE_SECRET"  # noqa: S105 - the variable's name, not a secret
VAULT_KEY_ENV = "CONNECTOR_SECRET_KEY"
EXTENSION = "workspace"

logger = logging.getLogger("connector.workspace")


def workspace_secret(environ: Mapping[str, str]) -> bytes | None:
    own = environ.get(SECRET_ENV, "").strip()
    if own:
        return own.encode()
    vault = environ.get(VAULT_KEY_ENV, "").strip()
    if vault:
        # A separate key for a separate purpose: the vault key itself never signs cookies.
        return hmac.new(vault.encode(), b"dunning-connector workspace", hashlib.sha256).digest()
    return None


def init_workspace(app: Flask, store: Store, environ: Mapping[str, str] | None = None) -> None:
    from workspace.setup import install

    secret = workspace_secret(os.environ if environ is None else environ)
    if secret is None:
        logger.warning(
            "neither %s nor %s is set: the workspace (/w/) is switched off",
            SECRET_ENV,
            VAULT_KEY_ENV,
        )
        return
    install(app, store, secret)
