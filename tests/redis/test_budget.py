"""``RedisBudget`` against a real redis-server and FakeCoreClaw over loopback HTTP.

Several budgets of one name in one test stand for several processes: they share nothing
but Redis. The tests that need real processes are in ``test_budget_processes.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from coreclaw_async import (
    APITimeoutError,
    AsyncCoreClaw,
    BudgetTimeout,
    BudgetUnavailableError,
    ConcurrencyLimitError,
    InvalidParameterError,
    RateLimitError,
)
from coreclaw_async.redis import RedisBudget
from coreclaw_async.testing import FakeCoreClaw, Fault

from .server import RedisServer


@pytest.fixture
async def fake() -> AsyncIterator[FakeCoreClaw]:
    async with FakeCoreClaw(api_versions=("v1",), seed=5) as server:
        yield server


def _client(fake: FakeCoreClaw, budget: RedisBudget, **kwargs: Any) -> AsyncCoreClaw:
    return AsyncCoreClaw(fake.api_key, base_url=fake.url, budget=budget, **kwargs)


# -- arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "a b"}, "name"),
        ({"name": "a{b}"}, "name"),
        ({"name": 7}, "name"),
        ({"name": "x", "max_rate": 0}, "max_rate"),
        ({"name": "x", "max_rate": float("nan")}, "max_rate"),
        ({"name": "x", "max_in_flight": 0}, "max_in_flight"),
        ({"name": "x", "max_in_flight": 2.5}, "max_in_flight"),
        ({"name": "x", "on_unavailable": "ignore"}, "on_unavailable"),
        ({"name": "x", "redis_timeout": 0}, "redis_timeout"),
        ({"name": "x", "lease_margin": -1}, "lease_margin"),
    ],
)
async def test_bad_arguments_are_refused_with_the_field_named(
    redis: aioredis.Redis, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        RedisBudget(redis, **kwargs)

    assert caught.value.field == field


def test_a_budget_needs_a_redis_client_and_a_client_needs_a_budget() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        RedisBudget("redis://localhost", name="x")
    assert caught.value.field == "redis"

    with pytest.raises(InvalidParameterError) as caught:
        AsyncCoreClaw("key", budget="redis://localhost")  # type: ignore[arg-type]
    assert caught.value.field == "budget"


# -- sharing -------------------------------------------------------------------------------


async def test_the_rate_is_shared_by_clients_of_the_same_name(
    redis: aioredis.Redis, fake: FakeCoreClaw, name: str
) -> None:
    loop = asyncio.get_running_loop()
    first, second = RedisBudget(redis, name=name, max_rate=20), RedisBudget(redis, name=name, max_rate=20)
    async with _client(fake, first) as a, _client(fake, second) as b:
        started = loop.time()
        await asyncio.gather(*(client.account.info() for client in (a, b) for _ in range(15)))
        elapsed = loop.time() - started

    # 30 requests at 20 per second for both together: the last one goes out 29 intervals after
    # the first. Each budget alone would have let its 15 through in 0.7 s.
    assert elapsed >= 29 / 20 - 0.05
    assert fake.requests_by_path == {"/api/v1/account/info": 30}
    assert first.stats.acquires == second.stats.acquires == 15
    assert first.stats.round_trips + second.stats.round_trips <= 31  # one ask each, one release flush at most


async def test_budgets_of_other_names_do_not_share(
    redis: aioredis.Redis, fake: FakeCoreClaw, name: str
) -> None:
    loop = asyncio.get_running_loop()
    async with (
        _client(fake, RedisBudget(redis, name=name + "-a", max_rate=10)) as a,
        _client(fake, RedisBudget(redis, name=name + "-b", max_rate=10)) as b,
    ):
        started = loop.time()
        await asyncio.gather(a.account.info(), b.account.info())
        # One request each: neither waits for the other's pace.
        assert loop.time() - started < 1 / 10 + 0.5


async def test_requests_in_flight_are_capped_across_clients(redis: aioredis.Redis, name: str) -> None:
    async with FakeCoreClaw(api_versions=("v1",), latency=0.05) as fake:
        budgets = [RedisBudget(redis, name=name, max_in_flight=3) for _ in range(2)]
        seen: list[int] = []
        stop = asyncio.Event()

        async def sample() -> None:
            # Bounded by the gather below: stops as soon as the requests are done.
            while not stop.is_set():
                seen.append(await redis.zcard(f"coreclaw:budget:{{{name}}}:leases"))
                await asyncio.sleep(0.005)

        async with _client(fake, budgets[0]) as a, _client(fake, budgets[1]) as b:
            sampler = asyncio.create_task(sample())
            try:
                await asyncio.gather(*(c.account.info() for c in (a, b) for _ in range(12)))
            finally:
                stop.set()
                await sampler

    assert max(seen) == 3
    assert sum(budget.stats.waits for budget in budgets) > 0
    assert fake.requests_by_path == {"/api/v1/account/info": 24}


async def test_a_rate_limit_answer_makes_every_client_wait_it_out(
    redis: aioredis.Redis, fake: FakeCoreClaw, name: str
) -> None:
    loop = asyncio.get_running_loop()
    first, second = RedisBudget(redis, name=name), RedisBudget(redis, name=name)
    async with _client(fake, first, max_retries=0) as a, _client(fake, second) as b:
        await b.account.info()  # b listens from now on
        fake.inject(Fault.RATE_LIMIT, retry_after=1.0)
        with pytest.raises(RateLimitError):
            await a.account.info()
        fake.reset_counters()
        # The cooldown is shared in the background: wait (bounded) until b has heard of it.
        for _ in range(100):
            if second.stats.cooldowns_heard:
                break
            await asyncio.sleep(0.01)

        # Too short a deadline for the cooldown: refused before sending.
        with pytest.raises(APITimeoutError) as caught:
            await b.account.info(timeout=0.3)
        assert caught.value.outcome == "not_sent"
        assert "rate limit" in str(caught.value)
        assert fake.requests_by_path == {}

        started = loop.time()
        await b.account.info()
        waited = loop.time() - started

    assert waited > 0.3  # the rest of the 1 s cooldown (some of it passed above)
    assert first.stats.cooldowns_shared == 1
    assert second.stats.cooldowns_heard >= 1
    assert fake.requests_by_path == {"/api/v1/account/info": 1}


async def test_a_capacity_refusal_holds_other_clients_waiting_starts(
    redis: aioredis.Redis, name: str
) -> None:
    async with FakeCoreClaw(api_versions=("v1",), concurrency_limit=1, run_schedule=(0.0, 0.6)) as fake:
        task = fake.task_slugs[0]
        first, second = RedisBudget(redis, name=name), RedisBudget(redis, name=name)
        options: dict[str, Any] = {"wait_for_capacity": True, "callback_url": "https://example.com/hook"}
        async with _client(fake, first, **options) as a, _client(fake, second, **options) as b:
            await a.tasks.run(task)  # fills the plan
            await b.account.info()  # b listens from now on
            with pytest.raises(ConcurrencyLimitError):
                await a.tasks.run(task, timeout=0.5)  # refused, then waits for capacity in vain
            refusals = fake.concurrency_refusals
            for _ in range(100):  # bounded: until b has heard of the hold
                if second.stats.cooldowns_heard:
                    break
                await asyncio.sleep(0.01)
            # The other client's start holds off too: its deadline ends before the backoff does.
            with pytest.raises(APITimeoutError) as caught:
                await b.tasks.run(task, timeout=0.3)
            assert caught.value.outcome == "not_sent"
            assert fake.concurrency_refusals == refusals
            # Reads are not held back.
            await b.account.info(timeout=0.3)

    assert first.stats.cooldowns_shared >= 1


async def test_a_killed_processs_leases_come_back_after_they_lapse(redis: aioredis.Redis, name: str) -> None:
    loop = asyncio.get_running_loop()
    # A process that took both slots and died: its leases are never released.
    gone = RedisBudget(redis, name=name, max_in_flight=2, lease_margin=0.0)
    leases = [await gone.acquire(loop.time() + 0.6) for _ in range(2)]
    assert all(leases)
    await gone.aclose()

    alive = RedisBudget(redis, name=name, max_in_flight=2)
    with pytest.raises(BudgetTimeout) as caught:
        await alive.acquire(loop.time() + 0.2)
    assert caught.value.reason == "slot"
    lease = await alive.acquire(loop.time() + 3.0)
    alive.release(lease)
    await alive.aclose()

    assert lease is not None
    # Released: gone from the lease set (the dead process's other lease lapses on its own).
    assert await redis.zscore(f"coreclaw:budget:{{{name}}}:leases", lease) is None


# -- Redis unreachable -----------------------------------------------------------------------


async def test_redis_down_mid_batch_the_batch_finishes_on_local_limits_then_sharing_resumes(
    own_redis_server: RedisServer, fake: FakeCoreClaw, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    redis = aioredis.Redis.from_url(own_redis_server.url, socket_connect_timeout=0.2)
    budget = RedisBudget(redis, name=name, max_rate=400, retry_interval=0.2)
    task = fake.task_slugs[0]
    try:
        async with _client(fake, budget, callback_url="https://example.com/hook") as client:
            killed = False

            def items() -> Any:
                nonlocal killed
                for index in range(300):
                    if index == 100 and not killed:
                        own_redis_server.kill()
                        killed = True
                    yield task

            with caplog.at_level(logging.WARNING, logger="coreclaw_async"):
                outcomes = [outcome async for outcome in client.tasks.run_many(items(), concurrency=20)]
            stats_down = budget.stats

            own_redis_server.start()
            await asyncio.sleep(0.3)  # past retry_interval
            before = budget.stats.round_trips
            for _ in range(5):
                await client.account.info()
            stats_back = budget.stats
    finally:
        await redis.aclose()

    started = [o.run.run_slug for o in outcomes if o.run is not None]
    assert len(outcomes) == 300
    assert all(o.error is None for o in outcomes)
    assert sorted(started) == sorted(run.slug for run in fake.runs)  # nothing lost, nothing twice
    assert len(set(started)) == 300
    assert stats_down.outages == 1
    assert stats_down.unavailable > 0
    assert stats_back.round_trips > before
    assert budget.available
    messages = [r.getMessage() for r in caplog.records if "shared budget" in r.getMessage()]
    assert sum("unreachable" in m for m in messages) == 1


async def test_with_on_unavailable_raise_requests_fail_as_not_sent(
    own_redis_server: RedisServer, fake: FakeCoreClaw, name: str
) -> None:
    redis = aioredis.Redis.from_url(own_redis_server.url, socket_connect_timeout=0.2)
    budget = RedisBudget(redis, name=name, max_rate=100, on_unavailable="raise")
    try:
        async with _client(fake, budget, callback_url="https://example.com/hook") as client:
            await client.account.info()
            own_redis_server.kill()
            fake.reset_counters()
            with pytest.raises(BudgetUnavailableError) as caught:
                await client.tasks.run(fake.task_slugs[0])
            outcomes = [o async for o in client.tasks.run_many([fake.task_slugs[0]] * 3)]
    finally:
        await redis.aclose()

    assert caught.value.outcome == "not_sent"
    assert caught.value.path is not None
    assert [o.started for o in outcomes] == [False, False, False]
    assert all(isinstance(o.error, BudgetUnavailableError) for o in outcomes)
    assert fake.runs == []
    assert fake.requests_by_path == {}
