"""``AsyncCoreClaw``: configuration, resources as attributes, ``async with`` / ``aclose``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING

import aiohttp
import attrs

from ._budget import SharedBudget
from ._constants import (
    DEFAULT_API_VERSION,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_POOL_TIMEOUT,
    DEFAULT_TIMEOUT,
    ENV_API_KEY,
    ENV_API_VERSION,
    ENV_BASE_URL,
    ENV_CALLBACK_URL,
)
from ._dialect import Dialect
from ._retry import RetryPolicy
from ._session import SessionManager
from ._stats import ClientStats
from ._telemetry import observer_for
from ._v1 import V1
from ._v2 import V2
from ._validation import (
    require_callback_url,
    require_header_value,
    require_int,
    require_number,
    require_optional_bool,
    require_optional_int,
    require_timeout,
    require_url,
)
from .errors import InvalidParameterError
from .models.account import ProxyRegion
from .resources.account import AsyncAccount
from .resources.queue import AsyncQueue
from .resources.runs import AsyncRuns
from .resources.tasks import AsyncTasks
from .resources.workers import AsyncWorkers

if TYPE_CHECKING:
    from .otel import Telemetry

__all__ = ["AsyncCoreClaw"]

_DIALECTS: dict[str, Dialect] = {"v1": V1, "v2": V2}


def _retry_policy(
    retry: RetryPolicy | None, max_retries: int | None, wait_for_capacity: bool | None
) -> RetryPolicy:
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise InvalidParameterError("retry", f"must be a RetryPolicy, got {type(retry).__name__}")
    policy = retry if retry is not None else RetryPolicy()
    if max_retries is not None:
        policy = attrs.evolve(policy, max_retries=max_retries)
    if wait_for_capacity is not None:
        policy = attrs.evolve(policy, wait_for_capacity=wait_for_capacity)
    return policy


def _trace_configs(
    trace_configs: Sequence[aiohttp.TraceConfig] | None, session: aiohttp.ClientSession | None
) -> list[aiohttp.TraceConfig] | None:
    if trace_configs is None:
        return None
    if not isinstance(trace_configs, (list, tuple)):
        raise InvalidParameterError(
            "trace_configs", f"must be a list of aiohttp.TraceConfig, got {type(trace_configs).__name__}"
        )
    for item in trace_configs:
        if not isinstance(item, aiohttp.TraceConfig):
            raise InvalidParameterError(
                "trace_configs", f"must hold only aiohttp.TraceConfig objects, got {type(item).__name__}"
            )
    if session is not None:
        raise InvalidParameterError(
            "trace_configs",
            "cannot be added to a session you pass in: create your aiohttp.ClientSession with "
            "trace_configs=... instead",
        )
    return list(trace_configs)


class AsyncCoreClaw:
    """Asynchronous client for the CoreClaw OpenAPI.

    Create one per event loop and share it: it pools keep-alive connections over one
    ``aiohttp.ClientSession`` created lazily on first use. Close it with ``async with``
    or ``await client.aclose()``.

    Args:
        api_key: your key; defaults to ``CORECLAW_API_KEY``. A missing key raises
            ``AuthenticationError`` at the first call that needs it, not here.
        base_url: API host; defaults to ``CORECLAW_BASE_URL`` or ``https://openapi.coreclaw.com``.
        callback_url: default webhook URL for run starts (``CORECLAW_CALLBACK_URL``).
        timeout: one deadline in seconds per call, covering every attempt and backoff.
        max_connections: size of the connection pool, which also bounds requests in flight.
        pool_timeout: how long a call may wait for a free connection before it fails as
            not sent (``APITimeoutError`` with ``outcome == "not_sent"``).
        max_retries: retries per call for failures that are safe to retry (default 2, or
            the ``retry`` policy's).
        max_rate: optional cap on requests per second across the whole client.
        wait_for_capacity: run starts refused with 30003 (the plan's concurrent-run limit is
            full; nothing was created) wait for capacity until the call's deadline, without
            counting against ``max_retries``; while the limit is full every start of the client
            queues behind one probe, backing off up to tens of seconds. Give such calls a
            ``timeout`` as long as you are willing to wait.
        retry: a ``RetryPolicy`` for backoff timings; ``max_retries`` and
            ``wait_for_capacity``, when given, override its fields.
        session: an ``aiohttp.ClientSession`` to use as is; it is never closed by us.
        user_agent: replaces the default ``coreclaw-async/<version> ...`` User-Agent.
        api_version: ``"v1"`` (the default) or ``"v2"``, also ``$CORECLAW_API_VERSION``: the
            same methods, models and errors on either; v2 adds saved Task management, input
            schemas and the run queue (see the README's "v1 or v2").
        budget: a budget shared with the other clients of the account, in this process or
            others (``coreclaw_async.redis.RedisBudget``): a common request rate, requests in
            flight and rate-limit cooldown. Each request also passes the client's own limits.
        telemetry: OpenTelemetry spans and metrics (the docs' "Tracing and metrics"). ``None`` (the
            default) records them through the global providers when OpenTelemetry is
            installed (the ``otel`` extra) and does nothing otherwise; ``True`` insists (an
            ``ImportError`` names the extra when it is missing); ``False`` turns them off; a
            ``coreclaw_async.otel.Telemetry`` sends them to the providers it names.
        trace_configs: ``aiohttp.TraceConfig`` objects for the session this client creates, so
            aiohttp request tracing (your own, or OpenTelemetry's aiohttp instrumentation)
            sees its requests. Not with ``session=``: give them to your session instead.

    Example::

        async with AsyncCoreClaw(callback_url="https://example.com/hook") as client:
            run = await client.tasks.run("01KSFDXRNYGKT3NNE11EMR4W5X")

    Raises:
        InvalidParameterError: an argument is invalid (named in ``field``).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        callback_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        pool_timeout: float = DEFAULT_POOL_TIMEOUT,
        max_retries: int | None = None,
        max_rate: float | None = None,
        wait_for_capacity: bool | None = None,
        retry: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        user_agent: str | None = None,
        api_version: str | None = None,
        budget: SharedBudget | None = None,
        telemetry: bool | Telemetry | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
    ) -> None:
        api_key = api_key if api_key is not None else os.environ.get(ENV_API_KEY) or None
        if api_key is not None:
            # Typically a key read from a file with its trailing newline; aiohttp would refuse
            # the header later with a bare ValueError.
            require_header_value("api_key", api_key)
        if base_url is None:
            base_url = os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
        base_url = require_url("base_url", base_url)
        if callback_url is None:
            callback_url = os.environ.get(ENV_CALLBACK_URL) or None
        if callback_url is not None:
            require_callback_url("callback_url", callback_url)
        timeout = require_timeout("timeout", timeout)
        pool_timeout = require_timeout("pool_timeout", pool_timeout)
        max_connections = require_int("max_connections", max_connections, minimum=1)
        require_optional_int("max_retries", max_retries, minimum=0)
        if max_rate is not None:
            max_rate = require_number("max_rate", max_rate, minimum=0, exclusive=True)
        require_optional_bool("wait_for_capacity", wait_for_capacity)
        if session is not None and not callable(getattr(session, "request", None)):
            raise InvalidParameterError(
                "session", f"must be an aiohttp.ClientSession, got {type(session).__name__}"
            )
        if user_agent is not None:
            require_header_value("user_agent", user_agent)
        if budget is not None and not isinstance(budget, SharedBudget):
            raise InvalidParameterError(
                "budget", f"must be a shared budget such as RedisBudget, got {type(budget).__name__}"
            )
        if api_version is None:
            api_version = os.environ.get(ENV_API_VERSION) or DEFAULT_API_VERSION
        dialect = _DIALECTS.get(api_version) if isinstance(api_version, str) else None
        if dialect is None:
            raise InvalidParameterError(
                "api_version", f"must be one of {', '.join(map(repr, _DIALECTS))}, got {api_version!r:.40}"
            )
        configs = _trace_configs(trace_configs, session)
        self._base_url = base_url.rstrip("/")
        self._callback_url = callback_url
        observer = observer_for(telemetry, api_version=dialect.name, base_url=self._base_url)
        self._manager = SessionManager(
            api_key=api_key,
            base_url=self._base_url,
            dialect=dialect,
            timeout=timeout,
            pool_timeout=pool_timeout,
            max_connections=max_connections,
            max_rate=max_rate,
            retry=_retry_policy(retry, max_retries, wait_for_capacity),
            session=session,
            user_agent=user_agent,
            budget=budget,
            observer=observer,
            trace_configs=configs,
        )
        self.tasks = AsyncTasks(self._manager, callback_url=callback_url)
        """Saved Tasks: ``await client.tasks.run(task_slug)``."""
        self.runs = AsyncRuns(self._manager, callback_url=callback_url)
        """Runs: ``get``, ``list``, ``results``, ``log``, ``export``, ``download``, ``wait``, ``rerun``..."""
        self.workers = AsyncWorkers(self._manager, callback_url=callback_url)
        """Workers: ``run``, ``get`` (input schema), ``search`` (store), ``abort``."""
        self.account = AsyncAccount(self._manager, callback_url=callback_url)
        """The account behind the key: ``await client.account.info()``."""
        self.queue = AsyncQueue(self._manager, callback_url=callback_url)
        """The run queue (API v2): runs waiting for balance or plan capacity."""

    @property
    def api_version(self) -> str:
        """``"v1"`` or ``"v2"``: the CoreClaw API version this client speaks."""
        return self._manager.dialect.name

    @property
    def base_url(self) -> str:
        """The API host this client talks to."""
        return self._base_url

    @property
    def callback_url(self) -> str | None:
        """The default callback URL for run starts, if any."""
        return self._callback_url

    @property
    def stats(self) -> ClientStats:
        """A snapshot of request, retry and rate-limit counters."""
        return self._manager.stats()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._manager.closed

    async def proxy_regions(
        self, *, timeout: float | None = None, max_retries: int | None = None
    ) -> list[ProxyRegion]:
        """Return the proxy exit regions a run can use (``GET /api/proxy/region``; no key needed).

        Pass a region's ``code`` as ``proxy_region=`` to ``workers.run``.

        Example::

            codes = [region.code for region in await client.proxy_regions()]
        """
        return await self._manager.call(
            self._manager.dialect.ops.proxy_regions, None, timeout=timeout, max_retries=max_retries
        )

    async def aclose(self) -> None:
        """Close the connection pool and leave the shared budget. Idempotent; a session you
        passed in stays open."""
        await self._manager.aclose()

    async def __aenter__(self) -> AsyncCoreClaw:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        key = "set" if self._manager.api_key else "missing"
        return f"<AsyncCoreClaw {self.api_version} base_url={self._base_url!r} api_key={key}>"
