"""Collecting for clients (issue 13.14): the Wki and its conduct rules.

Whoever collects claims for others from natural persons (consumers, sole traders, partners of
a VOF) must be registered under the Wet kwaliteit incassodienstverlening (Wki; register kept
by Justis) and keep its conduct rules (Besluit kwaliteit incassodienstverlening), among them:
no contact between 20:00 and 07:00, none on Sundays and none on public holidays or the days
the government equates with them. An accountant's firm that runs dunning for its clients sets

    [dunning.collector]
    name = "Administratiekantoor De Boer B.V."   # the collector, printed on every letter
    wki_number = "12345"                         # its Wki registration number (Justis)
    for_clients = true                           # default true once the table is present

and then every letter names the collector and its registration number, and a run sends
nothing outside the contact window (the scheduler calls the same run, so it is held too).
`wki_problems` gives `connector check` its warning when the number is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any

from connector.dunning.calendar import is_public_holiday
from connector.errors import ConfigError

if TYPE_CHECKING:
    from connector.dunning.policy import DunningConfig

#: The Wki conduct rules' contact window: from 07:00 up to 20:00 local time.
FIRST_HOUR, LAST_HOUR = 7, 20
_SUNDAY = 6
_KEYS = frozenset({"name", "wki_number", "for_clients"})


@dataclass(frozen=True, slots=True)
class Collector:
    name: str
    wki_number: str = ""
    for_clients: bool = True


def parse_collector(table: Any, where: str) -> Collector | None:
    """`[dunning.collector]`, or None when absent."""
    if table is None:
        return None
    if not isinstance(table, Mapping):
        msg = f"{where}: expected a table, got {table!r}"
        raise ConfigError(msg)
    for key in table:
        if key not in _KEYS:
            msg = f"{where}.{key}: unknown key; expected one of {', '.join(sorted(_KEYS))}"
            raise ConfigError(msg)
    name, number, for_clients = (
        table.get("name"),
        table.get("wki_number", ""),
        table.get("for_clients", True),
    )
    if not isinstance(name, str) or not name.strip():
        msg = f"{where}.name: expected the collector's name, got {name!r}"
        raise ConfigError(msg)
    if not isinstance(number, str):
        msg = f'{where}.wki_number: expected a string such as "12345", got {number!r}'
        raise ConfigError(msg)
    if not isinstance(for_clients, bool):
        msg = f"{where}.for_clients: expected true or false, got {for_clients!r}"
        raise ConfigError(msg)
    return Collector(name.strip(), number.strip(), for_clients)


def outside_contact_window(now_local: datetime) -> str:
    """Why no debtor may be contacted at `now_local` (the administration's wall time), or ""."""
    day = now_local.date()
    if day.weekday() == _SUNDAY:
        return "it is Sunday"
    if is_public_holiday(day):
        return f"{day} is a public holiday"
    if not FIRST_HOUR <= now_local.hour < LAST_HOUR:
        return f"it is {now_local:%H:%M}, outside 07:00-20:00"
    return ""


def wki_problems(config: DunningConfig) -> list[str]:
    """For `connector check`: collecting for clients without a Wki registration number."""
    collector = config.collector
    if collector is None or not collector.for_clients:
        return []
    problems: list[str] = []
    if not collector.wki_number:
        problems.append(
            f"dunning.collector: {collector.name} collects for clients from consumers without "
            "a Wki registration number (wki_number); register with Justis before dunning "
            "natural persons"
        )
    return problems
