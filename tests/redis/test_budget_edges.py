"""``RedisBudget`` where it meets the rest of a deployment: a stalled Redis, short deadlines, a
capped connection pool, forked workers, several databases, clients closing mid-flight.

Each test is a defect found in review, against a real redis-server.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from coreclaw_async import APITimeoutError, AsyncCoreClaw, BudgetTimeout
from coreclaw_async.redis import BudgetUnavailableError, RedisBudget
from coreclaw_async.testing import FakeCoreClaw

from .server import RedisServer, running_redis_server


def _leases(name: str) -> str:
    return f"coreclaw:budget:{{{name}}}:leases"


async def _until(check: Any, seconds: float) -> bool:
    """Poll ``check()`` every 20 ms until true, for at most ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.02)
    return bool(await check())


@pytest.fixture
def paused_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of the test's own, resumed on the way out whatever the test did to it."""
    with running_redis_server(tmp_path / "redis") as server:
        try:
            yield server
        finally:
            server.resume()


@pytest.fixture
async def own_redis(paused_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(paused_server.url)
    try:
        yield client
    finally:
        await client.aclose()


async def test_leases_released_while_redis_stalls_go_back_once_it_answers(
    paused_server: RedisServer, own_redis: aioredis.Redis, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.get_running_loop()
    budget = RedisBudget(own_redis, name=name, max_in_flight=2, redis_timeout=0.2, retry_interval=0.3)
    leases = [await budget.acquire(loop.time() + 5) for _ in range(2)]
    assert all(leases)
    assert await own_redis.zcard(_leases(name)) == 2

    paused_server.pause()
    try:
        for lease in leases:
            budget.release(lease)
        # The release cannot reach Redis: the budget counts an outage, and keeps the leases.
        assert await _until(lambda: _is_down(budget), 2.0)
    finally:
        paused_server.resume()

    with caplog.at_level(logging.WARNING, logger="coreclaw_async"):
        # Without the fix they stayed until they lapsed (deadline + lease_margin: 10 s here).
        assert await _until(lambda: _zero(own_redis, name), 3.0)
        # And the next requests get both slots at once.
        again = [await budget.acquire(loop.time() + 1.0) for _ in range(2)]
    assert all(again)
    for lease in again:
        budget.release(lease)
    await budget.aclose()


async def _is_down(budget: RedisBudget) -> bool:
    return not budget.available


async def _zero(redis: aioredis.Redis, name: str) -> bool:
    return int(await redis.zcard(_leases(name))) == 0


async def test_a_deadline_shorter_than_a_slow_answer_fails_that_call_only(
    paused_server: RedisServer, own_redis: aioredis.Redis, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.get_running_loop()
    budget = RedisBudget(own_redis, name=name, max_rate=1000, on_unavailable="raise", redis_timeout=0.5)
    assert await budget.acquire(loop.time() + 1) is None  # connected and scripts loaded

    paused_server.pause()
    try:
        caplog.set_level(logging.WARNING, logger="coreclaw_async")
        with pytest.raises(BudgetTimeout) as caught:
            await budget.acquire(loop.time() + 0.1)
    finally:
        paused_server.resume()

    assert caught.value.reason == "ask"
    # Not an outage: no warning, and the next requests use the budget as before.
    assert budget.available
    assert budget.stats.outages == 0
    assert budget.stats.unavailable == 0
    assert not [r for r in caplog.records if "unreachable" in r.getMessage()]
    for _ in range(5):
        await budget.acquire(loop.time() + 1)
    await budget.aclose()


async def test_through_the_client_a_cut_short_ask_is_a_not_sent_timeout(
    paused_server: RedisServer, own_redis: aioredis.Redis, name: str
) -> None:
    budget = RedisBudget(own_redis, name=name, max_rate=1000, redis_timeout=0.5)
    async with FakeCoreClaw(api_versions=("v1",)) as fake:
        async with AsyncCoreClaw(fake.api_key, base_url=fake.url, budget=budget) as client:
            await client.account.info()
            paused_server.pause()
            try:
                with pytest.raises(APITimeoutError) as caught:
                    await client.account.info(timeout=0.1)
            finally:
                paused_server.resume()
            assert caught.value.outcome == "not_sent"
            assert "did not answer" in str(caught.value)
            await client.account.info()
        assert fake.stats()["requests"] == 2


async def test_a_capped_connection_pool_queues_asks_instead_of_counting_an_outage(
    redis_server: RedisServer, name: str
) -> None:
    capped = aioredis.Redis.from_url(redis_server.url, max_connections=3)
    budget = RedisBudget(capped, name=name, max_rate=5000, max_in_flight=50, on_unavailable="raise")
    loop = asyncio.get_running_loop()
    try:

        async def one() -> None:
            lease = await budget.acquire(loop.time() + 5)
            await asyncio.sleep(0.01)
            budget.release(lease)

        await asyncio.gather(*(one() for _ in range(60)))
        stats = budget.stats
        assert stats.outages == 0
        assert stats.unavailable == 0
        assert stats.acquires == 60
    finally:
        await budget.aclose()
        await capped.aclose()


async def test_waiting_for_a_slot_is_woken_when_one_is_freed(redis: aioredis.Redis, name: str) -> None:
    loop = asyncio.get_running_loop()
    # Two processes' worth of budgets; 2 slots for 24 requests that each hold one for 50 ms.
    budgets = [RedisBudget(redis, name=name, max_in_flight=2) for _ in range(2)]
    held = 0
    peak = 0

    async def one(budget: RedisBudget) -> None:
        nonlocal held, peak
        lease = await budget.acquire(loop.time() + 30)
        held += 1
        peak = max(peak, held)
        try:
            await asyncio.sleep(0.05)
        finally:
            held -= 1
            budget.release(lease)

    for budget in budgets:
        budget.attach()  # as a client does: it listens for the freed slots others announce
    try:
        await asyncio.gather(*(one(budgets[i % 2]) for i in range(24)))
    finally:
        for budget in budgets:
            await budget.detach()
    assert peak <= 2
    asks = sum(b.stats.round_trips for b in budgets)
    acquires = sum(b.stats.acquires for b in budgets)
    # A freed slot wakes a waiter (here or, announced, in the other process) instead of
    # every waiter polling: before, this took about a hundred round trips per request.
    assert acquires == 24
    assert asks / acquires < 10, (asks, acquires)


def _child_lease(budget: RedisBudget, queue: Any) -> None:
    async def take() -> Any:
        return await budget.acquire(asyncio.get_running_loop().time() + 10)

    queue.put(asyncio.run(take()))


def test_budgets_built_before_a_fork_hold_leases_of_their_own(redis_server: RedisServer, name: str) -> None:
    # A pre-forking server (gunicorn --preload, multiprocessing 'fork') builds it once.
    budget = RedisBudget(aioredis.Redis.from_url(redis_server.url), name=name, max_in_flight=2)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    leases = []
    for _ in range(2):
        child = context.Process(target=_child_lease, args=(budget, queue))
        child.start()
        child.join(20)
        assert child.exitcode == 0
        leases.append(queue.get(timeout=5))

    async def check() -> tuple[int, str]:
        client = aioredis.Redis.from_url(redis_server.url)
        try:
            count = int(await client.zcard(_leases(name)))
            third = RedisBudget(client, name=name, max_in_flight=2)
            try:
                await third.acquire(asyncio.get_running_loop().time() + 0.3)
            except BudgetTimeout as exc:
                return count, exc.reason
            finally:
                await third.aclose()
            return count, "granted"
        finally:
            await client.aclose()

    assert len(set(leases)) == 2, leases
    assert asyncio.run(check()) == (2, "slot")


async def test_budgets_of_one_name_in_two_databases_do_not_share_cooldowns(
    redis_server: RedisServer, name: str
) -> None:
    zero = aioredis.Redis.from_url(redis_server.url.rsplit("/", 1)[0] + "/0")
    one = aioredis.Redis.from_url(redis_server.url.rsplit("/", 1)[0] + "/1")
    production = RedisBudget(zero, name=name, max_rate=100)
    staging = RedisBudget(one, name=name, max_rate=100)
    loop = asyncio.get_running_loop()
    try:
        for budget in (production, staging):
            budget.attach()
            await budget.acquire(loop.time() + 1)  # listening on its channel
        await asyncio.sleep(0.1)
        production.rate_limited(5.0)
        await asyncio.sleep(0.2)
        assert staging.stats.cooldowns_heard == 0
        await staging.acquire(loop.time() + 0.5)  # not held by the other database's cooldown
        with pytest.raises(BudgetTimeout):
            await production.acquire(loop.time() + 0.5)
    finally:
        for budget in (production, staging):
            await budget.detach()
        await zero.aclose()
        await one.aclose()


async def test_no_listener_is_left_after_the_last_client_closed(redis: aioredis.Redis, name: str) -> None:
    budget = RedisBudget(redis, name=name, max_rate=100)
    async with FakeCoreClaw(api_versions=("v1",)) as fake:
        async with AsyncCoreClaw(fake.api_key, base_url=fake.url, budget=budget) as client:
            await client.account.info()
        # A request's retry after the close asks the budget again; nothing listens on.
        await budget.acquire(asyncio.get_running_loop().time() + 1)
    channel = f"coreclaw:budget:{{{name}}}:events:0"
    assert await _until(lambda: _no_subscriber(redis, channel), 2.0)
    await budget.aclose()


async def _no_subscriber(redis: aioredis.Redis, channel: str) -> bool:
    counts = dict(await redis.pubsub_numsub(channel))
    return int(counts.get(channel.encode(), counts.get(channel, 0))) == 0


def test_the_redis_module_exports_its_errors() -> None:
    from coreclaw_async import redis as module

    assert module.BudgetUnavailableError is BudgetUnavailableError
    assert issubclass(module.BudgetTimeout, Exception)
