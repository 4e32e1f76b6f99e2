"""Callbacks under abuse and awkward timing: floods, cancelled shutdowns, cancelled handlers, lost runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from coreclaw_async import (
    AuthenticationError,
    CallbackReceiver,
    FinishedRuns,
    InvalidParameterError,
    ReceiverClosedError,
    RunCallback,
    RunStartUnknownError,
)
from coreclaw_async.callbacks import MAX_NOTICES_PER_LAUNCH
from coreclaw_async.testing import FakeCoreClaw, Fault

from .support import Paths, client_for

SLUG = "01KZDQ89G8PTTWG5Z703BG7D1T"
CALLBACK_URL = "https://hooks.example.com/coreclaw"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> int:
    async with http.post(url, json=body) as resp:
        await resp.read()
        return resp.status


async def collect(finished: FinishedRuns, into: list[str]) -> None:
    async for run in finished:
        into.append(run.run_slug)


def receiver_tasks() -> list[str]:
    return sorted(
        t.get_name()
        for t in asyncio.all_tasks()
        if not t.done() and t.get_name().startswith("coreclaw_async.callback")
    )


async def test_a_flood_of_statuses_on_one_token_is_capped(http: aiohttp.ClientSession) -> None:
    async with CallbackReceiver().serve() as receiver:
        launch = receiver.mint()
        launch.bind(SLUG)
        answers = [
            await post(http, launch.callback_url, {"run_slug": SLUG, "run_status": f"s{n}"})
            for n in range(MAX_NOTICES_PER_LAUNCH + 5)
        ]
        assert answers[:MAX_NOTICES_PER_LAUNCH] == [200] * MAX_NOTICES_PER_LAUNCH
        assert set(answers[MAX_NOTICES_PER_LAUNCH:]) == {429}
        assert len(launch.notices) == MAX_NOTICES_PER_LAUNCH
        assert receiver.stats.over_limit == 5


async def test_a_cancelled_close_still_ends_every_handler_task(http: aiohttp.ClientSession) -> None:
    release = asyncio.Event()
    receiver = CallbackReceiver(handler_tasks=3)
    await receiver.start()

    @receiver.on_callback
    async def slow(notice: RunCallback) -> None:
        await release.wait()

    launch = receiver.mint()
    launch.bind(SLUG)
    assert await post(http, launch.callback_url, {"run_slug": SLUG, "run_status": "succeeded"}) == 200
    closing = asyncio.create_task(receiver.close(timeout=0.5))
    await asyncio.sleep(0.05)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    # A second close waits for the same shutdown, which went on in the background.
    await receiver.close()
    assert receiver_tasks() == []


async def test_concurrent_closes_both_wait_for_the_shutdown(http: aiohttp.ClientSession) -> None:
    release = asyncio.Event()
    receiver = CallbackReceiver()
    await receiver.start()

    @receiver.on_callback
    async def slow(notice: RunCallback) -> None:
        await release.wait()

    launch = receiver.mint()
    launch.bind(SLUG)
    await post(http, launch.callback_url, {"run_slug": SLUG, "run_status": "running"})
    first = asyncio.create_task(receiver.close(timeout=0.3))
    second = asyncio.create_task(receiver.close(timeout=0.3))
    await asyncio.gather(first, second)
    assert receiver_tasks() == []


async def test_a_handler_that_raises_cancelled_error_does_not_stop_the_others(
    http: aiohttp.ClientSession,
) -> None:
    seen: list[str] = []
    async with CallbackReceiver(handler_tasks=1).serve() as receiver:

        @receiver.on_callback
        async def handler(notice: RunCallback) -> None:
            if notice.run_status == "running":
                cancelled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                cancelled.cancel()
                await cancelled  # raises CancelledError inside the handler
            seen.append(notice.run_status)

        launch = receiver.mint()
        launch.bind(SLUG)
        for status in ("running", "aborting", "failed"):
            await post(http, launch.callback_url, {"run_slug": SLUG, "run_status": status})
        for _ in range(200):  # bounded: ~2 s
            if len(seen) == 2:
                break
            await asyncio.sleep(0.01)
        assert seen == ["aborting", "failed"]
        assert receiver.stats.handler_errors == 1
    assert receiver_tasks() == []


def test_handlers_must_be_async() -> None:
    receiver = CallbackReceiver(public_url="https://example.com/cc")

    def sync_handler(notice: RunCallback) -> None:
        pass

    with pytest.raises(InvalidParameterError):
        receiver.on_callback(sync_handler)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["https://example.com/hooks?x=1", "https://example.com/hooks#frag"])
def test_a_public_url_with_a_query_or_fragment_is_refused(url: str) -> None:
    with pytest.raises(InvalidParameterError):
        CallbackReceiver(public_url=url)


async def test_serving_on_a_wildcard_address_gives_a_loopback_public_url() -> None:
    async with CallbackReceiver().serve("0.0.0.0") as receiver:
        assert receiver.public_url is not None
        assert receiver.public_url.startswith("http://127.0.0.1:")


async def test_close_ends_a_wait_on_a_forgotten_launch_at_once() -> None:
    receiver = CallbackReceiver(public_url="https://example.com/cc")
    launch = receiver.mint()
    launch.discard()
    waiting = asyncio.create_task(launch.wait(timeout=30))
    await asyncio.sleep(0.05)
    await receiver.close()
    with pytest.raises(ReceiverClosedError):
        await asyncio.wait_for(waiting, 2)


async def test_closing_the_receiver_does_not_make_waiters_read_every_run_at_once(
    api_version: str, paths: Paths
) -> None:
    async with (
        FakeCoreClaw(api_versions=(api_version,), seed=2, run_schedule=(0.0, 60.0)) as fake,
        client_for(fake, callback_url=None) as client,
    ):
        receiver = CallbackReceiver()
        await receiver.start()
        outcomes = await client.tasks.run_all([fake.task_slugs[0]] * 30, callback=receiver)
        slugs = [o.run.run_slug for o in outcomes if o.run is not None]
        finished = client.runs.wait_many(slugs, receiver=receiver, timeout=60, poll_interval=30)
        single = asyncio.create_task(client.runs.wait(slugs[0], receiver=receiver, poll_interval=30))

        async def drain() -> None:
            async with finished:
                async for _ in finished:
                    pass

        consumer = asyncio.create_task(drain())
        await asyncio.sleep(1.5)  # every run read once (after the first gap, about 1 s)
        before = paths.count(fake, "run_get")
        await receiver.close()
        await asyncio.sleep(0.3)
        assert paths.count(fake, "run_get") == before
        consumer.cancel()
        single.cancel()
        await asyncio.gather(consumer, single, return_exceptions=True)


async def test_runs_confirmed_before_an_authentication_error_are_still_yielded(
    api_version: str, paths: Paths
) -> None:
    async with (
        FakeCoreClaw(api_versions=(api_version,), seed=2, run_schedule=(0.0, 0.0)) as fake,
        client_for(fake) as client,
    ):
        done = [(await client.tasks.run(fake.task_slugs[0])).run_slug for _ in range(4)]
        fake.run_schedule = (0.0, 100.0)
        slow = (await client.tasks.run(fake.task_slugs[0])).run_slug
        got: list[str] = []
        async with client.runs.wait_many([*done, slow], concurrency=5, poll_interval=0.3) as finished:
            got.append((await finished.__anext__()).run_slug)
            for _ in range(300):  # bounded: until the four final runs were read (~3 s at most)
                if paths.count(fake, "run_get") >= 5:
                    break
                await asyncio.sleep(0.01)
            fake.api_key = "revoked"  # every read from now on is refused: a fatal error
            with pytest.raises(AuthenticationError):
                await collect(finished, got)
        assert sorted(got) == sorted(done)


async def test_an_unknown_start_can_be_reconciled_through_its_launch(
    http: aiohttp.ClientSession, api_version: str
) -> None:
    async with (
        FakeCoreClaw(
            api_versions=(api_version,), seed=2, run_schedule=(0.0, 0.05), callback_legacy_shape=True
        ) as fake,
        client_for(fake, callback_url=None) as client,
        CallbackReceiver().serve() as receiver,
    ):
        fake.inject(Fault.DROP_AFTER_CREATE, times=1)
        with pytest.raises(RunStartUnknownError) as info:
            await client.tasks.run(fake.task_slugs[0], callback=receiver)
        url = info.value.request.callback_url  # type: ignore[attr-defined]
        launch = receiver.launch_for_url(url)
        assert launch is not None
        notice = await launch.wait(timeout=10)
        (created,) = fake.runs
        assert notice.run_id == created.run_id
        assert receiver.launch_for_url(url + "x") is None
        assert receiver.launch_for_url("https://elsewhere.example.com/" + url.rsplit("/", 1)[1]) is None


def test_a_huge_timestamp_reads_as_unknown() -> None:
    notice = RunCallback.parse(
        {"run_slug": SLUG, "run_status": "succeeded", "execution_start_timestamp": 10**400}
    )
    assert notice.started_at is None
