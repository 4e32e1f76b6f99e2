"""The session manager and the request pipeline: gate -> send -> classify -> envelope -> model.

Only this module talks to aiohttp. One ``aiohttp.ClientSession`` with one ``TCPConnector``
is created lazily inside the running loop and reused by every call, so connections are
pooled and kept alive. Every aiohttp, json and cattrs failure is turned into a
``CoreClawError`` here; ``CancelledError`` always propagates untouched.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import random
from collections.abc import Mapping
from typing import Any, TypeVar

import aiohttp
import attrs
from cattrs import transform_error
from cattrs.errors import ClassValidationError, IterableValidationError
from multidict import CIMultiDict
from yarl import URL

from ._constants import API_KEY_HEADER, KEEPALIVE_TIMEOUT, LOGGER_NAME
from ._converter import converter
from ._envelope import redact, unwrap
from ._json import dumps
from ._limits import GateTimeout, Limiter
from ._operation import Kind, Operation
from ._retry import RetryPolicy
from ._version import __version__
from .errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    CoreClawAPIError,
    CoreClawError,
    InvalidParameterError,
    RateLimitError,
    ResponseValidationError,
    RunStartUnknownError,
)

__all__ = ["ClientStats", "SessionManager", "default_user_agent"]

logger = logging.getLogger(LOGGER_NAME)

T = TypeVar("T")

_EMPTY_BODY = b"{}"


def default_user_agent() -> str:
    """``coreclaw-async/<version> aiohttp/<version> python/<version>``."""
    return f"coreclaw-async/{__version__} aiohttp/{aiohttp.__version__} python/{platform.python_version()}"


@attrs.frozen
class ClientStats:
    """A snapshot of what one client has done so far (``client.stats``).

    Attributes:
        requests: HTTP attempts sent or tried, retries included.
        succeeded: calls that returned a result.
        failed: calls that raised.
        retries: retries made, by reason (``"rate_limited"``, ``"not_sent"``, ``"unknown"``, ...).
        rate_limited: answers with a rate-limit code or HTTP 429.
        unknown_outcomes: run starts whose outcome could not be known (``RunStartUnknownError``).
        in_flight: requests holding a connection slot right now.
        concurrency_limit: the current adaptive limit on requests in flight.
        connection_wait_seconds: total time calls waited for a free slot, pacing or cooldown.
    """

    requests: int
    succeeded: int
    failed: int
    retries: Mapping[str, int]
    rate_limited: int
    unknown_outcomes: int
    in_flight: int
    concurrency_limit: int
    connection_wait_seconds: float


def _retry_reason(error: CoreClawError) -> str:
    if isinstance(error, RateLimitError):
        return "rate_limited"
    if isinstance(error, CoreClawAPIError) and error.code is not None:
        return f"code_{error.code}"
    if isinstance(error, CoreClawAPIError):
        return f"http_{error.http_status}"
    return error.outcome


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


class SessionManager:
    """Owns the HTTP session and runs every call through the pipeline.

    Not public: ``AsyncCoreClaw`` builds one and resources call :meth:`call`.
    """

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str,
        timeout: float,
        pool_timeout: float,
        max_connections: int,
        max_rate: float | None,
        retry: RetryPolicy,
        session: aiohttp.ClientSession | None,
        user_agent: str | None,
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.pool_timeout = pool_timeout
        self.max_connections = max_connections
        self.retry = retry
        self.limiter = Limiter(max_connections, max_rate=max_rate)
        self.user_agent = user_agent or default_user_agent()
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._urls: dict[str, URL] = {}
        self._rng = random.Random()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": self.user_agent,
        }
        if api_key:
            headers[API_KEY_HEADER] = api_key
        # With our own session the headers are session defaults; a caller's session gets
        # them on each request instead.
        self._headers = headers
        self._request_headers: CIMultiDict[str] | None = None if self._owns_session else CIMultiDict(headers)
        self._requests = 0
        self._succeeded = 0
        self._failed = 0
        self._retries: dict[str, int] = {}
        self._rate_limited = 0
        self._unknown = 0

    # -- lifecycle -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise CoreClawError(
                "This AsyncCoreClaw client belongs to another event loop; create one client per loop",
                attempts=0,
                outcome="not_sent",
            )
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.max_connections,
                limit_per_host=0,
                keepalive_timeout=KEEPALIVE_TIMEOUT,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=None),
                raise_for_status=False,
            )
        return self._session

    async def aclose(self) -> None:
        """Close our session (never a caller's). Idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()

    # -- stats -----------------------------------------------------------------------

    def stats(self) -> ClientStats:
        """A snapshot of the counters."""
        return ClientStats(
            requests=self._requests,
            succeeded=self._succeeded,
            failed=self._failed,
            retries=dict(self._retries),
            rate_limited=self._rate_limited,
            unknown_outcomes=self._unknown,
            in_flight=self.limiter.in_flight,
            concurrency_limit=self.limiter.limit,
            connection_wait_seconds=self.limiter.waited_total,
        )

    # -- the pipeline ----------------------------------------------------------------

    def _url(self, path: str) -> URL:
        url = self._urls.get(path)
        if url is None:
            if len(self._urls) > 1024:
                self._urls.clear()
            url = URL(self.base_url + path)
            self._urls[path] = url
        return url

    async def call(
        self,
        op: Operation[T],
        request: Any = None,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> T:
        """Run ``op`` with ``request`` (an attrs model or ``None``) and return the parsed result.

        ``timeout`` bounds every attempt and backoff sleep together; ``max_retries``
        overrides the client's policy for this call.
        """
        if self._closed:
            raise CoreClawError("This AsyncCoreClaw client is closed", attempts=0, outcome="not_sent")
        if op.auth and not self.api_key:
            raise AuthenticationError(
                "No API key: pass api_key= to AsyncCoreClaw or set CORECLAW_API_KEY",
                method=op.method,
                path=op.path,
                attempts=0,
                outcome="not_sent",
            )
        fields = converter.unstructure(request) if request is not None else None
        path, fields = op.render(fields)
        if op.in_query:
            body = None
            params = {k: _query_value(v) for k, v in fields.items() if v is not None} if fields else None
        else:
            body = dumps(fields) if fields is not None else _EMPTY_BODY
            params = None

        loop = asyncio.get_running_loop()
        budget = self.timeout if timeout is None else timeout
        if op.min_timeout is not None and budget < op.min_timeout:
            budget = op.min_timeout
        deadline = loop.time() + budget
        retries_allowed = self.retry.max_retries if max_retries is None else max_retries
        attempt = 0
        while True:
            attempt += 1
            try:
                data = await self._attempt(op, path, body, params, deadline, loop)
                break
            except CoreClawError as error:
                error.attempts = attempt
                if isinstance(error, RateLimitError):
                    self._rate_limited += 1
                retryable = attempt <= retries_allowed and self.retry.is_retryable(op.kind, error)
                if retryable:
                    delay = self.retry.delay(attempt, error, self._rng)
                    if loop.time() + delay < deadline:
                        self._note_retry(op, path, error, attempt, delay)
                        if isinstance(error, RateLimitError):
                            # Every call of this client waits this out in the gate, together.
                            self.limiter.on_rate_limited(delay)
                        elif delay > 0:
                            await asyncio.sleep(delay)
                        continue
                self._failed += 1
                final = self._final_error(op, request, error)
                raise final from final.__cause__
        try:
            result = op.parse(data) if op.parse is not None else None
        except (ClassValidationError, IterableValidationError) as exc:
            self._failed += 1
            raise self._validation_error(op, path, data, transform_error(exc, path="$")) from None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self._failed += 1
            raise self._validation_error(op, path, data, [f"{exc!r} @ $"]) from None
        self._succeeded += 1
        return result  # type: ignore[return-value]

    async def _attempt(
        self,
        op: Operation[Any],
        path: str,
        body: bytes | None,
        params: Mapping[str, Any] | None,
        deadline: float,
        loop: asyncio.AbstractEventLoop,
    ) -> Any:
        """One try: wait at the gate, send, read the body, check the envelope."""
        now = loop.time()
        if now >= deadline:
            raise APITimeoutError(
                "The call's deadline passed before the request could be sent",
                method=op.method,
                path=path,
                outcome="not_sent",
            )
        try:
            await self.limiter.acquire(min(deadline, now + self.pool_timeout))
        except GateTimeout:
            raise APITimeoutError(
                f"No free connection within {self.pool_timeout:g} s (the request was not sent)",
                method=op.method,
                path=path,
                outcome="not_sent",
            ) from None
        try:
            session = self._get_session()
            remaining = max(deadline - loop.time(), 0.001)
            timeout = aiohttp.ClientTimeout(total=remaining, connect=min(self.pool_timeout, remaining))
            self._requests += 1
            try:
                async with session.request(
                    op.method,
                    self._url(path),
                    data=body,
                    params=params,
                    headers=self._request_headers,
                    timeout=timeout,
                ) as resp:
                    raw = await resp.read()
                    status = resp.status
                    headers = resp.headers
            except aiohttp.ConnectionTimeoutError as exc:
                raise self._connection_error(op, path, exc, timeout=True, sent=False) from None
            except aiohttp.ClientConnectorError as exc:
                raise self._connection_error(op, path, exc, timeout=False, sent=False) from None
            except aiohttp.InvalidURL as exc:
                raise InvalidParameterError("base_url", f"not a valid URL ({exc})") from None
            except asyncio.TimeoutError as exc:
                raise self._connection_error(op, path, exc, timeout=True, sent=True) from None
            except (aiohttp.ClientError, OSError) as exc:
                raise self._connection_error(op, path, exc, timeout=False, sent=True) from None
        finally:
            self.limiter.release()
        data = unwrap(
            raw,
            http_status=status,
            method=op.method,
            path=path,
            headers=headers,
            secret=self.api_key,
        )
        self.limiter.on_success()
        return data

    # -- errors ----------------------------------------------------------------------

    def _connection_error(
        self, op: Operation[Any], path: str, exc: BaseException, *, timeout: bool, sent: bool
    ) -> APIConnectionError:
        cls = APITimeoutError if timeout else APIConnectionError
        if sent:
            what = "timed out waiting for the answer" if timeout else "connection failed mid-request"
        else:
            what = "timed out connecting" if timeout else "could not connect"
        detail = redact(str(exc) or type(exc).__name__, self.api_key)
        err = cls(
            f"{what}: {detail}",
            method=op.method,
            path=path,
            outcome="unknown" if sent else "not_sent",
        )
        err.__cause__ = exc
        return err

    def _validation_error(
        self, op: Operation[Any], path: str, data: Any, problems: list[str]
    ) -> ResponseValidationError:
        summary = "; ".join(problems[:5])
        excerpt = dumps(data)[:512].decode("utf-8", errors="replace")
        return ResponseValidationError(
            f"The response data does not fit the expected model: {summary}",
            errors=problems,
            code=0,
            http_status=200,
            method=op.method,
            path=path,
            body=excerpt,
        )

    def _final_error(self, op: Operation[Any], request: Any, error: CoreClawError) -> CoreClawError:
        if op.kind is Kind.RUN_START and error.outcome == "unknown":
            self._unknown += 1
            logger.warning(
                "%s %s: outcome unknown after %d attempt(s), not re-sent: %s",
                op.method,
                error.path or op.path,
                error.attempts,
                error,
            )
            unknown = RunStartUnknownError(
                "The run start was sent but no verdict came back, so a run may have been "
                "created; it was not re-sent. Check runs.list before starting it again. "
                f"Cause: {type(error).__name__}: {error.message}",
                request=request,
                method=error.method,
                path=error.path,
                attempts=error.attempts,
            )
            unknown.__cause__ = error
            return unknown
        return error

    def _note_retry(
        self, op: Operation[Any], path: str, error: CoreClawError, attempt: int, delay: float
    ) -> None:
        reason = _retry_reason(error)
        self._retries[reason] = self._retries.get(reason, 0) + 1
        if logger.isEnabledFor(logging.INFO):
            request_id = getattr(error, "request_id", None)
            logger.info(
                "retrying %s %s in %.2fs (attempt %d failed: %s, request_id=%s)",
                op.method,
                path,
                delay,
                attempt,
                reason,
                request_id,
            )
