"""Callbacks through the client over real HTTP: run(callback=), runs.wait(receiver=), wait_many.

The fake posts each run's notices to the URL the receiver minted for its launch; the
receiver wakes waiters; every final state is confirmed with runs.get.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from coreclaw_async import (
    AsyncCoreClaw,
    CallbackReceiver,
    FinishedRuns,
    InvalidParameterError,
    Run,
    RunCallback,
    RunNotFoundError,
    RunStartUnknownError,
    RunStatus,
    TaskNotFoundError,
    WaitTimeoutError,
)
from coreclaw_async.testing import FakeCoreClaw, Fault

from .support import client_for

CALLBACK_URL = "https://hooks.example.com/coreclaw"
MISSING_RUN = "01KZDQ89G8PTTWG5Z703BG7D1T"


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    async with CallbackReceiver().serve() as served:
        yield served


async def open_client(fake: FakeCoreClaw, **kwargs: object) -> AsyncCoreClaw:
    return client_for(fake, callback_url=CALLBACK_URL, **kwargs)


def no_pending_tasks() -> None:
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    names = sorted(t.get_name() for t in others)
    assert not [n for n in names if n.startswith("coreclaw_async")], names


async def drain(finished: FinishedRuns) -> list[Run]:
    async with finished:
        return [run async for run in finished]


async def test_run_with_a_receiver_uses_a_minted_url_and_binds_the_run(
    receiver: CallbackReceiver, api_version: str
) -> None:
    async with (
        FakeCoreClaw(api_versions=(api_version,), seed=1, run_schedule=(0.01, 0.05)) as fake,
        await open_client(fake) as client,
    ):
        started = await client.tasks.run(fake.task_slugs[0], callback=receiver)
        (created,) = fake.runs
        assert created.slug == started.run_slug
        assert receiver.public_url is not None
        assert created.callback_url.startswith(receiver.public_url + "/")
        assert created.callback_url != CALLBACK_URL
        notice = await receiver.wait(started.run_slug, timeout=10)
        assert isinstance(notice, RunCallback)
        assert notice.run_slug == started.run_slug
        assert notice.is_final
        assert notice.label == fake.task_slugs[0]


async def test_callback_and_callback_url_together_are_refused_before_sending(
    receiver: CallbackReceiver, api_version: str
) -> None:
    async with FakeCoreClaw(api_versions=(api_version,), seed=1) as fake, await open_client(fake) as client:
        with pytest.raises(InvalidParameterError) as info:
            await client.tasks.run(fake.task_slugs[0], callback=receiver, callback_url=CALLBACK_URL)
        assert info.value.field == "callback"
        with pytest.raises(InvalidParameterError):
            await client.tasks.run(fake.task_slugs[0], callback="nope")  # type: ignore[arg-type]
        assert fake.runs == []


async def test_a_closed_receiver_is_refused_before_sending(api_version: str) -> None:
    receiver = CallbackReceiver(public_url="https://hooks.example.com/cc")
    await receiver.close()
    async with FakeCoreClaw(api_versions=(api_version,), seed=1) as fake, await open_client(fake) as client:
        with pytest.raises(InvalidParameterError, match="closed"):
            await client.tasks.run(fake.task_slugs[0], callback=receiver)
        assert fake.runs == []


async def test_a_refused_start_discards_its_launch(receiver: CallbackReceiver, api_version: str) -> None:
    async with FakeCoreClaw(api_versions=(api_version,), seed=1) as fake, await open_client(fake) as client:
        before = receiver.stats.launches
        with pytest.raises(TaskNotFoundError):
            await client.tasks.run("01KZZZZZZZZZZZZZZZZZZZZZZZ", callback=receiver)
        assert receiver.stats.launches == before


async def test_an_unknown_start_outcome_keeps_the_launch_so_its_notices_still_land(
    receiver: CallbackReceiver, api_version: str
) -> None:
    async with (
        FakeCoreClaw(api_versions=(api_version,), seed=1, run_schedule=(0.01, 0.05)) as fake,
        await open_client(fake) as client,
    ):
        fake.inject(Fault.DROP_AFTER_CREATE, times=1)
        with pytest.raises(RunStartUnknownError) as info:
            await client.tasks.run(fake.task_slugs[0], callback=receiver)
        assert info.value.outcome == "unknown"
        (created,) = fake.runs
        # The run exists; its notices still reach the receiver under its launch.
        notice = await receiver.wait(created.slug, timeout=10)
        assert notice.run_slug == created.slug
        assert receiver.launch_for(created.slug) is not None


async def test_runs_wait_with_a_receiver_returns_the_state_get_gives(
    receiver: CallbackReceiver, api_version: str
) -> None:
    async with (
        FakeCoreClaw(api_versions=(api_version,), seed=1, run_schedule=(0.05, 0.3), fail_every=2) as fake,
        await open_client(fake) as client,
    ):
        first = await client.tasks.run(fake.task_slugs[0], callback=receiver)
        second = await client.tasks.run(fake.task_slugs[1], callback=receiver)
        for started in (first, second):
            run = await client.runs.wait(started.run_slug, receiver=receiver, timeout=20, poll_interval=30)
            assert run.is_final
            assert run == await client.runs.get(started.run_slug)
        statuses = {(await client.runs.get(s.run_slug)).status for s in (first, second)}
        assert statuses == {RunStatus.SUCCEEDED, RunStatus.FAILED}


async def test_a_final_notice_wakes_runs_wait_long_before_the_next_poll(
    receiver: CallbackReceiver, monkeypatch: pytest.MonkeyPatch, api_version: str
) -> None:
    # With a receiver the first read waits for the first gap (10 s here, jitter 20%), past
    # this wait's 5 s deadline. The run ends after 0.3 s; its notice must wake the wait, which
    # then confirms the final state with one read.
    monkeypatch.setattr("coreclaw_async._polling.WAIT_FIRST_DELAY", 10.0)
    async with (
        FakeCoreClaw(api_versions=(api_version,), seed=1, run_schedule=(0.0, 0.3)) as fake,
        await open_client(fake) as client,
    ):
        started = await client.tasks.run(fake.task_slugs[0], callback=receiver)
        polls: list[Run] = []
        run = await client.runs.wait(
            started.run_slug, receiver=receiver, timeout=5, poll_interval=60, on_poll=polls.append
        )
        assert run.status is RunStatus.SUCCEEDED
        assert receiver.final_notice(started.run_slug) is not None
        assert [p.is_final for p in polls] == [True]


async def test_a_lost_callback_costs_only_latency(receiver: CallbackReceiver, api_version: str) -> None:
    async with (
        FakeCoreClaw(api_versions=(api_version,), seed=1, run_schedule=(0.0, 0.1), callback_drop=1.0) as fake,
        await open_client(fake) as client,
    ):
        started = await client.tasks.run(fake.task_slugs[0], callback=receiver)
        polls: list[Run] = []
        run = await client.runs.wait(
            started.run_slug, receiver=receiver, timeout=30, poll_interval=0.2, on_poll=polls.append
        )
        assert run.status is RunStatus.SUCCEEDED
        assert receiver.final_notice(started.run_slug) is None
        assert fake.callback_stats.dropped >= 1
        assert polls[-1].is_final  # found by polling, no notice needed


async def test_an_early_or_forged_final_notice_does_not_end_the_wait(
    receiver: CallbackReceiver, api_version: str
) -> None:
    # A final notice arrives while the run is still running: wait confirms with get and carries on.
    async with (
        FakeCoreClaw(api_versions=(api_version,), seed=1, run_schedule=(0.0, 1.0), callbacks=False) as fake,
        await open_client(fake) as client,
    ):
        started = await client.tasks.run(fake.task_slugs[0], callback=receiver)
        launch = receiver.launch_for(started.run_slug)
        assert launch is not None
        import aiohttp

        async with aiohttp.ClientSession() as http:
            body = {"run_slug": started.run_slug, "run_status": "succeeded", "task_slug": "x"}
            async with http.post(launch.callback_url, json=body) as resp:
                assert resp.status == 200
        run = await client.runs.wait(started.run_slug, receiver=receiver, timeout=30, poll_interval=0.2)
        assert run.status is RunStatus.SUCCEEDED
        assert run.finished_at is not None


async def test_runs_wait_refuses_what_is_not_a_receiver(api_version: str) -> None:
    async with FakeCoreClaw(api_versions=(api_version,), seed=1) as fake, await open_client(fake) as client:
        with pytest.raises(InvalidParameterError):
            await client.runs.wait(MISSING_RUN, receiver=object())  # type: ignore[arg-type]
        with pytest.raises(InvalidParameterError):
            client.runs.wait_many([MISSING_RUN], receiver=object())  # type: ignore[arg-type]
        with pytest.raises(InvalidParameterError):
            client.runs.wait_many(MISSING_RUN)
        with pytest.raises(InvalidParameterError):
            client.runs.wait_many([MISSING_RUN], concurrency=0)
        with pytest.raises(InvalidParameterError):
            client.runs.wait_many([MISSING_RUN], max_retries=-1)


async def test_wait_many_without_a_receiver_polls_with_a_bounded_pool(api_version: str) -> None:
    async with (
        FakeCoreClaw(
            api_versions=(api_version,), seed=3, run_schedule=(0.0, 0.2), fail_every=3, latency=0.005
        ) as fake,
        await open_client(fake, max_connections=50) as client,
    ):
        outcomes = await client.tasks.run_all([fake.task_slugs[i % 3] for i in range(60)])
        slugs = [o.run.run_slug for o in outcomes if o.run is not None]
        fake.reset_counters()
        # A fresh client with room for 50 connections: 4 pollers never need more than 4.
        async with await open_client(fake, max_connections=50) as client:
            seen: list[Run] = []
            async with client.runs.wait_many(slugs, concurrency=4, timeout=60, poll_interval=0.3) as finished:
                async for run in finished:
                    seen.append(run)
            assert sorted(r.run_slug for r in seen) == sorted(slugs)
            assert 1 <= fake.connections_seen <= 4
            assert fake.requests == finished.polls
            assert all(run.is_final for run in seen)
            assert finished.pending == {}
            assert finished.errors == {}
            no_pending_tasks()


async def test_wait_many_reports_unreadable_runs_and_waits_for_each_slug_once(api_version: str) -> None:
    async with (
        FakeCoreClaw(api_versions=(api_version,), seed=3, run_schedule=(0.0, 0.05)) as fake,
        await open_client(fake) as client,
    ):
        started = await client.tasks.run(fake.task_slugs[0])
        async with client.runs.wait_many(
            [started.run_slug, MISSING_RUN, started.run_slug], timeout=20, poll_interval=0.2
        ) as finished:
            runs = [run async for run in finished]
        assert [r.run_slug for r in runs] == [started.run_slug]
        assert finished.total == 2
        assert isinstance(finished.errors[MISSING_RUN], RunNotFoundError)


async def test_wait_many_of_nothing_ends_at_once(api_version: str) -> None:
    async with (
        FakeCoreClaw(api_versions=(api_version,), seed=3) as fake,
        await open_client(fake) as client,
        client.runs.wait_many([]) as finished,
    ):
        assert [run async for run in finished] == []


async def test_wait_many_times_out_with_the_last_records_of_the_pending_runs(api_version: str) -> None:
    async with (
        FakeCoreClaw(api_versions=(api_version,), seed=3, run_schedule=(0.0, 60.0)) as fake,
        await open_client(fake) as client,
    ):
        started = await client.tasks.run(fake.task_slugs[0])
        finished = client.runs.wait_many([started.run_slug], timeout=0.5, poll_interval=0.1)
        with pytest.raises(WaitTimeoutError):
            await drain(finished)
        last = finished.pending[started.run_slug]
        assert last is not None
        assert not last.is_final
        no_pending_tasks()


async def test_cancelling_a_wait_many_consumer_stops_every_poller(api_version: str) -> None:
    async with (
        FakeCoreClaw(api_versions=(api_version,), seed=3, run_schedule=(0.0, 60.0)) as fake,
        await open_client(fake) as client,
    ):
        outcomes = await client.tasks.run_all([fake.task_slugs[0]] * 10)
        slugs = [o.run.run_slug for o in outcomes if o.run is not None]

        async def consume() -> None:
            async with client.runs.wait_many(slugs, concurrency=3, timeout=60) as finished:
                async for _ in finished:
                    pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        no_pending_tasks()


async def test_a_thousand_runs_with_lossy_callbacks_are_each_reported_final_once(api_version: str) -> None:
    """Issue 5's acceptance test: 20% of notices dropped, some duplicated and reordered."""
    async with FakeCoreClaw(
        api_versions=(api_version,),
        seed=7,
        tasks=5,
        run_schedule=(0.05, 0.4),
        fail_every=4,
        callback_drop=0.2,
        callback_duplicate=0.15,
        callback_reorder=0.3,
        callback_legacy_shape=0.1,
        callback_delay=(0.0, 0.05),
    ) as fake:
        async with CallbackReceiver().serve() as receiver:
            async with await open_client(fake, max_connections=50) as client:
                slugs: list[str] = []
                async with client.tasks.run_many(
                    (fake.task_slugs[i % 5] for i in range(1000)), callback=receiver, concurrency=50
                ) as batch:
                    async for outcome in batch:
                        assert outcome.run is not None, outcome.error
                        slugs.append(outcome.run.run_slug)
                assert len(set(slugs)) == 1000

                reported: list[Run] = []
                async with client.runs.wait_many(
                    slugs, receiver=receiver, timeout=120, poll_interval=2.0, concurrency=16
                ) as finished:
                    async for run in finished:
                        reported.append(run)

                counts = Counter(run.run_slug for run in reported)
                assert len(counts) == 1000
                assert set(counts.values()) == {1}
                assert set(counts) == set(slugs)
                # Each reported state is what the authoritative read gives now.
                truth = {run.run_slug: run async for run in client.runs.list(page_size=500)}
                for run in reported:
                    assert run.is_final
                    assert run.status == truth[run.run_slug].status
                assert Counter(r.status for r in reported)[RunStatus.FAILED] == 250

                await fake.drain_callbacks(timeout=30)
                stats = fake.callback_stats
                assert stats.dropped > 0
                assert stats.duplicated > 0
                assert receiver.stats.duplicates > 0
                assert receiver.stats.unknown_token == 0
                # Polling filled in for the lost notices: more reads than runs, but far fewer
                # than one polling loop per run would need.
                assert finished.polls >= 1000
            no_pending_tasks()
        no_pending_tasks()


async def test_run_all_with_a_receiver_binds_every_started_run(
    receiver: CallbackReceiver, api_version: str
) -> None:
    async with (
        FakeCoreClaw(api_versions=(api_version,), seed=5, run_schedule=(0.0, 0.05)) as fake,
        await open_client(fake) as client,
    ):
        outcomes = await client.tasks.run_all(
            [fake.task_slugs[0], "   ", fake.task_slugs[1]], callback=receiver, concurrency=2
        )
        assert [o.started for o in outcomes] == [True, False, True]
        for outcome in outcomes:
            if outcome.run is not None:
                launch = receiver.launch_for(outcome.run.run_slug)
                assert launch is not None
                assert launch.callback_url == outcome.request.callback_url
                await receiver.wait(outcome.run.run_slug, timeout=10)
        assert receiver.stats.launches == 2
