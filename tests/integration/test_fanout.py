"""tasks.run_many / run_all over real loopback HTTP against FakeCoreClaw: the fan-out API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import attrs
import pytest

from coreclaw_async import (
    AsyncCoreClaw,
    AuthenticationError,
    InvalidParameterError,
    RateLimitError,
    RetryPolicy,
    StartedRun,
    TaskNotFoundError,
    TaskRunBatch,
    TaskRunOutcome,
    TaskRunRequest,
)
from coreclaw_async.testing import FakeCoreClaw, Fault

from .support import Paths, client_for

FAST = RetryPolicy(max_retries=4, backoff_base=0.001, backoff_max=0.01, rate_limit_base=0.002)
UNKNOWN_TASK = "01KSFDXRNYGKT3NNE11EMR4W5X"


@pytest.fixture
async def fast(fake: FakeCoreClaw) -> AsyncIterator[AsyncCoreClaw]:
    """A client with millisecond backoffs, so retries cost no wall time."""
    async with client_for(fake, retry=FAST) as c:
        yield c


def _our_pending_tasks() -> list[asyncio.Task[object]]:
    return [
        task
        for task in asyncio.all_tasks()
        if task is not asyncio.current_task() and task.get_name().startswith("coreclaw_async.")
    ]


# -- results -------------------------------------------------------------------------------


async def test_run_all_returns_one_outcome_per_item_in_input_order(
    fast: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    slugs = [fake.add_task() for _ in range(30)]

    outcomes = await fast.tasks.run_all(slugs, concurrency=7)

    assert [o.index for o in outcomes] == list(range(30))
    assert [o.request.task_slug for o in outcomes] == slugs
    assert all(o.started is True and o.ok and o.error is None for o in outcomes)
    assert all(isinstance(o.run, StartedRun) for o in outcomes)
    ledger = {run.slug: run.task_slug for run in fake.runs}
    assert {o.run.run_slug: o.request.task_slug for o in outcomes if o.run} == ledger


async def test_run_many_yields_outcomes_in_completion_order(
    fast: AsyncCoreClaw, fake: FakeCoreClaw, paths: Paths
) -> None:
    slugs = [fake.add_task() for _ in range(6)]
    # The first start to reach the server (item 0 or 1) is held back; the rest overtake it.
    fake.inject(Fault.SLOW, times=1, path=paths.pattern("task_run"), delay=0.3)

    async with fast.tasks.run_many(slugs, concurrency=2) as batch:
        order = [outcome.index async for outcome in batch]

    assert sorted(order) == list(range(6))
    assert order[-1] in (0, 1)
    assert order != sorted(order)


async def test_an_async_iterable_of_requests_is_accepted(fast: AsyncCoreClaw, fake: FakeCoreClaw) -> None:
    slugs = [fake.add_task() for _ in range(12)]

    async def produce() -> AsyncIterator[str | TaskRunRequest]:
        for number, slug in enumerate(slugs):
            await asyncio.sleep(0)
            yield TaskRunRequest(task_slug=slug) if number % 2 else slug

    outcomes = await fast.tasks.run_all(produce(), concurrency=4)

    assert [o.request.task_slug for o in outcomes] == slugs
    assert all(o.started for o in outcomes)
    assert sorted(fake.runs_by_task().items()) == sorted((slug, 1) for slug in slugs)


async def test_outcomes_are_frozen_and_exported_from_the_package() -> None:
    outcome = TaskRunOutcome(index=0, request="x", run=None, error=None, started=False)

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        outcome.index = 1  # type: ignore[misc]
    assert not outcome.ok


# -- per-item failures never abort the batch ---------------------------------------------


async def test_invalid_items_become_outcomes_and_are_never_sent(
    fast: AsyncCoreClaw, fake: FakeCoreClaw, paths: Paths
) -> None:
    good = fake.task_slugs[0]
    bad_url = TaskRunRequest(task_slug=good, callback_url="ftp://nowhere")
    items: list[object] = ["", "  padded  ", None, 42, bad_url, good]

    outcomes = await fast.tasks.run_all(items, concurrency=3)  # type: ignore[arg-type]

    assert [o.started for o in outcomes] == [False] * 5 + [True]
    for outcome in outcomes[:5]:
        assert isinstance(outcome.error, InvalidParameterError)
        assert outcome.run is None
    assert outcomes[2].request is None
    assert outcomes[4].request is bad_url
    assert paths.count(fake, "task_run") == 1


async def test_refused_items_report_their_error_and_the_rest_still_run(
    fast: AsyncCoreClaw, fake: FakeCoreClaw, api_version: str
) -> None:
    foreign = fake.add_task(foreign=True)
    mine = fake.task_slugs[:2]

    outcomes = await fast.tasks.run_all([mine[0], UNKNOWN_TASK, foreign, mine[1]])

    assert [o.started for o in outcomes] == [True, False, False, True]
    assert isinstance(outcomes[1].error, TaskNotFoundError)
    # Another user's Task: "not yours" (4010) on v1, "does not exist" (60001) on v2.
    refused = {"v1": AuthenticationError, "v2": TaskNotFoundError}[api_version]
    assert isinstance(outcomes[2].error, refused)
    assert len(fake.runs) == 2


async def test_per_item_max_retries_applies_to_every_start(
    fast: AsyncCoreClaw, fake: FakeCoreClaw, paths: Paths
) -> None:
    fake.inject(Fault.RATE_LIMIT, times=1, path=paths.pattern("task_run"))

    outcomes = await fast.tasks.run_all(fake.task_slugs[:1], max_retries=0)

    assert isinstance(outcomes[0].error, RateLimitError)
    assert outcomes[0].started is False
    assert fake.runs == []


async def test_the_batch_callback_url_fills_items_without_their_own(
    fast: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    own = "https://own.example.com/hook"
    batch_url = "https://batch.example.com/hook"
    items: list[str | TaskRunRequest] = [
        fake.task_slugs[0],
        TaskRunRequest(task_slug=fake.task_slugs[1], callback_url=own),
    ]

    outcomes = await fast.tasks.run_all(items, callback_url=batch_url)

    assert [o.request.callback_url for o in outcomes] == [batch_url, own]
    assert sorted(str(run.callback_url) for run in fake.runs) == sorted([batch_url, own])


async def test_an_input_that_raises_ends_the_batch_after_the_items_in_flight(
    fast: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    slugs = fake.task_slugs

    def produce() -> Iterator[str]:
        yield from slugs
        raise LookupError("the input broke")

    seen: list[TaskRunOutcome] = []

    async def consume() -> None:
        async for outcome in fast.tasks.run_many(produce(), concurrency=2):
            seen.append(outcome)

    with pytest.raises(LookupError, match="the input broke"):
        await consume()

    assert sorted(o.index for o in seen) == list(range(len(slugs)))
    assert len(fake.runs) == len(slugs)
    assert _our_pending_tasks() == []


# -- bounded resources -------------------------------------------------------------------


async def test_no_more_than_concurrency_starts_are_in_flight(fast: AsyncCoreClaw, fake: FakeCoreClaw) -> None:
    fake.latency = 0.01
    slugs = [fake.add_task() for _ in range(60)]
    peak = 0

    async with fast.tasks.run_many(slugs, concurrency=4) as batch:
        async for _ in batch:
            peak = max(peak, batch.in_flight, fast.stats.in_flight)

    assert 1 <= peak <= 4
    assert fake.max_open_connections <= 4
    assert len(fake.runs) == 60


async def test_the_input_is_pulled_lazily_and_only_as_fast_as_it_is_consumed(
    fast: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    pulled = 0

    def produce() -> Iterator[str]:
        nonlocal pulled
        while True:  # endless: only laziness keeps this test finite
            pulled += 1
            yield fake.task_slugs[pulled % 3]

    consumed = 0
    async with fast.tasks.run_many(produce(), concurrency=5) as batch:
        async for _ in batch:
            consumed += 1
            # Launches run ahead of the consumer by at most the workers plus the buffer.
            assert pulled - consumed <= 2 * 5 + 1
            if consumed == 50:
                break
            await asyncio.sleep(0.001)

    assert batch.closed
    assert pulled <= 50 + 2 * 5 + 1
    assert _our_pending_tasks() == []


async def test_concurrency_defaults_to_the_client_pool_size(fake: FakeCoreClaw) -> None:
    async with client_for(fake, max_connections=13) as client:
        batch = client.tasks.run_many(fake.task_slugs)
        assert batch.concurrency == 13
        assert isinstance(batch, TaskRunBatch)
        await batch.aclose()


async def test_plain_async_for_runs_to_the_end_and_leaves_nothing_running(
    fast: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    batch = fast.tasks.run_many(fake.task_slugs * 4, concurrency=3)

    outcomes = [outcome async for outcome in batch]

    assert len(outcomes) == 12
    assert batch.closed
    assert batch.unreconciled == []
    assert batch.undelivered == []
    assert _our_pending_tasks() == []
    assert fast.stats.in_flight == 0


# -- argument checks ---------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [0, -1, True, 2.5])
async def test_a_bad_concurrency_is_refused_up_front(fast: AsyncCoreClaw, concurrency: object) -> None:
    with pytest.raises(InvalidParameterError, match="concurrency"):
        fast.tasks.run_many(["a"], concurrency=concurrency)  # type: ignore[arg-type]


async def test_a_lone_string_or_a_non_iterable_is_refused_up_front(fast: AsyncCoreClaw) -> None:
    with pytest.raises(InvalidParameterError, match="single string"):
        fast.tasks.run_many("01KSFDXRNYGKT3NNE11EMR4W5X")
    with pytest.raises(InvalidParameterError, match="iterable"):
        await fast.tasks.run_all(42)  # type: ignore[arg-type]


async def test_an_empty_input_yields_nothing(fast: AsyncCoreClaw, fake: FakeCoreClaw) -> None:
    assert await fast.tasks.run_all([]) == []
    assert fake.requests == 0
