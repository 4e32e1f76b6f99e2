"""The clients under comparison, each doing the same job: start N saved-Task runs, C at a time.

The job: POST ``{"task_slug": ..., "callback_url": ...}`` to ``/api/v1/task/run`` with the API
key header, read the body, check the envelope (``code == 0``), take ``data.run_slug``, count
successes and failures. Inputs are generators, so no contender holds the whole input.

* ``coreclaw`` - ``client.tasks.run_many`` (``AsyncCoreClaw``, ``max_connections`` = C). If the
  installed package has no ``run_many``, a bounded worker pool over ``client.tasks.run`` stands
  in and the label says so.
* ``coreclaw-v2`` - the same ``run_many`` speaking API v2 (Bearer, the task in the path); its
  ratio to the floor is compared with v1's.
* ``coreclaw-pool`` - a diagnostic: the same worker pool as the floor, over
  ``client.tasks.run``. Against ``coreclaw`` it isolates the cost of the fan-out machinery;
  against ``floor`` the cost of one call through our pipeline.
* ``floor`` - raw aiohttp: one ``ClientSession``, ``TCPConnector(limit=C)``, C worker tasks,
  orjson ``dumps``/``loads``, the envelope check. Nothing can do this job with less work in
  Python on aiohttp, so it is the reference every ratio is taken against.
* ``httpx`` - the same worker pool on ``httpx.AsyncClient`` (a peer), with orjson too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from _harness import CALLBACK_URL, Target


@dataclass
class Tally:
    """What one run of a contender achieved."""

    ok: int = 0
    failed: int = 0
    first_error: str | None = None
    last_slug: str | None = field(default=None, repr=False)
    # What a contender keeps of the whole run: the floor keeps one run slug per start, run_all
    # its list of outcomes (the scale scenario's memory is measured with these alive).
    kept: list[Any] | None = field(default=None, repr=False)

    def fail(self, error: object) -> None:
        self.failed += 1
        if self.first_error is None:
            self.first_error = f"{type(error).__name__}: {error}"[:300]


def items(slugs: tuple[str, ...], count: int) -> Iterator[str]:
    """A generator of ``count`` task slugs, cycling through ``slugs`` (no length hint)."""
    size = len(slugs)
    for number in range(count):
        yield slugs[number % size]


def _envelope_slug(raw: bytes) -> str | None:
    """The floor's envelope check: ``data.run_slug`` of a ``code == 0`` envelope, else ``None``."""
    payload = orjson.loads(raw)
    if type(payload) is dict and payload.get("code") == 0:
        data = payload.get("data")
        if type(data) is dict:
            slug = data.get("run_slug")
            if type(slug) is str:
                return slug
    return None


async def worker_pool(
    source: Iterator[str], concurrency: int, start: Callable[[str], Awaitable[str | None]], tally: Tally
) -> None:
    """Run ``start`` over ``source`` with ``concurrency`` worker tasks sharing the iterator.

    With ``tally.kept`` set, every run slug is appended to it.
    """
    kept = tally.kept

    async def worker() -> None:
        # Bounded by the input: each pass takes one item.
        for slug in source:
            try:
                run_slug = await start(slug)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                tally.fail(exc)
                continue
            if run_slug is None:
                tally.fail("envelope code != 0")
            else:
                tally.ok += 1
                tally.last_slug = run_slug
                if kept is not None:
                    kept.append(run_slug)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


class Contender:
    """Opened once per measurement (inside its event loop), run for warm-up and timed runs, closed."""

    name = ""
    label = ""

    async def open(self, target: Target, concurrency: int) -> None:
        raise NotImplementedError

    async def run(self, source: Iterator[str], concurrency: int) -> Tally:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class CoreclawRunMany(Contender):
    """``client.tasks.run_many`` when the package has it, else a worker pool over ``tasks.run``."""

    name = "coreclaw"
    label = "coreclaw run_many"
    FALLBACK_LABEL = "coreclaw FALLBACK: tasks.run pool (no run_many)"

    # The hot path as such: no OpenTelemetry spans (on by default when OpenTelemetry is
    # installed, as it is in the bench venv); ``coreclaw-all-otel`` measures them.
    telemetry: bool | None = False

    def __init__(self) -> None:
        self._client: Any = None
        self.uses_run_many = True

    async def open(self, target: Target, concurrency: int) -> None:
        from coreclaw_async import AsyncCoreClaw

        options: dict[str, Any] = {}
        if self.telemetry is not None:
            options["telemetry"] = self.telemetry  # older releases have no such argument
        self._client = AsyncCoreClaw(
            target.api_key,
            base_url=target.base_url,
            callback_url=CALLBACK_URL,
            max_connections=concurrency,
            **options,
        )
        self.uses_run_many = hasattr(self._client.tasks, "run_many")
        self.label = type(self).label if self.uses_run_many else self.FALLBACK_LABEL

    async def run(self, source: Iterator[str], concurrency: int) -> Tally:
        tally = Tally()
        if not self.uses_run_many:
            await worker_pool(source, concurrency, self._start, tally)
            return tally
        batch = self._client.tasks.run_many(source, concurrency=concurrency)
        async with batch:
            async for outcome in batch:
                if outcome.run is not None:
                    tally.ok += 1
                    tally.last_slug = outcome.run.run_slug
                else:
                    tally.fail(outcome.error)
        return tally

    async def _start(self, slug: str) -> str | None:
        run = await self._client.tasks.run(slug)
        return str(run.run_slug)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class CoreclawRunAll(CoreclawRunMany):
    """``await client.tasks.run_all(...)``: every outcome kept, in input order, until the end."""

    name = "coreclaw-all"
    label = "coreclaw run_all"

    async def open(self, target: Target, concurrency: int) -> None:
        await super().open(target, concurrency)
        self.label = type(self).label

    async def run(self, source: Iterator[str], concurrency: int) -> Tally:
        outcomes = await self._client.tasks.run_all(source, concurrency=concurrency)
        tally = Tally(kept=outcomes)
        for outcome in outcomes:
            if outcome.run is not None:
                tally.ok += 1
                tally.last_slug = outcome.run.run_slug
            else:
                tally.fail(outcome.error)
        return tally


