"""HTTP plumbing of the fake: the server, its counters, request dispatch and injected faults.

Nothing here knows an endpoint or an envelope. Each API version is a `Dialect` (its route
table, authentication, argument reading and envelopes) registered with the `Dispatcher`,
which serves loopback HTTP, counts every request and TCP connection, finds the dialect and
route that answer a request, applies the latency, the injected faults and the account's
rate limit, and turns the endpoint's outcome into an HTTP response.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple, Protocol

from aiohttp import web

from . import _wire as wire
from ._faults import CLOSING_PROXY_STATUSES, PROXY_PAGES, Fault, FaultRule
from ._rate import RateWindow
from ._request_log import Exchange, RequestLog

__all__ = [
    "FILES_PREFIX",
    "ApiError",
    "Args",
    "ConnectionStats",
    "Dialect",
    "Dispatcher",
    "Drop",
    "Endpoint",
    "Route",
    "RouteTable",
    "json_response",
]

Args = Mapping[str, Any]
"""A request's arguments: its JSON object body, or its query for a GET."""
Endpoint = Callable[[Args, str], Awaitable[bytes]]
"""An operation: (arguments, URL path) -> the encoded ``data`` of a success envelope."""
FileServer = Callable[[web.BaseRequest, str], Awaitable[web.StreamResponse | None]]
"""A file download: (request, URL path) -> its response, or None if there is no such file."""
AdminHandler = Callable[[web.BaseRequest], web.StreamResponse]
"""Answers a request to the fake's own admin paths (outside the API, never counted)."""
# GETs under this prefix that no dialect routes are file downloads.
FILES_PREFIX = "/files/"
# The request being answered, for `Dispatcher.checkpoint` (called by endpoints, which see
# only arguments and path). Set and reset around each request in the task answering it, so
# requests answered at the same time (other connections, other tasks) never see each other's.
_EXCHANGE: contextvars.ContextVar[Exchange | None] = contextvars.ContextVar("_EXCHANGE", default=None)


class ApiError(Exception):
    """Answer with the request's dialect's error envelope for ``code``."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


class Drop(Exception):
    """Close the TCP connection without answering."""


class _BeforeFault(Exception):
    """A "before" fault is due: answer it in the request's dialect instead of the endpoint."""

    def __init__(self, rule: FaultRule) -> None:
        super().__init__(rule.fault)
        self.rule = rule


class _RateLimited(Exception):
    """The account's rate limit refuses the request; the window frees in ``wait`` seconds."""

    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait


class Route(NamedTuple):
    """One operation: its HTTP method, the endpoint answering it and how it is reached."""

    method: str
    endpoint: Endpoint
    public: bool
    """True if it answers without an API key."""
    body_optional: bool = False
    """True if a POST may come without a body (read as ``{}``)."""


class RouteTable:
    """Routes found by exact URL path; each path answers one method."""

    __slots__ = ("_routes",)

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}

    def add(
        self,
        method: str,
        path: str,
        endpoint: Endpoint,
        *,
        public: bool = False,
        body_optional: bool = False,
    ) -> None:
        """Register ``endpoint`` for ``method path``; ``ValueError`` if the path is taken."""
        if path in self._routes:
            raise ValueError(f"duplicate route {path}")
        self._routes[path] = Route(method, endpoint, public, body_optional)

    def find(self, method: str, path: str) -> Route | None:
        """The route of ``method path``, or None (a known path asked with another method too)."""
        route = self._routes.get(path)
        if route is None or route.method != method:
            return None
        return route


class Dialect(Protocol):
    """One API version as the dispatcher needs it.

    A version whose paths carry ids resolves them in its own `resolve` (binding them into
    the returned route's endpoint), so adding one never changes the dispatcher or another
    dialect.
    """

    @property
    def not_found_code(self) -> int:
        """Envelope code of an unknown path."""
        ...

    @property
    def fault_codes(self) -> Mapping[Fault, int]:
        """Envelope code of every fault answered by an error envelope."""
        ...

    def resolve(self, method: str, path: str) -> Route | None:
        """The route answering ``method path``, or None if this dialect has none."""
        ...

    def authenticate(self, request: web.BaseRequest) -> None:
        """Raise `ApiError` unless the request carries the accepted API key."""
        ...

    async def read_args(self, request: web.BaseRequest, route: Route) -> Args:
        """Read the arguments of a routed request; `ApiError` if they are not readable."""
        ...

    def ok_body(self, data: bytes) -> bytes:
        """Wrap the endpoint's encoded ``data`` in a success envelope."""
        ...

    def error_response(self, code: int, message: str | None = None) -> web.Response:
        """The error envelope for ``code``, with the HTTP status this dialect pairs with it."""
        ...


