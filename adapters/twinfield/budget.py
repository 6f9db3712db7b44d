"""Twinfield's credit budget: the fair-use policy's tiers, held per ClientId for the process.

The fair-use policy (developers.twinfield.com, "Fair use policy", enforced from 1 December
2024) counts credits: a query costs 1 (ProcessXml `list`/`read`/`columns`, Finder `Search`),
anything else 3. Its buckets are per ClientId + organisation (500 a minute for a certified
app, 25 for one that is not certified yet), per ClientId across all organisations, and per
IP. The connector defaults to the uncertified tier and takes 500 only when
`[ledgers.twinfield] certified = true` says the app is certified.

One budget is held per ClientId and shared by every connection (every organisation) in the
process. That is stricter than the per-organisation bucket (the sum over organisations stays
within one tier) and so can never exceed it; it also keeps the ClientId-wide bucket, whose
size the policy's published table does not show in full, well clear. `CreditBudget` is the
seam: a budget kept in the database (or Redis), shared by every worker after the scale-out,
implements the same two members and is handed to `Budgets` in place of `CreditGate`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from connector.errors import RateLimited

UNCERTIFIED_PER_MINUTE = 25
CERTIFIED_PER_MINUTE = 500
WINDOW_SECONDS = 60.0

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class CreditBudget(Protocol):
    """Credits per window, shared by whoever holds the same budget."""

    budget: int

    def acquire(self, cost: int) -> None:
        """Wait until `cost` credits fit the window, then count them as spent.

        Raises:
            RateLimited: waiting would not end (bounded).
        """
        ...


class CreditGate:
    """An in-process `CreditBudget`: at most `budget` credits in any `window` seconds.

    `acquire` waits (through `sleep`) until the call fits; the call is counted when it is
    sent. Thread-safe, so every connection of the process can share one gate.
    """

    def __init__(
        self,
        budget: int,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        window: float = WINDOW_SECONDS,
    ) -> None:
        self.budget = budget
        self.clock = clock
        self.sleep = sleep
        self.window = window
        # A spend leaves the window a little later than our clock says: Twinfield counts a
        # call when it arrives, a moment after we count it (one second in a minute).
        self.margin = window / 60.0
        self._spent: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()
        self.peak_window = 0  # the most credits spent in any window (for the benchmark)
        self.waited = 0.0  # seconds spent waiting for the budget

    def _used(self, now: float) -> int:
        while self._spent and self._spent[0][0] <= now - self.window - self.margin:
            self._spent.popleft()
        return sum(cost for _at, cost in self._spent)

    def acquire(self, cost: int) -> None:
        for _ in range(10_000):  # bounded: each turn waits for the oldest spend to expire
            with self._lock:
                cost = min(cost, self.budget)
                now = self.clock()
                used = self._used(now)
                if used + cost <= self.budget:
                    self._spent.append((now, cost))
                    self.peak_window = max(self.peak_window, used + cost)
                    return
                wait = self._spent[0][0] + self.window + self.margin - now
            wait = max(wait, 0.001)
            self.waited += wait
            self.sleep(wait)
        msg = "Twinfield credit budget: gave up waiting"
        raise RateLimited(msg, retry_after=self.window)


class Budgets:
    """The budget of each ClientId, created on first use.

    Asked again with a lower tier for the same ClientId (one connection says uncertified),
    the budget shrinks to it: the lower reading cannot exceed Twinfield's limit.
    """

    def __init__(self, factory: Callable[[int], CreditBudget] = CreditGate) -> None:
        self._factory = factory
        self._by_client: dict[str, CreditBudget] = {}
        self._lock = threading.Lock()

    def for_client(self, client_id: str, per_minute: int) -> CreditBudget:
        with self._lock:
            found = self._by_client.get(client_id)
            if found is None:
                found = self._by_client[client_id] = self._factory(per_minute)
            elif per_minute < found.budget:
                found.budget = per_minute
            return found


# The process's budgets. Module state on purpose: the fair-use budget belongs to the
# process (every connection the core opens shares it), and the core hands adapters no
# shared object; `create_ledger(..., budgets=)` takes another (a store-backed one) instead.
PROCESS_BUDGETS = Budgets()
