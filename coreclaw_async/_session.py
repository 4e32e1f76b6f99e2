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
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import aiohttp
import attrs
from cattrs import transform_error
from cattrs.errors import ClassValidationError, IterableValidationError
from multidict import CIMultiDict
from yarl import URL

from ._constants import (
    API_KEY_HEADER,
    BODY_EXCERPT_LIMIT,
    DOWNLOAD_CHUNK_SIZE,
    DOWNLOAD_READ_TIMEOUT,
    KEEPALIVE_TIMEOUT,
    LOGGER_NAME,
)
from ._converter import converter
from ._envelope import body_excerpt, parse_retry_after, redact, unwrap
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
    NotFoundError,
    RateLimitError,
    ResponseValidationError,
    RunStartUnknownError,
    ServerError,
)

__all__ = ["ClientStats", "SessionManager", "default_user_agent"]

logger = logging.getLogger(LOGGER_NAME)

T = TypeVar("T")

_EMPTY_BODY = b"{}"

_GATE_MESSAGES = {
    "slot": "No free connection within {pool_timeout:g} s (the request was not sent)",
    "cooldown": "The client is cooling down after a rate limit until past this call's deadline "
    "(the request was not sent)",
    "pace": "max_rate pacing would delay the request past this call's deadline (it was not sent)",
}

# Per-request client middlewares arrived in aiohttp 3.12; they let a download drop the API
# key header (a session default) before each hop to a foreign host, redirects included.
_HAS_MIDDLEWARES = hasattr(aiohttp, "ClientMiddlewareType")

# Headers a download to another host must not carry: our credentials.
_CREDENTIAL_HEADERS = (API_KEY_HEADER, "Authorization")


