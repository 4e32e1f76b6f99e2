"""runs.wait against FakeCoreClaw: final states, its own deadline, the aborting grace, the poll cadence."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from coreclaw_async import APITimeoutError, RunStatus, WaitTimeoutError
from coreclaw_async.testing import Fault

from .support import Paths, serving, start_run


async def test_wait_returns_the_final_run(api_version: str) -> None:
    async with serving(api_version, run_schedule=(0.05, 0.1), rows_per_run=7) as (_, client):
        run = await client.runs.wait(await start_run(client), poll_interval=0.02)

    assert run.status is RunStatus.SUCCEEDED
    assert run.results == 7


async def test_wait_on_a_final_run_returns_after_one_check(api_version: str, paths: Paths) -> None:
    async with serving(api_version, run_schedule=(0.0, 0.0)) as (fake, client):
        slug = await start_run(client)
        fake.reset_counters()

        run = await client.runs.wait(slug)

        assert run.is_final
        assert paths.counts(fake) == {"run_get": 1}


async def test_wait_raises_at_its_own_deadline_with_the_last_run(api_version: str) -> None:
    async with serving(api_version, run_schedule=(0.0, 30.0)) as (_, client):
        slug = await start_run(client)
        loop = asyncio.get_running_loop()
        started = loop.time()

        with pytest.raises(WaitTimeoutError) as caught:
            await client.runs.wait(slug, timeout=0.3, poll_interval=0.05)

    assert 0.25 <= loop.time() - started < 1.5
    assert caught.value.last_run is not None
    assert caught.value.last_run.run_slug == slug
    assert caught.value.last_run.status is RunStatus.RUNNING


async def test_a_slow_status_call_does_not_stretch_the_wait_deadline(api_version: str, paths: Paths) -> None:
    async with serving(api_version, run_schedule=(0.0, 30.0)) as (fake, client):
        slug = await start_run(client)
        fake.inject(Fault.SLOW, path=paths.pattern("run_get", run=slug), delay=5.0)
        loop = asyncio.get_running_loop()
        started = loop.time()

        with pytest.raises(WaitTimeoutError) as caught:
            await client.runs.wait(slug, timeout=0.3)

    assert loop.time() - started < 1.5
    assert caught.value.last_run is None
    assert isinstance(caught.value.__cause__, APITimeoutError)


async def test_a_run_stuck_aborting_is_returned_after_the_grace(api_version: str) -> None:
    async with serving(api_version, run_schedule=(0.0, 30.0), abort_linger=None) as (_, client):
        slug = await start_run(client)
        await client.runs.abort(slug)
        loop = asyncio.get_running_loop()
        started = loop.time()

        run = await client.runs.wait(slug, timeout=10, poll_interval=0.05, abort_grace=0.3)

    assert run.status is RunStatus.ABORTING
    assert not run.is_final
    assert 0.3 <= loop.time() - started < 1.5


async def test_zero_grace_returns_an_aborting_run_at_once(api_version: str, paths: Paths) -> None:
    async with serving(api_version, run_schedule=(0.0, 30.0), abort_linger=None) as (fake, client):
        slug = await start_run(client)
        await client.runs.abort(slug)
        fake.reset_counters()

        run = await client.runs.wait(slug, abort_grace=0)

        assert run.status is RunStatus.ABORTING
        assert paths.counts(fake) == {"run_get": 1}


async def test_an_aborted_run_that_settles_within_the_grace_is_returned_final(api_version: str) -> None:
    async with serving(api_version, run_schedule=(0.0, 30.0), abort_linger=0.1) as (_, client):
        slug = await start_run(client)
        await client.runs.abort(slug)

        run = await client.runs.wait(slug, poll_interval=0.02, abort_grace=5)

    assert run.status is RunStatus.FAILED


async def test_polls_never_wait_longer_than_the_poll_interval(api_version: str) -> None:
    async with serving(api_version, run_schedule=(0.0, 30.0)) as (_, client):
        slug = await start_run(client)
        loop = asyncio.get_running_loop()
        times: list[float] = []

        with pytest.raises(WaitTimeoutError):
            await client.runs.wait(
                slug, timeout=0.8, poll_interval=0.2, on_poll=lambda _: times.append(loop.time())
            )

    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(times) >= 4
    assert max(gaps) <= 0.2 + 0.15  # the interval plus one request on loopback
