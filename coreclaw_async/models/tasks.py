"""Models of saved Tasks: the request that starts one, and (API v2) the Task, its input and schedule."""

from __future__ import annotations

import enum
import re
import warnings
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import attrs

from .._validation import require_bool, require_int
from ..errors import InvalidParameterError
from ._base import RequestModel
from ._fields import meta
from .runs import StartedRun

__all__ = [
    "Schedule",
    "ScheduleKind",
    "Task",
    "TaskCreateRequest",
    "TaskInput",
    "TaskInputRequest",
    "TaskListRequest",
    "TaskPage",
    "TaskRequest",
    "TaskRunRequest",
    "TaskUpdateRequest",
]


@attrs.frozen
class TaskRunRequest(RequestModel):
    """Body of a Task run start: which saved Task, and where CoreClaw should post callbacks.

    ``callback_url`` may be left ``None`` here; the client then fills in its default
    before sending (and refuses the call if the API version requires one and none is set).
    """

    task_slug: str
    callback_url: str | None = None


class ScheduleKind(enum.IntEnum):
    """How often a saved Task runs by itself (the wire's ``schedule_type``)."""

    NONE = 0
    DAILY = 1
    WEEKLY = 2
    MONTHLY = 3
    ONCE = 4


_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def _check_time(value: Any) -> str:
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise InvalidParameterError("schedule.time", f"must be 'HH:MM' (24 h), got {value!r:.40}")
    return value


@attrs.frozen(kw_only=True)
class Schedule:
    """When a saved Task runs by itself (API v2). Build one with :meth:`daily`, :meth:`weekly`,
    :meth:`monthly` or :meth:`once`; every field is checked there.

    Attributes:
        kind: daily, weekly, monthly or once.
        time: ``"HH:MM"`` (24 h) of the run; CoreClaw reads it in its own time zone (UTC+8).
        weekday: 1 (Monday) to 7, for weekly schedules.
        day: 1 to 31, for monthly schedules.
        on: the date of a one-off run.
        enabled: a disabled schedule is kept but does not run.

    Example::

        await client.tasks.update(task_slug, schedule=Schedule.weekly(1, "08:30"))
    """

    kind: ScheduleKind
    time: str
    weekday: int | None = None
    day: int | None = None
    on: date | None = None
    enabled: bool = True

    @classmethod
    def daily(cls, time: str, *, enabled: bool = True) -> Schedule:
        """Every day at ``time``."""
        return cls._checked(kind=ScheduleKind.DAILY, time=time, enabled=enabled)

    @classmethod
    def weekly(cls, weekday: int, time: str, *, enabled: bool = True) -> Schedule:
        """Every week on ``weekday`` (1 = Monday ... 7 = Sunday) at ``time``."""
        return cls._checked(kind=ScheduleKind.WEEKLY, time=time, weekday=weekday, enabled=enabled)

    @classmethod
    def monthly(cls, day: int, time: str, *, enabled: bool = True) -> Schedule:
        """Every month on ``day`` (1-31) at ``time``."""
        return cls._checked(kind=ScheduleKind.MONTHLY, time=time, day=day, enabled=enabled)

    @classmethod
    def once(cls, on: date | str, time: str, *, enabled: bool = True) -> Schedule:
        """Once, on ``on`` (a ``date`` or ``"YYYY-MM-DD"``) at ``time``."""
        if isinstance(on, str):
            try:
                on = date.fromisoformat(on)
            except ValueError:
                raise InvalidParameterError(
                    "schedule.on", f"must be a date 'YYYY-MM-DD', got {on!r:.40}"
                ) from None
        return cls._checked(kind=ScheduleKind.ONCE, time=time, on=on, enabled=enabled)

    @classmethod
    def _checked(cls, **fields: Any) -> Schedule:
        schedule = cls(**fields)
        schedule.check()
        return schedule

    def check(self) -> Schedule:
        """Return this schedule if it is consistent, else raise ``InvalidParameterError``."""
        if not isinstance(self.kind, ScheduleKind) or self.kind is ScheduleKind.NONE:
            raise InvalidParameterError(
                "schedule.kind", f"must be daily, weekly, monthly or once, got {self.kind!r}"
            )
        _check_time(self.time)
        require_bool("schedule.enabled", self.enabled)
        wanted = {
            ScheduleKind.DAILY: (),
            ScheduleKind.WEEKLY: ("weekday",),
            ScheduleKind.MONTHLY: ("day",),
            ScheduleKind.ONCE: ("on",),
        }[self.kind]
        for name in ("weekday", "day", "on"):
            value = getattr(self, name)
            if name not in wanted and value is not None:
                raise InvalidParameterError(
                    f"schedule.{name}", f"does not apply to a {self.kind.name.lower()} schedule"
                )
            if name in wanted and value is None:
                raise InvalidParameterError(
                    f"schedule.{name}", f"is required for a {self.kind.name.lower()} schedule"
                )
        if self.weekday is not None:
            require_int("schedule.weekday", self.weekday, minimum=1, maximum=7)
        if self.day is not None:
            require_int("schedule.day", self.day, minimum=1, maximum=31)
        if self.on is not None and (not isinstance(self.on, date) or isinstance(self.on, datetime)):
            raise InvalidParameterError("schedule.on", f"must be a date, got {type(self.on).__name__}")
        return self

    def to_wire(self) -> dict[str, Any]:
        """The ``schedule_*`` fields of a Task create or update body."""
        wire: dict[str, Any] = {
            "schedule_enabled": 1 if self.enabled else 0,
            "schedule_type": int(self.kind),
            "schedule_time": self.time,
        }
        if self.weekday is not None:
            wire["schedule_weekday"] = self.weekday
        if self.day is not None:
            wire["schedule_day"] = self.day
        if self.on is not None:
            wire["schedule_once_date"] = self.on.isoformat()
        return wire


