"""State of the fake platform: the account, Workers, saved Tasks, the ledger of runs and the run queue.

Every API version the fake speaks answers from one `Ledger`. It knows no URL, no envelope
and no error code: it says whether a run may start (`refuse_start`), creates and aborts
runs, keeps the run queue, and tells the callback dispatcher about runs.
"""

from __future__ import annotations

import enum
import hashlib
import itertools
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from ._callbacks import CallbackDispatcher
from ._catalog import DEFAULT_SYSTEM, GENERIC_PROPERTIES, PRELOADED_WORKERS
from ._records import FAILED, READY, RUNNING, SUCCEEDED, FakeQueueItem, FakeRun, FakeTask, FakeWorker
from ._ulid import new_ulid

__all__ = ["ACCOUNT_USERNAME", "DEFAULT_WORKER", "Ledger", "Refusal", "hold_until_final"]

DEFAULT_WORKER = "coreclaw/google-maps-scraper"
# The legacy callback shape identified a run by an integer (the documented example is
# 123456); ours count up from here so they look alike.
RUN_ID_BASE = 100_000
# v2 ids of Workers and Tasks are integers beyond 2**53 on the platform (about 1.8e18), so
# a client decoding them as floats loses digits; ours are as large.
WORKER_ID_BASE = 1_780_000_000_000_000_000
TASK_ID_BASE = 1_790_000_000_000_000_000
# Queue refs are short decimal strings ("123456" in the documented answer).
QUEUE_REF_BASE = 200_001
# Who owns a Worker whose slug names no owner: the caller (owned) or the store's publisher.
ACCOUNT_USERNAME = "fake-user"
STORE_USERNAME = "coreclaw"
# Timestamp of the ULIDs derived for Workers keyed by ``owner/name`` (stable across runs).
_DERIVED_ULID_MS = 1_767_225_600_000
# Longest sleep between two looks at a run while a synchronous start waits for it.
SYNC_POLL_INTERVAL = 0.25


class Refusal(enum.Enum):
    """Why the platform refuses to start a run (no run is created, nothing is charged)."""

    INSUFFICIENT_BALANCE = "insufficient_balance"
    PLAN_CONCURRENCY = "plan_concurrency"


def _title_from_slug(slug: str) -> str:
    name = slug.rsplit("/", 1)[-1]
    if "/" in slug:
        return name.replace("-", " ").replace("_", " ").title()
    return f"Worker {name[-6:]}"


