"""``client.workers``: start Worker runs, read a Worker's input schema, search the store."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, overload

import attrs

from .._constants import (
    DEFAULT_STORE_LIMIT,
    MEMORY_CHOICES_MB,
    SYNC_RESULT_MAX_PAGE_SIZE,
    SYNC_RESULT_PAGE_SIZE,
)
from .._json import dumps
from .._validation import (
    require_bool,
    require_callback_url,
    require_int,
    require_number,
    require_optional_slug,
    require_slug,
    require_text,
)
from ..errors import InvalidParameterError
from ..models.runs import RunRequest, StartedRun
from ..models.workers import (
    StoreSearchRequest,
    StoreWorker,
    SystemParameters,
    Worker,
    WorkerDetailRequest,
    WorkerInput,
    WorkerRunRequest,
    WorkerRunSync,
)
from ._base import Resource

__all__ = ["AsyncWorkers"]

_REGION = re.compile(r"[A-Z]{2}")
_SYSTEM_KEYS = frozenset(field.name for field in attrs.fields(SystemParameters))


def _check_system(system: SystemParameters) -> SystemParameters:
    require_number("cpus", system.cpus, minimum=0, exclusive=True)
    memory = require_int("memory", system.memory, minimum=1)
    if memory not in MEMORY_CHOICES_MB:
        raise InvalidParameterError("memory", f"must be one of {MEMORY_CHOICES_MB} (MB), got {memory}")
    require_int("execute_limit_time_seconds", system.execute_limit_time_seconds, minimum=1)
    require_number("max_total_charge", system.max_total_charge, minimum=0)
    require_number("max_total_traffic", system.max_total_traffic, minimum=0)
    region = system.proxy_region
    if region is not None and (not isinstance(region, str) or not _REGION.fullmatch(region)):
        raise InvalidParameterError(
            "proxy_region", f"must be an ISO-3166 alpha-2 code such as 'US', got {region!r}"
        )
    return system


def _system_from_mapping(raw: Mapping[str, Any]) -> SystemParameters:
    values = dict(raw)
    # Worker detail has sent the memory size as `memory_bytes` (still MB); both mean `memory`.
    if "memory_bytes" in values:
        legacy = values.pop("memory_bytes")
        values.setdefault("memory", legacy)
    unknown = sorted(map(str, set(values) - _SYSTEM_KEYS))
    if unknown:
        raise InvalidParameterError("input", f"unknown system settings: {', '.join(unknown)}")
    return SystemParameters(**values)


def _split_input(value: Mapping[str, Any] | WorkerInput) -> tuple[Mapping[str, Any], SystemParameters | None]:
    """Return (custom, system) from a ``WorkerInput``, a wire-shaped dict or a plain custom dict."""
    if isinstance(value, WorkerInput):
        return value.custom, value.system
    if not isinstance(value, Mapping):
        raise InvalidParameterError("input", f"must be a mapping or WorkerInput, got {type(value).__name__}")
    parameters = value.get("parameters")
    if set(value) == {"parameters"} and isinstance(parameters, Mapping) and "custom" in parameters:
        custom = parameters["custom"]
        if not isinstance(custom, Mapping):
            raise InvalidParameterError("input", "parameters.custom must be a mapping")
        system = parameters.get("system")
        if system is not None and not isinstance(system, Mapping):
            raise InvalidParameterError("input", "parameters.system must be a mapping")
        return custom, _system_from_mapping(system) if system is not None else None
    return value, None


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
        custom, input_system = _split_input(input)
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
        settings = _check_system(attrs.evolve(base, **chosen) if chosen else base)
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
            WorkerNotFoundError (50001), WorkerVersionUnavailableError (50003),
            InvalidRequestError (4000: input does not fit the schema), InsufficientBalanceError,
            ConcurrencyLimitError, RateLimitError, ...: the server refused the start.
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
        """Return a Worker's latest version, README and live input schema (``GET /api/scraper``, public).

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
    ) -> list[StoreWorker]:
        """Search the Worker store by text (``GET /api/store``; no key needed).

        Raises:
            InvalidParameterError: blank ``query`` (the server rejects it too) or ``limit`` < 1.

        Example::

            for worker in await client.workers.search("amazon", limit=5):
                print(worker.slug, worker.title)
        """
        query = require_text("query", query).strip()
        request = StoreSearchRequest(search=query, limit=require_int("limit", limit, minimum=1))
        return await self._manager.call(
            self._ops.store_search, request, timeout=timeout, max_retries=max_retries
        )
