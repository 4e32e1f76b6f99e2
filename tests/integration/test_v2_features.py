"""What API v2 adds, over real HTTP against a v2-only FakeCoreClaw: Tasks, schemas, the queue, history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest

from coreclaw_async import (
    APIConnectionError,
    AsyncCoreClaw,
    InsufficientBalanceError,
    InvalidParameterError,
    RunNotFoundError,
    RunStatus,
    Schedule,
    ScheduleKind,
    TaskNotFoundError,
    UnsupportedOperationError,
    WorkerNotFoundError,
)
from coreclaw_async.testing import FakeCoreClaw, Fault

WORKER = "coreclaw/google-maps-scraper"
UTC = timezone.utc


@pytest.fixture
async def fake() -> AsyncIterator[FakeCoreClaw]:
    # v2 only: every v1 path answers 404, so nothing here can pass through v1 unnoticed.
    async with FakeCoreClaw(api_versions=("v2",), seed=7, run_schedule=(0.0, 0.05)) as server:
        yield server


@pytest.fixture
async def client(fake: FakeCoreClaw) -> AsyncIterator[AsyncCoreClaw]:
    async with AsyncCoreClaw(fake.api_key, base_url=fake.url, api_version="v2") as c:
        yield c


def _v1_paths(fake: FakeCoreClaw) -> list[str]:
    return [
        path for path in fake.requests_by_path if path.startswith("/api/v1") or not path.startswith("/api/v2")
    ]


async def test_a_task_round_trips_create_update_input_run_wait_delete(
    client: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    task = await client.tasks.create(
        WORKER, title="Coffee", input={"searchTerms": ["coffee"]}, schedule=Schedule.daily("07:00")
    )
    assert task.title == "Coffee"
    assert task.schedule == Schedule.daily("07:00")

    await client.tasks.update(
        task.task_slug, title="Tea", schedule=Schedule.monthly(15, "06:30", enabled=False)
    )
    await client.tasks.update_input(task.task_slug, {"searchTerms": ["tea"]})
    updated = await client.tasks.get(task.task_slug)
    saved = await client.tasks.get_input(task.task_slug)
    started = await client.tasks.run(task.task_slug)  # no callback URL needed on v2
    final = await client.runs.wait(started.run_slug, poll_interval=0.05, timeout=20)
    listed = [t.task_slug async for t in client.tasks.list()]
    await client.tasks.delete(task.task_slug)

    assert updated.title == "Tea"
    assert updated.schedule is not None
    assert (updated.schedule.kind, updated.schedule.day, updated.schedule.enabled) == (
        ScheduleKind.MONTHLY,
        15,
        False,
    )
    assert saved.input == {"parameters": {"custom": {"searchTerms": ["tea"]}}}
    assert saved.custom == {"searchTerms": ["tea"]}
    assert final.is_final
    assert started.request_id
    assert task.task_slug in listed
    with pytest.raises(TaskNotFoundError):
        await client.tasks.delete(task.task_slug)
    await client.tasks.delete(task.task_slug, missing_ok=True)
    with pytest.raises(TaskNotFoundError):
        await client.tasks.get(task.task_slug)
    assert _v1_paths(fake) == []


async def test_a_task_of_an_unknown_worker_is_a_worker_not_found_error(client: AsyncCoreClaw) -> None:
    with pytest.raises(WorkerNotFoundError):
        await client.tasks.create("nobody/nothing", title="t", input={})


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Schedule.daily("25:00"), "schedule.time"),
        (lambda: Schedule.weekly(8, "07:00"), "schedule.weekday"),
        (lambda: Schedule.monthly(0, "07:00"), "schedule.day"),
        (lambda: Schedule.once("2026-02-30", "07:00"), "schedule.on"),
    ],
)
def test_a_bad_schedule_is_refused_on_our_side(make: object, field: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        make()  # type: ignore[operator]

    assert caught.value.field == field


async def test_bad_input_on_v2_only_methods_sends_nothing(client: AsyncCoreClaw, fake: FakeCoreClaw) -> None:
    calls = [
        lambda: client.tasks.create(WORKER, title=" ", input={}),
        lambda: client.tasks.create(WORKER, title="t", input=["not", "a", "mapping"]),  # type: ignore[arg-type]
        lambda: client.tasks.update("01KSFDXRNYGKT3NNE11EMR4W5X"),
        lambda: client.tasks.update("01KSFDXRNYGKT3NNE11EMR4W5X", schedule="daily"),  # type: ignore[arg-type]
        lambda: client.queue.activate([]),
        lambda: client.queue.activate("123"),
        lambda: client.queue.list_page(status="paused"),
        lambda: client.workers.input_schema(" "),
    ]
    for call in calls:
        with pytest.raises(InvalidParameterError):
            await call()

    assert fake.requests == 0


async def test_the_input_schema_is_public_and_lists_the_required_fields(fake: FakeCoreClaw) -> None:
    async with AsyncCoreClaw(base_url=fake.url, api_version="v2") as keyless:
        schema = await keyless.workers.input_schema(WORKER)

    assert "searchTerms" in schema.properties
    assert "searchTerms" in schema.required


async def test_your_own_workers_are_listed(client: AsyncCoreClaw, fake: FakeCoreClaw) -> None:
    fake.add_worker("me/my-worker", owned=True, title="Mine")

    mine = [worker async for worker in client.workers.list()]

    assert [worker.title for worker in mine] == ["Mine"]
    assert mine[0].path == "me~my-worker"


async def test_a_queued_run_waits_until_it_can_be_activated(
    client: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    fake.set_balance("0")
    with pytest.raises(InsufficientBalanceError):
        await client.workers.run(WORKER, input={"searchTerms": ["x"]})

    queued = await client.workers.queue(WORKER, input={"searchTerms": ["x"]})
    other = await client.workers.queue(WORKER, input={"searchTerms": ["y"]})
    waiting = [item async for item in client.queue.list(status="waiting")]
    refused = await client.queue.activate([queued.queue_ref])
    fake.set_balance("10")
    activated = await client.queue.activate([queued.queue_ref])
    released = await client.queue.release([other.queue_ref], reason="not needed")
    inactive = [item.queue_ref async for item in client.queue.list(status="inactive")]

    assert queued.queued
    assert queued.queue_status == "waiting"
    assert {item.queue_ref for item in waiting} == {queued.queue_ref, other.queue_ref}
    assert [a.success for a in refused] == [False]
    assert [a.success for a in activated] == [True]
    assert [r.success for r in released] == [True]
    assert inactive == [other.queue_ref]
    assert len(fake.runs) == 1


async def test_the_run_history_of_any_range_is_walked_month_by_month(
    client: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    march = fake.add_run(started_at=datetime(2026, 3, 10, tzinfo=UTC))
    april = fake.add_run(started_at=datetime(2026, 4, 20, tzinfo=UTC))
    fake.add_run(started_at=datetime(2026, 1, 5, tzinfo=UTC))
    fake.reset_counters()

    history = client.runs.list(
        since=datetime(2026, 2, 1, tzinfo=UTC), until=datetime(2026, 4, 30, tzinfo=UTC)
    )
    found = [run.run_slug async for run in history]

    assert found == [april.slug, march.slug]  # newest first
    assert history.windows == 3  # April, March, February
    assert fake.requests_by_path == {"/api/v2/worker-runs": 3}


async def test_without_a_range_v2_lists_the_current_month_as_the_server_does(
    client: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    fake.add_run(started_at=datetime.now(UTC) - timedelta(days=62))
    started = await client.tasks.run(fake.task_slugs[0])

    listed = [run.run_slug async for run in client.runs.list()]

    assert listed == [started.run_slug]


async def test_a_v2_failure_reason_comes_from_the_log(fake: FakeCoreClaw, client: AsyncCoreClaw) -> None:
    fake.fail_every = 1
    started = await client.tasks.run(fake.task_slugs[0])
    run = await client.runs.wait(started.run_slug, poll_interval=0.05, timeout=20)

    reason = await client.runs.failure_reason(started.run_slug)

    assert run.status is RunStatus.FAILED
    assert run.error is None  # v2 run detail carries no failure message
    assert reason


async def test_the_last_run_is_read_and_not_acted_on(client: AsyncCoreClaw, fake: FakeCoreClaw) -> None:
    started = await client.tasks.run(fake.task_slugs[0])

    last = await client.runs.last()

    assert last.run_slug == started.run_slug


@pytest.mark.parametrize("code", [70001, 11004])
async def test_a_missing_run_is_a_run_not_found_error_whichever_code_v2_uses(
    client: AsyncCoreClaw, fake: FakeCoreClaw, code: int
) -> None:
    fake.v2_missing_run_code = code

    with pytest.raises(RunNotFoundError):
        await client.runs.get("01KSFDS8XWTJME33C08XMCR6B9")
    with pytest.raises(RunNotFoundError):
        await client.runs.wait("01KSFDS8XWTJME33C08XMCR6B9", timeout=5)


async def test_the_version_is_chosen_by_argument_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORECLAW_API_VERSION", "v2")
    async with (
        AsyncCoreClaw("scraper_api_key") as from_env,
        AsyncCoreClaw("scraper_api_key", api_version="v1") as given,
    ):
        assert (from_env.api_version, given.api_version) == ("v2", "v1")
    monkeypatch.delenv("CORECLAW_API_VERSION")
    async with AsyncCoreClaw("scraper_api_key") as default:
        assert default.api_version == "v1"
    for bad in ("v3", "V2", 2, ""):
        with pytest.raises(InvalidParameterError) as caught:
            AsyncCoreClaw("scraper_api_key", api_version=bad)  # type: ignore[arg-type]
        assert caught.value.field == "api_version"


async def test_v2_only_methods_on_a_v1_client_raise_unsupported_and_send_nothing() -> None:
    async with FakeCoreClaw() as fake, AsyncCoreClaw(fake.api_key, base_url=fake.url) as v1:
        for call in (
            lambda: v1.tasks.get("01KSFDXRNYGKT3NNE11EMR4W5X"),
            lambda: v1.workers.queue(WORKER, input={}),
            lambda: v1.queue.release(["1"]),
            lambda: v1.runs.last(),
        ):
            with pytest.raises(UnsupportedOperationError) as caught:
                await call()
            assert caught.value.outcome == "not_sent"
        with pytest.raises(UnsupportedOperationError):
            v1.tasks.list()
        assert fake.requests == 0


async def test_the_same_range_gives_the_same_runs_on_v1() -> None:
    async with (
        FakeCoreClaw(api_versions=("v1",)) as fake,
        AsyncCoreClaw(fake.api_key, base_url=fake.url) as v1,
    ):
        fake.add_run(started_at=datetime(2026, 1, 5, tzinfo=UTC))
        march = fake.add_run(started_at=datetime(2026, 3, 10, tzinfo=UTC))
        april = fake.add_run(started_at=datetime(2026, 4, 20, tzinfo=UTC))
        fake.add_run(started_at=datetime(2026, 5, 2, tzinfo=UTC))

        found = [
            run.run_slug
            async for run in v1.runs.list(
                since=datetime(2026, 2, 1, tzinfo=UTC), until=datetime(2026, 4, 30, tzinfo=UTC)
            )
        ]

        assert found == [april.slug, march.slug]
        with pytest.raises(InvalidParameterError):
            await v1.runs.list_page(
                since=datetime(2026, 2, 1, tzinfo=UTC), until=datetime(2026, 2, 2, tzinfo=UTC)
            )


async def test_a_delete_whose_answer_is_lost_is_sent_once_and_reported_unknown(
    client: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    # aiohttp would silently send a DELETE again on a dropped kept-alive connection; the second
    # one would answer "not found" for a Task the first one deleted.
    task = await client.tasks.create(WORKER, title="t", input={"searchTerms": ["x"]})
    fake.inject(Fault.DROP_AFTER_CREATE, path=f"/api/v2/worker-tasks/{task.task_slug}")
    fake.reset_counters()

    with pytest.raises(APIConnectionError) as caught:
        await client.tasks.delete(task.task_slug)

    assert caught.value.outcome == "unknown"
    assert fake.requests_by_path == {f"/api/v2/worker-tasks/{task.task_slug}": 1}
    assert client.stats.retries == {}