def json_response(status: int, body: bytes) -> web.Response:
    """An ``application/json`` response carrying ``body`` as is."""
    return web.Response(body=body, status=status, content_type="application/json")


def _retry_after_text(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


class ConnectionStats:
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
        stats: ConnectionStats,
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


class Dispatcher:
    """Serves HTTP on one port and answers each request through the dialect that routes it.

    The first dialect added is the default: it answers unknown paths and file downloads'
    errors. Endpoints call `checkpoint` once the request is authenticated and valid, which
    is where "before" faults and the account's rate limit act.
    """

    def __init__(
        self,
        *,
        rng: random.Random,
        latency: float,
        keepalive_timeout: float,
        rate: RateWindow,
        log: RequestLog,
    ) -> None:
        self.latency = latency
        """Seconds added before every response."""
        self.requests = 0
        self.by_path: dict[str, int] = {}
        self.connections = ConnectionStats()
        self.rules: list[FaultRule] = []
        self.applied: list[tuple[Fault, str]] = []
        self.rate = rate
        """The account's request rate limit, shared by every client, connection and version."""
        self.rate_limited = 0
        """Requests refused by `rate`."""
        self.log = log
        self._rng = rng
        self._keepalive_timeout = keepalive_timeout
        self._dialects: list[Dialect] = []
        self._files: FileServer | None = None
        self._admin: tuple[str, AdminHandler] | None = None
        self._runner: web.ServerRunner | None = None
        self._stopping: asyncio.Future[None] | None = None
        self._url: str | None = None

    def add_dialect(self, dialect: Dialect) -> None:
        """Answer the routes of ``dialect`` too (dialects are asked in the order added)."""
        self._dialects.append(dialect)

    def serve_files(self, files: FileServer) -> None:
        """Answer unrouted GETs under ``/files/`` with ``files`` (None from it = not found)."""
        self._files = files

    def serve_admin(self, prefix: str, handler: AdminHandler) -> None:
        """Answer every path under ``prefix`` with ``handler``, before counters, latency and faults."""
        self._admin = (prefix, handler)

    # -- lifecycle -------------------------------------------------------------------

    @property
    def url(self) -> str | None:
        """Base URL once serving, else None."""
        return self._url

    async def start(self, host: str, port: int) -> None:
        """Bind ``host:port`` and serve; on failure nothing is left running."""
        self._stopping = asyncio.get_running_loop().create_future()
        server = _TrackingServer(
            self._handle,
            self.connections,
            access_log=None,
            keepalive_timeout=self._keepalive_timeout,
        )
        runner = web.ServerRunner(server, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, backlog=1024)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        self._url = f"http://{shown}:{bound}"

    async def close(self) -> None:
        """Stop serving and close every connection; waiting handlers are dropped. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._stopping is not None and not self._stopping.done():
            self._stopping.set_result(None)
        await runner.cleanup()

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake up (and drop the request) as soon as the fake is closing."""
        stopping = self._stopping
        if stopping is None or stopping.done():
            raise Drop
        await asyncio.wait((stopping,), timeout=seconds)
        if stopping.done():
            raise Drop

    def reset_counters(self) -> None:
        """Zero the request, connection and rate-limit counters and empty the request log."""
        self.requests = 0
        self.by_path.clear()
        self.rate_limited = 0
        self.connections.reset()
        self.log.clear()

    # -- requests --------------------------------------------------------------------

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        admin = self._admin
        if admin is not None and path.startswith(admin[0]):
            return admin[1](request)
        self.requests += 1
        by_path = self.by_path
        by_path[path] = by_path.get(path, 0) + 1
        self.connections.request_on(request.protocol)
        exchange = Exchange(request, time.monotonic())
        log = self.log
        log.add(exchange)
        token = _EXCHANGE.set(exchange)
        response: web.StreamResponse | None = None
        try:
            response = await self._answer(request, exchange)
            return response
        finally:
            _EXCHANGE.reset(token)
            exchange.finish(None if exchange.dropped else response, keep=log.enabled)

    async def _answer(self, request: web.BaseRequest, exchange: Exchange) -> web.StreamResponse:
        path = exchange.path
        dialect = self._dialects[0]
        try:
            if self.latency > 0:
                await self.pause(self.latency)
            method = exchange.method
            route: Route | None = None
            for candidate in self._dialects:
                route = candidate.resolve(method, path)
                if route is not None:
                    dialect = candidate
                    break
            if route is None:
                if method == "GET" and path.startswith(FILES_PREFIX) and self._files is not None:
                    await self.checkpoint(path)
                    response = await self._files(request, path)
                    if response is not None:
                        exchange.envelope = False
                        return response
                raise ApiError(dialect.not_found_code)
            if not route.public:
                dialect.authenticate(request)
                exchange.account = True
            args = await dialect.read_args(request, route)
            data = await route.endpoint(args, path)
            if self.rules:
                rule = self._take_fault(path, exchange, after=True)
                if rule is not None:
                    exchange.envelope = rule.fault is not Fault.TRUNCATED
                    return await self._after_fault(rule, data, dialect)
            return json_response(200, dialect.ok_body(data))
        except ApiError as error:
            return dialect.error_response(error.code, error.message)
        except _BeforeFault as due:
            return self._before_fault(due.rule, dialect)
        except _RateLimited as refused:
            response = dialect.error_response(dialect.fault_codes[Fault.RATE_LIMIT])
            # Whole seconds, rounded up (the rounding absorbs float noise in the window's sums).
            response.headers["Retry-After"] = str(max(1, math.ceil(round(refused.wait, 6))))
            return response
        except (Drop, ConnectionError):
            # Drop: a fault or close() wants the connection gone. ConnectionError: the client
            # left mid-request (e.g. during a download); letting it escape would make aiohttp
            # log it at ERROR. Either way nothing more can be said on this connection.
            exchange.dropped = True
            transport = request.transport
            if transport is not None:
                transport.close()
            # Writing this to the closed transport fails with a ConnectionError, which
            # aiohttp treats as a client disconnect (logged at DEBUG only).
            return web.Response()

    # -- faults ----------------------------------------------------------------------

    def _take_fault(self, path: str, exchange: Exchange | None, *, after: bool) -> FaultRule | None:
        rules = self.rules
        user_agent = "" if exchange is None else exchange.user_agent
        for rule in rules:
            if rule.after is not after or not rule.matches(path, user_agent):
                continue
            if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    rules.remove(rule)
            self.applied.append((rule.fault, path))
            return rule
        return None

    async def checkpoint(self, path: str) -> None:
        """The request is authenticated and valid: apply a "before" fault or the rate limit.

        The rate limit sits here, with the "before" faults, so that it sees the same
        requests they do (authenticated, with valid arguments) and refuses before the
        endpoint does anything. It comes after them: a request answered by a fault (a
        proxy's page, a drop, an injected 429) never reached the API, so it neither counts
        against the window nor is refused by it; a `Fault.SLOW` request is checked once
        its delay is over. Public reads and file downloads belong to no account and are
        never limited.
        """
        exchange = _EXCHANGE.get()
        if self.rules:
            rule = self._take_fault(path, exchange, after=False)
            if rule is not None:
                if rule.delay > 0:
                    await self.pause(rule.delay)
                fault = rule.fault
                if fault is Fault.DROP_BEFORE_CREATE:
                    raise Drop
                if fault is not Fault.SLOW:
                    raise _BeforeFault(rule)
        rate = self.rate
        if rate.limit is not None and exchange is not None and exchange.account:
            wait = rate.admit(time.monotonic())
            if wait is not None:
                self.rate_limited += 1
                raise _RateLimited(wait)

    def _before_fault(self, rule: FaultRule, dialect: Dialect) -> web.Response:
        fault = rule.fault
        status = PROXY_PAGES.get(fault)
        response: web.Response
        if status is not None:
            response = web.Response(
                body=wire.nginx_error_page(status), status=status, content_type="text/html"
            )
            if status in CLOSING_PROXY_STATUSES:
                response.force_close()
        elif fault is Fault.NOT_ENVELOPE:
            response = json_response(200, wire.NOT_ENVELOPE_BODY)
        elif fault is Fault.EMPTY_BODY:
            response = json_response(200, b"")
        else:
            response = dialect.error_response(dialect.fault_codes[fault])
        if rule.retry_after is not None:
            response.headers["Retry-After"] = _retry_after_text(rule.retry_after)
        return response

    async def _after_fault(self, rule: FaultRule, data: bytes, dialect: Dialect) -> web.Response:
        if rule.delay > 0:
            await self.pause(rule.delay)
        fault = rule.fault
        if fault is Fault.DROP_AFTER_CREATE:
            raise Drop
        response: web.Response
        if fault is Fault.SERVER_ERROR_AFTER_CREATE:
            response = dialect.error_response(dialect.fault_codes[fault])
        elif fault is Fault.CONTROL_CHARS:
            response = json_response(200, wire.with_control_chars(dialect.ok_body(data)))
        elif fault is Fault.SLUG_ONLY:
            run_slug = wire.loads(data).get("run_slug") if data else None
            response = json_response(200, dialect.ok_body(wire.dumps({"run_slug": run_slug})))
        else:  # Fault.TRUNCATED
            full = dialect.ok_body(data)
            response = json_response(200, full[: len(full) // 2])
        if rule.retry_after is not None:
            response.headers["Retry-After"] = _retry_after_text(rule.retry_after)
        return response
