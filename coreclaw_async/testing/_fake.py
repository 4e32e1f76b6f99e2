"""FakeCoreClaw: the public face of the fake, wiring its parts together.

The parts: `_ledger` (account, Workers, Tasks, runs, run queue), `_http` (server, counters,
dispatch, faults), `_v1` and `_v2` (each version's routes and wire rules, answering from
the one ledger), `_versions` (which versions are served), `_files` (log and export
downloads) and `_callbacks` (run notices). The fake is written from the documented wire
format and shares no code with the client, so that a bug in a client model cannot be
mirrored here.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any

from ._admin import ADMIN_PREFIX, AdminApi
from ._callbacks import CallbackDelivery, CallbackDispatcher, CallbackSettings
from ._fake_counters import FakeCounters
from ._faults import Fault, FaultRule
from ._files import FileStore
from ._http import Dialect, Dispatcher
from ._ledger import DEFAULT_WORKER, Ledger
from ._rate import RateWindow
from ._records import FakeQueueItem, FakeRun, FakeTask, FakeWorker
from ._request_log import DEFAULT_MAX_RECORDED_REQUESTS, RequestLog
from ._v1 import HTTP_STATUS_MODES, V1Api
from ._v2 import V2Api
from ._v2_base import MISSING_RUN_CODES, V2Settings
from ._v2_wire import RUN_NOT_FOUND
from ._versions import API_VERSIONS, Absent, is_v1_path, is_v2_path, parse_versions

__all__ = ["API_VERSIONS", "HTTP_STATUS_MODES", "FakeCoreClaw"]

DEFAULT_BALANCE = "10122.5547"


class FakeCoreClaw(FakeCounters):
    """An in-process fake of the CoreClaw v1 and v2 HTTP APIs, served over real HTTP on loopback.

    It answers the 13 v1 operations and the published v2 operations with the documented
    envelopes, both from one ledger: a Task created on v2 runs on v1 and every run shows on
    both. ``api_versions=("v2",)`` serves v2 only (every v1 path is a plain HTTP 404), and
    ``("v1",)`` the reverse. It keeps a ledger of every run created (`runs`), counts
    requests and TCP connections, and can inject faults (`inject`) on either version. Runs
    move ready -> running -> succeeded/failed on the clock (`run_schedule`), computed lazily
    when asked; `add_run` records a run started at any instant, e.g. in a past month.

    v2 specifics: a missing run answers ``v2_missing_run_code`` (70001, or 11004); business
    codes (30001 .. 70002) have no documented HTTP status, so ``http_status_mode`` picks a
    plausible one or 200 for them (documented codes keep their status). Runs queued through
    ``queued-runs`` wait until activated; activation is refused per item while the balance
    is zero or the plan limit is full (`set_balance`, `set_concurrency_limit`).

    Account limits, shared by every client, connection and API version, as CoreClaw's limits
    are per account. With ``concurrency_limit=N`` a run start (task run, Worker run, rerun)
    is refused with envelope 30003 while N runs are ready or running, so a burst of 50
    starts against N=10 creates 10 runs; ``concurrency_counts_ready=False`` counts running
    runs only, the platform's documented rule (ready runs then wait uncounted).
    `concurrency_refusals` counts the starts refused this way. With ``rate_limit=R`` at
    most R authenticated API requests are accepted in any sliding second; the next one is
    answered as `Fault.RATE_LIMIT` is (4290, 13000 on v2, with HTTP 429) plus ``Retry-After``
    in whole seconds, and nothing is done for it (`rate_limited` counts them). The limit
    acts where "before" faults do, just after them (a faulted request never counts):
    public reads, file downloads and requests refused for their key or arguments are never
    limited. Both limits may be changed while serving.

    Request log: ``record_requests=True`` keeps the most recent ``max_recorded_requests``
    requests in `request_log` (arrival time, method, path, User-Agent, status, code).
    ``GET /_fake/stats`` (with the API key) answers `stats` as JSON, for a parent process
    of ``python -m coreclaw_async.testing``; it is not an API request and is never counted.

    Callbacks: a run whose ``callback_url`` is on loopback (127.0.0.1, ``localhost``,
    ``::1``) gets a POST there when it starts running, when it ends (``succeeded``/``failed``)
    and when an abort is accepted (``aborting``, then ``failed``). Any other callback URL is
    never contacted (``callback_stats.skipped`` counts those runs). The knobs make delivery
    as unreliable as the platform allows (it promises no retry, no ordering and no
    at-least-once delivery): ``callback_drop`` and ``callback_duplicate`` are probabilities
    per notice, ``callback_delay`` is seconds or a ``(low, high)`` range,
    ``callback_reorder`` is the probability (``True`` = always) that a run's ``running``
    notice arrives after its final one, and ``callback_legacy_shape`` the probability of the
    pre-2026-07-03 body with an integer ``run_id`` instead of ``run_slug``.
    ``callbacks=False`` turns delivery off. Each may also be changed later through
    `callback_settings`.

    Example::

        async with FakeCoreClaw(tasks=2) as fake:
            async with aiohttp.ClientSession() as http:
                await http.post(
                    f"{fake.url}/api/v1/task/run",
                    headers={"api-key": fake.api_key},
                    json={"task_slug": fake.task_slugs[0], "callback_url": "https://cb.test/x"},
                )
            assert len(fake.runs) == 1

    Raises ``ValueError`` for invalid settings.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tasks: int | Iterable[str] = 3,
        latency: float = 0.0,
        http_status_mode: str = "mapped",
        run_schedule: tuple[float, float] = (0.05, 0.2),
        fail_every: int = 0,
        rows_per_run: int = 25,
        abort_linger: float | None = 0.5,
        seed: int | None = None,
        sync_wait_cap: float = 300.0,
        balance: str = DEFAULT_BALANCE,
        concurrency_limit: int | None = None,
        concurrency_counts_ready: bool = True,
        rate_limit: float | None = None,
        record_requests: bool = False,
        max_recorded_requests: int = DEFAULT_MAX_RECORDED_REQUESTS,
        keepalive_timeout: float = 75.0,
        callbacks: bool = True,
        callback_drop: float = 0.0,
        callback_duplicate: float = 0.0,
        callback_delay: float | tuple[float, float] = 0.0,
        callback_reorder: float | bool = False,
        callback_legacy_shape: float | bool = False,
        api_versions: Iterable[str] = API_VERSIONS,
        v2_missing_run_code: int = RUN_NOT_FOUND,
    ) -> None:
        if http_status_mode not in HTTP_STATUS_MODES:
            raise ValueError(f"http_status_mode must be one of {HTTP_STATUS_MODES}")
        self._api_versions = parse_versions(api_versions)
        ready_for, running_for = run_schedule
        if ready_for < 0 or running_for < 0:
            raise ValueError("run_schedule durations must be >= 0")
        if latency < 0 or fail_every < 0 or rows_per_run < 0 or sync_wait_cap < 0:
            raise ValueError("latency, fail_every, rows_per_run and sync_wait_cap must be >= 0")
        if abort_linger is not None and abort_linger < 0:
            raise ValueError("abort_linger must be >= 0 or None")
        self._host = host
        self._port = port
        # A separate stream, so turning callbacks on does not shift the faults a seed gives.
        self._callbacks = CallbackDispatcher(
            CallbackSettings.build(
                enabled=callbacks,
                drop=callback_drop,
                duplicate=callback_duplicate,
                delay=callback_delay,
                reorder=callback_reorder,
                legacy_shape=callback_legacy_shape,
            ),
            random.Random(None if seed is None else f"callbacks-{seed}"),
        )
        self._ledger = Ledger(
            self._callbacks,
            api_key=api_key if api_key is not None else f"scraper_api_fake_{secrets.token_hex(16)}",
            run_schedule=(float(ready_for), float(running_for)),
            fail_every=fail_every,
            rows_per_run=rows_per_run,
            abort_linger=abort_linger,
            sync_wait_cap=sync_wait_cap,
        )
        self._ledger.set_balance(balance)
        self._ledger.set_concurrency_limit(concurrency_limit, counts_ready=concurrency_counts_ready)
        self._http = Dispatcher(
            rng=random.Random(seed),
            latency=latency,
            keepalive_timeout=keepalive_timeout,
            rate=RateWindow(rate_limit),
            log=RequestLog(enabled=record_requests, max_records=max_recorded_requests),
        )
        self._http.serve_admin(ADMIN_PREFIX, AdminApi(self.stats, lambda: self._ledger.api_key).handle)
        files = FileStore(self._ledger)
        always_200 = http_status_mode == "always_200"
        self._v2 = V2Settings(always_200=always_200)
        self.v2_missing_run_code = v2_missing_run_code
        # The first dialect answers unknown paths: v1 if served. A version switched off owns
        # its paths only to answer them with a plain 404.
        served: list[Dialect] = []
        absent: list[Dialect] = []
        if "v1" in self._api_versions:
            served.append(V1Api(self._ledger, self._http, files, always_200=always_200))
        else:
            absent.append(Absent(is_v1_path))
        if "v2" in self._api_versions:
            served.append(V2Api(self._ledger, self._http, files, self._v2))
        else:
            absent.append(Absent(is_v2_path))
        for dialect in served + absent:
            self._http.add_dialect(dialect)
        self._http.serve_files(files.serve)

        if isinstance(tasks, str):
            tasks = [tasks]
        if isinstance(tasks, int):
            if tasks < 0:
                raise ValueError("tasks must be >= 0")
            for _ in range(tasks):
                self.add_task()
        else:
            for slug in tasks:
                self.add_task(slug)
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind the port and start serving. Raises ``RuntimeError`` if already started/closed."""
        if self._http.url is not None or self._closed:
            raise RuntimeError("FakeCoreClaw can be started only once")
        await self._http.start(self._host, self._port)

    async def close(self) -> None:
        """Stop serving and close every connection; waiting handlers are dropped. Idempotent.

        Callback notices not yet sent are dropped too; no task of the fake is left behind.
        """
        self._closed = True
        await self._callbacks.close()
        await self._http.close()

    async def __aenter__(self) -> FakeCoreClaw:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ settings

    @property
    def latency(self) -> float:
        """Seconds added before every response; may be changed at any time."""
        return self._http.latency

    @latency.setter
    def latency(self, value: float) -> None:
        self._http.latency = value

    @property
    def run_schedule(self) -> tuple[float, float]:
        """(seconds ready, seconds running) of runs created from now on."""
        return self._ledger.run_schedule

    @run_schedule.setter
    def run_schedule(self, value: tuple[float, float]) -> None:
        self._ledger.run_schedule = value

    @property
    def fail_every(self) -> int:
        """Every Nth created run ends failed; 0 = none."""
        return self._ledger.fail_every

    @fail_every.setter
    def fail_every(self, value: int) -> None:
        self._ledger.fail_every = value

    @property
    def rows_per_run(self) -> int:
        """Result rows a run created from now on collects by its end."""
        return self._ledger.rows_per_run

    @rows_per_run.setter
    def rows_per_run(self, value: int) -> None:
        self._ledger.rows_per_run = value

    @property
    def abort_linger(self) -> float | None:
        """Seconds an aborted run shows status 5 before 4 (None = forever)."""
        return self._ledger.abort_linger

    @abort_linger.setter
    def abort_linger(self, value: float | None) -> None:
        self._ledger.abort_linger = value

    @property
    def api_versions(self) -> tuple[str, ...]:
        """The API versions served (``"v1"``, ``"v2"``); the paths of any other answer a plain 404."""
        return self._api_versions

    @property
    def v2_missing_run_code(self) -> int:
        """Envelope code v2 answers for a run that does not exist: 70001 (default) or 11004.

        The documentation does not settle which one the platform sends; it applies to every
        v2 operation on a run (detail, abort, log, rerun, result, export, and the last-run
        shortcuts when there is no run). Set it to run a client against either.
        """
        return self._v2.missing_run_code

    @v2_missing_run_code.setter
    def v2_missing_run_code(self, value: int) -> None:
        if value not in MISSING_RUN_CODES:
            raise ValueError(f"v2_missing_run_code must be one of {MISSING_RUN_CODES}")
        self._v2.missing_run_code = value

    @property
    def rate_limit(self) -> float | None:
        """Authenticated API requests accepted per sliding second, account-wide (None = no limit).

        May be changed at any time (``ValueError`` unless None or a finite number >= 1); a
        fractional value rounds down. Requests refused by it do not count toward it.
        """
        return self._http.rate.limit

    @rate_limit.setter
    def rate_limit(self, value: float | None) -> None:
        self._http.rate.limit = value

    @property
    def record_requests(self) -> bool:
        """True if requests are recorded in `request_log` (set when the fake is created)."""
        return self._http.log.enabled

    @property
    def sync_wait_cap(self) -> float:
        """Longest wait of a synchronous `scraper/run` before it answers `running`."""
        return self._ledger.sync_wait_cap

    @sync_wait_cap.setter
    def sync_wait_cap(self, value: float) -> None:
        self._ledger.sync_wait_cap = value

    # ------------------------------------------------------------------ public state

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``. Raises ``RuntimeError`` before `start`."""
        url = self._http.url
        if url is None:
            raise RuntimeError("FakeCoreClaw is not started")
        return url

    @property
    def api_key(self) -> str:
        """The only API key the fake accepts; assign a new one to simulate a revoked key."""
        return self._ledger.api_key

    @api_key.setter
    def api_key(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise ValueError("api_key must be a non-empty string")
        self._ledger.api_key = value

    @property
    def task_slugs(self) -> list[str]:
        """Slugs of the caller's own saved Tasks (foreign Tasks excluded), in creation order."""
        return [task.slug for task in self._ledger.tasks.values() if not task.foreign]

    @property
    def tasks(self) -> list[FakeTask]:
        """Every saved Task, foreign ones included."""
        return list(self._ledger.tasks.values())

    @property
    def workers(self) -> list[FakeWorker]:
        """Every Worker known to the fake."""
        return list(self._ledger.workers.values())

    @property
    def runs(self) -> list[FakeRun]:
        """The ledger: every run created, oldest first."""
        return list(self._ledger.runs)

    @property
    def queue_items(self) -> list[FakeQueueItem]:
        """Every item ever queued through v2 ``queued-runs``, activated and released ones included."""
        return list(self._ledger.queue.values())

    def runs_by_task(self) -> dict[str, int]:
        """Number of runs created per task slug (reruns of a task's run count for that task)."""
        return dict(self._ledger.runs_by_task)

    def get_run(self, run_slug: str) -> FakeRun:
        """Return the ledger record of ``run_slug``; ``KeyError`` if unknown."""
        return self._ledger.runs_by_slug[run_slug]

    @property
    def balance(self) -> str:
        """Account balance as `account/info` reports it."""
        return self._ledger.balance

    @property
    def concurrency_limit(self) -> int | None:
        """The plan limit run starts are checked against (None = no limit); see `set_concurrency_limit`."""
        return self._ledger.concurrency_limit

    @property
    def concurrency_counts_ready(self) -> bool:
        """True if the plan limit counts ready (queued) runs as well as running ones."""
        return self._ledger.concurrency_counts_ready

    @property
    def callback_settings(self) -> CallbackSettings:
        """The live callback delivery knobs (see the class docstring); change them at any time."""
        return self._callbacks.settings

    @property
    def callback_deliveries(self) -> list[CallbackDelivery]:
        """Every callback POST made so far, in the order the answers came."""
        return list(self._callbacks.deliveries)

    async def drain_callbacks(self, timeout: float = 10.0) -> None:
        """Wait until every notice scheduled so far has been sent (or dropped, or failed).

        Notices of runs that are not final yet count as scheduled, so this also waits for
        those runs to end. Raises ``TimeoutError`` if that takes longer than ``timeout``.
        """
        await self._callbacks.drain(timeout)

    # ------------------------------------------------------------------ configuration

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
        """Add (or replace) a Worker known to both versions (`/api/scraper`, v2 ``/workers/{id}``, ...).

        ``version`` is the latest version; ``versions`` lists any others a start accepts.
        ``properties`` defaults to the documented startURLs/maximum/download_images form.
        ``owned=True`` makes it the caller's own Worker: v2 ``GET /workers`` lists it and the
        store does not. On v2 it is found by ``slug``, by ``owner~name`` (from an
        ``owner/name`` slug, else the caller's or the store's user name and a name made of
        the title) and by the ULID it lists as ``slug``.
        """
        return self._ledger.add_worker(
            slug,
            version=version,
            title=title,
            description=description,
            versions=versions,
            readme=readme,
            properties=properties,
            owned=owned,
        )

    def add_task(
        self,
        slug: str | None = None,
        *,
        foreign: bool = False,
        scraper_slug: str = DEFAULT_WORKER,
        title: str | None = None,
        input: Any = None,
    ) -> str:
        """Add a saved Task of Worker ``scraper_slug`` and return its slug (a new ULID by default).

        ``input`` is saved as given (default: the Worker's defaults in ``parameters``).
        ``foreign=True`` makes a Task that belongs to another user: starting it answers 4010
        "Task does not belong to you" on v1, and v2 does not find it (60001). Raises
        ``ValueError`` for a duplicate slug or unknown Worker.
        """
        return self._ledger.add_task(
            slug, foreign=foreign, scraper_slug=scraper_slug, title=title, input_=input
        )

    def add_run(
        self,
        scraper_slug: str = DEFAULT_WORKER,
        *,
        started_at: float | datetime | None = None,
        duration: float = 60.0,
        fails: bool = False,
        rows: int | None = None,
        task_slug: str | None = None,
    ) -> FakeRun:
        """Record a run of Worker ``scraper_slug`` that started at ``started_at``, as if started then.

        ``started_at`` is Unix seconds or an aware `datetime` (default: ``duration`` seconds
        ago, so the run just ended). The run runs ``duration`` seconds from then and ends
        failed if ``fails``, with ``rows`` rows (default `rows_per_run`); it has no callback.
        Use it to fill past months for the v2 run list, which lists one calendar month at a
        time (Beijing time). Raises ``ValueError`` for an unknown Worker or Task, a naive
        `datetime` or a negative ``duration``.

        Example: ``fake.add_run(started_at=datetime(2026, 3, 10, tzinfo=timezone.utc))``.
        """
        worker = self._ledger.workers.get(scraper_slug)
        if worker is None:
            raise ValueError(f"unknown Worker {scraper_slug!r}; add it with add_worker() first")
        if task_slug is not None and task_slug not in self._ledger.tasks:
            raise ValueError(f"unknown task {task_slug!r}")
        if duration < 0:
            raise ValueError("duration must be >= 0")
        if isinstance(started_at, datetime):
            if started_at.tzinfo is None:
                raise ValueError("started_at must be an aware datetime (give it a tzinfo)")
            started_at = started_at.timestamp()
        return self._ledger.create_run(
            task_slug=task_slug,
            worker=worker,
            scraper_slug=worker.slug,
            version=worker.version,
            callback_url=None,
            input_=worker.default_input(),
            started_at=time.time() - duration if started_at is None else float(started_at),
            duration=float(duration),
            fails=fails,
            rows=rows,
        )

    def set_balance(self, balance: str | Decimal) -> None:
        """Set the balance `account/info` reports; zero or less makes run starts answer 30001."""
        self._ledger.set_balance(balance)

    def set_concurrency_limit(self, limit: int | None, *, counts_ready: bool | None = None) -> None:
        """Refuse run starts with 30003 while ``limit`` runs count against the plan (None = no limit).

        ``counts_ready=True`` counts ready (queued) and running runs (the fake's default),
        ``False`` running runs only (the platform's documented rule), and None keeps the
        current rule. Applies from the next start. Raises ``ValueError`` for a negative
        ``limit`` or a ``counts_ready`` that is not a bool.

        Example: ``fake.set_concurrency_limit(2)`` refuses a third start while two runs are
        ready or running; ``fake.set_concurrency_limit(2, counts_ready=False)`` only while two
        are running.
        """
        self._ledger.set_concurrency_limit(limit, counts_ready=counts_ready)

    def inject(
        self,
        fault: Fault | str,
        *,
        times: int | None = 1,
        probability: float = 1.0,
        path: str | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
        user_agent: str | None = None,
    ) -> None:
        """Schedule ``fault`` for the next matching request(s).

        ``times`` applications (None = until `clear_faults`); each matching request rolls
        ``probability`` with the seeded RNG. ``path`` is an exact URL path, a prefix ending in
        ``*``, or None for every ``/api/`` endpoint. ``user_agent`` aims the fault at the
        clients whose ``User-Agent`` header contains that text (e.g. one process's
        ``AsyncCoreClaw(user_agent="proc-3")``). ``retry_after`` adds a ``Retry-After``
        header (seconds, may be fractional) to the fault's answer; ``delay`` sleeps before the
        fault acts (for `Fault.SLOW` it is the whole point). Rules are tried in injection order
        and at most one "before" and one "after" fault applies to a request. Raises
        ``ValueError`` for an unknown fault or an argument out of range.
        """
        self._http.rules.append(
            FaultRule.build(
                fault,
                times=times,
                probability=probability,
                path=path,
                retry_after=retry_after,
                delay=delay,
                user_agent=user_agent,
            )
        )

    def clear_faults(self) -> None:
        """Forget every fault not yet applied."""
        self._http.rules.clear()
