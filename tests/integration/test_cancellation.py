"""Cancelling fan-outs and single calls over real loopback HTTP: launches stop at once,
every slot and connection is released, CancelledError propagates, nothing stays pending,
and the items in flight are reported as unknown so the caller can reconcile."""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import re
from collections.abc import AsyncIterator

import pytest

from coreclaw_async import (
    AsyncCoreClaw,
    RetryPolicy,
    RunStartUnknownError,
    TaskRunBatch,
    TaskRunOutcome,
)
from coreclaw_async.testing import FakeCoreClaw, FakeRun, Fault

from .support import Paths, client_for

FAST = RetryPolicy(max_retries=4, backoff_base=0.001, backoff_max=0.01, rate_limit_base=0.002)


def _client(fake: FakeCoreClaw, **options: object) -> AsyncCoreClaw:
    options.setdefault("retry", FAST)
    return client_for(fake, **options)


def _our_pending_tasks() -> list[asyncio.Task[object]]:
    """Tasks of ours (fan-out workers, or anything running coreclaw_async code) still pending."""
    ours = []
    for task in asyncio.all_tasks():
        if task is asyncio.current_task() or task.done():
            continue
        code = getattr(task.get_coro(), "cr_code", None)
        filename = code.co_filename if code is not None else ""
        in_package = "coreclaw_async" in filename and "testing" not in filename
        if task.get_name().startswith("coreclaw_async.") or in_package:
            ours.append(task)
    return ours


async def _all_connections_closed(fake: FakeCoreClaw) -> bool:
    for _ in range(100):  # bounded: up to about one second
        if fake.open_connections == 0:
            return True
        await asyncio.sleep(0.01)
    return False


def _check_accounting(
    batch: TaskRunBatch, delivered: list[TaskRunOutcome], runs: list[FakeRun], slugs: list[str]
) -> None:
    """Every item taken has exactly one outcome, and every run of ``runs`` (the part of the
    ledger this batch could have made) is accounted for."""
    undelivered = batch.undelivered
    unreconciled = batch.unreconciled
    indices = [o.index for o in delivered + undelivered + unreconciled]
    assert sorted(indices) == list(range(batch.taken))
    assert all(o.started is None for o in unreconciled)
    assert all(isinstance(o.error, RunStartUnknownError) for o in unreconciled)
    assert all(
        isinstance(o.error, RunStartUnknownError) and o.error.request is o.request for o in unreconciled
    )
    known = {o.request.task_slug for o in delivered + undelivered if o.started}
    maybe = {o.request.task_slug for o in unreconciled}
    created = [run.task_slug for run in runs]
    assert len(created) == len(set(created))  # never two runs for one item
    assert known <= set(created)
    assert set(created) <= known | maybe
    assert set(slugs[: batch.taken]) >= set(created)


@pytest.fixture
async def slow_fake(fake: FakeCoreClaw) -> FakeCoreClaw:
    """The fake with some latency, so that starts are in flight when the cancel comes."""
    fake.latency = 0.02
    return fake


# -- run_many ------------------------------------------------------------------------------


async def test_cancelling_the_consumer_stops_launches_releases_everything_and_reports_items_in_flight(
    slow_fake: FakeCoreClaw, paths: Paths
) -> None:
    fake = slow_fake
    slugs = [fake.add_task() for _ in range(1000)]
    delivered: list[TaskRunOutcome] = []
    holder: list[TaskRunBatch] = []
    async with _client(fake) as client:

        async def consume() -> None:
            async with client.tasks.run_many(slugs, concurrency=10) as batch:
                holder.append(batch)
                async for outcome in batch:
                    delivered.append(outcome)

        consumer = asyncio.create_task(consume())
        # Cancel once launches are flowing (not after a fixed time: a loaded machine may be slow
        # to send the first ones), while far from done (1,000 starts take >= 2 s at 20 ms each).
        for _ in range(500):  # bounded: at most ~5 s
            if paths.count(fake, "task_run") >= 20:
                break
            await asyncio.sleep(0.01)
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer

        batch = holder[0]
        assert batch.closed
        assert 0 < len(batch.unreconciled) <= 10
        assert client.stats.in_flight == 0
        assert not client._manager.limiter._waiters
        assert _our_pending_tasks() == []
        sent = paths.count(fake, "task_run")
        await asyncio.sleep(0.1)  # the starts in flight reach their end on the server
        assert paths.count(fake, "task_run") == sent  # nothing new was launched
        assert sent < len(slugs)
    assert await _all_connections_closed(fake)
    _check_accounting(batch, delivered, fake.runs, slugs)


