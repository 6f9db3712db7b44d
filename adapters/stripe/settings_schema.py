"""The keys of `[providers.stripe]` and of `[payment_links]` with `provider = "stripe"`, for
the core's up-front config check (`connector.config`): exactly what `create_provider` and
`links.links_from_config` read. The API key is never in the file (CONNECTOR_STRIPE_API_KEY).
"""

from __future__ import annotations

from connector.config.base import PositiveInt
from connector.config.base import Section
from connector.config.base import Url


class StripeProviderSettings(Section):
    tolerance: PositiveInt | None = None


class StripeLinkSettings(Section):
    api_url: Url | None = None
    redirect_url: str | None = None


SETTINGS_SCHEMA = StripeProviderSettings
LINKS_SCHEMA = StripeLinkSettings