def _name_from_title(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "worker"


async def hold_until_final(run: FakeRun, cap: float, pause: Callable[[float], Awaitable[None]]) -> float:
    """Wait until ``run`` is final or ``cap`` seconds pass; return the monotonic time it stopped.

    ``pause`` sleeps (and may raise to abandon the wait, e.g. when the fake closes).
    """
    deadline = time.monotonic() + cap
    # Bounded by the deadline: every pass sleeps until the run's end, the deadline or the poll interval.
    while True:
        now = time.monotonic()
        if run.status_at(now) in (SUCCEEDED, FAILED) or now >= deadline:
            return now
        await pause(max(min(run.final_at - now, deadline - now, SYNC_POLL_INTERVAL), 0.001))


class Ledger:
    """The account, the Workers and Tasks it can start, and every run created, oldest first.

    The run settings (`run_schedule`, `fail_every`, `rows_per_run`, `abort_linger`) apply
    to runs created from then on; `sync_wait_cap` bounds how long a synchronous start is
    held. They are validated by the owner before they get here.
    """

    def __init__(
        self,
        callbacks: CallbackDispatcher,
        *,
        api_key: str,
        run_schedule: tuple[float, float],
        fail_every: int,
        rows_per_run: int,
        abort_linger: float | None,
        sync_wait_cap: float,
    ) -> None:
        self.api_key = api_key
        self.run_schedule = run_schedule
        self.fail_every = fail_every
        self.rows_per_run = rows_per_run
        self.abort_linger = abort_linger
        self.sync_wait_cap = sync_wait_cap
        self.workers: dict[str, FakeWorker] = {}
        self.tasks: dict[str, FakeTask] = {}
        self.queue: dict[str, FakeQueueItem] = {}
        self.runs: list[FakeRun] = []
        self.runs_by_slug: dict[str, FakeRun] = {}
        self.runs_by_task: dict[str, int] = {}
        self.balance = ""
        self.concurrency_limit: int | None = None
        self.concurrency_counts_ready = True
        self.concurrency_refusals = 0
        """Starts refused because of the plan limit."""
        self._callbacks = callbacks
        self._balance_empty = False
        self._task_ids = itertools.count(TASK_ID_BASE + 1)
        self._queue_refs = itertools.count(QUEUE_REF_BASE)
        # Runs that may still count against the plan limit, kept only while a limit is set
        # and pruned on every check, so a check costs O(runs ready or running), not O(ledger).
        self._live: list[FakeRun] = []
        for slug, title, description, versions, readme, properties in PRELOADED_WORKERS:
            self.add_worker(
                slug,
                version=versions[0],
                versions=versions,
                title=title,
                description=description,
                readme=readme,
                properties=properties,
            )

    # -- account ---------------------------------------------------------------------

    def set_balance(self, balance: str | Decimal) -> None:
        """Set the balance; zero or less refuses run starts. ``ValueError`` if not a finite decimal."""
        try:
            value = Decimal(str(balance))
        except InvalidOperation:
            raise ValueError(f"not a decimal: {balance!r}") from None
        if not value.is_finite():
            raise ValueError(f"not a finite decimal: {balance!r}")
        self.balance = str(balance)
        self._balance_empty = value <= 0

    def set_concurrency_limit(self, limit: int | None, *, counts_ready: bool | None = None) -> None:
        """Set the plan limit (None = none) and, unless ``counts_ready`` is None, what it counts.

        ``ValueError`` for a negative limit or a ``counts_ready`` that is not a bool.
        """
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0 or None")
        if counts_ready is not None and not isinstance(counts_ready, bool):
            raise ValueError("counts_ready must be a bool or None")
        if limit is not None and self.concurrency_limit is None:
            # Runs created while no limit was set were not tracked; find the ones still live.
            now = time.monotonic()
            self._live = [run for run in self.runs if run.status_at(now) in (READY, RUNNING)]
        elif limit is None:
            self._live = []
        self.concurrency_limit = limit
        if counts_ready is not None:
            self.concurrency_counts_ready = counts_ready

    def refuse_start(self) -> Refusal | None:
        """Why a run may not start now, or None if it may.

        The plan limit counts ready and running runs alike while `concurrency_counts_ready`
        is set (the default), else running runs only (ready runs wait in the queue
        uncounted, the platform's documented rule); aborting and final runs never count. A
        refusal by the limit is counted.
        """
        if self._balance_empty:
            return Refusal.INSUFFICIENT_BALANCE
        limit = self.concurrency_limit
        if limit is None:
            return None
        now = time.monotonic()
        counts_ready = self.concurrency_counts_ready
        live: list[FakeRun] = []
        busy = 0
        for run in self._live:
            status = run.status_at(now)
            if status == RUNNING:
                live.append(run)
                busy += 1
            elif status == READY:
                live.append(run)
                if counts_ready:
                    busy += 1
        self._live = live
        if busy >= limit:
            self.concurrency_refusals += 1
            return Refusal.PLAN_CONCURRENCY
        return None

    # -- Workers and Tasks -----------------------------------------------------------

    def add_worker(
        self,
        slug: str,
        *,
        version: str = "v1.0.5",
        title: str | None = None,
        description: str | None = None,
        versions: Iterable[str] | None = None,
        readme: str | None = None,
        properties: list[dict[str, Any]] | None = None,
        owned: bool = False,
    ) -> FakeWorker:
        """Add (or replace) a Worker; ``ValueError`` for an empty slug.

        An ``owner/name`` slug gives the v2 user name and name; a ULID slug takes the
        caller's user name if ``owned``, the store's otherwise, and a name made of the title.
        """
        if not slug:
            raise ValueError("slug must be non-empty")
        title = title if title is not None else _title_from_slug(slug)
        others = [v for v in (versions or ()) if v != version]
        digest = hashlib.sha256(slug.encode()).digest()
        if "/" in slug:
            username, _, name = slug.partition("/")
            store_slug = new_ulid(_DERIVED_ULID_MS, digest[:10])
        else:
            username = ACCOUNT_USERNAME if owned else STORE_USERNAME
            name, store_slug = _name_from_title(title), slug
        worker = FakeWorker(
            slug=slug,
            title=title,
            description=description if description is not None else f"{title} (fake Worker)",
            versions=(version, *others),
            readme=readme if readme is not None else f"# {title}\n\nA Worker of the fake.",
            properties=[dict(prop) for prop in (properties or GENERIC_PROPERTIES)],
            system=dict(DEFAULT_SYSTEM),
            id=WORKER_ID_BASE + int.from_bytes(digest[10:16], "big"),
            store_slug=store_slug,
            username=username,
            name=name,
            owned=owned,
        )
        self.workers[slug] = worker
        return worker

    def find_worker(self, ident: str | int) -> FakeWorker | None:
        """The Worker known by ``ident``: its slug, v2 slug, ``owner~name`` path or numeric id."""
        if isinstance(ident, str):
            worker = self.workers.get(ident)
            if worker is not None:
                return worker
        # Few Workers exist, so a scan is cheaper than keeping alias indexes in step.
        for worker in self.workers.values():
            if ident in (worker.store_slug, worker.path, worker.id, str(worker.id)):
                return worker
        return None

    def add_task(
        self,
        slug: str | None,
        *,
        foreign: bool,
        scraper_slug: str,
        title: str | None = None,
        input_: Any = None,
    ) -> str:
        """Add a saved Task and return its slug; ``ValueError`` for a duplicate or unknown Worker."""
        worker = self.workers.get(scraper_slug)
        if worker is None:
            raise ValueError(f"unknown Worker {scraper_slug!r}; add it with add_worker() first")
        if slug is not None and slug in self.tasks:
            raise ValueError(f"duplicate task slug {slug!r}")
        task = self.create_task(
            worker,
            slug=slug,
            title=title if title is not None else f"{worker.title} task",
            input_=input_ if input_ is not None else worker.default_input(),
            version=worker.version,
        )
        task.foreign = foreign
        return task.slug

    def create_task(
        self,
        worker: FakeWorker,
        *,
        title: str,
        input_: Any,
        version: str,
        description: str = "",
        slug: str | None = None,
    ) -> FakeTask:
        """Save a new Task of ``worker`` (its input kept as given) and return it."""
        now = int(time.time())
        task = FakeTask(
            slug=slug if slug is not None else new_ulid(),
            scraper_slug=worker.slug,
            title=title,
            version=version,
            input=input_,
            id=next(self._task_ids),
            description=description,
            created_at=now,
            updated_at=now,
        )
        self.tasks[task.slug] = task
        return task

    def delete_task(self, slug: str) -> bool:
        """Forget the Task ``slug`` (its runs stay in the ledger); False if there is none."""
        return self.tasks.pop(slug, None) is not None

    # -- runs ------------------------------------------------------------------------

    def create_run(
        self,
        *,
        task_slug: str | None,
        worker: FakeWorker | None,
        scraper_slug: str,
        version: str,
        callback_url: str | None,
        input_: Any,
        rerun_of: str | None = None,
        scraper_title: str | None = None,
        started_at: float | None = None,
        duration: float | None = None,
        fails: bool | None = None,
        rows: int | None = None,
    ) -> FakeRun:
        """Record a new run and schedule its callbacks.

        By default the run starts now on the current settings. ``started_at`` (Unix seconds,
        past or future) moves its start on the wall clock and ``duration`` makes it run that
        long with no ready phase; ``fails`` and ``rows`` override `fail_every` and `rows_per_run`.
        """
        if scraper_title is None:
            scraper_title = worker.title if worker is not None else scraper_slug
        if fails is None:
            fails = self.fail_every > 0 and (len(self.runs) + 1) % self.fail_every == 0
        ready_for, running_for = self.run_schedule if duration is None else (0.0, duration)
        monotonic_now, wall_now = time.monotonic(), time.time()
        wall = wall_now if started_at is None else started_at
        run = FakeRun(
            slug=new_ulid(),
            task_slug=task_slug,
            scraper_slug=scraper_slug,
            scraper_title=scraper_title,
            version=version,
            callback_url=callback_url,
            input=input_,
            # The two clocks keep their offset, so a run started in the past is as far along.
            created_at=monotonic_now - (wall_now - wall),
            created_at_wall=wall,
            ready_for=ready_for,
            running_for=running_for,
            rows_total=self.rows_per_run if rows is None else rows,
            fails=fails,
            abort_linger=self.abort_linger,
            run_id=RUN_ID_BASE + len(self.runs) + 1,
            rerun_of=rerun_of,
        )
        self.runs.append(run)
        self.runs_by_slug[run.slug] = run
        if self.concurrency_limit is not None:
            self._live.append(run)
        self._callbacks.run_created(run)
        if task_slug is not None:
            self.runs_by_task[task_slug] = self.runs_by_task.get(task_slug, 0) + 1
            task = self.tasks.get(task_slug)
            if task is not None:
                task.last_run_slug = run.slug
        return run

    def last_run(self, scraper_slug: str | None = None) -> FakeRun | None:
        """The run started last (of Worker ``scraper_slug`` if given), or None."""
        latest: FakeRun | None = None
        latest_at = -math.inf
        for run in self.runs:
            if run.created_at_wall >= latest_at and scraper_slug in (None, run.scraper_slug):
                latest, latest_at = run, run.created_at_wall
        return latest

    def abort(self, run: FakeRun) -> bool:
        """Abort ``run`` now; False if it is already final (the abort is refused)."""
        first = run.aborted_at is None
        if not run.abort(time.monotonic()):
            return False
        if first:
            self._callbacks.run_aborted(run)
        return True

    # -- the run queue ---------------------------------------------------------------

    def enqueue(
        self, worker: FakeWorker, *, version: str, input_: Any, callback_url: str | None
    ) -> FakeQueueItem:
        """Put a run of ``worker`` in the queue; it waits until activated or released."""
        now = int(time.time())
        item = FakeQueueItem(
            ref=str(next(self._queue_refs)),
            scraper_slug=worker.slug,
            version=version,
            input=input_,
            callback_url=callback_url,
            created_at=now,
            updated_at=now,
        )
        self.queue[item.ref] = item
        return item

    def activate(self, ref: str) -> FakeRun | Refusal | None:
        """Start the waiting item ``ref`` as a run; the refusal if it may not start now (it keeps
        waiting), None if no such item is waiting."""
        item = self.queue.get(ref)
        if item is None or item.status != "waiting":
            return None
        refusal = self.refuse_start()
        if refusal is not None:
            return refusal
        worker = self.workers.get(item.scraper_slug)
        run = self.create_run(
            task_slug=None,
            worker=worker,
            scraper_slug=item.scraper_slug,
            version=item.version,
            callback_url=item.callback_url,
            input_=item.input,
        )
        item.status, item.run_slug, item.updated_at = "activated", run.slug, int(time.time())
        return run

    def release(self, ref: str, reason: str) -> bool:
        """Make the waiting item ``ref`` inactive (it never runs); False if none is waiting."""
        item = self.queue.get(ref)
        if item is None or item.status != "waiting":
            return False
        item.status, item.reason, item.updated_at = "inactive", reason, int(time.time())
        return True
