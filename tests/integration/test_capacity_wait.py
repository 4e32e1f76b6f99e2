"""``wait_for_capacity``: starts refused with 30003 wait for the plan's limit to free up, together."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from coreclaw_async import AsyncCoreClaw, ConcurrencyLimitError, RetryPolicy
from coreclaw_async.testing import FakeCoreClaw

from .support import client_for

CALLBACK_URL = "https://hooks.example.com/coreclaw"

# Short waits for tests: the defaults (1 s doubling to 30 s) suit runs of seconds to minutes.
FAST_CAPACITY = RetryPolicy(wait_for_capacity=True, capacity_backoff_base=0.05, capacity_backoff_max=0.4)


def _client(fake: FakeCoreClaw, *, retry: RetryPolicy = FAST_CAPACITY, **kwargs: Any) -> AsyncCoreClaw:
    return client_for(fake, callback_url=CALLBACK_URL, retry=retry, **kwargs)


async def test_a_plan_limit_of_10_starts_all_100_runs_with_few_refusals_per_run(api_version: str) -> None:
    async with (
        FakeCoreClaw(
            api_versions=(api_version,),
            tasks=1,
            concurrency_limit=10,
            concurrency_counts_ready=True,
            run_schedule=(0.05, 0.2),
        ) as fake,
        _client(fake) as client,
    ):
        outcomes = await client.tasks.run_all([fake.task_slugs[0]] * 100, concurrency=100, timeout=60)

        assert [o.started for o in outcomes] == [True] * 100
        assert len(fake.runs) == 100
        refused = fake.concurrency_refusals
        assert refused / 100 <= 3  # a few refused requests per run at most, on average
        assert client.stats.capacity_refusals == refused
        assert client.stats.failed == 0
        assert client.stats.retries.get("code_30003", 0) == 0  # capacity waits are not retries
        assert client.stats.capacity_wait_seconds > 0


async def test_capacity_waits_do_not_spend_max_retries(api_version: str) -> None:
    async with (
        FakeCoreClaw(
            api_versions=(api_version,),
            tasks=1,
            concurrency_limit=2,
            concurrency_counts_ready=True,
            run_schedule=(0.0, 0.1),
        ) as fake,
        _client(fake, max_retries=0) as client,
    ):
        outcomes = await client.tasks.run_all([fake.task_slugs[0]] * 12, concurrency=12, timeout=30)

        assert all(o.started for o in outcomes)
        assert fake.concurrency_refusals >= 1


async def test_a_capacity_wait_ends_at_the_call_deadline_with_nothing_started(api_version: str) -> None:
    async with (
        FakeCoreClaw(api_versions=(api_version,), tasks=1, concurrency_limit=0) as fake,
        _client(fake) as client,
    ):
        loop = asyncio.get_running_loop()
        started_at = loop.time()

        with pytest.raises(ConcurrencyLimitError) as caught:
            await client.tasks.run(fake.task_slugs[0], timeout=1.0)

        assert loop.time() - started_at < 1.5
        assert caught.value.sent is True
        assert caught.value.outcome == "rejected"
        assert fake.runs == []
        # The backoff grows (0.05, 0.1, 0.2, 0.4 s ceilings, jittered): a handful of probes, not a storm.
        assert 2 <= fake.concurrency_refusals <= 12


async def test_without_the_opt_in_a_30003_is_raised_at_once_and_counted(api_version: str) -> None:
    async with (
        FakeCoreClaw(api_versions=(api_version,), tasks=1, concurrency_limit=0) as fake,
        _client(fake, retry=RetryPolicy()) as client,
    ):
        with pytest.raises(ConcurrencyLimitError):
            await client.tasks.run(fake.task_slugs[0])

        assert fake.concurrency_refusals == 1
        assert client.stats.capacity_refusals == 1


async def test_while_capacity_is_full_the_other_starts_of_the_client_queue_instead_of_polling(
    api_version: str,
) -> None:
    slow = RetryPolicy(wait_for_capacity=True, capacity_backoff_base=0.3, capacity_backoff_max=0.3)
    async with (
        FakeCoreClaw(
            api_versions=(api_version,),
            tasks=1,
            concurrency_limit=1,
            concurrency_counts_ready=True,
            run_schedule=(0.0, 30.0),
        ) as fake,
        _client(fake, retry=slow) as client,
    ):
        await client.tasks.run(fake.task_slugs[0])  # takes the only slot for 30 s
        waiting = [asyncio.ensure_future(client.tasks.run(fake.task_slugs[0], timeout=30)) for _ in range(20)]
        await asyncio.sleep(1.0)

        # 20 starts, about a second of waiting: the first wave is refused once each at most,
        # then a single probe goes every ~0.15-0.3 s for the whole client.
        assert fake.concurrency_refusals <= 20 + 8
        assert not any(task.done() for task in waiting)
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        assert len(fake.runs) == 1
        assert client.stats.in_flight == 0
