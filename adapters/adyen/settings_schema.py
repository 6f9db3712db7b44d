"""The keys of `[providers.adyen]`, for the core's up-front config check
(`connector.config`): exactly what `create_provider` reads."""

from __future__ import annotations

from connector.config.base import Section
from connector.config.base import choice


class AdyenProviderSettings(Section):
    capture: choice("auto", "manual") | None = None  # type: ignore[valid-type]
    require_basic_auth: bool | None = None


SETTINGS_SCHEMA = AdyenProviderSettings
