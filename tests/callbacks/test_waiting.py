"""Waiting for final notices: subscriptions as the pollers use them, and runs.wait's pace."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from coreclaw_async import AsyncCoreClaw, CallbackReceiver, InvalidParameterError, Run, RunStatus
from coreclaw_async.testing import FakeCoreClaw

SLUG = "01KZDQ89G8PTTWG5Z703BG7D1T"
OTHER = "01KSFDS8XWTJME33C08XMCR6B9"


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    async with CallbackReceiver().serve() as served:
        yield served


async def post(url: str, slug: str, status: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json={"run_slug": slug, "run_status": status}) as resp,
    ):
        await resp.read()
        return resp.status


async def test_subscribe_reports_runs_already_final_at_once_and_the_others_as_they_finish(
    receiver: CallbackReceiver,
) -> None:
    done, later = receiver.mint(), receiver.mint()
    done.bind(SLUG)
    later.bind(OTHER)
    assert await post(done.callback_url, SLUG, "succeeded") == 200
    reported: list[str] = []

    unsubscribe = receiver.subscribe([SLUG, OTHER], reported.append)
    assert reported == [SLUG]  # before subscribe returned
    assert await post(later.callback_url, OTHER, "running") == 200
    assert await post(later.callback_url, OTHER, "failed") == 200
    unsubscribe()
    unsubscribe()  # harmless

    assert reported == [SLUG, OTHER]


async def test_subscribers_are_not_called_after_unsubscribing_or_on_close(receiver: CallbackReceiver) -> None:
    launch = receiver.mint()
    launch.bind(SLUG)
    gone: list[str] = []
    staying: list[str] = []
    receiver.subscribe([SLUG], gone.append)()
    receiver.subscribe([SLUG], staying.append)

    await receiver.close()

    assert gone == staying == []


def test_subscribe_refuses_a_blank_slug() -> None:
    receiver = CallbackReceiver(public_url="https://example.com/coreclaw")

    with pytest.raises(InvalidParameterError, match="run_slugs"):
        receiver.subscribe([SLUG, " "], lambda _: None)


async def test_an_early_final_notice_does_not_make_runs_wait_poll_in_a_tight_loop(
    receiver: CallbackReceiver,
) -> None:
    # The run ends after 1 s, but a final notice (forged, or simply early) comes at once:
    # runs.wait reads the run, sees it still running, and must then keep its own pace.
    async with (
        FakeCoreClaw(seed=1, run_schedule=(0.0, 1.0), callbacks=False) as fake,
        AsyncCoreClaw(fake.api_key, base_url=fake.url) as client,
    ):
        started = await client.tasks.run(fake.task_slugs[0], callback=receiver)
        launch = receiver.launch_for(started.run_slug)
        assert launch is not None
        assert await post(launch.callback_url, started.run_slug, "succeeded") == 200
        polls: list[Run] = []

        run = await client.runs.wait(
            started.run_slug, receiver=receiver, timeout=10, poll_interval=0.2, on_poll=polls.append
        )

    assert run.status is RunStatus.SUCCEEDED
    # About 1 s / 0.2 s, plus the first reads; thousands when every gap was cut short.
    assert 3 <= len(polls) <= 15
