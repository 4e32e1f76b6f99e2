"""The session manager: one pooled aiohttp session per client, and the request pipeline.

A call goes: resource -> :meth:`SessionManager.call` (encode the request model, render the
operation's path) -> ``Retrier.run`` (``_retry.py``: the one retry loop, the plan-capacity
gate) -> one attempt here (the client-wide gate of ``_limits.py``, the HTTP exchange with
failures mapped by ``_transport.py``, the envelope check of ``_envelope.py``, the model
structured by the operation's ``parse``). Only this module and ``_download.py`` talk to
aiohttp, through ``_transport.py``. ``CancelledError`` always propagates untouched.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import platform
import random
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

import aiohttp
from cattrs import transform_error
from cattrs.errors import ClassValidationError, IterableValidationError
from multidict import CIMultiDict
from yarl import URL

from ._budget import SharedBudget
from ._constants import LOGGER_NAME, TIMEOUT_CACHE_SIZE, URL_CACHE_SIZE
from ._converter import converter
from ._dialect import Dialect
from ._envelope import add_request_id, body_excerpt, decode, failure_for
from ._json import dumps
from ._limits import GateTimeout, Limiter
from ._operation import Kind, Operation
from ._retry import Retrier, RetryPolicy
from ._stats import ClientStats, PipelineCounters
from ._telemetry import Observer
from ._transport import Stage, check_usable, failure, new_session
from ._validation import require_optional_int, require_optional_timeout
from ._version import __version__
from .errors import (
    APITimeoutError,
    AuthenticationError,
    BudgetUnavailableError,
    ClientStateError,
    InvalidParameterError,
    RateLimitError,
    ResponseValidationError,
)

__all__ = ["SessionManager", "default_user_agent"]

logger = logging.getLogger(LOGGER_NAME)

T = TypeVar("T")

_EMPTY_BODY = b"{}"

# Outcomes of an attempt after which the server certainly did nothing with the request.
_NOTHING_CREATED = frozenset({"not_sent", "rejected"})

_GATE_MESSAGES = {
    "slot": "No free connection within {pool_timeout:g} s (the request was not sent)",
    "cooldown": "The client is cooling down after a rate limit until past this call's deadline "
    "(the request was not sent)",
    "pace": "max_rate pacing would delay the request past this call's deadline (it was not sent)",
}


_SHARED_GATE_MESSAGES = {
    "slot": "The shared budget's max_in_flight stayed full until past this call's deadline "
    "(the request was not sent)",
    "cooldown": "Another client of the account hit the rate limit; the shared cooldown lasts past "
    "this call's deadline (the request was not sent)",
    "pace": "The shared budget's max_rate would delay the request past this call's deadline "
    "(it was not sent)",
    "capacity": "The plan's concurrent-run limit is full for the whole account until past this "
    "call's deadline (the start was not sent)",
    "ask": "The shared budget's Redis did not answer before this call's deadline (the request was not sent)",
}


# The converter's unstructure hook of each request model, looked up once (every hook is
# registered at import time), so each call skips cattrs' dispatch.
_ENCODERS: dict[type, Callable[[Any], Any]] = {}


def default_user_agent() -> str:
    """``coreclaw-async/<version> aiohttp/<version> python/<version>``."""
    return f"coreclaw-async/{__version__} aiohttp/{aiohttp.__version__} python/{platform.python_version()}"


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


class SessionManager:
    """Owns the aiohttp session and runs every call through the pipeline.

    Not public: ``AsyncCoreClaw`` builds one and resources call :meth:`call`. In this
    package "session" always means the ``aiohttp.ClientSession``; this object is the
    session *manager*.
    """

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str,
        dialect: Dialect,
        timeout: float,
        pool_timeout: float,
        max_connections: int,
        max_rate: float | None,
        retry: RetryPolicy,
        session: aiohttp.ClientSession | None,
        user_agent: str | None,
        budget: SharedBudget | None = None,
        observer: Observer | None = None,
        trace_configs: list[aiohttp.TraceConfig] | None = None,
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.dialect = dialect
        self.timeout = timeout
        self.pool_timeout = pool_timeout
        self.max_connections = max_connections
        self.limiter = Limiter(max_connections, max_rate=max_rate)
        self.counters = PipelineCounters()
        self.rng = random.Random()
        self.budget = budget
        if budget is not None:
            budget.attach()
        self.retrier = Retrier(retry, self.limiter, self.counters, self.rng, budget)
        self.observer = observer
        if observer is not None:
            self.limiter.on_wait = functools.partial(observer.waited, "limiter")
            self.retrier.capacity.on_wait = functools.partial(observer.waited, "capacity")
            self.retrier.observer = observer
        self._trace_configs = trace_configs
        self.user_agent = user_agent or default_user_agent()
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._urls: dict[str, URL] = {}
        self._timeouts: dict[int, aiohttp.ClientTimeout] = {}
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": self.user_agent,
        }
        self.auth_header_name: str | None = None
        if api_key:
            name, value = dialect.auth_header(api_key)
            headers[name] = value
            self.auth_header_name = name
        # With our own session the headers are session defaults; a caller's session gets
        # them on each request instead.
        self._headers = headers
        self._request_headers: CIMultiDict[str] | None = None if self._owns_session else CIMultiDict(headers)

    @property
    def retry(self) -> RetryPolicy:
        """The client's retry policy."""
        return self.retrier.policy

    # -- lifecycle -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def http_session(self, *, method: str, path: str) -> aiohttp.ClientSession:
        """The aiohttp session to send with from the running loop, created on first use.

        Raises ``ClientStateError`` (not sent) if the client is closed, is used from another
        event loop than its first, or was given a session that cannot send from this loop.
        """
        if self._closed:
            # A retry racing aclose() must not open a fresh session that nobody closes.
            raise ClientStateError("This AsyncCoreClaw client is closed", method=method, path=path)
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise ClientStateError(
                "This AsyncCoreClaw client belongs to another event loop; create one client per loop",
                method=method,
                path=path,
            )
        session = self._session
        if session is None:
            session = self._session = new_session(
                max_connections=self.max_connections, headers=self._headers, trace_configs=self._trace_configs
            )
        elif not self._owns_session:
            check_usable(session, loop, method=method, path=path)
        return session

    async def aclose(self) -> None:
        """Close our session (never a caller's) and leave the shared budget. Idempotent."""
        first = not self._closed
        self._closed = True
        session, self._session = self._session, None
        try:
            if session is not None and self._owns_session and not session.closed:
                await session.close()
        finally:
            if first and self.budget is not None:
                await self.budget.detach()

    # -- stats -----------------------------------------------------------------------

    def stats(self) -> ClientStats:
        """A snapshot of the counters."""
        return self.counters.snapshot(
            ClientStats,
            in_flight=self.limiter.in_flight,
            concurrency_limit=self.limiter.limit,
            connection_wait_seconds=self.limiter.waited_total,
            capacity_wait_seconds=self.retrier.capacity.waited_total,
        )

    # -- the pipeline ----------------------------------------------------------------

    def url(self, path: str) -> URL:
        """The absolute URL of an API ``path`` (cached: most calls hit a handful of paths)."""
        url = self._urls.get(path)
        if url is None:
            if len(self._urls) >= URL_CACHE_SIZE:
                self._urls.clear()
            url = URL(self.base_url + path)
            self._urls[path] = url
        return url

    def call(
        self,
        op: Operation[T],
        request: Any = None,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        on_send: Callable[[bool], None] | None = None,
    ) -> Coroutine[Any, Any, T]:
        """Return the coroutine that runs ``op`` with ``request`` (an attrs model or ``None``).

        ``timeout`` bounds every attempt and backoff sleep together; ``max_retries``
        overrides the client's policy for this call. The request is checked and encoded
        here, before the coroutine exists: a problem raises at once (nothing sent).
        ``on_send(True)`` is called each time an attempt has passed every gate and starts
        sending (until then the request has certainly not reached the server), and
        ``on_send(False)`` when that attempt ended with nothing done (refused, or not sent
        after all), so a caller can tell a start that may have created a run from one waiting.
        """
        method = op.method
        if self._closed:
            raise ClientStateError("This AsyncCoreClaw client is closed", method=method, path=op.path)
        if op.auth and not self.api_key:
            raise AuthenticationError(
                "No API key: pass api_key= to AsyncCoreClaw or set CORECLAW_API_KEY",
                method=method,
                path=op.path,
                attempts=0,
                outcome="not_sent",
            )
        if timeout is not None:
            require_optional_timeout("timeout", timeout)
        if max_retries is not None:
            require_optional_int("max_retries", max_retries, minimum=0)
        fields: dict[str, Any] | None = None
        if request is not None:
            encode = _ENCODERS.get(type(request))
            if encode is None:
                encode = _ENCODERS[type(request)] = converter.get_unstructure_hook(type(request))
            fields = encode(request)
        if op.plain and op.encode is None:
            path = op.path  # what render() gives for such an operation, without the call
        else:
            path, fields = op.render(fields)
        body: bytes | None = None
        params: dict[str, Any] | None = None
        if op.in_query:
            params = {k: _query_value(v) for k, v in fields.items() if v is not None} if fields else None
        elif op.body:
            try:
                body = dumps(fields) if fields is not None else _EMPTY_BODY
            except (TypeError, ValueError, OverflowError) as exc:
                raise InvalidParameterError("request", f"cannot be encoded as JSON ({exc})") from None
        budget = self.timeout if timeout is None else timeout
        if op.min_timeout is not None and budget < op.min_timeout:
            budget = op.min_timeout
        deadline = asyncio.get_running_loop().time() + budget
        if self.observer is not None:
            # Whether an attempt is out (sent, its outcome not yet known): a cancelled call's
            # span says unknown then, not sent otherwise.
            sending = [False]

            def noted(out: bool, _inner: Callable[[bool], None] | None = on_send) -> None:
                sending[0] = out
                if _inner is not None:
                    _inner(out)

            attempt = functools.partial(self._attempt, op, path, body, params, noted)
            # The attempts' coroutine is made inside the observed one, so that an observed call
            # closed before it began leaves no coroutine behind that was never awaited.
            run = functools.partial(self._run, op, path, request, attempt, deadline, max_retries)
            return self.observer.traced(op, path, request, run, sending)
        # The plain function, not the bound method: one object less for every call in flight.
        attempt = functools.partial(SessionManager._attempt, self, op, path, body, params, on_send)
        return self._run(op, path, request, attempt, deadline, max_retries)

    def _run(
        self,
        op: Operation[T],
        path: str,
        request: Any,
        attempt: Callable[[float, int], Awaitable[T]],
        deadline: float,
        max_retries: int | None,
    ) -> Coroutine[Any, Any, T]:
        return self.retrier.run(
            attempt,
            name=op.name,
            kind=op.kind,
            method=op.method,
            path=path,
            deadline=deadline,
            max_retries=max_retries,
            request=request,
            # A start the server holds open (a synchronous run) must not hold back the others.
            hold_probe=op.min_timeout is None,
            reconcile_with=op.reconcile_with,
        )

    async def _attempt(
        self,
        op: Operation[T],
        path: str,
        body: bytes | None,
        params: Mapping[str, Any] | None,
        on_send: Callable[[bool], None] | None,
        deadline: float,
        retry_no: int,
    ) -> T:
        """One try: wait at the gate, send, read the body, check the envelope, structure ``data``.

        Tells the limiter how it went: a success widens the window, a rate-limit answer
        starts the client-wide cooldown (whether or not this call will retry).
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now >= deadline:
            raise APITimeoutError(
                "The call's deadline passed before the request could be sent",
                method=op.method,
                path=path,
                outcome="not_sent",
            )
        limiter = self.limiter
        # ``now`` stays the time of sending unless something below waits.
        if not limiter.try_acquire(now):
            try:
                # The wait for a slot has its own budget (pool_timeout); a cooldown or the
                # pace is bounded by the call's deadline only.
                await limiter.acquire(deadline, slot_deadline=now + self.pool_timeout)
            except GateTimeout as exc:
                raise APITimeoutError(
                    _GATE_MESSAGES[exc.reason].format(pool_timeout=self.pool_timeout),
                    method=op.method,
                    path=path,
                    outcome="not_sent",
                ) from None
            now = loop.time()
        lease: object | None = None
        budget = self.budget
        if budget is not None:
            lease = await self._acquire_shared(budget, op, path, deadline)
            now = loop.time()
        epoch = limiter.epoch
        stage: Stage = "request"
        try:
            session = self._session
            if session is None or self._loop is not loop or not self._owns_session or self._closed:
                session = self.http_session(method=op.method, path=path)
            # The time left, in whole milliseconds rounded down: the timer may fire up to 1 ms
            # before the deadline, never after it, and the attempts that start within the same
            # millisecond share one ClientTimeout instead of building one each.
            url = self._urls.get(path)
            if url is None:
                url = self.url(path)
            left_ms = int((deadline - now) * 1000.0)
            timeout = self._timeouts.get(left_ms)
            if timeout is None:
                timeout = self._timeout_for(left_ms)
            self.counters.requests += 1
            if on_send is not None:
                on_send(True)
            try:
                # A caller's session may raise on statuses or follow redirects by default:
                # the envelope check needs every answer as it came.
                async with session.request(
                    op.method,
                    url,
                    data=body,
                    params=params,
                    headers=self._request_headers,
                    timeout=timeout,
                    raise_for_status=False,
                    allow_redirects=False,
                ) as resp:
                    stage = "read"
                    raw = await resp.read()
                    status = resp.status
                    headers = resp.headers
            except Exception as exc:
                error = failure(exc, stage=stage, method=op.method, path=path, secret=self.api_key)
                if on_send is not None and error.outcome in _NOTHING_CREATED:
                    on_send(False)
                raise error from exc
        finally:
            limiter.release()
            if budget is not None:
                budget.release(lease)
        payload = decode(raw)
        # The success test of unwrap(), inline: an int code equal to 0 (False == 0 is no success).
        code = payload.get("code") if type(payload) is dict else None
        if code == 0 and type(code) is int:
            data = payload.get("data")
            if op.keeps_request_id and type(data) is dict:
                add_request_id(payload, data, headers)
        else:
            error = failure_for(
                payload,
                raw,
                http_status=status,
                method=op.method,
                path=path,
                headers=headers,
                secret=self.api_key,
                not_found=op.not_found,
            )
            if isinstance(error, RateLimitError):
                cooldown = self.retrier.policy.delay(retry_no, error, self.rng)
                limiter.on_rate_limited(cooldown, epoch=epoch)
                if budget is not None:
                    budget.rate_limited(cooldown)
            if on_send is not None and error.outcome in _NOTHING_CREATED:
                on_send(False)
            raise error
        limiter.on_success()
        parse = op.parse
        if parse is None:
            return None  # type: ignore[return-value]
        if op.keeps_request_id and type(data) is dict and logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s: request_id=%s", op.method, path, data.get("request_id"))
        try:
            return parse(data)
        except (ClassValidationError, IterableValidationError) as exc:
            raise self._validation_error(op, path, data, transform_error(exc, path="$")) from None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise self._validation_error(op, path, data, [f"{exc!r} @ $"]) from None

    def _timeout_for(self, left_ms: int) -> aiohttp.ClientTimeout:
        """The aiohttp timeout of an attempt with ``left_ms`` milliseconds left (at least 1), cached."""
        total = max(left_ms, 1) / 1000.0
        # The connect timer fires before the total one, so a deadline that passes while
        # connecting is reported as such (not sent), not as a timeout after sending.
        timeout = aiohttp.ClientTimeout(total=total, connect=min(self.pool_timeout, total * 0.95))
        if len(self._timeouts) >= TIMEOUT_CACHE_SIZE:
            self._timeouts.clear()
        self._timeouts[left_ms] = timeout
        return timeout

    async def _acquire_shared(
        self, budget: SharedBudget, op: Operation[Any], path: str, deadline: float
    ) -> object | None:
        """Wait at the shared budget, holding the client's own slot; give the slot back if that fails."""
        observer = self.observer
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            return await budget.acquire(
                deadline, run_start=op.kind is Kind.RUN_START and self.retrier.policy.wait_for_capacity
            )
        except GateTimeout as exc:
            self.limiter.release()
            raise APITimeoutError(
                _SHARED_GATE_MESSAGES.get(exc.reason, _SHARED_GATE_MESSAGES["slot"]),
                method=op.method,
                path=path,
                outcome="not_sent",
            ) from None
        except BudgetUnavailableError as exc:
            self.limiter.release()
            exc.method, exc.path = op.method, path
            raise
        except BaseException:
            self.limiter.release()
            raise
        finally:
            if observer is not None:
                observer.waited("budget", loop.time() - start)

    def _validation_error(
        self, op: Operation[Any], path: str, data: Any, problems: list[str]
    ) -> ResponseValidationError:
        summary = "; ".join(problems[:5])
        try:
            encoded = dumps(data)
        except (TypeError, ValueError, OverflowError):
            encoded = repr(data).encode("utf-8", errors="replace")
        return ResponseValidationError(
            f"The response data does not fit the expected model: {summary}",
            errors=problems,
            code=0,
            http_status=200,
            method=op.method,
            path=path,
            body=body_excerpt(encoded, self.api_key),
        )
