"""Issue 13.3: the term starts from a delivery the post can actually make."""

from __future__ import annotations

from datetime import date

import pytest

from connector.dunning import law
from connector.dunning.calendar import default_postal_days
from connector.dunning.policy import load_dunning_config
from connector.errors import ConfigError
from connector.settings import load_settings


@pytest.mark.parametrize(
    ("posted", "days"),
    [
        (date(2026, 6, 30), 2),  # the 2016 presumption: the second day (norm: next day)
        (date(2026, 7, 1), 3),  # Postbesluit from 1 July 2026: within two days, plus one
        (date(2027, 7, 1), 4),  # from 1 July 2027: within three days, plus one
    ],
)
def test_the_default_lag_follows_the_postbesluit_with_a_day_to_spare(posted, days):
    assert default_postal_days(posted) == days


def test_a_letter_posted_on_a_thursday_in_2026_is_presumed_delivered_later():
    # Posted Thursday 2026-07-02: delivery days Fri 3, Sat 4, (Sun, Mon skipped) Tue 7.
    assert law.delivery_date(date(2026, 7, 2)) == date(2026, 7, 7)
    # Before the change the second day: Fri 2026-06-26 -> Sat 27, Tue 30.
    assert law.delivery_date(date(2026, 6, 25)) == date(2026, 6, 27)
    assert law.delivery_date(date(2026, 7, 2), postal_days=2) == date(2026, 7, 4)


def test_postal_delivery_days_is_configurable_and_checked(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[dunning]\npostal_delivery_days = 5\n", encoding="utf-8")
    assert load_dunning_config(load_settings({}, config_path=path)).postal_delivery_days == 5
    path.write_text("[dunning]\npostal_delivery_days = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="postal_delivery_days"):
        load_dunning_config(load_settings({}, config_path=path))
