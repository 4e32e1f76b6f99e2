"""FakeCoreClaw: the CoreClaw v1 HTTP API, in process, over real loopback HTTP.

Written from the API reference as wire JSON; it shares no code with the client so that a
bug in a client model cannot be mirrored here.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import hashlib
import hmac
import io
import random
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, NamedTuple

from aiohttp import web

from . import _wire as wire
from ._callbacks import CallbackDelivery, CallbackDispatcher, CallbackSettings, CallbackStats
from ._catalog import (
    ACCEPTED_REGIONS,
    DEFAULT_SYSTEM,
    GENERIC_PROPERTIES,
    MEMORY_CHOICES,
    PRELOADED_WORKERS,
    PROXY_REGIONS,
    RESULT_HEADERS,
    RESULT_KEYS,
    result_row,
)
from ._faults import Fault, FaultRule
from ._records import (
    FAILED,
    READY,
    RUNNING,
    SUCCEEDED,
    FakeRun,
    FakeTask,
    FakeWorker,
    RunState,
)
from ._ulid import new_ulid

__all__ = ["FakeCoreClaw"]

DEFAULT_WORKER = "coreclaw/google-maps-scraper"
DEFAULT_BALANCE = "10122.5547"
ACCOUNT_TRAFFIC = 178194757135
ACCOUNT_TRAFFIC_EXPIRATION_AT = 1775267018
HTTP_STATUS_MODES = ("mapped", "always_200")
# How long a pre-signed export URL stays valid.
EXPORT_URL_TTL = 3600
# Rows per chunk when streaming an export file.
EXPORT_CHUNK_ROWS = 1000
# Longest sleep between two looks at a run while a synchronous start waits for it.
SYNC_POLL_INTERVAL = 0.25
# The legacy callback shape's integer run ids count up from here (spec section 4 example: 123456).
RUN_ID_BASE = 100_000
LOG_URL_PREFIX = "/files/log/"
EXPORT_URL_PREFIX = "/files/export/"

_Args = Mapping[str, Any]
_Endpoint = Callable[[_Args, str], Awaitable[bytes]]


class _ApiError(Exception):
    """Answer with an error envelope."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


class _Reply(Exception):
    """Answer with this ready-made response (used by injected faults)."""

    def __init__(self, response: web.StreamResponse) -> None:
        super().__init__()
        self.response = response


class _Drop(Exception):
    """Close the TCP connection without answering."""


def _invalid() -> _ApiError:
    return _ApiError(wire.INVALID_PARAMS)


class _Route(NamedTuple):
    method: str
    endpoint: _Endpoint
    public: bool
    body_optional: bool = False


@dataclass(frozen=True)
class _Export:
    run_slug: str
    keys: tuple[str, ...]
    fmt: str
    count: int
    expires_at: int


class _ConnectionStats:
    """Open/peak/seen TCP connection counters, fed by `_TrackingServer`."""

    __slots__ = ("_fresh", "max_open", "open", "seen")

    def __init__(self) -> None:
        self.open = 0
        self.max_open = 0
        self.seen = 0
        # connection -> True until it sends its first request
        self._fresh: dict[object, bool] = {}

    def opened(self, conn: object) -> None:
        self._fresh[conn] = True
        self.open += 1
        if self.open > self.max_open:
            self.max_open = self.open

    def closed(self, conn: object) -> None:
        if self._fresh.pop(conn, None) is not None:
            self.open -= 1

    def request_on(self, conn: object) -> None:
        if self._fresh.get(conn):
            self._fresh[conn] = False
            self.seen += 1

    def reset(self) -> None:
        self.seen = 0
        self.max_open = self.open
        for conn in self._fresh:
            self._fresh[conn] = True