async def test_cancellation_at_random_points_always_leaves_a_clean_client(
    fake: FakeCoreClaw, paths: Paths
) -> None:
    rng = random.Random(20260806)
    fake.inject(Fault.SLOW, times=None, probability=0.3, path=paths.pattern("task_run"), delay=0.05)
    fake.inject(
        Fault.RATE_LIMIT, times=None, probability=0.1, path=paths.pattern("task_run"), retry_after=0.01
    )
    for round_number in range(12):
        slugs = [fake.add_task() for _ in range(80)]
        first_run = len(fake.runs)
        delivered: list[TaskRunOutcome] = []
        async with _client(fake, max_connections=rng.randint(2, 12)) as client:
            batch = client.tasks.run_many(iter(slugs), concurrency=rng.randint(1, 16))

            async def consume(
                batch: TaskRunBatch = batch,
                delivered: list[TaskRunOutcome] = delivered,
                use_context_manager: bool = round_number % 2 == 0,
            ) -> None:
                if use_context_manager:
                    async with batch:
                        async for outcome in batch:
                            delivered.append(outcome)
                            await asyncio.sleep(rng.choice([0, 0, 0.001]))  # sometimes cancelled here
                else:
                    async for outcome in batch:
                        delivered.append(outcome)

            consumer = asyncio.create_task(consume())
            await asyncio.sleep(rng.uniform(0.0, 0.12))
            consumer.cancel()
            with pytest.raises(asyncio.CancelledError):
                await consumer
            assert batch.closed
            assert client.stats.in_flight == 0
            assert not client._manager.limiter._waiters
            assert _our_pending_tasks() == []
        assert await _all_connections_closed(fake)
        await asyncio.sleep(0.06)  # let slow starts cancelled mid-flight finish on the server
        _check_accounting(batch, delivered, fake.runs[first_run:], slugs)


async def test_aclose_from_the_consumer_ends_iteration_and_keeps_what_was_not_yet_yielded(
    slow_fake: FakeCoreClaw,
) -> None:
    fake = slow_fake
    slugs = [fake.add_task() for _ in range(100)]
    delivered: list[TaskRunOutcome] = []
    async with _client(fake) as client:
        batch = client.tasks.run_many(slugs, concurrency=4)
        async for outcome in batch:
            delivered.append(outcome)
            if len(delivered) == 1:
                await asyncio.sleep(0.2)  # fall behind: the workers fill the hand-off buffer
                await batch.aclose()
        assert len(delivered) == 1
        assert batch.undelivered
        assert all(o.started for o in batch.undelivered)
        assert batch.unreconciled == []  # the workers were waiting for room, nothing was in flight
        assert _our_pending_tasks() == []
        await batch.aclose()  # idempotent
    _check_accounting(batch, delivered, fake.runs, slugs)


async def test_a_batch_dropped_while_running_is_stopped_with_a_resource_warning(
    slow_fake: FakeCoreClaw, caplog: pytest.LogCaptureFixture
) -> None:
    fake = slow_fake
    async with _client(fake) as client:
        batch = client.tasks.run_many([fake.task_slugs[0]] * 50, concurrency=5)
        async for _ in batch:
            break
        with pytest.warns(ResourceWarning, match="dropped while running"):
            del batch  # CPython finalises it at once; gc.collect() below is for other runtimes
        gc.collect()
        await asyncio.sleep(0.05)  # the cancelled workers unwind
        assert _our_pending_tasks() == []
        assert client.stats.in_flight == 0


