"""The keys of `[providers.buckaroo]`, for the core's up-front config check
(`connector.config`): exactly what `create_provider` reads."""

from __future__ import annotations

from connector.config.base import NonNegativeInt
from connector.config.base import Section


class BuckarooProviderSettings(Section):
    timestamp_tolerance: NonNegativeInt | None = None


SETTINGS_SCHEMA = BuckarooProviderSettings