class CoreclawRunAllTraced(CoreclawRunAll):
    """Diagnostic: ``run_all`` with the client's default telemetry (on: OpenTelemetry's API is
    installed and no SDK is configured, so spans and metrics go to its no-op providers)."""

    name = "coreclaw-all-otel"
    label = "coreclaw run_all, telemetry default (diag.)"
    telemetry = None


class CoreclawRunManyV2(CoreclawRunMany):
    """``client.tasks.run_many`` speaking API v2 (``POST /api/v2/worker-tasks/{task}/runs``)."""

    name = "coreclaw-v2"
    label = "coreclaw run_many (API v2)"

    async def open(self, target: Target, concurrency: int) -> None:
        from coreclaw_async import AsyncCoreClaw

        self._client = AsyncCoreClaw(
            target.api_key,
            base_url=target.base_url,
            max_connections=concurrency,
            api_version="v2",
            telemetry=False,
        )
        self.uses_run_many = True
        self.label = type(self).label


class CoreclawPool(CoreclawRunMany):
    """Diagnostic: the floor's worker pool, each item through ``client.tasks.run``."""

    name = "coreclaw-pool"
    label = "coreclaw tasks.run pool (diag.)"

    async def run(self, source: Iterator[str], concurrency: int) -> Tally:
        tally = Tally()
        await worker_pool(source, concurrency, self._start, tally)
        return tally

    async def open(self, target: Target, concurrency: int) -> None:
        await super().open(target, concurrency)
        self.label = type(self).label


class RawAiohttpFloor(Contender):
    """The floor: raw aiohttp with orjson, no models, no limiter, no retries."""

    name = "floor"
    label = "raw aiohttp floor"

    def __init__(self) -> None:
        self._session: Any = None
        self._url = ""

    async def open(self, target: Target, concurrency: int) -> None:
        import aiohttp

        self._url = target.run_url
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "api-key": target.api_key,
            },
        )

    async def _start(self, slug: str) -> str | None:
        body = orjson.dumps({"task_slug": slug, "callback_url": CALLBACK_URL})
        async with self._session.post(self._url, data=body) as resp:
            raw = await resp.read()
        return _envelope_slug(raw)

    async def run(self, source: Iterator[str], concurrency: int) -> Tally:
        # The floor keeps one run slug per start: the least a caller of run_all keeps.
        tally = Tally(kept=[])
        await worker_pool(source, concurrency, self._start, tally)
        return tally

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class HttpxPeer(Contender):
    """A peer: ``httpx.AsyncClient`` with the same pool and orjson."""

    name = "httpx"
    label = "httpx.AsyncClient (peer)"

    def __init__(self) -> None:
        self._client: Any = None

    async def open(self, target: Target, concurrency: int) -> None:
        import httpx

        self._client = httpx.AsyncClient(
            base_url=target.base_url,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "api-key": target.api_key,
            },
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            timeout=httpx.Timeout(60.0, pool=None),
        )

    async def _start(self, slug: str) -> str | None:
        body = orjson.dumps({"task_slug": slug, "callback_url": CALLBACK_URL})
        resp = await self._client.post("/api/v1/task/run", content=body)
        return _envelope_slug(resp.content)

    async def run(self, source: Iterator[str], concurrency: int) -> Tally:
        tally = Tally()
        await worker_pool(source, concurrency, self._start, tally)
        return tally

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class ApifyPeer(Contender):
    """A peer: apify-client's async client starting an Actor run per item (the Apify API's
    equivalent call, ``POST /v2/acts/{actor}/runs``, answered by the stub), in the same pool."""

    name = "apify"
    label = "apify-client async (peer)"

    def __init__(self) -> None:
        self._client: Any = None
        self._actors: dict[str, Any] = {}

    async def open(self, target: Target, concurrency: int) -> None:
        from apify_client import ApifyClientAsync

        self._client = ApifyClientAsync(token=target.api_key, api_url=target.base_url)
        # One resource client per actor, made once: the cheapest way to use it in a loop.
        self._actors = {slug: self._client.actor(slug) for slug in target.task_slugs}

    async def _start(self, slug: str) -> str | None:
        run = await self._actors[slug].start(run_input={"task_slug": slug, "callback_url": CALLBACK_URL})
        return str(run.id)

    async def run(self, source: Iterator[str], concurrency: int) -> Tally:
        tally = Tally()
        await worker_pool(source, concurrency, self._start, tally)
        return tally

    async def close(self) -> None:
        self._client = None
        self._actors = {}


CONTENDERS: dict[str, type[Contender]] = {
    cls.name: cls
    for cls in (
        RawAiohttpFloor,
        CoreclawRunMany,
        CoreclawRunAll,
        CoreclawRunAllTraced,
        CoreclawRunManyV2,
        CoreclawPool,
        HttpxPeer,
        ApifyPeer,
    )
}
