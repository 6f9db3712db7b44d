"""The keys of `[providers.mollie]` and of `[payment_links]` with `provider = "mollie"`, for
the core's up-front config check (`connector.config`): exactly what `create_provider` and
`links.links_from_config` read. The API key is never in the file (CONNECTOR_MOLLIE_API_KEY).
"""

from __future__ import annotations

from connector.config.base import NonNegativeInt
from connector.config.base import PositiveInt
from connector.config.base import PositiveNumber
from connector.config.base import Section
from connector.config.base import Url


class MollieProviderSettings(Section):
    api_url: Url | None = None
    timeout: PositiveNumber | None = None
    chargeback_poll_days: NonNegativeInt | None = None  # 0: no chargeback poll
    chargeback_poll_minutes: PositiveInt | None = None


class MollieLinkSettings(Section):
    api_url: Url | None = None
    webhook_url: str | None = None
    redirect_url: str | None = None
    profile_id: str | None = None
    expires_days: PositiveInt | None = None


SETTINGS_SCHEMA = MollieProviderSettings
LINKS_SCHEMA = MollieLinkSettings
