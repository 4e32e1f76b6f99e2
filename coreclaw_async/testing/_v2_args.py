"""Reading and checking v2 request arguments: bodies, queries, pages, run-list months, schedules.

A field that is missing, mistyped or out of range is 11000 with HTTP 422 (`unprocessable`);
a rule relating several fields is 11000 with HTTP 400 (`invalid`). Query values arrive as
strings, JSON body values with their JSON types; an empty query value reads as absent.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any, Final

from ._http import ApiError, Args
from ._records import TaskSchedule
from ._v2_wire import INVALID_ARGUMENT, UNPROCESSABLE

__all__ = [
    "BEIJING",
    "CROSS_MONTH",
    "MAX_LIMIT",
    "body_bool",
    "body_int",
    "invalid",
    "month_bounds",
    "opt_text",
    "paging",
    "query_int",
    "queue_refs",
    "read_schedule",
    "req_text",
    "run_window",
    "unprocessable",
]

DEFAULT_LIMIT: Final = 20
MAX_LIMIT: Final = 100
# The run list's months are calendar months in Beijing time.
BEIJING: Final = timezone(timedelta(hours=8), "UTC+8")
CROSS_MONTH: Final = "run list time range cannot cross months"
# The server adds one day to ``end_time`` (a day at 00:00:00) so that the day counts whole.
END_DAY: Final = 86400
_TIME = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def invalid(reason: str) -> ApiError:
    """11000 with HTTP 400: a rule across fields is broken, or the body cannot be read."""
    return ApiError(INVALID_ARGUMENT, f"invalid argument: {reason}")


def unprocessable(reason: str) -> ApiError:
    """11000 with HTTP 422: a field is missing, mistyped or out of range."""
    return ApiError(UNPROCESSABLE, f"invalid argument: {reason}")


def req_text(args: Args, key: str) -> str:
    """A required non-blank string."""
    value = args.get(key)
    if not isinstance(value, str) or not value.strip():
        raise unprocessable(f"{key} is required and must be a non-empty string")
    return value


def opt_text(args: Args, key: str) -> str | None:
    """An optional string; absent, null and empty all read as None."""
    value = args.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise unprocessable(f"{key} must be a string")
    return value or None


def _range_text(key: str, low: int, high: int | None) -> str:
    if high is None:
        return f"{key} must be an integer >= {low}"
    return f"{key} must be an integer from {low} to {high}"


def body_int(args: Args, key: str, default: int, low: int, high: int | None = None) -> int:
    """An optional JSON integer (a float without fraction counts) within [low, high]."""
    value = args.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise unprocessable(_range_text(key, low, high))
    if isinstance(value, float):
        if not value.is_integer():
            raise unprocessable(_range_text(key, low, high))
        value = int(value)
    if value < low or (high is not None and value > high):
        raise unprocessable(_range_text(key, low, high))
    return value


def query_int(args: Args, key: str, default: int | None, low: int, high: int | None = None) -> int | None:
    """An optional decimal integer query parameter within [low, high]."""
    raw = args.get(key)
    if raw is None or raw == "":
        return default
    text = str(raw).strip()
    if not text.lstrip("-").isdigit():
        raise unprocessable(_range_text(key, low, high))
    value = int(text)
    if value < low or (high is not None and value > high):
        raise unprocessable(_range_text(key, low, high))
    return value


def body_bool(args: Args, key: str, default: bool) -> bool:
    """An optional JSON boolean."""
    value = args.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise unprocessable(f"{key} must be a boolean")
    return value


def paging(args: Args, *, query: bool) -> tuple[int, int]:
    """(page, size) from ``offset`` (the 1-based page; 0 reads as 1) and ``limit`` (1..100, default 20)."""
    if query:
        page = query_int(args, "offset", 1, 0)
        size = query_int(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        assert page is not None
        assert size is not None
    else:
        page = body_int(args, "offset", 1, 0)
        size = body_int(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    return max(page, 1), size


def month_bounds(at: float) -> tuple[int, int]:
    """Unix seconds of the start of the Beijing-time calendar month holding ``at``, and of the next."""
    moment = datetime.fromtimestamp(at, BEIJING)
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start + timedelta(days=32)).replace(day=1)
    return int(start.timestamp()), int(following.timestamp())


def run_window(args: Args, now: float) -> tuple[int, int]:
    """The [start, end) Unix seconds a run list covers: the current month unless a range is given.

    ``start_time`` and ``end_time`` come together, in one Beijing-time calendar month;
    ``end_time`` names a day, so the window ends one day after it.
    """
    start = query_int(args, "start_time", None, 0)
    end = query_int(args, "end_time", None, 0)
    if start is None and end is None:
        return month_bounds(now)
    if start is None or end is None:
        raise invalid("start_time and end_time must be given together")
    if start > end:
        raise invalid("start_time must not be after end_time")
    if month_bounds(start) != month_bounds(end):
        raise ApiError(INVALID_ARGUMENT, CROSS_MONTH)
    return start, end + END_DAY


def _schedule_text(args: Args, key: str, current: str, pattern: re.Pattern[str], shape: str) -> str:
    value = args.get(key)
    if value is None:
        return current
    if not isinstance(value, str) or (value and not pattern.fullmatch(value)):
        raise unprocessable(f"{key} must be {shape}")
    if pattern is _DATE and value:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise unprocessable(f"{key} must be a real date, {shape}") from None
    return value


def _inconsistency(schedule: TaskSchedule) -> str | None:
    if schedule.enabled and not schedule.type:
        return "an enabled schedule needs schedule_type 1 (daily) to 4 (once)"
    if not schedule.type:
        return None
    if not schedule.time:
        return "schedule_time is required by a schedule"
    if schedule.type == 2 and not schedule.weekday:
        return "schedule_weekday is required by a weekly schedule"
    if schedule.type == 3 and not schedule.day:
        return "schedule_day is required by a monthly schedule"
    if schedule.type == 4 and not schedule.once_date:
        return "schedule_once_date is required by a one-off schedule"
    return None


def read_schedule(args: Args, current: TaskSchedule) -> TaskSchedule:
    """``current`` with the ``schedule_*`` fields of ``args`` applied, checked whole.

    0 and "" mean "not set" (as task records show them), so a record read back is accepted.
    """
    schedule = TaskSchedule(
        enabled=body_int(args, "schedule_enabled", current.enabled, 0, 1),
        type=body_int(args, "schedule_type", current.type, 0, 4),
        time=_schedule_text(args, "schedule_time", current.time, _TIME, "HH:mm"),
        weekday=body_int(args, "schedule_weekday", current.weekday, 0, 7),
        day=body_int(args, "schedule_day", current.day, 0, 31),
        once_date=_schedule_text(args, "schedule_once_date", current.once_date, _DATE, "YYYY-MM-DD"),
    )
    problem = _inconsistency(schedule)
    if problem is not None:
        raise invalid(problem)
    return schedule


def queue_refs(args: Args) -> list[str]:
    """The required non-empty ``queue_refs`` list of strings."""
    refs: Any = args.get("queue_refs")
    if not isinstance(refs, list) or not refs or not all(isinstance(ref, str) and ref for ref in refs):
        raise unprocessable("queue_refs must be a non-empty list of queue_ref strings")
    return list(refs)