async def test_cancelling_an_async_input_mid_pull_leaves_nothing_pending(fake: FakeCoreClaw) -> None:
    async def slowly() -> AsyncIterator[str]:
        for slug in fake.task_slugs * 10:
            await asyncio.sleep(0.02)
            yield slug

    async with _client(fake) as client:
        task = asyncio.create_task(client.tasks.run_all(slowly(), concurrency=3))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _our_pending_tasks() == []
        assert client.stats.in_flight == 0


# -- run_all ---------------------------------------------------------------------------


async def test_cancelling_run_all_re_raises_and_logs_what_is_unknown(
    slow_fake: FakeCoreClaw, caplog: pytest.LogCaptureFixture, paths: Paths
) -> None:
    fake = slow_fake
    caplog.set_level(logging.WARNING, logger="coreclaw_async")
    slugs = [fake.add_task() for _ in range(200)]
    async with _client(fake) as client:
        task = asyncio.create_task(client.tasks.run_all(slugs, concurrency=8))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert client.stats.in_flight == 0
        assert _our_pending_tasks() == []
    assert await _all_connections_closed(fake)
    messages = [r.getMessage() for r in caplog.records if r.name == "coreclaw_async"]
    assert any("run_all cancelled" in m for m in messages)
    start = re.compile(f"POST {paths.regex('task_run')}")
    assert any("in flight, outcome unknown" in m and start.search(m) for m in messages)


async def test_cancelling_run_all_hands_every_known_outcome_to_on_cancel(slow_fake: FakeCoreClaw) -> None:
    fake = slow_fake
    slugs = [fake.add_task() for _ in range(200)]
    reported: list[list[TaskRunOutcome]] = []
    async with _client(fake) as client:
        task = asyncio.create_task(client.tasks.run_all(slugs, concurrency=8, on_cancel=reported.append))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(reported) == 1
    known = reported[0]
    indices = [o.index for o in known]
    assert indices == sorted(indices)
    assert indices == list(range(len(known)))  # every item taken, in input order, once
    in_flight = [o for o in known if o.started is None]
    assert in_flight
    assert all(isinstance(o.error, RunStartUnknownError) for o in in_flight)
    started = {o.run.run_slug for o in known if o.run is not None}
    created = {run.slug for run in fake.runs}
    assert started <= created
    assert len(created - started) <= len(in_flight)  # every other run belongs to an unknown item


# -- a single tasks.run --------------------------------------------------------------------


async def test_a_single_run_cancelled_mid_flight_releases_its_slot_and_re_raises(
    fake: FakeCoreClaw, paths: Paths
) -> None:
    fake.inject(Fault.SLOW, times=1, path=paths.pattern("task_run"), delay=1.0)
    async with _client(fake, max_connections=1, pool_timeout=0.2) as client:
        call = asyncio.create_task(client.tasks.run(fake.task_slugs[0]))
        await asyncio.sleep(0.1)
        assert client.stats.in_flight == 1
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert client.stats.in_flight == 0
        # The one slot is free again: this call does not wait for the pool (0.2 s budget).
        run = await client.tasks.run(fake.task_slugs[1], max_retries=0)
        assert run.run_slug
        assert _our_pending_tasks() == []
    assert await _all_connections_closed(fake)


async def test_a_single_run_cancelled_while_waiting_for_a_slot_is_never_sent(
    fake: FakeCoreClaw, paths: Paths
) -> None:
    fake.inject(Fault.SLOW, times=1, path=paths.pattern("task_run"), delay=0.3)
    async with _client(fake, max_connections=1) as client:
        holder = asyncio.create_task(client.tasks.run(fake.task_slugs[0]))
        await asyncio.sleep(0.05)
        waiter = asyncio.create_task(client.tasks.run(fake.task_slugs[1]))
        await asyncio.sleep(0.05)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await holder
        await client.tasks.run(fake.task_slugs[2])

        assert client.stats.in_flight == 0
        assert not client._manager.limiter._waiters
    assert paths.count(fake, "task_run") == 2
    assert sorted(fake.runs_by_task()) == sorted([fake.task_slugs[0], fake.task_slugs[2]])
