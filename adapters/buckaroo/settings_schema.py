"""The keys of `[providers.buckaroo]`, for the core's up-front config check
(`connector.config`): exactly what `create_provider` reads."""

from __future__ import annotations

from connector.config.base import NonNegativeInt
from connector.config.base import Section
from connector.config.base import Url


class BuckarooProviderSettings(Section):
    timestamp_tolerance: NonNegativeInt | None = None
    public_base_url: Url | None = None  # the address Buckaroo calls, as signed in its pushes


SETTINGS_SCHEMA = BuckarooProviderSettings
