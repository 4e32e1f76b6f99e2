"""The plan concurrency limit: what it counts, what it refuses, and the refusal counter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from coreclaw_async.testing import FakeCoreClaw, Fault

from .conftest import CALLBACK, Api, Reply

TASK_RUN = "/api/v1/task/run"
PLAN_LIMIT = {"code": 30003, "message": "the current running tasks have reached the plan limit", "data": None}
# Long enough that no run changes state while a test looks at it.
QUEUED = (30.0, 30.0)
RUNNING = (0.0, 30.0)


@pytest.fixture
async def open_fake(http: aiohttp.ClientSession) -> AsyncIterator[tuple[FakeCoreClaw, Api]]:
    async with FakeCoreClaw(run_schedule=QUEUED, abort_linger=None) as fake:
        yield fake, Api(http, fake)


async def start(api: Api) -> Reply:
    return await api.post(TASK_RUN, {"task_slug": api.fake.task_slugs[0], "callback_url": CALLBACK})


def worker_start_body() -> dict[str, Any]:
    return {
        "scraper_slug": "coreclaw/google-maps-scraper",
        "is_async": True,
        "input": {"parameters": {"custom": {"searchTerms": ["pizza"]}}},
    }


async def test_a_limit_counting_ready_runs_refuses_starts_while_runs_are_only_queued(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeCoreClaw(run_schedule=QUEUED, concurrency_limit=2, concurrency_counts_ready=True) as fake:
        api = Api(http, fake)
        await api.start_task_run()
        await api.start_task_run()
        assert [run.status for run in fake.runs] == [1, 1]
        reply = await start(api)
        assert (reply.status, reply.body) == (200, PLAN_LIMIT)
        assert len(fake.runs) == 2
        assert fake.concurrency_refusals == 1


async def test_by_default_queued_runs_count_and_a_second_start_is_refused(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeCoreClaw(run_schedule=QUEUED, concurrency_limit=1) as fake:
        api = Api(http, fake)
        await api.start_task_run()
        assert fake.concurrency_counts_ready is True
        assert [(await start(api)).code for _ in range(2)] == [30003, 30003]
        assert len(fake.runs) == 1
        assert fake.concurrency_refusals == 2


async def test_counting_running_runs_only_lets_queued_runs_pass_and_refuses_nothing(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeCoreClaw(run_schedule=QUEUED, concurrency_limit=1, concurrency_counts_ready=False) as fake:
        api = Api(http, fake)
        for _ in range(3):
            await api.start_task_run()
        assert len(fake.runs) == 3
        assert fake.concurrency_counts_ready is False
        assert fake.concurrency_refusals == 0


async def test_the_setter_switches_counting_ready_runs_on_and_off(
    open_fake: tuple[FakeCoreClaw, Api],
) -> None:
    fake, api = open_fake
    await api.start_task_run()
    fake.set_concurrency_limit(1, counts_ready=True)
    assert (fake.concurrency_limit, fake.concurrency_counts_ready) == (1, True)
    assert (await start(api)).code == 30003
    fake.set_concurrency_limit(1, counts_ready=False)
    await api.start_task_run()
    assert len(fake.runs) == 2
    assert fake.concurrency_refusals == 1


@pytest.mark.parametrize("counts_ready", [True, False])
async def test_setting_only_the_limit_keeps_the_rule_for_ready_runs(
    http: aiohttp.ClientSession, counts_ready: bool
) -> None:
    async with FakeCoreClaw(run_schedule=QUEUED, concurrency_counts_ready=counts_ready) as fake:
        api = Api(http, fake)
        await api.start_task_run()
        fake.set_concurrency_limit(1)
        assert fake.concurrency_counts_ready is counts_ready
        assert (await start(api)).code == (30003 if counts_ready else 0)
        fake.set_concurrency_limit(None)
        assert fake.concurrency_limit is None
        await api.start_task_run()
        assert len(fake.runs) == (2 if counts_ready else 3)


@pytest.mark.parametrize(("schedule", "counts_ready"), [(RUNNING, False), (QUEUED, True)])
async def test_runs_started_before_the_limit_was_set_count_against_it(
    http: aiohttp.ClientSession, schedule: tuple[float, float], counts_ready: bool
) -> None:
    async with FakeCoreClaw(run_schedule=schedule) as fake:
        api = Api(http, fake)
        await api.start_task_run()
        await api.start_task_run()
        fake.set_concurrency_limit(2, counts_ready=counts_ready)
        assert (await start(api)).code == 30003
        fake.set_concurrency_limit(3)
        await api.start_task_run()
        assert len(fake.runs) == 3


async def test_aborting_runs_free_their_place_even_when_ready_runs_count(
    open_fake: tuple[FakeCoreClaw, Api],
) -> None:
    fake, api = open_fake
    fake.set_concurrency_limit(1, counts_ready=True)
    first = await api.start_task_run()
    assert (await start(api)).code == 30003
    assert (await api.post("/api/v1/scraper/abort", {"run_slug": first})).code == 0
    assert fake.get_run(first).status == 5
    await api.start_task_run()
    assert len(fake.runs) == 2


async def test_finished_runs_never_count(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(
        run_schedule=(0.0, 0.0), concurrency_limit=1, concurrency_counts_ready=True
    ) as fake:
        api = Api(http, fake)
        for _ in range(3):
            await api.start_task_run()
        assert [run.is_final for run in fake.runs] == [True, True, True]
        assert fake.concurrency_refusals == 0


async def test_every_kind_of_start_is_refused_and_counted(open_fake: tuple[FakeCoreClaw, Api]) -> None:
    fake, api = open_fake
    first = await api.start_task_run()
    fake.set_concurrency_limit(1, counts_ready=True)
    task_run = await start(api)
    worker_run = await api.post("/api/v1/scraper/run", worker_start_body())
    rerun = await api.post("/api/v1/rerun", {"run_slug": first, "callback_url": CALLBACK})
    assert [reply.code for reply in (task_run, worker_run, rerun)] == [30003, 30003, 30003]
    assert fake.concurrency_refusals == 3
    assert len(fake.runs) == 1


async def test_reads_are_never_refused_by_the_limit(open_fake: tuple[FakeCoreClaw, Api]) -> None:
    fake, api = open_fake
    run_slug = await api.start_task_run()
    fake.set_concurrency_limit(0, counts_ready=True)
    assert (await api.post("/api/v1/run/detail", {"run_slug": run_slug})).code == 0
    assert (await api.post("/api/v1/run/list", {})).code == 0
    assert fake.concurrency_refusals == 0


async def test_injected_plan_limit_faults_and_balance_refusals_are_not_counted(
    open_fake: tuple[FakeCoreClaw, Api],
) -> None:
    fake, api = open_fake
    fake.inject(Fault.CONCURRENCY_LIMIT, path=TASK_RUN)
    assert (await start(api)).code == 30003
    fake.set_concurrency_limit(0, counts_ready=True)
    fake.set_balance("0")
    assert (await start(api)).code == 30001
    assert fake.concurrency_refusals == 0


async def test_reset_counters_zeroes_the_refusals_and_keeps_the_ledger(
    open_fake: tuple[FakeCoreClaw, Api],
) -> None:
    fake, api = open_fake
    await api.start_task_run()
    fake.set_concurrency_limit(1, counts_ready=True)
    for _ in range(2):
        assert (await start(api)).code == 30003
    assert fake.concurrency_refusals == 2
    fake.reset_counters()
    assert fake.concurrency_refusals == 0
    assert len(fake.runs) == 1
    assert (await start(api)).code == 30003
    assert fake.concurrency_refusals == 1


@pytest.mark.parametrize("counts_ready", [1, "yes"])
def test_a_counts_ready_that_is_not_a_bool_or_a_negative_limit_is_refused(counts_ready: object) -> None:
    with pytest.raises(ValueError, match="counts_ready"):
        FakeCoreClaw(concurrency_counts_ready=counts_ready)  # type: ignore[arg-type]
    fake = FakeCoreClaw()
    with pytest.raises(ValueError, match="counts_ready"):
        fake.set_concurrency_limit(1, counts_ready=counts_ready)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit"):
        fake.set_concurrency_limit(-1)
