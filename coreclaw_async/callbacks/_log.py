"""Log lines of the callback receiver: sender text made safe, and warnings at most once per interval."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .._constants import CALLBACK_LOGGED_CHARS, LOGGER_NAME

__all__ = ["RateLimitedWarning", "logger", "shown"]

logger = logging.getLogger(LOGGER_NAME)


def shown(value: object) -> str:
    """A sender-supplied value made safe for a log line: escaped and cut short."""
    return repr(value)[:CALLBACK_LOGGED_CHARS]


class RateLimitedWarning:
    """A WARNING logged at most once per ``interval`` seconds, saying how many events it covers.

    The first event is logged at once; later ones within the interval are only counted, and
    the next line (at the first event after the interval) reports them all. A flood of bad
    requests therefore costs one log line per interval, and a trickle is still seen.
    """

    __slots__ = ("_clock", "_interval", "_last", "_unreported")

    def __init__(self, interval: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._last: float | None = None
        self._unreported = 0

    def note(self, message: str, *args: object) -> None:
        """Count one event; log ``message % (count, *args)`` unless a line went out within the interval."""
        self._unreported += 1
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            return
        count, self._unreported = self._unreported, 0
        self._last = now
        logger.warning(message, count, *args)
