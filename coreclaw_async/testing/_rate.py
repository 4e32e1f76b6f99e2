"""The account's request rate limit: a sliding one-second window over accepted requests."""

from __future__ import annotations

import math
from collections import deque
from typing import Final

__all__ = ["WINDOW", "RateWindow", "check_rate_limit"]

WINDOW: Final = 1.0
"""Seconds of the sliding window."""


def check_rate_limit(value: float | None) -> float | None:
    """``value`` as a float, or None; ``ValueError`` unless it is None or a finite number >= 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"rate_limit must be a finite number >= 1 or None, got {value!r}")
    if value < 1:
        raise ValueError(f"rate_limit must be >= 1 (requests per second) or None, got {value!r}")
    return float(value)


class RateWindow:
    """At most ``limit`` accepted requests in any sliding window of `WINDOW` seconds.

    Only accepted requests enter the window (a refused one does not push the next
    acceptance further away). A fractional limit rounds down: 2.5 accepts 2 per window.
    Each check is O(1) amortized: timestamps, taken from one monotonic clock in order, leave
    the window from the left.
    """

    __slots__ = ("_accepted", "_capacity", "_limit")

    def __init__(self, limit: float | None = None) -> None:
        self._limit: float | None = None
        self._capacity = 0
        self._accepted: deque[float] = deque()
        self.limit = limit

    @property
    def limit(self) -> float | None:
        """Accepted requests per window; None = no limit. Changing it keeps the window's history."""
        return self._limit

    @limit.setter
    def limit(self, value: float | None) -> None:
        limit = check_rate_limit(value)
        self._limit = limit
        if limit is None:
            self._capacity = 0
            self._accepted = deque()
        else:
            # No more history than a check looks at: the newest `capacity` acceptances.
            self._capacity = int(limit)
            self._accepted = deque(self._accepted, maxlen=self._capacity)

    def admit(self, now: float) -> float | None:
        """Accept a request at ``now`` (returns None) or refuse it: seconds until the window frees."""
        if self._limit is None:
            return None
        accepted = self._accepted
        cutoff = now - WINDOW
        while accepted and accepted[0] <= cutoff:
            accepted.popleft()
        if len(accepted) >= self._capacity:
            return accepted[0] - cutoff
        accepted.append(now)
        return None
