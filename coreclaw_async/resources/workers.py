"""``client.workers``: start Worker runs, read input schemas, search the store; on v2, queue runs."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, Literal, overload

import attrs

from .._constants import (
    DEFAULT_MAX_PAGES,
    DEFAULT_STORE_LIMIT,
    SYNC_RESULT_MAX_PAGE_SIZE,
    SYNC_RESULT_PAGE_SIZE,
    V2_MAX_PAGE_SIZE,
)
from .._json import dumps
from .._pagination import KeyedIterator, check_page_args
from .._validation import (
    require_bool,
    require_callback_url,
    require_int,
    require_optional_int,
    require_optional_slug,
    require_optional_timeout,
    require_slug,
    require_text,
)
from ..errors import InvalidParameterError
from ..models.queue import QueuedRun
from ..models.runs import RunRequest, StartedRun
from ..models.workers import (
    StoreSearchRequest,
    StoreWorker,
    SystemParameters,
    Worker,
    WorkerDetailRequest,
    WorkerInput,
    WorkerInputSchema,
    WorkerListRequest,
    WorkerPage,
    WorkerRunRequest,
    WorkerRunSync,
)
from ._base import Resource
from ._inputs import check_system, split_input

__all__ = ["AsyncWorkers"]


class AsyncWorkers(Resource):
    """Workers (a.k.a. scrapers): start runs, read their input schema, find them in the store."""

    __slots__ = ()

    def prepare(
        self,
        scraper_slug: str,
        *,
        input: Mapping[str, Any] | WorkerInput,
        version: str | None = None,
        is_async: bool = True,
        callback_url: str | None = None,
        system: SystemParameters | None = None,
        cpus: float | None = None,
        memory: int | None = None,
        execute_limit_time_seconds: int | None = None,
        max_total_charge: float | None = None,
        max_total_traffic: float | None = None,
        proxy_region: str | None = None,
        page_index: int | None = None,
        page_size: int | None = None,
    ) -> WorkerRunRequest:
        """Validate the arguments of :meth:`run` and build its request, without sending anything.

        Container settings are taken from, in order: the keyword overrides (``cpus=``,
        ``memory=``, ...), ``system``, the system part of ``input``, the documented defaults.

        Raises ``InvalidParameterError`` naming the bad field.
        """
        slug = require_slug("scraper_slug", scraper_slug)
        require_optional_slug("version", version)
        require_bool("is_async", is_async)
        if system is not None and not isinstance(system, SystemParameters):
            raise InvalidParameterError("system", f"must be a SystemParameters, got {type(system).__name__}")
        custom, input_system = split_input(input)
        try:
            dumps(dict(custom))
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError("input", f"must be JSON-serialisable ({exc})") from None
        base = system if system is not None else input_system or SystemParameters()
        overrides: dict[str, Any] = {
            "cpus": cpus,
            "memory": memory,
            "execute_limit_time_seconds": execute_limit_time_seconds,
            "max_total_charge": max_total_charge,
            "max_total_traffic": max_total_traffic,
            "proxy_region": proxy_region,
        }
        chosen = {name: value for name, value in overrides.items() if value is not None}
        settings = check_system(attrs.evolve(base, **chosen) if chosen else base)
        url = callback_url if callback_url is not None else self._callback_url
        if url is not None:
            require_callback_url("callback_url", url)
        if is_async:
            if page_index is not None or page_size is not None:
                raise InvalidParameterError(
                    "page_index", "page_index/page_size apply only with is_async=False"
                )
        else:
            page_index = require_int("page_index", 1 if page_index is None else page_index, minimum=1)
            page_size = require_int(
                "page_size",
                SYNC_RESULT_PAGE_SIZE if page_size is None else page_size,
                minimum=1,
                maximum=SYNC_RESULT_MAX_PAGE_SIZE,
            )
            page_size = self._dialect.check_page_size("page_size", page_size)
        return WorkerRunRequest(
            scraper_slug=slug,
            is_async=is_async,
            input=WorkerInput(custom=dict(custom), system=settings),
            version=version,
            callback_url=url,
            page_index=page_index,
            page_size=page_size,
        )

    @overload
    async def run(
        self,
        scraper_slug: str,
        *,
        input: Mapping[str, Any] | WorkerInput,
        version: str | None = ...,
        is_async: Literal[True] = ...,
        callback_url: str | None = ...,
        system: SystemParameters | None = ...,
        cpus: float | None = ...,
        memory: int | None = ...,
        execute_limit_time_seconds: int | None = ...,
        max_total_charge: float | None = ...,
        max_total_traffic: float | None = ...,
        proxy_region: str | None = ...,
        page_index: None = ...,
        page_size: None = ...,
        timeout: float | None = ...,
        max_retries: int | None = ...,
    ) -> StartedRun: ...

    @overload
    async def run(
        self,
        scraper_slug: str,
        *,
        input: Mapping[str, Any] | WorkerInput,
        version: str | None = ...,
        is_async: Literal[False],
        callback_url: str | None = ...,
        system: SystemParameters | None = ...,
        cpus: float | None = ...,
        memory: int | None = ...,
        execute_limit_time_seconds: int | None = ...,
        max_total_charge: float | None = ...,
        max_total_traffic: float | None = ...,
        proxy_region: str | None = ...,
        page_index: int | None = ...,
        page_size: int | None = ...,
        timeout: float | None = ...,
        max_retries: int | None = ...,
    ) -> WorkerRunSync: ...

    @overload
    async def run(
        self,
        scraper_slug: str,
        *,
        input: Mapping[str, Any] | WorkerInput,
        version: str | None = ...,
        is_async: bool,
        callback_url: str | None = ...,
        system: SystemParameters | None = ...,
        cpus: float | None = ...,
        memory: int | None = ...,
        execute_limit_time_seconds: int | None = ...,
        max_total_charge: float | None = ...,
        max_total_traffic: float | None = ...,
        proxy_region: str | None = ...,
        page_index: int | None = ...,
        page_size: int | None = ...,
        timeout: float | None = ...,
        max_retries: int | None = ...,
    ) -> StartedRun | WorkerRunSync: ...

    async def run(
        self,
        scraper_slug: str,
        *,
        input: Mapping[str, Any] | WorkerInput,
        version: str | None = None,
        is_async: bool = True,
        callback_url: str | None = None,
        system: SystemParameters | None = None,
        cpus: float | None = None,
        memory: int | None = None,
        execute_limit_time_seconds: int | None = None,
        max_total_charge: float | None = None,
        max_total_traffic: float | None = None,
        proxy_region: str | None = None,
        page_index: int | None = None,
        page_size: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> StartedRun | WorkerRunSync:
        """Start a run of Worker ``scraper_slug`` (``POST /api/v1/scraper/run``).

        ``input`` is the Worker's own input (a dict keyed by the names of
        ``Worker.properties``), a ``WorkerInput``, or the full wire shape
        ``{"parameters": {"system": ..., "custom": ...}}``. Container settings default to
        the documented ones and can be overridden with ``system=`` or ``cpus=``, ``memory=``,
        ``proxy_region=``, ... ``version=None`` runs the latest version. ``callback_url``
        falls back to the client's and is optional here.

        With ``is_async=True`` (default) it returns a ``StartedRun`` at once. With
        ``is_async=False`` the server holds the request up to 5 minutes and returns a
        ``WorkerRunSync`` with the first ``page_size`` rows (the call's deadline is raised to
        cover that); if the run was not done in time, ``is_finished`` is False.

        Never re-sent once it may have reached the server (a second start is a second bill).

        Raises:
            InvalidParameterError: bad arguments (nothing sent).
            CoreClawAPIError: the server refused the start: ``WorkerNotFoundError`` (50001),
                ``WorkerVersionUnavailableError`` (50003), ``InvalidRequestError`` (4000: input
                does not fit the schema), ``InsufficientBalanceError``,
                ``ConcurrencyLimitError``, ``RateLimitError``, ...
            RunStartUnknownError: sent, outcome unknown.

        Example::

            started = await client.workers.run(
                "coreclaw/google-maps-scraper",
                input={"searchTerms": ["coffee"], "location": "Berlin"},
                memory=1024,
            )
            run = await client.runs.wait(started.run_slug)
        """
        request = self.prepare(
            scraper_slug,
            input=input,
            version=version,
            is_async=is_async,
            callback_url=callback_url,
            system=system,
            cpus=cpus,
            memory=memory,
            execute_limit_time_seconds=execute_limit_time_seconds,
            max_total_charge=max_total_charge,
            max_total_traffic=max_total_traffic,
            proxy_region=proxy_region,
            page_index=page_index,
            page_size=page_size,
        )
        if is_async:
            return await self._manager.call(
                self._ops.worker_run, request, timeout=timeout, max_retries=max_retries
            )
        return await self._manager.call(
            self._ops.worker_run_sync, request, timeout=timeout, max_retries=max_retries
        )

    async def abort(
        self, run_slug: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> None:
        """Ask CoreClaw to stop a Worker run (``POST /api/v1/scraper/abort``); the same as ``runs.abort``.

        Raises:
            InvalidParameterError: blank slug. RunNotFoundError: no such run.
            RunAbortFailedError: the run could not be aborted, usually because it already finished (70002).

        Example::

            await client.workers.abort(started.run_slug)
        """
        request = RunRequest(require_slug("run_slug", run_slug))
        await self._manager.call(self._ops.run_abort, request, timeout=timeout, max_retries=max_retries)

    async def get(
        self, scraper_slug: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> Worker:
        """Return a Worker's latest version, README and live input schema (``GET /api/scraper``).

        Public on API v1; on v2 the call carries the client's key.

        Raises:
            InvalidParameterError: blank slug. WorkerNotFoundError: no such Worker (50001).

        Example::

            worker = await client.workers.get("coreclaw/google-maps-scraper")
            print(worker.version, [p.name for p in worker.properties])
            started = await client.workers.run(worker_slug, input=worker.default_input())
        """
        request = WorkerDetailRequest(require_slug("scraper_slug", scraper_slug))
        return await self._manager.call(
            self._ops.worker_get, request, timeout=timeout, max_retries=max_retries
        )

    async def search(
        self,
        query: str,
        *,
        limit: int = DEFAULT_STORE_LIMIT,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> builtins.list[StoreWorker]:
        """Search the Worker store by text (``GET /api/store``; no key needed).

        Raises:
            InvalidParameterError: blank ``query`` (the server rejects it too), ``limit`` < 1,
                or above 100 on API v2.

        Example::

            for worker in await client.workers.search("amazon", limit=5):
                print(worker.slug, worker.title)
        """
        query = require_text("query", query).strip()
        limit = self._dialect.check_page_size("limit", require_int("limit", limit, minimum=1))
        request = StoreSearchRequest(search=query, limit=limit)
        return await self._manager.call(
            self._ops.store_search, request, timeout=timeout, max_retries=max_retries
        )

    # -- what API v2 adds -------------------------------------------------------------------

    def list(
        self,
        *,
        keyword: str | None = None,
        page_size: int = V2_MAX_PAGE_SIZE,
        max_pages: int = DEFAULT_MAX_PAGES,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> KeyedIterator[StoreWorker, WorkerPage]:
        """Iterate over your own Workers (``GET /api/v2/workers``), optionally matching ``keyword``.

        Raises:
            UnsupportedOperationError: on API v1. InvalidParameterError: bad arguments.

        Example::

            async for worker in client.workers.list():
                print(worker.slug, worker.title)
        """
        op = self._dialect.require(self._ops.worker_list, "workers.list")
        check_page_args(page_size, max_pages)
        require_optional_timeout("timeout", timeout)
        require_optional_int("max_retries", max_retries, minimum=0)
        text = None if keyword is None else require_text("keyword", keyword)
        size = self._dialect.page_size_for(page_size)

        async def fetch(page_index: int) -> WorkerPage:
            request = WorkerListRequest(page_index=page_index, page_size=size, keyword=text)
            return await self._manager.call(op, request, timeout=timeout, max_retries=max_retries)

        return KeyedIterator(fetch, page_size=size, max_pages=max_pages, what="workers.list", key=_worker_key)

    async def input_schema(
        self, worker: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> WorkerInputSchema:
        """A Worker's input schema, JSON-schema-like (``GET /api/v2/workers/{id}/input-schema``;
        no key needed).

        Raises:
            UnsupportedOperationError: on API v1 (use :meth:`get`, whose ``properties`` list the
                fields). WorkerNotFoundError: no such Worker.

        Example::

            schema = await client.workers.input_schema("coreclaw/google-maps-scraper")
            print(schema.required, list(schema.properties))
        """
        op = self._dialect.require(self._ops.worker_input_schema, "workers.input_schema")
        request = WorkerDetailRequest(require_slug("worker", worker))
        return await self._manager.call(op, request, timeout=timeout, max_retries=max_retries)

    async def queue(
        self,
        worker: str,
        *,
        input: Mapping[str, Any] | WorkerInput,
        version: str | None = None,
        callback_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> QueuedRun:
        """Put a run of ``worker`` in the run queue (``POST /api/v2/workers/{id}/queued-runs``)
        instead of starting it: it waits there (for balance or plan capacity) until
        ``client.queue.activate([queued.queue_ref])`` starts it. Never re-sent once it may have
        reached the server.

        Raises:
            UnsupportedOperationError: on API v1. InvalidParameterError: bad arguments.
            WorkerNotFoundError: no such Worker. RunStartUnknownError: sent, outcome unknown.

        Example::

            queued = await client.workers.queue(worker_slug, input={"searchTerms": ["tea"]})
            print(queued.queue_ref, queued.queue_status)
        """
        op = self._dialect.require(self._ops.worker_queue, "workers.queue")
        request = self.prepare(worker, input=input, version=version, callback_url=callback_url)
        return await self._manager.call(op, request, timeout=timeout, max_retries=max_retries)


def _worker_key(worker: StoreWorker) -> str:
    return worker.slug
