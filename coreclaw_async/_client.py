"""``AsyncCoreClaw``: configuration, resources as attributes, ``async with`` / ``aclose``."""

from __future__ import annotations

import os
from types import TracebackType

import aiohttp
import attrs

from . import _v1
from ._constants import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_POOL_TIMEOUT,
    DEFAULT_TIMEOUT,
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_CALLBACK_URL,
)
from ._retry import RetryPolicy
from ._session import ClientStats, SessionManager
from ._validation import require_callback_url
from .errors import InvalidParameterError
from .models.account import ProxyRegion
from .resources.account import AsyncAccount
from .resources.runs import AsyncRuns
from .resources.tasks import AsyncTasks
from .resources.workers import AsyncWorkers

__all__ = ["AsyncCoreClaw"]


def _retry_policy(
    retry: RetryPolicy | None, max_retries: int | None, wait_for_capacity: bool | None
) -> RetryPolicy:
    policy = retry if retry is not None else RetryPolicy()
    if max_retries is not None:
        policy = attrs.evolve(policy, max_retries=max_retries)
    if wait_for_capacity is not None:
        policy = attrs.evolve(policy, wait_for_capacity=wait_for_capacity)
    return policy


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
        wait_for_capacity: retry run starts refused with 30003 (plan concurrency full).
        retry: a ``RetryPolicy`` for backoff timings; ``max_retries`` and
            ``wait_for_capacity``, when given, override its fields.
        session: an ``aiohttp.ClientSession`` to use as is; it is never closed by us.
        user_agent: replaces the default ``coreclaw-async/<version> ...`` User-Agent.

    Example::

        async with AsyncCoreClaw(callback_url="https://example.com/hook") as client:
            run = await client.tasks.run("01KSFDXRNYGKT3NNE11EMR4W5X")
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
    ) -> None:
        api_key = api_key if api_key is not None else os.environ.get(ENV_API_KEY) or None
        if api_key is not None and (
            not api_key.isprintable() or api_key != api_key.strip() or not api_key.isascii()
        ):
            # Typically a key read from a file with its trailing newline; aiohttp would refuse
            # the header later with a bare ValueError.
            raise InvalidParameterError("api_key", "must be printable ASCII without surrounding white space")
        base_url = base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
        if not base_url.startswith(("http://", "https://")):
            raise InvalidParameterError("base_url", f"must be an http(s) URL, got {base_url!r}")
        callback_url = callback_url or os.environ.get(ENV_CALLBACK_URL) or None
        if callback_url is not None:
            require_callback_url("callback_url", callback_url)
        if timeout <= 0:
            raise InvalidParameterError("timeout", "must be positive")
        if pool_timeout <= 0:
            raise InvalidParameterError("pool_timeout", "must be positive")
        if max_connections < 1:
            raise InvalidParameterError("max_connections", "must be at least 1")
        if max_retries is not None and max_retries < 0:
            raise InvalidParameterError("max_retries", "must not be negative")
        if max_rate is not None and max_rate <= 0:
            raise InvalidParameterError("max_rate", "must be positive")
        self._base_url = base_url.rstrip("/")
        self._callback_url = callback_url
        self._session = SessionManager(
            api_key=api_key,
            base_url=self._base_url,
            timeout=timeout,
            pool_timeout=pool_timeout,
            max_connections=max_connections,
            max_rate=max_rate,
            retry=_retry_policy(retry, max_retries, wait_for_capacity),
            session=session,
            user_agent=user_agent,
        )
        self.tasks = AsyncTasks(self._session, callback_url=callback_url)
        """Saved Tasks: ``await client.tasks.run(task_slug)``."""
        self.runs = AsyncRuns(self._session, callback_url=callback_url)
        """Runs: ``get``, ``list``, ``results``, ``log``, ``export``, ``download``, ``wait``, ``rerun``..."""
        self.workers = AsyncWorkers(self._session, callback_url=callback_url)
        """Workers: ``run``, ``get`` (input schema), ``search`` (store), ``abort``."""
        self.account = AsyncAccount(self._session, callback_url=callback_url)
        """The account behind the key: ``await client.account.info()``."""

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
        return self._session.stats()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._session.closed

    async def proxy_regions(
        self, *, timeout: float | None = None, max_retries: int | None = None
    ) -> list[ProxyRegion]:
        """Return the proxy exit regions a run can use (``GET /api/proxy/region``; no key needed).

        Pass a region's ``code`` as ``proxy_region=`` to ``workers.run``.

        Example::

            codes = [region.code for region in await client.proxy_regions()]
        """
        return await self._session.call(_v1.PROXY_REGIONS, None, timeout=timeout, max_retries=max_retries)

    async def aclose(self) -> None:
        """Close the connection pool. Idempotent; a session you passed in stays open."""
        await self._session.aclose()

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
        key = "set" if self._session.api_key else "missing"
        return f"<AsyncCoreClaw base_url={self._base_url!r} api_key={key}>"