@attrs.frozen(kw_only=True)
class Task:
    """A saved Task (API v2): a Worker, a preset input and an optional schedule.

    Attributes:
        task_slug: the Task's id in every call (``slug`` on the wire).
        id: the numeric id (an exact int; it may exceed 2**53).
        title, description: yours.
        worker_id, worker_slug, worker_title, worker_path: the Worker it runs.
        version: the Worker version it runs (``""``: the latest).
        input: the saved input, as the server returned it.
        run_times: how many times it has run.
        last_run_id: the latest run, as the server names it.
        schedule: its schedule as a :class:`Schedule`, ``None`` when it has none.
        created_at, updated_at: UTC datetimes, ``None`` when not sent.
        extra: keys this version does not name.
    """

    task_slug: str = attrs.field(metadata=meta(wire="slug"))
    id: int = 0
    title: str = ""
    description: str = ""
    worker_id: int = 0
    worker_slug: str = ""
    worker_title: str = ""
    worker_path: str = ""
    version: str = ""
    input: Any = attrs.field(default=None, metadata=meta(raw=True))
    run_times: int = 0
    last_run_id: str | None = attrs.field(default=None, metadata=meta(identifier=True))
    schedule_enabled: int = attrs.field(default=0, metadata=meta(flag=True))
    schedule_type: int = 0
    schedule_time: str = ""
    schedule_weekday: int = 0
    schedule_day: int = 0
    schedule_once_date: str = ""
    created_at: datetime | None = attrs.field(default=None, metadata=meta(unit="s"))
    updated_at: datetime | None = attrs.field(default=None, metadata=meta(unit="s"))
    extra: Mapping[str, Any] = attrs.field(factory=dict, metadata=meta(extra=True))

    @property
    def schedule(self) -> Schedule | None:
        """The schedule as stored, ``None`` when the Task has none (or one this version cannot read)."""
        try:
            kind = ScheduleKind(self.schedule_type)
        except ValueError:
            return None
        if kind is ScheduleKind.NONE:
            return None
        on: date | None = None
        if kind is ScheduleKind.ONCE:
            try:
                on = date.fromisoformat(self.schedule_once_date)
            except ValueError:
                return None
        return Schedule(
            kind=kind,
            time=self.schedule_time,
            weekday=self.schedule_weekday if kind is ScheduleKind.WEEKLY else None,
            day=self.schedule_day if kind is ScheduleKind.MONTHLY else None,
            on=on,
            enabled=bool(self.schedule_enabled),
        )


@attrs.frozen(kw_only=True)
class TaskPage:
    """One page of the saved Tasks list (API v2): ``count`` in total, ``items`` on this page."""

    count: int | None = None
    items: tuple[Task, ...] = attrs.field(default=(), metadata=meta(wire="list"))


@attrs.frozen(kw_only=True)
class TaskInput:
    """The saved input of a Task and the Worker version it runs (API v2 ``GET .../input``)."""

    input: Any = attrs.field(default=None, metadata=meta(raw=True))
    version: str = ""

    @property
    def custom(self) -> Mapping[str, Any]:
        """The Worker's own fields of the input (``parameters.custom``), or the input itself
        if it was saved flat."""
        value = self.input
        if isinstance(value, Mapping):
            parameters = value.get("parameters")
            if isinstance(parameters, Mapping) and isinstance(parameters.get("custom"), Mapping):
                return dict(parameters["custom"])
            return dict(value)
        return {}


# -- requests ----------------------------------------------------------------------------


@attrs.frozen
class TaskRequest(RequestModel):
    """A request naming one saved Task (its slug goes into the path)."""

    task_slug: str


@attrs.frozen
class TaskListRequest(RequestModel):
    """Query of the saved Tasks list: a 1-based page and its size, optional Worker and keyword."""

    page_index: int
    page_size: int
    worker_id: str | None = None
    keyword: str | None = None


@attrs.frozen
class TaskCreateRequest(RequestModel):
    """Body of a Task create: the Worker, a title, the input (wrapped as ``parameters.custom``)
    and the optional rest; ``schedule`` holds the ``schedule_*`` fields."""

    worker_id: str
    title: str
    input: Mapping[str, Any]
    description: str | None = None
    version: str | None = None
    schedule: Mapping[str, Any] | None = None


@attrs.frozen
class TaskUpdateRequest(RequestModel):
    """Body of a Task update: only the fields given change (title, description, schedule)."""

    task_slug: str
    title: str | None = None
    description: str | None = None
    schedule: Mapping[str, Any] | None = None


@attrs.frozen
class TaskInputRequest(RequestModel):
    """Body of a Task input update: the new input (wrapped) and an optional Worker version."""

    task_slug: str
    input: Mapping[str, Any]
    version: str | None = None


def deprecated_task_run(module: str, name: str) -> Any:
    """``TaskRun``, the former name of :class:`StartedRun`, with a ``DeprecationWarning``."""
    if name == "TaskRun":
        warnings.warn(
            "TaskRun is deprecated: it is the same model as StartedRun, use that name",
            DeprecationWarning,
            stacklevel=3,
        )
        return StartedRun
    raise AttributeError(f"module {module!r} has no attribute {name!r}")


def __getattr__(name: str) -> Any:
    return deprecated_task_run(__name__, name)
