"""Records the fake keeps: Workers, saved Tasks, the run ledger and the run queue."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "ABORTING",
    "FAILED",
    "READY",
    "RUNNING",
    "SUCCEEDED",
    "FakeQueueItem",
    "FakeRun",
    "FakeTask",
    "FakeWorker",
    "RunState",
    "TaskSchedule",
]

# v1 run status integers. On the platform only "running" counts against the plan's limit.
READY = 1
RUNNING = 2
SUCCEEDED = 3
FAILED = 4
ABORTING = 5

FAILURE_MESSAGE = "Navigation timeout of 30000 ms exceeded"
ABORT_MESSAGE = "Run aborted by user"


@dataclass(eq=False)
class FakeWorker:
    """A Worker (scraper) known to the fake: what `/api/scraper` and `/api/store` show."""

    slug: str
    title: str
    description: str
    versions: tuple[str, ...]
    """Versions `scraper/run` accepts; the first one is the latest."""
    readme: str
    properties: list[dict[str, Any]]
    """Input descriptors (`parameters.custom.properties[]`)."""
    system: dict[str, Any]
    """System defaults (`parameters.system`)."""
    id: int = 0
    """Numeric id v2 task records carry as ``worker_id`` (beyond 2**53, as the platform's are)."""
    store_slug: str = ""
    """The ``slug`` v2 lists: a ULID (the same as `slug` for a Worker keyed by a ULID)."""
    username: str = ""
    """Owner's user name; with `name` it makes the v2 path ``username~name``."""
    name: str = ""
    owned: bool = False
    """True if the Worker belongs to the caller (v2 ``GET /workers`` lists only those)."""

    @property
    def version(self) -> str:
        """The latest version."""
        return self.versions[0]

    @property
    def path(self) -> str:
        """The v2 path id ``username~name`` (``~`` stands for ``/``)."""
        return f"{self.username}~{self.name}"

    def missing_input(self, input_: Any) -> str | None:
        """Name of the first required property ``input_.parameters.custom`` lacks, or None.

        The platform reads a run's Worker fields only from ``parameters.custom``: a flat input
        misses every required field, which is how a saved Task with a flat input fails to run.
        """
        parameters = input_.get("parameters") if isinstance(input_, dict) else None
        custom = parameters.get("custom") if isinstance(parameters, dict) else None
        given = custom if isinstance(custom, dict) else {}
        for prop in self.properties:
            if prop.get("required") and prop["name"] not in given:
                return str(prop["name"])
        return None

    def default_input(self) -> dict[str, Any]:
        """The input a Task of this Worker saves: system defaults plus each property's default."""
        custom = {prop["name"]: prop["default"] for prop in self.properties if "default" in prop}
        return {"parameters": {"system": {**self.system, "proxy_region": "US"}, "custom": custom}}


@dataclass(frozen=True)
class TaskSchedule:
    """A saved Task's schedule, as v2 task records carry it (0 / "" = not set).

    ``type``: 0 none, 1 daily, 2 weekly, 3 monthly, 4 once; ``time`` is ``HH:mm``,
    ``weekday`` 1 (Monday) .. 7, ``day`` 1 .. 31, ``once_date`` ``YYYY-MM-DD``.
    """

    enabled: int = 0
    type: int = 0
    time: str = ""
    weekday: int = 0
    day: int = 0
    once_date: str = ""


@dataclass(eq=False)
class FakeTask:
    """A saved Task: a Worker plus a preset input. ``foreign`` Tasks belong to someone else.

    ``input`` is kept exactly as it was sent, flat or wrapped in ``parameters.custom``.
    """

    slug: str
    scraper_slug: str
    title: str
    version: str
    input: Any
    foreign: bool = False
    id: int = 0
    """Numeric id of v2 task records (beyond 2**53)."""
    description: str = ""
    schedule: TaskSchedule = field(default_factory=TaskSchedule)
    created_at: int = 0
    """Unix seconds."""
    updated_at: int = 0
    """Unix seconds of the last change (title, description, schedule or input)."""
    last_run_slug: str = ""
    """Slug of the newest run started from this Task ("" if none)."""


@dataclass(eq=False)
class FakeQueueItem:
    """A run waiting in the v2 run queue until it is activated (then it is a run) or released.

    ``status`` is ``waiting``, ``inactive`` (released) or ``activated`` (``run_slug`` set);
    activated items are no longer listed by the API.
    """

    ref: str
    scraper_slug: str
    version: str
    input: Any
    callback_url: str | None
    created_at: int
    """Unix seconds."""
    status: str = "waiting"
    reason: str = ""
    """The reason given when it was released."""
    updated_at: int = 0
    run_slug: str | None = None


class RunState(NamedTuple):
    """What a run looks like at one instant, in wire units (seconds, string USD, bytes)."""

    status: int
    err_msg: str
    results: int
    usage: str
    traffic: int
    started_at: int
    finished_at: int
    duration: int


@dataclass(eq=False)
class FakeRun:
    """One run in the ledger. Its status is computed from the clock, never stored.

    The run is ``ready`` (1) for ``ready_for`` seconds, ``running`` (2) for ``running_for``
    seconds, then ``succeeded`` (3) or, if ``fails``, ``failed`` (4). After an abort it is
    ``aborting`` (5) for ``abort_linger`` seconds (forever if None), then failed.
    """

    slug: str
    task_slug: str | None
    scraper_slug: str
    scraper_title: str
    version: str
    callback_url: str | None
    input: dict[str, Any]
    created_at: float
    """`time.monotonic()` when the run was created."""
    created_at_wall: float
    """`time.time()` when the run was created."""
    ready_for: float
    running_for: float
    rows_total: int
    """Rows a successful run ends with (a failed run keeps half)."""
    fails: bool
    abort_linger: float | None
    origin: str = "api"
    run_id: int = 0
    """Integer id the legacy callback shape (before 2026-07-03) sent as ``run_id`` instead of ``run_slug``."""
    rerun_of: str | None = None
    """Slug of the run this one reran, if it came from `/api/v1/rerun`."""
    aborted_at: float | None = None
    """`time.monotonic()` of the accepted abort, if any."""
    notify: bool = False
    """Whether the fake delivers this run's callbacks (a loopback ``callback_url``, delivery on)."""
    # Encoded run record, cached once the run is final (it never changes again).
    _final_json: bytes | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def status(self) -> int:
        """Current v1 status integer (1 ready, 2 running, 3 succeeded, 4 failed, 5 aborting)."""
        return self.status_at(time.monotonic())

    @property
    def is_final(self) -> bool:
        """True once the run is succeeded or failed."""
        return self.status_at(time.monotonic()) in (SUCCEEDED, FAILED)

    def status_at(self, now: float) -> int:
        """The status at monotonic time ``now``."""
        if self.aborted_at is not None:
            linger = self.abort_linger
            return ABORTING if linger is None or now < self.aborted_at + linger else FAILED
        elapsed = now - self.created_at
        if elapsed < self.ready_for:
            return READY
        if elapsed < self.ready_for + self.running_for:
            return RUNNING
        return FAILED if self.fails else SUCCEEDED

    @property
    def final_at(self) -> float:
        """`time.monotonic()` at which the run is (or will be) final; ``inf`` if never."""
        if self.aborted_at is not None:
            if self.abort_linger is None:
                return math.inf
            return self.aborted_at + self.abort_linger
        return self.created_at + self.ready_for + self.running_for

    def rows_at(self, now: float | None = None) -> int:
        """Number of result rows collected at ``now`` (default: the current monotonic time)."""
        if now is None:
            now = time.monotonic()
        if self.aborted_at is not None:
            now = min(now, self.aborted_at)
        elapsed = now - self.created_at
        target = self.rows_total // 2 if self.fails else self.rows_total
        if elapsed >= self.ready_for + self.running_for:
            return target
        if elapsed <= self.ready_for:
            return 0
        return int(target * (elapsed - self.ready_for) / self.running_for)

    def state(self, now: float | None = None) -> RunState:
        """Return the run as it is at ``now`` (default: the current monotonic time)."""
        if now is None:
            now = time.monotonic()
        status = self.status_at(now)
        started_at = int(self.created_at_wall)
        if status == READY:
            return RunState(READY, "", 0, "0.0000", 0, started_at, 0, 0)
        rows = self.rows_at(now)
        err = ""
        finished = 0
        if status == FAILED:
            err = FAILURE_MESSAGE if self.aborted_at is None else ABORT_MESSAGE
        if status in (SUCCEEDED, FAILED):
            # The wall-clock instant the run became final, at the same offset as on the
            # monotonic clock.
            finished = int(self.created_at_wall + (self.final_at - self.created_at))
        # Cost and traffic grow with the rows; usage is in units of 0.0001 USD.
        usage_units = 50 + rows * 13
        usage = f"{usage_units // 10000}.{usage_units % 10000:04d}"
        traffic = 20480 + rows * 2311
        duration = finished - started_at if finished else 0
        return RunState(status, err, rows, usage, traffic, started_at, finished, duration)

    def abort(self, now: float) -> bool:
        """Start aborting; return False if the run is already final (abort refused).

        Aborting a run that is already aborting succeeds and changes nothing.
        """
        if self.status_at(now) in (SUCCEEDED, FAILED):
            return False
        if self.aborted_at is not None:
            return True
        self.aborted_at = now
        return True