class _TrackingServer(web.Server):
    """aiohttp's low-level server, reporting every TCP connection opened and closed."""

    def __init__(
        self,
        handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
        stats: _ConnectionStats,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self._stats = stats

    def connection_made(self, handler: web.RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self._stats.opened(handler)

    def connection_lost(self, handler: web.RequestHandler, exc: BaseException | None = None) -> None:
        self._stats.closed(handler)
        super().connection_lost(handler, exc)


def _req_str(args: _Args, key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _invalid()
    return value


def _opt_str(args: _Args, key: str) -> str | None:
    value = args.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid()
    return value or None


def _json_int(args: _Args, key: str, default: int, minimum: int, maximum: int | None = None) -> int:
    value = args.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _invalid()
    if isinstance(value, float):
        if not value.is_integer():
            raise _invalid()
        value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        raise _invalid()
    return value


def _query_int(args: _Args, key: str, default: int, minimum: int) -> int:
    raw = args.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _invalid() from None
    if value < minimum:
        raise _invalid()
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_system(system: object) -> None:
    """Validate `input.parameters.system` (reference section 2.1); absent keys take defaults."""
    if not isinstance(system, dict):
        raise _invalid()
    cpus = system.get("cpus")
    if cpus is not None and not (_is_number(cpus) and cpus > 0):
        raise _invalid()
    memory = system.get("memory", system.get("memory_bytes"))
    if memory is not None and (isinstance(memory, bool) or memory not in MEMORY_CHOICES):
        raise _invalid()
    limit = system.get("execute_limit_time_seconds")
    if limit is not None and not (_is_number(limit) and limit > 0):
        raise _invalid()
    for key in ("max_total_charge", "max_total_traffic"):
        cap = system.get(key)
        if cap is not None and not (_is_number(cap) and cap >= 0):
            raise _invalid()
    region = system.get("proxy_region")
    if region is not None and region not in ACCEPTED_REGIONS:
        raise _invalid()


def _slug_body(run_slug: str) -> bytes:
    return b'{"run_slug":"' + run_slug.encode() + b'"}'


def _title_from_slug(slug: str) -> str:
    name = slug.rsplit("/", 1)[-1]
    if "/" in slug:
        return name.replace("-", " ").replace("_", " ").title()
    return f"Worker {name[-6:]}"


def _retry_after_text(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


def _xml_error(code: str, message: str) -> bytes:
    return (
        "<?xml version='1.0' encoding='utf-8' ?>\n"
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>\n"
    ).encode()


class FakeCoreClaw:
    """An in-process fake of the CoreClaw v1 HTTP API, served over real HTTP on loopback.

    It answers the 13 v1 operations with the documented envelopes, keeps a ledger of every
    run created (`runs`), counts requests and TCP connections, and can inject faults
    (`inject`). Runs move ready -> running -> succeeded/failed on the clock (`run_schedule`),
    computed lazily when asked.

    Callbacks (spec section 4): a run whose ``callback_url`` is on loopback (127.0.0.1,
    ``localhost``, ``::1``) gets a POST there when it starts running, when it ends
    (``succeeded``/``failed``) and when an abort is accepted (``aborting``, then ``failed``).
    Any other callback URL is never contacted (``callback_stats.skipped`` counts those runs).
    The knobs make delivery as unreliable as the platform allows: ``callback_drop`` and
    ``callback_duplicate`` are probabilities per notice, ``callback_delay`` is seconds or a
    ``(low, high)`` range, ``callback_reorder`` is the probability (``True`` = always) that a
    run's ``running`` notice arrives after its final one, and ``callback_legacy_shape`` the
    probability of the pre-2026-07-03 body with an integer ``run_id`` instead of ``run_slug``.
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
        keepalive_timeout: float = 75.0,
        callbacks: bool = True,
        callback_drop: float = 0.0,
        callback_duplicate: float = 0.0,
        callback_delay: float | tuple[float, float] = 0.0,
        callback_reorder: float | bool = False,
        callback_legacy_shape: float | bool = False,
    ) -> None:
        if http_status_mode not in HTTP_STATUS_MODES:
            raise ValueError(f"http_status_mode must be one of {HTTP_STATUS_MODES}")
        ready_for, running_for = run_schedule
        if ready_for < 0 or running_for < 0:
            raise ValueError("run_schedule durations must be >= 0")
        if latency < 0 or fail_every < 0 or rows_per_run < 0 or sync_wait_cap < 0:
            raise ValueError("latency, fail_every, rows_per_run and sync_wait_cap must be >= 0")
        if abort_linger is not None and abort_linger < 0:
            raise ValueError("abort_linger must be >= 0 or None")
        self._api_key = api_key if api_key is not None else f"scraper_api_fake_{secrets.token_hex(16)}"
        self._host = host
        self._port = port
        self.latency = latency
        """Seconds added before every response; may be changed at any time."""
        self._always_200 = http_status_mode == "always_200"
        self.run_schedule = (float(ready_for), float(running_for))
        """(seconds ready, seconds running) of runs created from now on."""
        self.fail_every = fail_every
        """Every Nth created run ends failed; 0 = none."""
        self.rows_per_run = rows_per_run
        """Result rows a run created from now on collects by its end."""
        self.abort_linger = abort_linger
        """Seconds an aborted run shows status 5 before 4 (None = forever)."""
        self.sync_wait_cap = sync_wait_cap
        """Longest wait of a synchronous `scraper/run` before it answers `running`."""
        self._rng = random.Random(seed)
        self._keepalive_timeout = keepalive_timeout
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
        self._secret = secrets.token_bytes(16)

        self._workers: dict[str, FakeWorker] = {}
        self._detail_bodies: dict[str, bytes] = {}
        self._tasks: dict[str, FakeTask] = {}
        self._runs: list[FakeRun] = []
        self._runs_by_slug: dict[str, FakeRun] = {}
        self._runs_by_task: dict[str, int] = {}
        # Runs that may still be ready/running; pruned whenever the concurrency limit is checked.
        self._live: list[FakeRun] = []
        self._exports: dict[str, _Export] = {}
        self._rules: list[FaultRule] = []
        self._applied: list[tuple[Fault, str]] = []
        self._requests = 0
        self._by_path: dict[str, int] = {}
        self._conns = _ConnectionStats()
        self._balance = ""
        self._balance_empty = False
        self._account_body = b""
        self.set_balance(balance)
        self._concurrency_limit: int | None = None
        self.set_concurrency_limit(concurrency_limit)

        self._regions_body = wire.dumps(
            {"list": [{"code": code, "name": name} for code, name in PROXY_REGIONS]}
        )
        self._routes: dict[str, _Route] = {
            "/api/v1/task/run": _Route("POST", self._task_run, public=False),
            "/api/v1/scraper/run": _Route("POST", self._scraper_run, public=False),
            "/api/v1/scraper/abort": _Route("POST", self._scraper_abort, public=False),
            "/api/v1/run/list": _Route("POST", self._run_list, public=False),
            "/api/v1/run/detail": _Route("POST", self._run_detail, public=False),
            "/api/v1/run/result/list": _Route("POST", self._result_list, public=False),
            "/api/v1/run/last/log": _Route("POST", self._last_log, public=False),
            "/api/v1/run/result/export": _Route("POST", self._result_export, public=False),
            "/api/v1/rerun": _Route("POST", self._rerun, public=False),
            "/api/v1/account/info": _Route("POST", self._account_info, public=False, body_optional=True),
            "/api/scraper": _Route("GET", self._scraper_detail, public=True),
            "/api/store": _Route("GET", self._store, public=True),
            "/api/proxy/region": _Route("GET", self._proxy_region, public=True),
        }

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

        self._runner: web.ServerRunner | None = None
        self._stopping: asyncio.Future[None] | None = None
        self._url: str | None = None
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind the port and start serving. Raises ``RuntimeError`` if already started/closed."""
        if self._runner is not None or self._closed:
            raise RuntimeError("FakeCoreClaw can be started only once")
        self._stopping = asyncio.get_running_loop().create_future()
        server = _TrackingServer(
            self._handle,
            self._conns,
            access_log=None,
            keepalive_timeout=self._keepalive_timeout,
        )
        runner = web.ServerRunner(server, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port, backlog=1024)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        port = runner.addresses[0][1]
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._url = f"http://{host}:{port}"

    async def close(self) -> None:
        """Stop serving and close every connection; waiting handlers are dropped. Idempotent.

        Callback notices not yet sent are dropped too; no task of the fake is left behind.
        """
        self._closed = True
        await self._callbacks.close()
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._stopping is not None and not self._stopping.done():
            self._stopping.set_result(None)
        await runner.cleanup()

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

    # ------------------------------------------------------------------ public state

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``. Raises ``RuntimeError`` before `start`."""
        if self._url is None:
            raise RuntimeError("FakeCoreClaw is not started")
        return self._url

    @property
    def api_key(self) -> str:
        """The only API key the fake accepts; assign a new one to simulate a revoked key."""
        return self._api_key

    @api_key.setter
    def api_key(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise ValueError("api_key must be a non-empty string")
        self._api_key = value

    @property
    def task_slugs(self) -> list[str]:
        """Slugs of the caller's own saved Tasks (foreign Tasks excluded), in creation order."""
        return [task.slug for task in self._tasks.values() if not task.foreign]

    @property
    def tasks(self) -> list[FakeTask]:
        """Every saved Task, foreign ones included."""
        return list(self._tasks.values())

    @property
    def workers(self) -> list[FakeWorker]:
        """Every Worker known to the fake."""
        return list(self._workers.values())

    @property
    def runs(self) -> list[FakeRun]:
        """The ledger: every run created, oldest first."""
        return list(self._runs)

    def runs_by_task(self) -> dict[str, int]:
        """Number of runs created per task slug (reruns of a task's run count for that task)."""
        return dict(self._runs_by_task)

    def get_run(self, run_slug: str) -> FakeRun:
        """Return the ledger record of ``run_slug``; ``KeyError`` if unknown."""
        return self._runs_by_slug[run_slug]

    @property
    def requests(self) -> int:
        """HTTP requests received (every path, every outcome)."""
        return self._requests

    @property
    def requests_by_path(self) -> dict[str, int]:
        """HTTP requests received per URL path."""
        return dict(self._by_path)

    @property
    def connections_seen(self) -> int:
        """Distinct TCP connections that sent at least one request."""
        return self._conns.seen

    @property
    def open_connections(self) -> int:
        """TCP connections open right now."""
        return self._conns.open

    @property
    def max_open_connections(self) -> int:
        """Highest number of simultaneously open TCP connections observed."""
        return self._conns.max_open

    @property
    def applied_faults(self) -> list[tuple[Fault, str]]:
        """Every fault applied so far, as (fault, request path), in order."""
        return list(self._applied)

    @property
    def balance(self) -> str:
        """Account balance as `account/info` reports it."""
        return self._balance

    @property
    def callback_settings(self) -> CallbackSettings:
        """The live callback delivery knobs (see the class docstring); change them at any time."""
        return self._callbacks.settings

    @property
    def callback_stats(self) -> CallbackStats:
        """A snapshot of the callback delivery counters."""
        return dataclasses.replace(self._callbacks.stats)

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

    def reset_counters(self) -> None:
        """Zero the request and connection counters (the ledger is kept)."""
        self._requests = 0
        self._by_path.clear()
        self._conns.reset()

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
    ) -> FakeWorker:
        """Add (or replace) a Worker known to `/api/scraper`, `/api/store` and `scraper/run`.

        ``version`` is the latest version; ``versions`` lists any others `scraper/run`
        accepts. ``properties`` defaults to the documented startURLs/maximum/download_images form.
        """
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
        self._workers[slug] = worker
        self._detail_bodies[slug] = wire.dumps(
            {
                "parameters": {
                    "system": worker.system,
                    "custom": {"properties": worker.properties},
                },
                "readme": worker.readme,
                "version": worker.version,
            }
        )
        return worker

    def add_task(
        self,
        slug: str | None = None,
        *,
        foreign: bool = False,
        scraper_slug: str = DEFAULT_WORKER,
    ) -> str:
        """Add a saved Task of Worker ``scraper_slug`` and return its slug (a new ULID by default).

        ``foreign=True`` makes a Task that belongs to another user: starting it answers 4010
        "Task does not belong to you". Raises ``ValueError`` for a duplicate slug or unknown Worker.
        """
        worker = self._workers.get(scraper_slug)
        if worker is None:
            raise ValueError(f"unknown Worker {scraper_slug!r}; add it with add_worker() first")
        slug = slug if slug is not None else new_ulid()
        if slug in self._tasks:
            raise ValueError(f"duplicate task slug {slug!r}")
        self._tasks[slug] = FakeTask(
            slug=slug,
            scraper_slug=scraper_slug,
            title=f"{worker.title} task",
            version=worker.version,
            input=worker.default_input(),
            foreign=foreign,
        )
        return slug

    def set_balance(self, balance: str | Decimal) -> None:
        """Set the balance `account/info` reports; zero or less makes run starts answer 30001."""
        try:
            value = Decimal(str(balance))
        except InvalidOperation:
            raise ValueError(f"not a decimal: {balance!r}") from None
        if not value.is_finite():
            raise ValueError(f"not a finite decimal: {balance!r}")
        self._balance = str(balance)
        self._balance_empty = value <= 0
        self._account_body = wire.dumps(
            {
                "balance": self._balance,
                "traffic": ACCOUNT_TRAFFIC,
                "traffic_expiration_at": ACCOUNT_TRAFFIC_EXPIRATION_AT,
            }
        )

    def set_concurrency_limit(self, limit: int | None) -> None:
        """Refuse run starts with 30003 while ``limit`` runs are running (None = no limit)."""
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0 or None")
        self._concurrency_limit = limit

    def inject(
        self,
        fault: Fault | str,
        *,
        times: int | None = 1,
        probability: float = 1.0,
        path: str | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
    ) -> None:
        """Schedule ``fault`` for the next matching request(s).

        ``times`` applications (None = until `clear_faults`); each matching request rolls
        ``probability`` with the seeded RNG. ``path`` is an exact URL path, a prefix ending in
        ``*``, or None for every ``/api/`` endpoint. ``retry_after`` adds a ``Retry-After``
        header (seconds, may be fractional) to the fault's answer; ``delay`` sleeps before the
        fault acts (for `Fault.SLOW` it is the whole point). Rules are tried in injection order
        and at most one "before" and one "after" fault applies to a request.
        """
        fault = Fault(fault.lower()) if isinstance(fault, str) else fault
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        if delay < 0 or (retry_after is not None and retry_after < 0):
            raise ValueError("delay and retry_after must be >= 0")
        self._rules.append(FaultRule(fault, times, probability, path, retry_after, delay))

    def clear_faults(self) -> None:
        """Forget every fault not yet applied."""
        self._rules.clear()

    # ------------------------------------------------------------------ request plumbing

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self._requests += 1
        path = request.path
        by_path = self._by_path
        by_path[path] = by_path.get(path, 0) + 1
        self._conns.request_on(request.protocol)
        try:
            if self.latency > 0:
                await self._pause(self.latency)
            route = self._routes.get(path)
            if route is None or route.method != request.method:
                if request.method == "GET" and path.startswith("/files/"):
                    return await self._serve_file(request, path)
                raise _ApiError(wire.NOT_FOUND)
            if not route.public:
                self._authenticate(request)
            args: _Args
            if route.method == "POST":
                args = await self._read_body(request, route.body_optional)
            else:
                args = request.query
            data = await route.endpoint(args, path)
            if self._rules:
                rule = self._take_fault(path, after=True)
                if rule is not None:
                    return await self._after_fault(rule, data)
            return self._json(200, wire.ok_body(data))
        except _ApiError as error:
            return self._error(error.code, error.message)
        except _Reply as reply:
            return reply.response
        except (_Drop, ConnectionError):
            # _Drop: a fault or close() wants the connection gone. ConnectionError: the client
            # left mid-request (e.g. during a download); letting it escape would make aiohttp
            # log it at ERROR. Either way nothing more can be said on this connection.
            transport = request.transport
            if transport is not None:
                transport.close()
            # Writing this to the closed transport fails with a ConnectionError, which
            # aiohttp treats as a client disconnect (logged at DEBUG only).
            return web.Response()

    def _json(self, status: int, body: bytes) -> web.Response:
        return web.Response(body=body, status=status, content_type="application/json")

    def _error(self, code: int, message: str | None = None, retry_after: float | None = None) -> web.Response:
        status = 200 if self._always_200 else wire.HTTP_STATUS.get(code, 200)
        response = self._json(status, wire.error_body(code, message))
        if retry_after is not None:
            response.headers["Retry-After"] = _retry_after_text(retry_after)
        return response

    def _authenticate(self, request: web.BaseRequest) -> None:
        headers = request.headers
        key = headers.get("api-key")
        if not key:
            authorization = headers.get("Authorization", "")
            if authorization[:7].lower() == "bearer ":
                key = authorization[7:].strip()
        if not key:
            raise _ApiError(wire.UNAUTHORIZED)
        if key != self._api_key:
            raise _ApiError(wire.INVALID_API_KEY)

    async def _read_body(self, request: web.BaseRequest, optional: bool) -> dict[str, Any]:
        raw = await request.read()
        if not raw.strip():
            if optional:
                return {}
            raise _invalid()
        try:
            value = wire.loads(raw)
        except wire.JSONError:
            raise _invalid() from None
        if not isinstance(value, dict):
            raise _invalid()
        return value

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up (and drop the request) as soon as the fake is closing."""
        stopping = self._stopping
        if stopping is None or stopping.done():
            raise _Drop
        await asyncio.wait((stopping,), timeout=seconds)
        if stopping.done():
            raise _Drop

    def _take_fault(self, path: str, *, after: bool) -> FaultRule | None:
        for rule in self._rules:
            if rule.after is not after or not rule.matches(path):
                continue
            if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._rules.remove(rule)
            self._applied.append((rule.fault, path))
            return rule
        return None

    async def _checkpoint(self, path: str) -> None:
        """The request is authenticated and valid: apply a "before" fault, if one is due."""
        if not self._rules:
            return
        rule = self._take_fault(path, after=False)
        if rule is None:
            return
        if rule.delay > 0:
            await self._pause(rule.delay)
        fault = rule.fault
        if fault is Fault.SLOW:
            return
        if fault is Fault.DROP_BEFORE_CREATE:
            raise _Drop
        response: web.Response
        if fault is Fault.NOT_ENVELOPE:
            response = self._json(200, wire.NOT_ENVELOPE_BODY)
        elif fault in (Fault.HTTP_502_HTML, Fault.HTTP_503_HTML, Fault.HTTP_504_HTML):
            status = int(fault.value[5:8])
            response = web.Response(
                body=wire.nginx_error_page(status), status=status, content_type="text/html"
            )
        else:
            code = {
                Fault.RATE_LIMIT: wire.RATE_LIMITED,
                Fault.RATE_LIMIT_V2: wire.RATE_LIMITED_V2,
                Fault.CONCURRENCY_LIMIT: wire.CONCURRENCY_LIMITED,
                Fault.SERVER_ERROR: wire.INTERNAL,
            }[fault]
            response = self._error(code)
        if rule.retry_after is not None:
            response.headers["Retry-After"] = _retry_after_text(rule.retry_after)
        raise _Reply(response)

    async def _after_fault(self, rule: FaultRule, data: bytes) -> web.Response:
        if rule.delay > 0:
            await self._pause(rule.delay)
        fault = rule.fault
        if fault is Fault.DROP_AFTER_CREATE:
            raise _Drop
        if fault is Fault.SERVER_ERROR_AFTER_CREATE:
            return self._error(wire.INTERNAL, retry_after=rule.retry_after)
        if fault is Fault.CONTROL_CHARS:
            body = wire.CONTROL_CHARS_PREFIX + data + wire.OK_SUFFIX
        else:  # Fault.TRUNCATED
            full = wire.ok_body(data)
            body = full[: len(full) // 2]
        response = self._json(200, body)
        if rule.retry_after is not None:
            response.headers["Retry-After"] = _retry_after_text(rule.retry_after)
        return response

    # ------------------------------------------------------------------ runs

    def _get_run(self, run_slug: str) -> FakeRun:
        run = self._runs_by_slug.get(run_slug)
        if run is None:
            # A task slug where a run slug is expected is a validation error [DOC].
            raise _invalid() if run_slug in self._tasks else _ApiError(wire.RUN_NOT_FOUND)
        return run

    def _check_can_start(self) -> None:
        if self._balance_empty:
            raise _ApiError(wire.INSUFFICIENT_BALANCE)
        limit = self._concurrency_limit
        if limit is not None:
            now = time.monotonic()
            statuses = [(run, run.status_at(now)) for run in self._live]
            self._live = [run for run, status in statuses if status in (READY, RUNNING)]
            if sum(status == RUNNING for _, status in statuses) >= limit:
                raise _ApiError(wire.CONCURRENCY_LIMITED)

    def _create_run(
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
        if scraper_title is None:
            scraper_title = worker.title if worker is not None else scraper_slug
        fails = self.fail_every > 0 and (len(self._runs) + 1) % self.fail_every == 0
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
            run_id=RUN_ID_BASE + len(self._runs) + 1,
            rerun_of=rerun_of,
        )
        self._runs.append(run)
        self._runs_by_slug[run.slug] = run
        self._live.append(run)
        self._callbacks.run_created(run)
        if task_slug is not None:
            self._runs_by_task[task_slug] = self._runs_by_task.get(task_slug, 0) + 1
        return run

    def _record_json(self, run: FakeRun, now: float) -> bytes:
        cached = run._final_json
        if cached is not None:
            return cached
        state = run.state(now)
        body = wire.dumps(
            {
                "status": state.status,
                "err_msg": state.err_msg,
                "slug": run.slug,
                "scraper_title": run.scraper_title,
                "scraper_slug": run.scraper_slug,
                "results": state.results,
                "usage": state.usage,
                "started_at": state.started_at,
                "finished_at": state.finished_at,
                "duration": state.duration,
                "origin": run.origin,
                "traffic": state.traffic,
                "version": run.version,
            }
        )
        if state.status in (SUCCEEDED, FAILED):
            run._final_json = body
        return body

    @staticmethod
    def _results_page(run: FakeRun, count: int, page_index: int, page_size: int) -> dict[str, Any]:
        start = (page_index - 1) * page_size
        stop = min(start + page_size, count)
        return {
            "count": count,
            "headers": RESULT_HEADERS if count else [],
            "list": [result_row(run.slug, index) for index in range(start, stop)],
            "page_index": page_index,
            "page_size": page_size,
        }

    # ------------------------------------------------------------------ endpoints

    async def _task_run(self, args: _Args, path: str) -> bytes:
        task_slug = _req_str(args, "task_slug")
        callback_url = _req_str(args, "callback_url")
        await self._checkpoint(path)
        task = self._tasks.get(task_slug)
        if task is None:
            if task_slug in self._runs_by_slug:
                raise _invalid()
            raise _ApiError(wire.TASK_NOT_FOUND)
        if task.foreign:
            raise _ApiError(wire.UNAUTHORIZED, wire.TASK_NOT_YOURS_MESSAGE)
        self._check_can_start()
        run = self._create_run(
            task_slug=task.slug,
            worker=self._workers.get(task.scraper_slug),
            scraper_slug=task.scraper_slug,
            version=task.version,
            callback_url=callback_url,
            input_=task.input,
        )
        return _slug_body(run.slug)

    async def _scraper_run(self, args: _Args, path: str) -> bytes:
        scraper_slug = _req_str(args, "scraper_slug")
        version = _opt_str(args, "version")
        is_async = args.get("is_async", True)
        if not isinstance(is_async, bool):
            raise _invalid()
        input_ = args.get("input")
        if not isinstance(input_, dict):
            raise _invalid()
        parameters = input_.get("parameters")
        if not isinstance(parameters, dict):
            raise _invalid()
        custom = parameters.get("custom")
        if not isinstance(custom, dict) or not custom:
            raise _invalid()
        if "system" in parameters:
            _check_system(parameters["system"])
        callback_url = _opt_str(args, "callback_url")
        page_index = _json_int(args, "page_index", 1, 1)
        page_size = _json_int(args, "page_size", 10, 1, 1000)
        await self._checkpoint(path)
        worker = self._workers.get(scraper_slug)
        if worker is None:
            raise _ApiError(wire.WORKER_NOT_FOUND)
        if version is not None and version not in worker.versions:
            raise _ApiError(wire.VERSION_UNAVAILABLE)
        for prop in worker.properties:
            if prop.get("required") and prop["name"] not in custom:
                raise _invalid()
        self._check_can_start()
        run = self._create_run(
            task_slug=None,
            worker=worker,
            scraper_slug=worker.slug,
            version=version or worker.version,
            callback_url=callback_url,
            input_=input_,
        )
        if is_async:
            return _slug_body(run.slug)
        return await self._wait_sync(run, page_index, page_size)

    async def _wait_sync(self, run: FakeRun, page_index: int, page_size: int) -> bytes:
        """Hold a synchronous start until the run is final or `sync_wait_cap` passes."""
        deadline = time.monotonic() + self.sync_wait_cap
        while True:
            now = time.monotonic()
            if run.status_at(now) in (SUCCEEDED, FAILED) or now >= deadline:
                break
            await self._pause(max(min(run.final_at - now, deadline - now, SYNC_POLL_INTERVAL), 0.001))
        state = run.state(now)
        final = state.status in (SUCCEEDED, FAILED)
        end_ms = int((run.created_at_wall + run.final_at - run.created_at) * 1000) if final else 0
        return wire.dumps(
            {
                "error_message": state.err_msg,
                "execution_end_timestamp": end_ms,
                "execution_start_timestamp": int(run.created_at_wall * 1000),
                "result_message": "",
                "results": self._results_page(run, state.results, page_index, page_size),
                "run_slug": run.slug,
                "run_status": "completed" if final else "running",
                "running_duration": state.duration if final else int(now - run.created_at),
            }
        )

    async def _scraper_abort(self, args: _Args, path: str) -> bytes:
        run_slug = _req_str(args, "run_slug")
        await self._checkpoint(path)
        run = self._get_run(run_slug)
        first = run.aborted_at is None
        if not run.abort(time.monotonic()):
            raise _ApiError(wire.ABORT_FAILED)
        if first:
            self._callbacks.run_aborted(run)
        return b"null"

    async def _run_list(self, args: _Args, path: str) -> bytes:
        page_index = _json_int(args, "page_index", 1, 1)
        page_size = _json_int(args, "page_size", 20, 1)
        status = _json_int(args, "status", 0, 0, 5)
        scraper_slug = _opt_str(args, "scraper_slug")
        await self._checkpoint(path)
        now = time.monotonic()
        start = (page_index - 1) * page_size
        runs = self._runs
        selected: list[FakeRun]
        if status == 0 and scraper_slug is None:
            count = len(runs)
            # Newest first without copying the whole ledger.
            high = count - start
            selected = runs[max(high - page_size, 0) : high][::-1] if high > 0 else []
        else:
            matching = [
                run
                for run in reversed(runs)
                if (scraper_slug is None or run.scraper_slug == scraper_slug)
                and (status == 0 or run.status_at(now) == status)
            ]
            count = len(matching)
            selected = matching[start : start + page_size]
        records = b",".join(self._record_json(run, now) for run in selected)
        return b'{"count":%d,"list":[%b]}' % (count, records)

    async def _run_detail(self, args: _Args, path: str) -> bytes:
        run_slug = _req_str(args, "run_slug")
        await self._checkpoint(path)
        return self._record_json(self._get_run(run_slug), time.monotonic())

    async def _result_list(self, args: _Args, path: str) -> bytes:
        run_slug = _req_str(args, "run_slug")
        page_index = _json_int(args, "page_index", 1, 1)
        page_size = _json_int(args, "page_size", 10, 1)
        await self._checkpoint(path)
        run = self._get_run(run_slug)
        count = run.rows_at(time.monotonic())
        return wire.dumps(self._results_page(run, count, page_index, page_size))

    async def _last_log(self, args: _Args, path: str) -> bytes:
        run_slug = _req_str(args, "run_slug")
        await self._checkpoint(path)
        run = self._get_run(run_slug)
        now = time.monotonic()
        state = run.state(now)
        return wire.dumps(
            {
                "all_logs_url": f"{self.url}{LOG_URL_PREFIX}{run.slug}",
                "list": _log_entries(run, state, now),
                "result_count": state.results,
            }
        )

    async def _result_export(self, args: _Args, path: str) -> bytes:
        run_slug = _req_str(args, "run_slug")
        filter_keys = args.get("filter_keys")
        if not isinstance(filter_keys, list) or not all(isinstance(k, str) for k in filter_keys):
            raise _invalid()
        fmt = _req_str(args, "format").lower()
        if fmt not in ("csv", "json"):
            raise _invalid()
        keys = tuple(key for key in RESULT_KEYS if key in filter_keys) if filter_keys else RESULT_KEYS
        if not keys:
            raise _invalid()
        await self._checkpoint(path)
        run = self._get_run(run_slug)
        token = f"exported_result_{uuid.uuid4()}.{fmt}"
        signed_at = int(time.time())
        expires_at = signed_at + EXPORT_URL_TTL
        self._exports[token] = _Export(run.slug, keys, fmt, run.rows_at(), expires_at)
        window = f"{signed_at};{expires_at}"
        url = (
            f"{self.url}{EXPORT_URL_PREFIX}{token}?q-sign-algorithm=sha1&q-ak=AKIDfakecoreclaw"
            f"&q-sign-time={window}&q-key-time={window}&q-header-list=host&q-url-param-list="
            f"&q-signature={self._sign(token, expires_at)}"
        )
        return wire.dumps({"download_url": url})

    async def _rerun(self, args: _Args, path: str) -> bytes:
        run_slug = _req_str(args, "run_slug")
        callback_url = _req_str(args, "callback_url")
        await self._checkpoint(path)
        original = self._get_run(run_slug)
        self._check_can_start()
        run = self._create_run(
            task_slug=original.task_slug,
            worker=None,
            scraper_slug=original.scraper_slug,
            scraper_title=original.scraper_title,
            version=original.version,
            callback_url=callback_url,
            input_=original.input,
            rerun_of=original.slug,
        )
        return _slug_body(run.slug)

    async def _account_info(self, args: _Args, path: str) -> bytes:
        await self._checkpoint(path)
        return self._account_body

    async def _scraper_detail(self, args: _Args, path: str) -> bytes:
        slug = _req_str(args, "slug")
        await self._checkpoint(path)
        body = self._detail_bodies.get(slug)
        if body is None:
            raise _ApiError(wire.WORKER_NOT_FOUND)
        return body

    async def _store(self, args: _Args, path: str) -> bytes:
        search = _req_str(args, "search").strip().lower()
        limit = _query_int(args, "limit", 10, 1)
        await self._checkpoint(path)
        found = [
            {"slug": worker.slug, "title": worker.title, "description": worker.description}
            for worker in self._workers.values()
            if search in worker.title.lower()
            or search in worker.description.lower()
            or search in worker.slug.lower()
        ]
        return wire.dumps({"scraper": found[:limit]})

    async def _proxy_region(self, args: _Args, path: str) -> bytes:
        await self._checkpoint(path)
        return self._regions_body

    # ------------------------------------------------------------------ files

    def _sign(self, token: str, expires_at: int) -> str:
        return hmac.new(self._secret, f"{token}\n{expires_at}".encode(), hashlib.sha1).hexdigest()

    async def _serve_file(self, request: web.BaseRequest, path: str) -> web.StreamResponse:
        await self._checkpoint(path)
        if path.startswith(LOG_URL_PREFIX):
            run = self._runs_by_slug.get(path[len(LOG_URL_PREFIX) :])
            if run is None:
                return web.Response(status=404, text="log file not found\n")
            return web.Response(text=_log_text(run, time.monotonic()), content_type="text/plain")
        if not path.startswith(EXPORT_URL_PREFIX):
            raise _ApiError(wire.NOT_FOUND)
        export = self._exports.get(path[len(EXPORT_URL_PREFIX) :])
        if export is None:
            return web.Response(
                status=404,
                body=_xml_error("NoSuchKey", "The specified key does not exist."),
                content_type="application/xml",
            )
        token = path[len(EXPORT_URL_PREFIX) :]
        signature = request.query.get("q-signature", "")
        expected = self._sign(token, export.expires_at)
        if not hmac.compare_digest(signature, expected) or time.time() > export.expires_at:
            return web.Response(
                status=403,
                body=_xml_error("AccessDenied", "Request has expired or signature mismatch."),
                content_type="application/xml",
            )
        response = web.StreamResponse()
        response.content_type = "text/csv" if export.fmt == "csv" else "application/json"
        response.charset = "utf-8"
        response.headers["Content-Disposition"] = f'attachment; filename="{token}"'
        await response.prepare(request)
        async for chunk in _export_chunks(export):
            await response.write(chunk)
        await response.write_eof()
        return response


async def _export_chunks(export: _Export) -> AsyncIterator[bytes]:
    """Yield the export file in pieces so large results never sit in memory as one string."""
    keys = export.keys
    if export.fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(keys)
        for start in range(0, export.count, EXPORT_CHUNK_ROWS):
            for index in range(start, min(start + EXPORT_CHUNK_ROWS, export.count)):
                row = result_row(export.run_slug, index)
                writer.writerow([row[key] for key in keys])
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue().encode()
        return
    yield b"["
    for start in range(0, export.count, EXPORT_CHUNK_ROWS):
        rows = []
        for index in range(start, min(start + EXPORT_CHUNK_ROWS, export.count)):
            row = result_row(export.run_slug, index)
            rows.append(wire.dumps({key: row[key] for key in keys}))
        yield (b"," if start else b"") + b",".join(rows)
    yield b"]"


def _log_group(run_slug: str, salt: str) -> str:
    digest = hashlib.sha256(f"{salt}:{run_slug}".encode()).digest()
    return str(28_000_000_000_000_000 + int.from_bytes(digest[:6], "big"))


def _log_entries(run: FakeRun, state: RunState, now: float) -> list[dict[str, Any]]:
    """The summary log of a run as `run/last/log` lists it (type 1 debug .. 4 error)."""
    group = _log_group(run.slug, "subtask")
    main = _log_group(run.slug, "main")
    created_ms = int(run.created_at_wall * 1000)

    def at(monotonic: float) -> int:
        return created_ms + int((monotonic - run.created_at) * 1000)

    subtask = f"SYSTEM: Subtask-[{group}] - "
    entries = [(2, group, subtask + "Preparing the execution environment.", created_ms)]
    aborted_at = run.aborted_at
    if min(now, aborted_at if aborted_at is not None else now) - run.created_at >= run.ready_for:
        entries.append((2, group, subtask + "Running...", at(run.created_at + run.ready_for)))
        if state.results:
            entries.append((1, group, f"Collected {state.results} results so far.", at(now)))
    if aborted_at is not None:
        entries.append((3, main, "SYSTEM: Abort requested, stopping all subtasks.", at(aborted_at)))
        if state.status == FAILED:
            entries.append((2, group, subtask + "Aborted.", at(run.final_at)))
    elif state.status == SUCCEEDED:
        entries.append((2, group, subtask + "Execution completed.", at(run.final_at)))
        summary = "Total 1 subtasks: 1 succeeded, 0 failed."
        entries.append((2, main, f"All subtasks have completed execution! {summary}", at(run.final_at)))
    elif state.status == FAILED:
        trace = f"Error: {state.err_msg}\n    at Page.goto (/app/node_modules/page.js:176:27)"
        entries.append((4, group, trace, at(run.final_at)))
        entries.append((2, group, subtask + "Execution failed.", at(run.final_at)))
        summary = "Total 1 subtasks: 0 succeeded, 1 failed."
        entries.append((2, main, f"All subtasks have completed execution! {summary}", at(run.final_at)))
    return [
        {"type": kind, "group": grp, "content": content, "timestamp": ms}
        for kind, grp, content, ms in entries
    ]


_LEVELS = {1: "DEBUG", 2: "INFO", 3: "WARN", 4: "ERROR"}


def _log_text(run: FakeRun, now: float) -> str:
    """The full log file `all_logs_url` points at."""
    lines = []
    for entry in _log_entries(run, run.state(now), now):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(entry["timestamp"] / 1000))
        lines.append(f"{stamp}Z {_LEVELS[entry['type']]} [{entry['group']}] {entry['content']}")
    return "\n".join(lines) + "\n"
