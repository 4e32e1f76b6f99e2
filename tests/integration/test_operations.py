"""Every run, Worker and account operation against FakeCoreClaw over real HTTP, on API v1 and v2."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest

from coreclaw_async import (
    AccountInfo,
    AsyncCoreClaw,
    AuthenticationError,
    InvalidRequestError,
    LogLevel,
    RunAbortFailedError,
    RunNotFoundError,
    RunStatus,
    StartedRun,
    SystemParameters,
    Worker,
    WorkerNotFoundError,
    WorkerRunSync,
    WorkerVersionUnavailableError,
)
from coreclaw_async.testing import FakeCoreClaw, Fault, is_ulid

from ..conftest import CALLBACK_URL
from .support import MAPS_INPUT, WORKER, Paths, serving, start_run

FAST = (0.05, 0.1)


async def test_account_info_reads_balance_as_decimal(
    client: AsyncCoreClaw, fake: FakeCoreClaw, api_version: str
) -> None:
    info = await client.account.info()

    assert isinstance(info, AccountInfo)
    assert info.balance == Decimal(fake.balance)
    if api_version == "v1":  # v1 reports traffic; v2 reports when the balance expires instead
        assert info.traffic > 0
        assert info.traffic_expiration_at is not None
        assert info.balance_expiration_at is None
    else:
        assert (info.traffic, info.traffic_expiration_at) == (0, None)
        assert info.balance_expiration_at is not None


async def test_proxy_regions_and_worker_reads_need_no_api_key(
    fake: FakeCoreClaw, api_version: str, paths: Paths
) -> None:
    async with AsyncCoreClaw(base_url=fake.url, api_version=api_version) as anonymous:
        regions = await anonymous.proxy_regions()
        found = await anonymous.workers.search("amazon", limit=1)
        if api_version == "v1":
            worker = await anonymous.workers.get(WORKER)
        else:  # v2 Worker detail needs a key; its input schema is the public read
            with pytest.raises(AuthenticationError) as refused:
                await anonymous.workers.get(WORKER)
            assert refused.value.outcome == "not_sent"
            assert paths.count(fake, "worker_get") == 0
            schema = await anonymous.workers.input_schema(WORKER)
            assert "searchTerms" in schema.properties
            async with AsyncCoreClaw(fake.api_key, base_url=fake.url, api_version=api_version) as keyed:
                worker = await keyed.workers.get(WORKER)

    assert "US" in {region.code for region in regions}
    assert isinstance(worker, Worker)
    assert worker.version == "v1.0.5"
    assert [w.title for w in found] == ["Amazon Product By ASIN"]


async def test_worker_detail_gives_an_input_that_starts_a_run(
    client: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    worker = await client.workers.get(WORKER)

    started = await client.workers.run(WORKER, input=worker.default_input(), system=worker.system)

    assert isinstance(started, StartedRun)
    assert is_ulid(started.run_slug)
    record = fake.get_run(started.run_slug)
    assert record.input["parameters"]["custom"] == worker.default_input()
    assert record.input["parameters"]["system"]["memory"] == 512
    assert record.callback_url == CALLBACK_URL


async def test_unknown_worker_and_version_raise_their_errors(
    client: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    with pytest.raises(WorkerNotFoundError):
        await client.workers.get("nobody/nothing")
    with pytest.raises(WorkerNotFoundError):
        await client.workers.run("nobody/nothing", input=MAPS_INPUT)
    with pytest.raises(WorkerVersionUnavailableError):
        await client.workers.run(WORKER, input=MAPS_INPUT, version="v9.9.9")
    with pytest.raises(InvalidRequestError):
        await client.workers.run(WORKER, input={"location": "no search terms"})

    assert fake.runs == []


async def test_search_finds_nothing_for_an_unknown_term(client: AsyncCoreClaw) -> None:
    assert await client.workers.search("no-such-worker-anywhere") == []


async def test_sync_worker_run_returns_the_first_rows(api_version: str) -> None:
    async with serving(api_version, run_schedule=FAST, rows_per_run=12) as (fake, client):
        result = await client.workers.run(WORKER, input=MAPS_INPUT, is_async=False, page_size=5)

    assert isinstance(result, WorkerRunSync)
    assert result.is_finished
    assert result.run_status == {"v1": "completed", "v2": "succeeded"}[api_version]
    assert result.results is not None
    assert (result.results.count, len(result.results.items)) == (12, 5)
    assert result.execution_start_timestamp is not None
    assert result.execution_end_timestamp is not None
    assert result.execution_end_timestamp >= result.execution_start_timestamp
    assert fake.get_run(result.run_slug).is_final


async def test_sync_worker_run_that_outlasts_the_server_wait_reports_running(api_version: str) -> None:
    async with serving(api_version, run_schedule=(0.0, 30.0), sync_wait_cap=0.1) as (_, client):
        result = await client.workers.run(WORKER, input=MAPS_INPUT, is_async=False)

        assert not result.is_finished
        assert (await client.runs.get(result.run_slug)).status is RunStatus.RUNNING


async def test_a_sync_answer_with_only_the_run_slug_is_not_finished_and_the_run_can_be_waited_for(
    api_version: str, paths: Paths
) -> None:
    async with serving(api_version, run_schedule=(0.0, 0.2)) as (fake, client):
        fake.inject(Fault.SLUG_ONLY, path=paths.pattern("worker_run", worker=WORKER))

        result = await client.workers.run(WORKER, input=MAPS_INPUT, is_async=False)

        assert not result.is_finished  # nothing in the answer says the run ended
        assert result.run_slug == fake.runs[0].slug
        final = await client.runs.wait(result.run_slug, poll_interval=0.05, timeout=10)
        assert final.is_final


async def test_run_moves_from_ready_to_running_to_succeeded(api_version: str) -> None:
    async with serving(api_version, run_schedule=(0.15, 0.15), rows_per_run=10) as (_, client):
        slug = await start_run(client)
        seen = [(await client.runs.get(slug)).status]
        run = await client.runs.wait(slug, poll_interval=0.02, on_poll=lambda r: seen.append(r.status))

    assert seen[0] is RunStatus.READY
    assert RunStatus.RUNNING in seen
    assert seen[-1] is RunStatus.SUCCEEDED
    assert run.succeeded
    assert run.results == 10
    assert run.finished_at is not None
    assert run.started_at is not None
    assert run.usage > 0


async def test_a_failing_run_ends_failed_with_its_error(api_version: str) -> None:
    async with serving(api_version, run_schedule=FAST, fail_every=1) as (_, client):
        run = await client.runs.wait(await start_run(client), poll_interval=0.02)
        reason = await client.runs.failure_reason(run.run_slug)

    assert run.failed
    assert run.is_final
    if api_version == "v1":
        assert run.err_msg
    else:  # v2 run detail carries no failure message: it is read from the log
        assert run.err_msg == ""
    assert reason


async def test_runs_list_pages_through_every_run_newest_first(api_version: str) -> None:
    async with serving(api_version, run_schedule=FAST) as (_, client):
        slugs = [await start_run(client) for _ in range(5)]

        listed = [run.run_slug async for run in client.runs.list(page_size=2)]
        page = await client.runs.list_page(page_index=2, page_size=2)
        filtered = [run.run_slug async for run in client.runs.list(scraper_slug="01KBHMS6A8H6A3K5FJY11MQ99Z")]

    assert listed == slugs[::-1]
    assert page.count == 5
    assert [run.run_slug for run in page.items] == slugs[::-1][2:4]
    assert filtered == []


async def test_runs_list_filters_by_status(api_version: str) -> None:
    async with serving(api_version, run_schedule=FAST, fail_every=2) as (_, client):
        slugs = [await start_run(client) for _ in range(4)]
        for slug in slugs:
            await client.runs.wait(slug, poll_interval=0.02)

        failed = [run.run_slug async for run in client.runs.list(status=RunStatus.FAILED)]

    assert sorted(failed) == sorted(slugs[1::2])


async def test_log_lists_entries_with_levels_and_a_full_log_url(api_version: str) -> None:
    async with serving(api_version, run_schedule=FAST, fail_every=1) as (fake, client):
        slug = await start_run(client)
        await client.runs.wait(slug, poll_interval=0.02)
        log = await client.runs.log(slug)

    assert log.all_logs_url.startswith(fake.url)
    assert LogLevel.ERROR in {entry.level for entry in log.items}
    assert all(entry.timestamp is not None and entry.timestamp.tzinfo is not None for entry in log.items)


async def test_rerun_starts_a_new_run_with_the_same_input(api_version: str) -> None:
    async with serving(api_version, run_schedule=FAST) as (fake, client):
        original = await start_run(client)
        await client.runs.wait(original, poll_interval=0.02)

        again = await client.runs.rerun(original, callback_url="https://hooks.example.com/rerun")
        final = await client.runs.wait(again.run_slug, poll_interval=0.02)

        record = fake.get_run(again.run_slug)
        assert record.rerun_of == original
        assert record.callback_url == "https://hooks.example.com/rerun"
        assert record.input == fake.get_run(original).input
    assert final.succeeded


async def test_abort_stops_a_running_run(api_version: str) -> None:
    async with serving(api_version, run_schedule=(0.0, 30.0), abort_linger=0.1) as (_, client):
        slug = await start_run(client)

        await client.runs.abort(slug)
        aborting = await client.runs.get(slug)
        final = await client.runs.wait(slug, poll_interval=0.02)

    assert aborting.status is RunStatus.ABORTING
    assert final.failed


async def test_workers_abort_is_the_same_operation(api_version: str) -> None:
    async with serving(api_version, run_schedule=(0.0, 30.0)) as (fake, client):
        slug = await start_run(client)
        await client.workers.abort(slug)

        assert fake.get_run(slug).aborted_at is not None


async def test_aborting_a_finished_run_fails_with_70002(api_version: str) -> None:
    async with serving(api_version, run_schedule=(0.0, 0.0)) as (_, client):
        slug = await start_run(client)

        with pytest.raises(RunAbortFailedError) as caught:
            await client.runs.abort(slug)

    assert caught.value.code == 70002


async def test_unknown_run_raises_run_not_found_on_every_run_call(client: AsyncCoreClaw) -> None:
    missing = "01KSFDS8XWTJME33C08XMCR6B9"
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: client.runs.get(missing),
        lambda: client.runs.log(missing),
        lambda: client.runs.results_page(missing),
        lambda: client.runs.export(missing),
        lambda: client.runs.abort(missing),
        lambda: client.runs.rerun(missing),
    ]
    for call in calls:
        with pytest.raises(RunNotFoundError):
            await call()


async def test_abort_is_retried_when_rate_limited(
    client: AsyncCoreClaw, fake: FakeCoreClaw, paths: Paths
) -> None:
    slug = await start_run(client)
    fake.inject(Fault.RATE_LIMIT, path=paths.pattern("run_abort", run=slug), retry_after=0.01)

    await client.runs.abort(slug)

    assert paths.count(fake, "run_abort") == 2


async def test_reads_are_retried_after_a_server_error(
    client: AsyncCoreClaw, fake: FakeCoreClaw, paths: Paths
) -> None:
    slug = await start_run(client)
    fake.inject(Fault.HTTP_502_HTML, path=paths.pattern("run_get", run=slug))

    run = await client.runs.get(slug)

    assert run.run_slug == slug
    assert paths.count(fake, "run_get") == 2


async def test_memory_override_reaches_the_server(client: AsyncCoreClaw, fake: FakeCoreClaw) -> None:
    started = await client.workers.run(
        WORKER, input=MAPS_INPUT, system=SystemParameters(memory=2048), proxy_region="DE"
    )

    system = fake.get_run(started.run_slug).input["parameters"]["system"]
    assert (system["memory"], system["proxy_region"]) == (2048, "DE")
