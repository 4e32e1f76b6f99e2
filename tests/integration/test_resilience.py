"""The request pipeline over real loopback HTTP: outcome-aware retries, one deadline, the
client-wide limiter (pace, shared cooldown, adaptive concurrency), logs and stats."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import AsyncIterator
from types import SimpleNamespace

import aiohttp
import pytest

from coreclaw_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncCoreClaw,
    ConcurrencyLimitError,
    CoreClawError,
    RateLimitError,
    ResponseDecodeError,
    RetryPolicy,
    RunStartUnknownError,
    ServerError,
    TaskRunRequest,
)
from coreclaw_async.testing import FakeCoreClaw, Fault

from ..conftest import CALLBACK_URL
from .support import Paths, client_for

FAST = RetryPolicy(max_retries=4, backoff_base=0.001, backoff_max=0.01, rate_limit_base=0.002)


def _client(fake: FakeCoreClaw, **options: object) -> AsyncCoreClaw:
    options.setdefault("retry", FAST)
    return client_for(fake, **options)


@pytest.fixture
async def fast(fake: FakeCoreClaw) -> AsyncIterator[AsyncCoreClaw]:
    async with _client(fake) as client:
        yield client


def _now() -> float:
    return asyncio.get_running_loop().time()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- not sent: retried for every call, a run start included ----------------------------


async def test_a_run_start_that_could_not_connect_is_retried_and_creates_one_run(api_version: str) -> None:
    port = _free_port()
    task = "01KSFDXRNYGKT3NNE11EMR4W5X"
    fake = FakeCoreClaw(port=port, tasks=[task], api_versions=(api_version,))
    policy = RetryPolicy(max_retries=40, backoff_base=0.02, backoff_max=0.02)
    async with AsyncCoreClaw(
        fake.api_key,
        base_url=f"http://127.0.0.1:{port}",
        callback_url=CALLBACK_URL,
        retry=policy,
        api_version=api_version,
    ) as client:
        call = asyncio.create_task(client.tasks.run(task))
        await asyncio.sleep(0.15)  # a few refused connections first
        await fake.start()
        try:
            run = await asyncio.wait_for(call, 5)
            assert [r.slug for r in fake.runs] == [run.run_slug]
            assert client.stats.retries["not_sent"] >= 1
        finally:
            await fake.close()


async def test_a_run_start_that_timed_out_waiting_for_a_connection_is_retried(
    fake: FakeCoreClaw, paths: Paths
) -> None:
    fake.inject(Fault.SLOW, times=1, path=paths.pattern("task_run"), delay=0.4)
    policy = RetryPolicy(max_retries=30, backoff_base=0.01, backoff_max=0.01)
    async with _client(fake, max_connections=1, pool_timeout=0.05, retry=policy) as client:
        first = asyncio.create_task(client.tasks.run(fake.task_slugs[0]))
        await asyncio.sleep(0.05)
        second = await client.tasks.run(fake.task_slugs[1])  # waits in the gate, times out, retries
        await first
        stats = client.stats

    assert fake.runs_by_task() == {fake.task_slugs[0]: 1, fake.task_slugs[1]: 1}
    assert second.run_slug in {r.slug for r in fake.runs}
    assert stats.retries["not_sent"] >= 1
    assert stats.connection_wait_seconds > 0
    assert paths.count(fake, "task_run") == 2


# -- rejected: only rate limits (and 30003 on request) ---------------------------------


@pytest.mark.parametrize("fault", [Fault.RATE_LIMIT, Fault.RATE_LIMIT_V2])
async def test_a_rate_limited_run_start_is_retried_and_creates_one_run(
    fast: AsyncCoreClaw, fake: FakeCoreClaw, fault: Fault, paths: Paths
) -> None:
    fake.inject(fault, times=2, path=paths.pattern("task_run"))

    run = await fast.tasks.run(fake.task_slugs[0])

    assert [r.slug for r in fake.runs] == [run.run_slug]
    assert paths.count(fake, "task_run") == 3
    assert fast.stats.rate_limited == 2
    assert fast.stats.retries == {"rate_limited": 2}


async def test_retry_after_is_honoured(fast: AsyncCoreClaw, fake: FakeCoreClaw, paths: Paths) -> None:
    fake.inject(Fault.RATE_LIMIT, times=1, path=paths.pattern("task_run"), retry_after=0.3)
    start = _now()

    await fast.tasks.run(fake.task_slugs[0])

    assert _now() - start >= 0.28
    assert len(fake.runs) == 1


async def test_retry_after_is_capped(fake: FakeCoreClaw, paths: Paths) -> None:
    fake.inject(Fault.RATE_LIMIT, times=1, path=paths.pattern("task_run"), retry_after=30)
    policy = RetryPolicy(max_retries=2, retry_after_max=0.2)
    async with _client(fake, retry=policy) as client:
        start = _now()
        await client.tasks.run(fake.task_slugs[0])
        elapsed = _now() - start

    assert 0.18 <= elapsed < 5
    assert len(fake.runs) == 1


async def test_plan_concurrency_30003_is_not_retried_by_default(
    fast: AsyncCoreClaw, fake: FakeCoreClaw, paths: Paths
) -> None:
    fake.inject(Fault.CONCURRENCY_LIMIT, times=1, path=paths.pattern("task_run"))

    with pytest.raises(ConcurrencyLimitError) as info:
        await fast.tasks.run(fake.task_slugs[0])

    assert info.value.sent is True
    assert info.value.attempts == 1
    assert fake.runs == []


async def test_plan_concurrency_30003_is_retried_with_wait_for_capacity(
    fake: FakeCoreClaw, paths: Paths
) -> None:
    fake.inject(Fault.CONCURRENCY_LIMIT, times=2, path=paths.pattern("task_run"))
    async with _client(fake, wait_for_capacity=True) as client:
        run = await client.tasks.run(fake.task_slugs[0])

    assert [r.slug for r in fake.runs] == [run.run_slug]
    assert paths.count(fake, "task_run") == 3


# -- unknown: a run start is never re-sent ----------------------------------------------

UNKNOWN_FAULTS = [
    Fault.SERVER_ERROR,
    Fault.SERVER_ERROR_AFTER_CREATE,
    Fault.DROP_BEFORE_CREATE,
    Fault.DROP_AFTER_CREATE,
    Fault.HTTP_502_HTML,
    Fault.HTTP_503_HTML,
    Fault.HTTP_504_HTML,
    Fault.TRUNCATED,
    Fault.NOT_ENVELOPE,
]


@pytest.mark.parametrize("fault", UNKNOWN_FAULTS)
async def test_a_run_start_with_an_unknown_outcome_is_never_re_sent(
    fast: AsyncCoreClaw, fake: FakeCoreClaw, fault: Fault, paths: Paths
) -> None:
    fake.inject(fault, times=1, path=paths.pattern("task_run"))

    with pytest.raises(RunStartUnknownError) as info:
        await fast.tasks.run(fake.task_slugs[0])

    error = info.value
    assert paths.count(fake, "task_run") == 1
    assert error.attempts == 1
    assert error.sent is None
    assert error.request == TaskRunRequest(task_slug=fake.task_slugs[0], callback_url=CALLBACK_URL)
    assert isinstance(error.__cause__, (ServerError, APIConnectionError, ResponseDecodeError))
    assert fast.stats.unknown_outcomes == 1


# -- reads retry on everything that may pass --------------------------------------------

READ_FAULTS = [*UNKNOWN_FAULTS, Fault.RATE_LIMIT, Fault.RATE_LIMIT_V2, Fault.CONTROL_CHARS]


@pytest.mark.parametrize("fault", READ_FAULTS)
async def test_a_read_is_retried_through_any_transient_fault(
    fast: AsyncCoreClaw, fake: FakeCoreClaw, fault: Fault, paths: Paths
) -> None:
    started = await fast.tasks.run(fake.task_slugs[0])
    fake.inject(fault, times=1, path=paths.pattern("run_get", run=started.run_slug))

    run = await fast.runs.get(started.run_slug)

    assert run.run_slug == started.run_slug
    expected = 1 if fault is Fault.CONTROL_CHARS else 2  # control characters are decoded leniently
    assert paths.count(fake, "run_get") == expected
    # Every request the server saw was an attempt of the client's own retry loop.
    assert sum(fast.stats.retries.values()) == expected - 1


async def test_hundreds_of_reads_under_random_faults_all_succeed(fake: FakeCoreClaw, paths: Paths) -> None:
    for fault in READ_FAULTS:
        fake.inject(fault, times=None, probability=0.03, path=paths.pattern("run_get"))
    policy = RetryPolicy(max_retries=15, backoff_base=0.001, backoff_max=0.005, rate_limit_base=0.001)
    async with _client(fake, retry=policy) as client:
        started = await client.tasks.run(fake.task_slugs[0])
        runs = await asyncio.gather(*(client.runs.get(started.run_slug) for _ in range(400)))
        stats = client.stats

    assert {run.run_slug for run in runs} == {started.run_slug}
    assert paths.count(fake, "run_get") == 400 + sum(stats.retries.values())
    assert sum(stats.retries.values()) > 0
    assert len(fake.runs) == 1


# -- one deadline per call --------------------------------------------------------------


async def test_a_slow_run_start_fails_as_unknown_at_the_deadline(
    fast: AsyncCoreClaw, fake: FakeCoreClaw, paths: Paths
) -> None:
    fake.inject(Fault.SLOW, times=1, path=paths.pattern("task_run"), delay=3)
    start = _now()

    with pytest.raises(RunStartUnknownError) as info:
        await fast.tasks.run(fake.task_slugs[0], timeout=0.3)

    assert _now() - start < 1.5
    assert isinstance(info.value.__cause__, APITimeoutError)


async def test_a_slow_read_fails_with_a_timeout_at_the_deadline(
    fast: AsyncCoreClaw, fake: FakeCoreClaw, paths: Paths
) -> None:
    started = await fast.tasks.run(fake.task_slugs[0])
    fake.inject(Fault.SLOW, times=None, path=paths.pattern("run_get", run=started.run_slug), delay=3)
    start = _now()

    with pytest.raises(APITimeoutError):
        await fast.runs.get(started.run_slug, timeout=0.3)

    assert _now() - start < 1.5


async def test_retries_and_backoff_stay_within_the_one_deadline(fake: FakeCoreClaw, paths: Paths) -> None:
    fake.inject(Fault.RATE_LIMIT, times=None, path=paths.pattern("task_run"), retry_after=0.05)
    async with _client(fake, retry=RetryPolicy(max_retries=1000)) as client:
        start = _now()
        with pytest.raises(RateLimitError) as info:
            await client.tasks.run(fake.task_slugs[0], timeout=0.5)
        elapsed = _now() - start

    assert elapsed < 1.5
    assert 2 <= info.value.attempts < 1000
    assert fake.runs == []


async def test_the_wait_for_a_connection_counts_against_the_deadline(
    fake: FakeCoreClaw, paths: Paths
) -> None:
    fake.inject(Fault.SLOW, times=1, path=paths.pattern("task_run"), delay=1.0)
    async with _client(fake, max_connections=1, pool_timeout=5) as client:
        holder = asyncio.create_task(client.tasks.run(fake.task_slugs[0]))
        await asyncio.sleep(0.05)
        start = _now()
        with pytest.raises(APITimeoutError) as info:
            await client.tasks.run(fake.task_slugs[1], timeout=0.3)
        assert _now() - start < 1.0
        assert info.value.outcome == "not_sent"
        await holder


async def test_max_retries_per_call_overrides_the_client(fake: FakeCoreClaw, paths: Paths) -> None:
    fake.inject(Fault.RATE_LIMIT, times=1, path=paths.pattern("task_run"))
    async with _client(fake, retry=RetryPolicy(max_retries=5, rate_limit_base=0.001)) as client:
        with pytest.raises(RateLimitError) as info:
            await client.tasks.run(fake.task_slugs[0], max_retries=0)

    assert info.value.attempts == 1
    assert fake.runs == []


async def test_a_retry_racing_aclose_does_not_reopen_the_session(fake: FakeCoreClaw, paths: Paths) -> None:
    client = _client(fake, retry=RetryPolicy(max_retries=3, backoff_base=0.2, backoff_max=0.2))
    started = await client.tasks.run(fake.task_slugs[0])
    fake.inject(Fault.DROP_BEFORE_CREATE, times=None, path=paths.pattern("run_get", run=started.run_slug))
    read = asyncio.create_task(client.runs.get(started.run_slug))
    # Until the first attempt has failed and the read is backing off (bounded: at most ~5 s).
    for _ in range(500):
        if paths.count(fake, "run_get") >= 1:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.02)

    await client.aclose()

    with pytest.raises(CoreClawError, match="closed"):
        await read


# -- the client-wide limiter under real load --------------------------------------------


@pytest.mark.parametrize("max_connections", [100, 3], ids=["free-slots", "callers-queued-for-a-slot"])
async def test_a_rate_limit_pauses_every_launch_of_the_client_together(
    fake: FakeCoreClaw, max_connections: int, paths: Paths
) -> None:
    sends: list[float] = []
    limited_at: list[float] = []

    async def on_start(_s: object, _c: object, _p: object) -> None:
        sends.append(_now())

    async def on_end(_s: object, _c: object, params: aiohttp.TraceRequestEndParams) -> None:
        if params.response.status == 429:
            limited_at.append(_now())

    trace = aiohttp.TraceConfig(trace_config_ctx_factory=SimpleNamespace)
    trace.on_request_start.append(on_start)
    trace.on_request_end.append(on_end)
    fake.latency = 0.005
    slugs = [fake.add_task() for _ in range(120)]
    fake.inject(Fault.RATE_LIMIT, times=1, path=paths.pattern("task_run"), retry_after=0.4)
    async with (
        aiohttp.ClientSession(trace_configs=[trace]) as http,
        _client(fake, session=http, max_connections=max_connections) as client,
    ):
        outcomes = await client.tasks.run_all(slugs, concurrency=10)

    assert all(o.started for o in outcomes)
    assert len(limited_at) == 1
    # Only requests already past the gate when the 429 came (fewer than the slots) may still
    # start during the cooldown; nobody queued for a slot or arriving later does.
    during = [t for t in sends if limited_at[0] < t < limited_at[0] + 0.35]
    assert len(during) < min(10, max_connections), during
    assert max(fake.runs_by_task().values()) == 1


async def test_a_burst_of_rate_limits_from_one_window_halves_concurrency_once(
    fake: FakeCoreClaw, paths: Paths
) -> None:
    fake.latency = 0.05  # all twenty first attempts are in flight together
    slugs = [fake.add_task() for _ in range(20)]
    fake.inject(Fault.RATE_LIMIT, times=20, path=paths.pattern("task_run"))
    async with _client(fake, max_connections=20) as client:
        outcomes = await client.tasks.run_all(slugs, concurrency=20)
        limit_after_burst = client.stats.concurrency_limit

        assert all(o.started for o in outcomes)
        assert client.stats.rate_limited == 20
        # One halving (20 -> 10), then the twenty successful retries widen it a little.
        assert 10 <= limit_after_burst <= 12

        fake.latency = 0.0
        more = [fake.add_task() for _ in range(300)]
        await client.tasks.run_all(more, concurrency=20)
        assert client.stats.concurrency_limit == 20  # recovered


async def test_a_rate_limit_slows_the_client_even_when_that_call_gives_up(
    fake: FakeCoreClaw, paths: Paths
) -> None:
    fake.inject(Fault.RATE_LIMIT, times=1, path=paths.pattern("task_run"), retry_after=0.3)
    async with _client(fake) as client:
        with pytest.raises(RateLimitError):
            await client.tasks.run(fake.task_slugs[0], max_retries=0)
        start = _now()
        await client.tasks.run(fake.task_slugs[1])  # not rate limited itself, but waits the cooldown

        assert _now() - start >= 0.25


async def test_max_rate_is_shared_by_every_call_of_the_client(fake: FakeCoreClaw) -> None:
    async with _client(fake, max_rate=20) as client:
        started = await client.tasks.run(fake.task_slugs[0])
        start = _now()
        await asyncio.gather(
            client.tasks.run_all([fake.task_slugs[1]] * 10, concurrency=10),
            *(client.runs.get(started.run_slug) for _ in range(10)),
        )
        elapsed = _now() - start

    # 20 requests at 20/s: about one second whichever resource sent them.
    assert 0.85 <= elapsed < 5


# -- logs and stats ---------------------------------------------------------------------


async def test_retries_and_unknown_outcomes_are_logged_with_method_path_and_request_id(
    fast: AsyncCoreClaw, fake: FakeCoreClaw, caplog: pytest.LogCaptureFixture, paths: Paths
) -> None:
    caplog.set_level(logging.INFO, logger="coreclaw_async")
    fake.inject(Fault.RATE_LIMIT, times=1, path=paths.pattern("task_run"))
    await fast.tasks.run(fake.task_slugs[0])
    fake.inject(Fault.SERVER_ERROR, times=1, path=paths.pattern("task_run"))
    with pytest.raises(RunStartUnknownError):
        await fast.tasks.run(fake.task_slugs[1])

    records = [r for r in caplog.records if r.name == "coreclaw_async"]
    retry = [r for r in records if r.levelno == logging.INFO and "retrying" in r.getMessage()]
    unknown = [r for r in records if r.levelno == logging.WARNING and "outcome unknown" in r.getMessage()]
    assert len(retry) == 1
    assert len(unknown) == 1
    for record, task in ((retry[0], fake.task_slugs[0]), (unknown[0], fake.task_slugs[1])):
        message = record.getMessage()
        assert f"POST {paths.path('task_run', task=task)}" in message
        assert "request_id=" in message
    assert "rate_limited" in retry[0].getMessage()
    assert all(fake.api_key not in r.getMessage() for r in caplog.records)


async def test_stats_count_requests_retries_rate_limits_and_unknown_outcomes(
    fast: AsyncCoreClaw, fake: FakeCoreClaw, paths: Paths
) -> None:
    started = await fast.tasks.run(fake.task_slugs[0])
    fake.inject(Fault.RATE_LIMIT, times=1, path=paths.pattern("task_run"))
    await fast.tasks.run(fake.task_slugs[1])
    fake.inject(Fault.SERVER_ERROR, times=1, path=paths.pattern("run_get", run=started.run_slug))
    fake.inject(Fault.HTTP_502_HTML, times=1, path=paths.pattern("run_get", run=started.run_slug))
    await fast.runs.get(started.run_slug)
    fake.inject(Fault.DROP_AFTER_CREATE, times=1, path=paths.pattern("task_run"))
    with pytest.raises(RunStartUnknownError):
        await fast.tasks.run(fake.task_slugs[2])

    stats = fast.stats
    assert stats.requests == fake.requests == 7
    server_error = {"v1": "code_5000", "v2": "code_10000"}[paths.version]  # each version's own code
    assert stats.retries == {"rate_limited": 1, server_error: 1, "http_502": 1}
    assert stats.rate_limited == 1
    assert stats.unknown_outcomes == 1
    assert (stats.succeeded, stats.failed) == (3, 1)
    assert stats.in_flight == 0
    assert stats.concurrency_limit == 50  # halved from 100 by the one rate limit


async def test_random_rate_limits_never_leave_a_slot_or_waiter_behind(
    fake: FakeCoreClaw, paths: Paths
) -> None:
    rng = random.Random(7)
    fake.inject(
        Fault.RATE_LIMIT, times=None, probability=0.2, path=paths.pattern("task_run"), retry_after=0.002
    )
    slugs = [fake.add_task() for _ in range(300)]
    async with _client(
        fake, max_connections=8, retry=RetryPolicy(max_retries=20, rate_limit_base=0.001)
    ) as client:
        outcomes = await client.tasks.run_all(slugs, concurrency=rng.randint(8, 16))
        assert all(o.started for o in outcomes)
        assert client.stats.in_flight == 0
        assert not client._manager.limiter._waiters
