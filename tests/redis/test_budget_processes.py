"""``RedisBudget`` shared by real OS processes against one FakeCoreClaw with an account rate limit.

Each process (``budget_worker.py``) has its own client and its own ``RedisBudget``; they share
only Redis and the fake, which serves them from this test's event loop on 127.0.0.1. Every
process is killed if it outlives its time limit, on every path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from coreclaw_async import BudgetTimeout
from coreclaw_async.redis import RedisBudget
from coreclaw_async.testing import FakeCoreClaw, Fault

from .server import RedisServer

WORKER = Path(__file__).with_name("budget_worker.py")
PROCESS_TIME_LIMIT = 90.0

pytestmark = pytest.mark.slow


@contextlib.asynccontextmanager
async def _processes(configs: list[dict[str, Any]]) -> AsyncIterator[list[asyncio.subprocess.Process]]:
    procs: list[asyncio.subprocess.Process] = []
    try:
        for config in configs:
            procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    str(WORKER),
                    json.dumps(config),
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
            )
        yield procs
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()


async def _results(procs: list[asyncio.subprocess.Process]) -> list[dict[str, Any]]:
    async def one(proc: asyncio.subprocess.Process) -> dict[str, Any]:
        out, err = await asyncio.wait_for(proc.communicate(), PROCESS_TIME_LIMIT)
        assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
        result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        return result

    return list(await asyncio.gather(*(one(proc) for proc in procs)))


async def _launch_from_four(
    fake: FakeCoreClaw, redis_url: str | None, name: str, runs: int
) -> list[dict[str, Any]]:
    base = {
        "base_url": fake.url,
        "api_key": fake.api_key,
        "redis_url": redis_url,
        "name": name,
        "max_rate": 540.0,
        "mode": "launch",
        "task_slug": fake.task_slugs[0],
        "runs": runs,
        "concurrency": 50,
        "timeout": 60,
    }
    async with _processes([dict(base, user_agent=f"proc-{i}") for i in range(4)]) as procs:
        return await _results(procs)


async def test_four_processes_share_one_budget_and_stay_under_the_account_limit(
    redis_server: RedisServer, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = 1000
    # The account allows 600 requests per second; the budget paces all four at 540.
    async with FakeCoreClaw(api_versions=("v1",), rate_limit=600, run_schedule=(0.0, 0.01)) as fake:
        shared = await _launch_from_four(fake, redis_server.url, name, runs)
        with_budget = fake.rate_limited
        ledger = [run.slug for run in fake.runs]

    started = [slug for result in shared for slug in result["started"]]
    assert sum(len(result["started"]) for result in shared) == 4 * runs
    assert all(result["errors"] == {} for result in shared)
    assert sorted(started) == sorted(ledger)  # the ledger is the union of the reported starts
    assert len(set(started)) == len(started)  # nothing twice
    assert with_budget <= 5
    # One ask per start (plus the occasional flush or cooldown note).
    for result in shared:
        assert result["budget"]["acquires"] == runs
        assert result["budget"]["round_trips"] <= runs * 1.1

    # The same launches without the budget: each process paces nobody but itself.
    async with FakeCoreClaw(api_versions=("v1",), rate_limit=600, run_schedule=(0.0, 0.01)) as fake:
        alone = await _launch_from_four(fake, None, name, runs)
        without_budget = fake.rate_limited
        ledger = [run.slug for run in fake.runs]

    started = [slug for result in alone for slug in result["started"]]
    assert sorted(started) == sorted(ledger)
    with capsys.disabled():
        print(
            f"\n4 x {runs} starts, account limit 600/s: rate-limited answers "
            f"{with_budget} with the shared budget, {without_budget} without"
        )
    assert without_budget > 10 * max(with_budget, 1)


async def test_a_rate_limit_on_one_process_stops_the_others_and_they_resume_together(
    redis_server: RedisServer, name: str
) -> None:
    async with FakeCoreClaw(api_versions=("v1",), record_requests=True) as fake:
        base = {
            "base_url": fake.url,
            "api_key": fake.api_key,
            "redis_url": redis_server.url,
            "name": name,
            "max_rate": 100.0,
            "mode": "reads",
            "seconds": 4.0,
        }
        async with _processes([dict(base, user_agent=f"proc-{i}") for i in range(3)]) as procs:
            # Bounded: wait until every process has been reading for a while.
            for _ in range(600):
                agents = {record.user_agent for record in fake.request_log}
                if len(agents) == 3 and len(fake.request_log) > 60:
                    break
                await asyncio.sleep(0.01)
            fake.inject(Fault.RATE_LIMIT, user_agent="proc-0", retry_after=1.0)
            results = await _results(procs)
        log = list(fake.request_log)

    assert all(result["errors"] == {} for result in results)
    limited = [record for record in log if record.code == 4290]
    assert [record.user_agent for record in limited] == ["proc-0"]
    hit = limited[0].at
    # After about one round trip, nobody sends until the 1 s cooldown is over...
    during = [r for r in log if hit + 0.15 < r.at < hit + 0.85]
    assert during == []
    # ...and then every process resumes, together.
    resumed = {}
    for record in log:
        if record.at > hit + 0.85 and record.user_agent not in resumed:
            resumed[record.user_agent] = record.at
    assert set(resumed) == {"proc-0", "proc-1", "proc-2"}
    assert max(resumed.values()) - min(resumed.values()) < 0.3
    assert all(result["budget"]["cooldowns_heard"] >= 1 for result in results)


async def test_the_leases_of_a_killed_process_come_back_after_their_expiry(
    redis_server: RedisServer, name: str
) -> None:
    config = {
        "mode": "hold",
        "redis_url": redis_server.url,
        "name": name,
        "max_in_flight": 2,
        "leases": 2,
        "seconds": 1.0,
    }
    redis = aioredis.Redis.from_url(redis_server.url)
    budget = RedisBudget(redis, name=name, max_in_flight=2)
    loop = asyncio.get_running_loop()
    try:
        async with _processes([config]) as (proc,):
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), PROCESS_TIME_LIMIT)
            assert line.strip() == b"held"
            killed_at = time.monotonic()
            proc.kill()
            await proc.wait()

            # Both slots are still leased to the dead process...
            with pytest.raises(BudgetTimeout) as caught:
                await budget.acquire(loop.time() + 0.1)
            assert caught.value.reason == "slot"
            # ...until its leases lapse, a second after they were taken.
            lease = await budget.acquire(loop.time() + 5.0)
            assert lease is not None
            assert time.monotonic() - killed_at < 5.0
            budget.release(lease)
    finally:
        await budget.aclose()
        await redis.aclose()
