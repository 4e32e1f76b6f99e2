"""The plan concurrency limit as a burst of client starts meets it: ready runs count by default."""

from __future__ import annotations

import asyncio

import pytest

from coreclaw_async import AsyncCoreClaw, ConcurrencyLimitError, StartedRun
from coreclaw_async.testing import FakeCoreClaw

from .conftest import CALLBACK

# Runs stay ready for the whole test: none starts running, none ends.
QUEUED = (30.0, 30.0)


async def burst(fake: FakeCoreClaw, version: str, starts: int) -> list[StartedRun | BaseException]:
    async with AsyncCoreClaw(
        fake.api_key,
        base_url=fake.url,
        api_version=version,
        callback_url=CALLBACK,
        max_retries=0,
        wait_for_capacity=False,
    ) as client:
        slug = fake.task_slugs[0]
        return await asyncio.gather(*(client.tasks.run(slug) for _ in range(starts)), return_exceptions=True)


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_a_burst_of_50_starts_against_a_limit_of_10_creates_10_runs_and_40_refusals(
    version: str,
) -> None:
    async with FakeCoreClaw(
        api_versions=(version,), tasks=1, run_schedule=QUEUED, concurrency_limit=10
    ) as fake:
        outcomes = await burst(fake, version, 50)

        started = [o for o in outcomes if isinstance(o, StartedRun)]
        refused = [o for o in outcomes if isinstance(o, ConcurrencyLimitError)]
        assert (len(started), len(refused)) == (10, 40)
        assert {error.code for error in refused} == {30003}
        assert sorted(run.run_slug for run in started) == sorted(run.slug for run in fake.runs)
        assert fake.concurrency_refusals == 40
        assert fake.stats()["runs_created"] == 10


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_counting_running_runs_only_accepts_the_whole_burst_while_runs_are_ready(version: str) -> None:
    async with FakeCoreClaw(
        api_versions=(version,),
        tasks=1,
        run_schedule=QUEUED,
        concurrency_limit=10,
        concurrency_counts_ready=False,
    ) as fake:
        outcomes = await burst(fake, version, 50)

        assert all(isinstance(o, StartedRun) for o in outcomes), outcomes
        assert len(fake.runs) == 50
        assert fake.concurrency_refusals == 0
