"""What counts as one plain e-mail address, for every part that checks one (the e-mail channel,
the sender's reply address): one check, linear, with the length limit before the regex."""

from __future__ import annotations

import re
from typing import Final

MAX_ADDRESS_LENGTH: Final = 254
# Labels of the domain exclude the dot that separates them, so nothing overlaps and the
# match is linear (the old `[^..]+\.[^..]+` with dots in both was quadratic, issue 16.3).
_EMAIL_RE = re.compile(r"[^@\s<>,;]+@[^@\s<>,;.]+(?:\.[^@\s<>,;.]+)+")


def is_email_address(text: str) -> bool:
    """One plain address (`name@example.nl`): no display name, no list, at most 254 characters
    (checked before the regex, so a hostile ledger field costs nothing to refuse)."""
    return len(text) <= MAX_ADDRESS_LENGTH and _EMAIL_RE.fullmatch(text) is not None
