"""State of the fake platform: the account, Workers, saved Tasks and the ledger of runs.

Every API version the fake speaks answers from one `Ledger`. It knows no URL, no envelope
and no error code: it says whether a run may start (`refuse_start`), creates and aborts
runs, and tells the callback dispatcher about them.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from ._callbacks import CallbackDispatcher
from ._catalog import DEFAULT_SYSTEM, GENERIC_PROPERTIES, PRELOADED_WORKERS
from ._records import READY, RUNNING, FakeRun, FakeTask, FakeWorker
from ._ulid import new_ulid

__all__ = ["DEFAULT_WORKER", "Ledger", "Refusal"]

DEFAULT_WORKER = "coreclaw/google-maps-scraper"
# The legacy callback shape identified a run by an integer (the documented example is
# 123456); ours count up from here so they look alike.
RUN_ID_BASE = 100_000


class Refusal(enum.Enum):
    """Why the platform refuses to start a run (no run is created, nothing is charged)."""

    INSUFFICIENT_BALANCE = "insufficient_balance"
    PLAN_CONCURRENCY = "plan_concurrency"


def _title_from_slug(slug: str) -> str:
    name = slug.rsplit("/", 1)[-1]
    if "/" in slug:
        return name.replace("-", " ").replace("_", " ").title()
    return f"Worker {name[-6:]}"


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
        self.runs: list[FakeRun] = []
        self.runs_by_slug: dict[str, FakeRun] = {}
        self.runs_by_task: dict[str, int] = {}
        self.balance = ""
        self.concurrency_limit: int | None = None
        self.concurrency_counts_ready = False
        self.concurrency_refusals = 0
        """Starts refused because of the plan limit."""
        self._callbacks = callbacks
        self._balance_empty = False
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

        The plan limit counts running runs (ready runs wait in the queue and do not count),
        or ready and running runs alike when `concurrency_counts_ready` is set; aborting
        and final runs never count. A refusal by the limit is counted.
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
    ) -> FakeWorker:
        """Add (or replace) a Worker; ``ValueError`` for an empty slug."""
        if not slug:
            raise ValueError("slug must be non-empty")
        title = title if title is not None else _title_from_slug(slug)
        others = [v for v in (versions or ()) if v != version]
        worker = FakeWorker(
            slug=slug,
            title=title,
            description=description if description is not None else f"{title} (fake Worker)",
            versions=(version, *others),
            readme=readme if readme is not None else f"# {title}\n\nA Worker of the fake.",
            properties=[dict(prop) for prop in (properties or GENERIC_PROPERTIES)],
            system=dict(DEFAULT_SYSTEM),
        )
        self.workers[slug] = worker
        return worker

    def add_task(self, slug: str | None, *, foreign: bool, scraper_slug: str) -> str:
        """Add a saved Task and return its slug; ``ValueError`` for a duplicate or unknown Worker."""
        worker = self.workers.get(scraper_slug)
        if worker is None:
            raise ValueError(f"unknown Worker {scraper_slug!r}; add it with add_worker() first")
        slug = slug if slug is not None else new_ulid()
        if slug in self.tasks:
            raise ValueError(f"duplicate task slug {slug!r}")
        self.tasks[slug] = FakeTask(
            slug=slug,
            scraper_slug=scraper_slug,
            title=f"{worker.title} task",
            version=worker.version,
            input=worker.default_input(),
            foreign=foreign,
        )
        return slug

    # -- runs ------------------------------------------------------------------------

    def create_run(
        self,
        *,
        task_slug: str | None,
        worker: FakeWorker | None,
        scraper_slug: str,
        version: str,
        callback_url: str | None,
        input_: dict[str, Any],
        rerun_of: str | None = None,
        scraper_title: str | None = None,
    ) -> FakeRun:
        """Record a new run on the current settings and schedule its callbacks."""
        if scraper_title is None:
            scraper_title = worker.title if worker is not None else scraper_slug
        fails = self.fail_every > 0 and (len(self.runs) + 1) % self.fail_every == 0
        ready_for, running_for = self.run_schedule
        run = FakeRun(
            slug=new_ulid(),
            task_slug=task_slug,
            scraper_slug=scraper_slug,
            scraper_title=scraper_title,
            version=version,
            callback_url=callback_url,
            input=input_,
            created_at=time.monotonic(),
            created_at_wall=time.time(),
            ready_for=ready_for,
            running_for=running_for,
            rows_total=self.rows_per_run,
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
        return run

    def abort(self, run: FakeRun) -> bool:
        """Abort ``run`` now; False if it is already final (the abort is refused)."""
        first = run.aborted_at is None
        if not run.abort(time.monotonic()):
            return False
        if first:
            self._callbacks.run_aborted(run)
        return True
