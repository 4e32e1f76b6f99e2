"""The run history over any time range, on either API version.

API v2 lists only the current calendar month unless given a window, and a window must stay
inside one calendar month of CoreClaw's clock (UTC+8), with ``end_time`` a day at 00:00 to
which the server adds a day. So a range is walked month by month, newest first, each month's
window widened to whole days and the runs then cut to the exact range. API v1 has no time
filter: its history is read newest first and cut the same way, stopping once a whole page's
worth of runs in a row started before the range (the list is ordered by creation, and a run
created earlier may start later, so one older run alone proves nothing).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, time, timedelta, timezone

from .._pagination import RunIterator
from ..errors import InvalidParameterError
from ..models.runs import Run

__all__ = ["RunHistory", "check_range", "day_window", "month_windows"]

# CoreClaw's calendar: its months and days begin at midnight in UTC+8.
PLATFORM_TZ = timezone(timedelta(hours=8))


def _aware(field: str, value: object) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidParameterError(field, f"must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidParameterError(field, "must be timezone-aware (e.g. datetime.now(timezone.utc))")
    return value


def _usable(field: str, value: datetime) -> datetime:
    try:
        # The month windows step up to a month either side of the value, in UTC+8.
        _month_start(value - timedelta(days=32))
        _month_start(value + timedelta(days=32))
        value.timestamp()
    except (OverflowError, ValueError, OSError):
        raise InvalidParameterError(field, f"is out of the supported range ({value!r})") from None
    return value


def check_range(since: object, until: object) -> tuple[datetime | None, datetime | None]:
    """``since``/``until`` checked: aware datetimes (either may be ``None``), ``since`` first.

    Both must also be inside the range the calendar arithmetic can handle (one day away from
    ``datetime.min``/``datetime.max`` in UTC+8).
    """
    start = None if since is None else _usable("since", _aware("since", since))
    end = None if until is None else _usable("until", _aware("until", until))
    if start is not None and end is not None and start > end:
        raise InvalidParameterError(
            "until", f"must not be before since ({end.isoformat()} < {start.isoformat()})"
        )
    return start, end


def _day_start(moment: datetime) -> datetime:
    local = moment.astimezone(PLATFORM_TZ)
    return datetime.combine(local.date(), time(0), tzinfo=PLATFORM_TZ)


def _month_start(moment: datetime) -> datetime:
    local = moment.astimezone(PLATFORM_TZ)
    return datetime(local.year, local.month, 1, tzinfo=PLATFORM_TZ)


def _previous_month(first_day: datetime) -> datetime:
    return _month_start(first_day - timedelta(days=1))


def day_window(since: datetime, until: datetime) -> tuple[int, int]:
    """``(start_time, end_time)`` for a v2 run list covering ``since``..``until`` in whole days.

    Raises ``InvalidParameterError`` when the two are in different calendar months (UTC+8).
    """
    if _month_start(since) != _month_start(until):
        raise InvalidParameterError(
            "until",
            "one page of the v2 run list covers one calendar month (UTC+8); "
            "runs.list(since=..., until=...) walks longer ranges month by month",
        )
    return int(_day_start(since).timestamp()), int(_day_start(until).timestamp())


def month_windows(since: datetime, until: datetime) -> list[tuple[int, int]]:
    """The v2 windows covering ``since``..``until``, newest month first (one per calendar month)."""
    windows: list[tuple[int, int]] = []
    month = _month_start(until)
    # Bounded: one pass per calendar month between the two dates.
    while month >= _month_start(since):
        next_month = _month_start(month + timedelta(days=32))
        last_moment = min(until, next_month - timedelta(microseconds=1))
        first_moment = max(since, month)
        windows.append(day_window(first_moment, last_moment))
        month = _previous_month(month)
    return windows


def in_range(run: Run, since: datetime | None, until: datetime | None) -> bool:
    """Whether ``run`` started inside the range; a run not started yet is taken as starting now."""
    started = run.started_at
    if started is None:
        started = datetime.now(timezone.utc)
    return (since is None or started >= since) and (until is None or started <= until)


class RunHistory:
    """Runs of a time range, newest first: one run list per window, cut to the exact range.

    ``pages`` counts the pages fetched over every window; ``windows`` how many were listed.
    """

    def __init__(
        self,
        listings: Sequence[Callable[[], RunIterator]],
        *,
        since: datetime | None,
        until: datetime | None,
        stop_after_older: int | None,
    ) -> None:
        self._listings = listings
        self._since = since
        self._until = until
        # v1 lists everything newest first by creation: after this many runs in a row that
        # started before the range, nothing further back is taken to match (None: never stop).
        self._stop_after_older = stop_after_older
        self._runs = self._walk()
        self.pages = 0
        """Pages fetched so far, over every window."""
        self.windows = 0
        """Run lists (months on v2) started so far."""
        self.truncated = False
        """True if a window stopped at ``max_pages``."""

    def __aiter__(self) -> RunHistory:
        return self

    async def __anext__(self) -> Run:
        return await self._runs.__anext__()

    async def _walk(self) -> AsyncIterator[Run]:
        for listing in self._listings:
            self.windows += 1
            runs = listing()
            since = self._since
            streak = 0
            try:
                async for run in runs:
                    if in_range(run, since, self._until):
                        yield run
                    if since is not None and run.started_at is not None and run.started_at < since:
                        streak += 1
                        if self._stop_after_older is not None and streak >= self._stop_after_older:
                            return
                    else:
                        streak = 0
            finally:
                self.pages += runs.pages
                self.truncated = self.truncated or runs.truncated
