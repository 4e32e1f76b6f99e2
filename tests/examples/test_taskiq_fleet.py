"""examples/taskiq_fleet, for real: a redis-server, FakeCoreClaw in this process, three taskiq
worker processes sharing one RedisBudget, and the example's enqueue logic launching 200 runs in
8 batches through them.

Injected faults make some launches fail (nothing created) and some end unknown (a run may exist).
Every launch must be counted once, the fake's ledger must hold the started runs plus at most one
run per unknown launch, and every request the fake saw must have gone through the shared budget,
in every worker. The workers (taskiq's process manager and its children, in a process group of
their own) are stopped on every path: SIGTERM, then SIGKILL to the group after a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import secrets
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType

import attrs
import pytest
import redis.asyncio as aioredis

from coreclaw_async.testing import FakeCoreClaw, Fault

from ..conftest import CALLBACK_URL
from ..redis.server import RedisServer, running_redis_server

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "taskiq_fleet"
WORKERS = 3
RUNS = 200
BATCHES = 8
# Bounds, not expectations: a healthy run takes a few seconds in all.
READY_TIMEOUT = 20.0
RESULTS_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# What the workers must never print: leaked sessions or connections, errors, tracebacks.
BAD_OUTPUT = ("Unclosed", "ResourceWarning", "Traceback", "[ERROR", "[CRITICAL")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis_server(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def enqueue(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The example's ``enqueue`` module (and its ``app``), imported as the example runs them,
    with ``REDIS_URL`` pointing at the test's server."""
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.syspath_prepend(str(EXAMPLE))
    names = ("app", "enqueue")
    for name in names:
        sys.modules.pop(name, None)
    try:
        yield importlib.import_module("enqueue")
    finally:
        for name in names:
            sys.modules.pop(name, None)


@attrs.define
class Workers:
    process: asyncio.subprocess.Process
    output: asyncio.Task[bytes]
    clean_exit: bool = False

    async def wait_ready(self, redis: aioredis.Redis, count: int) -> None:
        """Wait until ``count`` workers block reading the broker's stream (their startup hooks
        have run). Counted from CLIENT LIST: before Redis 7.2 a read of an empty stream does not
        register its consumer in the group, so XINFO CONSUMERS cannot tell."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        # Bounded by READY_TIMEOUT: one look every 50 ms.
        while loop.time() < deadline:
            if self.process.returncode is not None:
                pytest.fail(f"taskiq worker exited at start:\n{await self.text()}")
            readers = [c for c in await redis.client_list() if c.get("cmd") == "xreadgroup"]
            if len(readers) >= count:
                return
            await asyncio.sleep(0.05)
        pytest.fail(f"{count} taskiq workers were not ready within {READY_TIMEOUT} s")

    async def stop(self) -> None:
        """SIGTERM taskiq's process manager (it stops its workers, whose shutdown hooks close the
        client and Redis), then SIGKILL whatever is left of the group."""
        process = self.process
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        # The manager leaves only after its workers, so a clean exit leaves no one in the group.
        self.clean_exit = process.returncode == 0
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
            self.clean_exit = False
        await process.wait()

    async def text(self) -> str:
        """Everything the manager and its workers printed (once all of them have exited)."""
        return (await asyncio.wait_for(self.output, STOP_TIMEOUT)).decode(errors="replace")


@contextlib.asynccontextmanager
async def taskiq_workers(env: dict[str, str], count: int) -> AsyncIterator[Workers]:
    """``taskiq worker app:broker --workers <count>`` started from the example's directory."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "taskiq",
        "worker",
        "app:broker",
        "--app-dir",
        str(EXAMPLE),
        "--workers",
        str(count),
        # One batch at a time per worker, so that the batches spread over all of them.
        "--max-async-tasks",
        "1",
        "--log-level",
        "WARNING",
        cwd=EXAMPLE,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    workers = Workers(process, asyncio.ensure_future(process.stdout.read()))
    try:
        yield workers
    finally:
        await workers.stop()


async def test_batches_spread_over_taskiq_workers_start_each_run_once_through_one_shared_budget(
    redis_server: RedisServer, enqueue: ModuleType
) -> None:
    async with FakeCoreClaw(callbacks=False, seed=1234) as fake:
        fake.inject(Fault.RATE_LIMIT, times=1, retry_after=0.05)  # retried: started
        fake.inject(Fault.CONCURRENCY_LIMIT, times=2)  # refused: failed, nothing created
        fake.inject(Fault.SERVER_ERROR, times=1)  # unknown, nothing created
        fake.inject(Fault.DROP_AFTER_CREATE, times=2)  # unknown, a run created
        env = {
            **os.environ,
            "REDIS_URL": redis_server.url,
            "CORECLAW_API_KEY": fake.api_key,
            "CORECLAW_BASE_URL": fake.url,
            "CORECLAW_CALLBACK_URL": CALLBACK_URL,
            "CORECLAW_API_VERSION": "v1",
            "CORECLAW_BUDGET": f"fleet-{secrets.token_hex(4)}",
            "CORECLAW_MAX_RATE": "400",
            "CORECLAW_MAX_IN_FLIGHT": "",
            "CORECLAW_BATCH_CONCURRENCY": "8",
            # Leaked sockets and sessions are printed, and fail the test below.
            "PYTHONWARNINGS": "always::ResourceWarning",
        }
        redis = aioredis.Redis.from_url(redis_server.url)
        try:
            async with taskiq_workers(env, WORKERS) as workers:
                await workers.wait_ready(redis, WORKERS)
                batches = enqueue.split(fake.task_slugs, runs=RUNS, batches=BATCHES)
                totals = await enqueue.launch(batches, timeout=RESULTS_TIMEOUT)
        finally:
            await redis.aclose()
        ledger = [run.slug for run in fake.runs]
        requests = fake.stats()["requests"]

    output = await workers.text()
    assert workers.clean_exit, f"the workers did not shut down cleanly:\n{output}"
    assert not [line for line in output.splitlines() if any(bad in line for bad in BAD_OUTPUT)], output

    # Every launch counted once; the faults' outcomes, and no run slug twice.
    assert len(totals.started) + sum(totals.failed.values()) + len(totals.unknown) == RUNS
    assert totals.failed == {"ConcurrencyLimitError": 2}
    assert len(totals.unknown) == 3
    assert totals.duplicates == []
    # The ledger: the started runs, plus the runs of unknown launches (at most one each).
    assert not [slug for slug, n in Counter(ledger).items() if n > 1]
    assert set(totals.started) <= set(ledger)
    extra = set(ledger) - set(totals.started)
    assert len(extra) <= len(totals.unknown)
    assert len(extra) == 2  # DROP_AFTER_CREATE created them

    # Every worker ran batches through the shared budget, and every request went through it.
    assert len(totals.workers) == WORKERS, totals.workers
    assert all(stats["acquires"] > 0 for stats in totals.workers.values()), totals.workers
    assert sum(stats["acquires"] for stats in totals.workers.values()) == requests
    assert sum(stats["waits"] for stats in totals.workers.values()) > 0  # the shared pace held some back