class _SinkError(Exception):
    """The destination of a download failed; carries the original exception to re-raise."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


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
        connection_wait_seconds: total time calls spent in the client-wide gate (waiting for a
            free slot, for ``max_rate`` pacing or for a rate-limit cooldown), waits that timed
            out or were cancelled included.
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
        if self._closed:
            # A retry racing aclose() must not open a fresh session that nobody closes.
            raise CoreClawError("This AsyncCoreClaw client is closed", attempts=0, outcome="not_sent")
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
        path = op.path
        if op.has_placeholders:
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
        # Bounded: every pass makes one attempt, and at most retries_allowed + 1 are made.
        while True:
            attempt += 1
            try:
                data = await self._attempt(op, path, body, params, deadline, loop, attempt)
                break
            except CoreClawError as error:
                error.attempts = attempt
                if isinstance(error, RateLimitError):
                    self._rate_limited += 1
                if attempt <= retries_allowed and self.retry.is_retryable(op.kind, error):
                    now = loop.time()
                    # After a rate limit the wait is the client-wide cooldown _attempt set,
                    # served in the gate; other failures back off on their own.
                    delay = 0.0
                    if not isinstance(error, RateLimitError):
                        delay = self.retry.delay(attempt, error, self._rng)
                    resume = max(now + delay, self.limiter.cooldown_until)
                    if resume < deadline:
                        self._note_retry(op, path, error, attempt, resume - now)
                        if delay > 0:
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
        attempt: int,
    ) -> Any:
        """One try: wait at the gate, send, read the body, check the envelope.

        Tells the limiter how it went: a success widens the window, a rate-limit answer
        starts the client-wide cooldown (whether or not this call will retry).
        """
        now = loop.time()
        if now >= deadline:
            raise APITimeoutError(
                "The call's deadline passed before the request could be sent",
                method=op.method,
                path=path,
                outcome="not_sent",
            )
        limiter = self.limiter
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
        epoch = limiter.epoch
        try:
            session = self._session
            if session is None or self._closed or self._loop is not loop:
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
        try:
            data = unwrap(
                raw,
                http_status=status,
                method=op.method,
                path=path,
                headers=headers,
                secret=self.api_key,
            )
        except RateLimitError as error:
            self.limiter.on_rate_limited(self.retry.delay(attempt, error, self._rng), epoch=epoch)
            raise
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
        try:
            encoded = dumps(data)
        except (TypeError, ValueError, OverflowError):
            encoded = repr(data).encode("utf-8", errors="replace")
        excerpt = body_excerpt(encoded, self.api_key)
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
                "%s %s: outcome unknown after %d attempt(s), not re-sent (request_id=%s): %s",
                op.method,
                error.path or op.path,
                error.attempts,
                getattr(error, "request_id", None),
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

    # -- downloads (added with the run resources) --------------------------------------

    async def download(
        self,
        url: str,
        write: Callable[[bytes], Awaitable[None]],
        *,
        timeout: float,
        max_retries: int | None = None,
        chunk_size: int = DOWNLOAD_CHUNK_SIZE,
        read_timeout: float = DOWNLOAD_READ_TIMEOUT,
    ) -> int:
        """GET the absolute ``url`` and pass its body to ``write`` chunk by chunk; return the bytes written.

        For pre-signed file URLs (exports): the body never sits in memory as a whole. It
        reuses the client's session and connection pool but not its gate (the file host is
        not the API). The API key is sent only to the API's own origin, never to another
        host (checked on every redirect hop). ``timeout`` bounds the whole download; no
        byte for ``read_timeout`` seconds also fails it. Failures before the first byte was
        written are retried like a read; after that they are raised (the destination cannot
        be rewound).

        Raises:
            InvalidParameterError: ``url`` is not an absolute http(s) URL.
            NotFoundError, RateLimitError, ServerError, CoreClawAPIError: the host answered
                with an error status (``http_status`` says which; 403 usually means expired).
            APIConnectionError, APITimeoutError: the transfer failed or took too long.
            Whatever ``write`` raises (e.g. ``OSError`` for a full disk) propagates unchanged.
        """
        if self._closed:
            raise CoreClawError("This AsyncCoreClaw client is closed", attempts=0, outcome="not_sent")
        try:
            target = URL(url)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError("download_url", f"not a valid URL ({exc})") from None
        if target.scheme not in ("http", "https") or not target.host:
            raise InvalidParameterError("download_url", f"must be an absolute http(s) URL, got {url!r:.200}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        retries_allowed = self.retry.max_retries if max_retries is None else max_retries
        written = 0

        async def counting_write(chunk: bytes) -> None:
            nonlocal written
            try:
                await write(chunk)
            except Exception as exc:
                raise _SinkError(exc) from exc
            written += len(chunk)

        attempt = 0
        while True:
            attempt += 1
            try:
                await self._download_once(target, counting_write, deadline, loop, chunk_size, read_timeout)
                self._succeeded += 1
                return written
            except _SinkError as failed:
                self._failed += 1
                raise failed.error from None
            except CoreClawError as error:
                error.attempts = attempt
                if target.query_string:
                    # aiohttp puts the URL in some messages; its signed query is a credential.
                    error.message = error.message.replace(target.query_string, "…").replace(
                        target.raw_query_string, "…"
                    )
                    error.args = (error.message,)
                if written == 0 and attempt <= retries_allowed and self.retry.is_retryable(Kind.READ, error):
                    delay = self.retry.delay(attempt, error, self._rng)
                    if loop.time() + delay < deadline:
                        reason = _retry_reason(error)
                        self._retries[reason] = self._retries.get(reason, 0) + 1
                        logger.info("retrying download of %s in %.2fs: %s", target.path, delay, reason)
                        await asyncio.sleep(delay)
                        continue
                self._failed += 1
                raise

    def _download_middleware(self) -> Any:
        api_origin = URL(self.base_url).origin()

        async def drop_foreign_credentials(req: Any, handler: Any) -> Any:
            if req.url.origin() != api_origin:
                for name in _CREDENTIAL_HEADERS:
                    req.headers.popall(name, None)
            # A GET carries no body: the session's JSON content type means nothing here.
            req.headers.popall("Content-Type", None)
            return await handler(req)

        return drop_foreign_credentials

    async def _download_once(
        self,
        target: URL,
        write: Callable[[bytes], Awaitable[None]],
        deadline: float,
        loop: asyncio.AbstractEventLoop,
        chunk_size: int,
        read_timeout: float,
    ) -> None:
        remaining = deadline - loop.time()
        # Errors name the path only: the query of a pre-signed URL is a credential.
        path = target.path
        if remaining <= 0:
            raise APITimeoutError(
                "The download's deadline passed before it could start",
                method="GET",
                path=path,
                outcome="not_sent",
            )
        session = self._get_session()
        timeout = aiohttp.ClientTimeout(
            total=remaining, connect=min(self.pool_timeout, remaining), sock_read=read_timeout
        )
        headers = {"Accept": "*/*", "User-Agent": self.user_agent}
        op: Operation[None] = Operation(name="download", method="GET", path=path, kind=Kind.READ)
        temporary: aiohttp.ClientSession | None = None
        extra: dict[str, Any] = {}
        if _HAS_MIDDLEWARES:
            extra["middlewares"] = (self._download_middleware(),)
        else:
            # Same pool, but a session without our default (credential) headers.
            temporary = aiohttp.ClientSession(
                connector=session.connector, connector_owner=False, timeout=aiohttp.ClientTimeout(total=None)
            )
            session = temporary
        self._requests += 1
        try:
            async with session.get(target, headers=headers, timeout=timeout, **extra) as resp:
                if not 200 <= resp.status < 300:
                    raw = await resp.content.read(BODY_EXCERPT_LIMIT)
                    raise self._download_status_error(resp.status, raw, resp.headers, path)
                while True:
                    chunk = await resp.content.read(chunk_size)
                    if not chunk:
                        break
                    await write(chunk)
        except aiohttp.ConnectionTimeoutError as exc:
            raise self._connection_error(op, path, exc, timeout=True, sent=False) from None
        except aiohttp.ClientConnectorError as exc:
            raise self._connection_error(op, path, exc, timeout=False, sent=False) from None
        except aiohttp.InvalidURL as exc:
            raise InvalidParameterError("download_url", f"not a valid URL ({exc})") from None
        except asyncio.TimeoutError as exc:
            raise self._connection_error(op, path, exc, timeout=True, sent=True) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise self._connection_error(op, path, exc, timeout=False, sent=True) from None
        finally:
            if temporary is not None:
                await temporary.close()

    def _download_status_error(
        self, status: int, raw: bytes, headers: Mapping[str, str], path: str
    ) -> CoreClawAPIError:
        kwargs: dict[str, Any] = {
            "http_status": status,
            "method": "GET",
            "path": path,
            "body": body_excerpt(raw, self.api_key),
        }
        if status == 429:
            retry_after = parse_retry_after(headers.get("Retry-After"))
            return RateLimitError(
                "The file host is rate limiting downloads", retry_after=retry_after, **kwargs
            )
        if status >= 500:
            return ServerError(f"The file host failed with HTTP {status}", **kwargs)
        if status == 404:
            return NotFoundError("The exported file does not exist (HTTP 404)", **kwargs)
        hint = " (the link may have expired: export again)" if status in (401, 403) else ""
        return CoreClawAPIError(f"The download was refused with HTTP {status}{hint}", **kwargs)
