"""10,000 run starts through run_many while FakeCoreClaw injects every fault at random.

The promise under test: every item gets exactly one outcome; a run exists for an item
if and only if it was reported started, or reported unknown; retries never create a
second run for an item; the client's counters agree with what the server saw.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from coreclaw_async import (
    AsyncCoreClaw,
    ConcurrencyLimitError,
    RetryPolicy,
    RunStartUnknownError,
)
from coreclaw_async.testing import FakeCoreClaw, Fault

from ..conftest import CALLBACK_URL
from .support import Paths

pytestmark = pytest.mark.slow

ITEMS = 10_000
# Per-request probability of each fault; rate limits are the common case in production.
PROBABILITY = {
    Fault.RATE_LIMIT: 0.03,
    Fault.RATE_LIMIT_V2: 0.03,
    Fault.CONCURRENCY_LIMIT: 0.005,
    Fault.HTTP_502_HTML: 0.005,
    Fault.HTTP_503_HTML: 0.005,
    Fault.HTTP_504_HTML: 0.005,
    Fault.SERVER_ERROR: 0.005,
    Fault.SERVER_ERROR_AFTER_CREATE: 0.005,
    Fault.DROP_BEFORE_CREATE: 0.005,
    Fault.DROP_AFTER_CREATE: 0.005,
    Fault.SLOW: 0.01,
    Fault.CONTROL_CHARS: 0.01,
    Fault.TRUNCATED: 0.005,
    Fault.NOT_ENVELOPE: 0.005,
}
UNKNOWN_WITH_RUN = {Fault.SERVER_ERROR_AFTER_CREATE, Fault.DROP_AFTER_CREATE, Fault.TRUNCATED}
UNKNOWN_WITHOUT_RUN = {
    Fault.SERVER_ERROR,
    Fault.DROP_BEFORE_CREATE,
    Fault.HTTP_502_HTML,
    Fault.HTTP_503_HTML,
    Fault.HTTP_504_HTML,
    Fault.NOT_ENVELOPE,
}


@pytest.fixture
async def chaos(api_version: str, paths: Paths) -> AsyncIterator[FakeCoreClaw]:
    # Only run starts are sent, so the v2 prefix of every Task path (/api/v2/worker-tasks/*)
    # puts the faults on the starts alone, as the one v1 path does.
    async with FakeCoreClaw(seed=20260806, tasks=0, api_versions=(api_version,)) as fake:
        for fault, probability in PROBABILITY.items():
            extra: dict[str, float] = {}
            if fault is Fault.SLOW:
                extra["delay"] = 0.05
            if fault is Fault.RATE_LIMIT:
                extra["retry_after"] = 0.005
            fake.inject(fault, times=None, probability=probability, path=paths.pattern("task_run"), **extra)
        yield fake


async def test_ten_thousand_starts_under_every_fault_create_no_duplicate_and_lose_no_run(
    chaos: FakeCoreClaw, api_version: str, paths: Paths
) -> None:
    fake = chaos
    # One task per item, so the ledger tells which item each run belongs to.
    slugs = [fake.add_task() for _ in range(ITEMS)]
    policy = RetryPolicy(max_retries=10, backoff_base=0.001, backoff_max=0.01, rate_limit_base=0.002)

    async with AsyncCoreClaw(
        fake.api_key,
        base_url=fake.url,
        callback_url=CALLBACK_URL,
        retry=policy,
        timeout=20,
        api_version=api_version,
    ) as client:
        began = time.perf_counter()
        outcomes = [outcome async for outcome in client.tasks.run_many(iter(slugs), concurrency=64)]
        elapsed = time.perf_counter() - began
        stats = client.stats
    print(f"\n{ITEMS} launches in {elapsed:.2f}s = {ITEMS / elapsed:.0f}/s; {stats}")

    # Exactly one outcome per item.
    assert sorted(o.index for o in outcomes) == list(range(ITEMS))
    assert all(o.request.task_slug == slugs[o.index] for o in outcomes)

    started = [o for o in outcomes if o.started is True]
    unknown = [o for o in outcomes if o.started is None]
    refused = [o for o in outcomes if o.started is False]
    ledger = {run.slug: run.task_slug for run in fake.runs}

    # No run slug reported twice, none invented, and each belongs to its item's task.
    started_slugs = [o.run.run_slug for o in started if o.run is not None]
    assert len(started_slugs) == len(started) == len(set(started_slugs))
    assert all(ledger[o.run.run_slug] == o.request.task_slug for o in started if o.run is not None)
    # Retries never created a second run for an item.
    assert max(fake.runs_by_task().values()) == 1
    assert len(ledger) == len(fake.runs)
    # Runs created but not reported started belong to items reported unknown, at most one each.
    extra_tasks = {task for slug, task in ledger.items() if slug not in set(started_slugs)}
    assert extra_tasks <= {o.request.task_slug for o in unknown}
    assert len(ledger) <= len(started) + len(unknown)
    # Refused items have no run at all.
    assert not {o.request.task_slug for o in refused} & set(ledger.values())

    # Each kind of unknown outcome matches the faults the server applied.
    applied = Counter(fault for fault, _ in fake.applied_faults)
    assert len(extra_tasks) == sum(applied[f] for f in UNKNOWN_WITH_RUN)
    assert len(unknown) - len(extra_tasks) == sum(applied[f] for f in UNKNOWN_WITHOUT_RUN)
    assert all(isinstance(o.error, RunStartUnknownError) for o in unknown)
    assert all(isinstance(o.error, RunStartUnknownError) and o.error.request == o.request for o in unknown)
    assert (
        sum(isinstance(o.error, ConcurrencyLimitError) for o in refused) == applied[Fault.CONCURRENCY_LIMIT]
    )
    assert len(refused) == applied[Fault.CONCURRENCY_LIMIT]  # rate limits were all retried through

    # The client's counters agree with what the server saw.
    assert stats.requests == paths.count(fake, "task_run") == ITEMS + sum(stats.retries.values())
    assert stats.rate_limited == applied[Fault.RATE_LIMIT] + applied[Fault.RATE_LIMIT_V2] > 0
    assert stats.retries == {"rate_limited": stats.rate_limited}
    assert stats.unknown_outcomes == len(unknown)
    assert stats.in_flight == 0
    assert stats.succeeded == len(started)
    assert stats.failed == len(unknown) + len(refused)
