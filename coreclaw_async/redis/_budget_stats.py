"""``BudgetStats``: what one ``RedisBudget`` did in this process, and its live counters."""

from __future__ import annotations

import attrs

from .._counters import Counters

__all__ = ["BudgetCounters", "BudgetStats"]


@attrs.frozen
class BudgetStats:
    """A snapshot of what one :class:`RedisBudget` (in this process) has done (``budget.stats``).

    Attributes:
        acquires: requests that asked the budget.
        round_trips: Redis commands sent for them (asks, releases, cooldown notes).
        waits: asks that had to wait (pace, cooldown, capacity, a full ``max_in_flight``).
        waited_seconds: time requests spent waiting here, however each wait ended.
        timeouts: requests refused because their turn would come after their deadline.
        cooldowns_shared: rate-limit cooldowns (and capacity holds) this process set for all.
        cooldowns_heard: cooldowns and holds announced by any process, this one included.
        unavailable: requests that went on without the budget (or failed) because Redis
            could not be reached.
        outages: times Redis went from reachable to unreachable.
    """

    acquires: int
    round_trips: int
    waits: int
    waited_seconds: float
    timeouts: int
    cooldowns_shared: int
    cooldowns_heard: int
    unavailable: int
    outages: int


class BudgetCounters(Counters):
    __slots__ = (
        "acquires",
        "cooldowns_heard",
        "cooldowns_shared",
        "outages",
        "round_trips",
        "timeouts",
        "unavailable",
        "waited_seconds",
        "waits",
    )
    acquires: int
    round_trips: int
    waits: int
    waited_seconds: float
    timeouts: int
    cooldowns_shared: int
    cooldowns_heard: int
    unavailable: int
    outages: int
