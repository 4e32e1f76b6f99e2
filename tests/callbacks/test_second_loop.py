"""A receiver used in one event loop after another (asyncio.run per command, a loop per test) keeps working.

Plain sync tests: each ``asyncio.run`` is a new loop, and notices come from a real sender
(``aiohttp.ClientSession``) over loopback.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp import web

from coreclaw_async import CallbackReceiver, Launch, RunCallback

SLUG = "01KZDQ89G8PTTWG5Z703BG7D1T"
OTHER = "01KSFDS8XWTJME33C08XMCR6B9"


async def post(url: str, slug: str | None, status: str) -> int:
    # Without a slug, the legacy shape: an integer run_id instead.
    body: dict[str, object] = {"run_status": status, **({"run_slug": slug} if slug else {"run_id": 7})}
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as resp:
        await resp.read()
        return resp.status


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(300):  # bounded: ~3 s
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met within 3 s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def serve_routes(receiver: CallbackReceiver, port: int) -> web.AppRunner:
    """The receiver's route in an application of this loop, as a host application would add it."""
    app = web.Application()
    app.add_routes(receiver.routes())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def test_handlers_still_get_notices_when_the_receiver_is_used_in_a_second_event_loop() -> None:
    seen: list[tuple[str | None, str]] = []
    port = free_port()
    receiver = CallbackReceiver(public_url=f"http://127.0.0.1:{port}")

    @receiver.on_callback
    async def record(notice: RunCallback) -> None:
        seen.append((notice.run_slug, notice.run_status))

    async def first_loop() -> Launch:
        runner = await serve_routes(receiver, port)
        try:
            launch = receiver.mint()
            launch.bind(SLUG)
            assert await post(launch.callback_url, SLUG, "running") == 200
            await until(lambda: len(seen) == 1)
        finally:
            await runner.cleanup()  # the host app's end; the receiver stays open
        return launch

    launch = asyncio.run(first_loop())

    async def second_loop() -> None:
        runner = await serve_routes(receiver, port)
        try:
            other = receiver.mint()
            other.bind(OTHER)
            assert await post(launch.callback_url, SLUG, "succeeded") == 200  # minted in the first loop
            assert await post(other.callback_url, OTHER, "succeeded") == 200
            assert (await receiver.wait(SLUG, timeout=2)).succeeded
            await until(lambda: len(seen) == 3)
            await receiver.close()
        finally:
            await runner.cleanup()

    asyncio.run(second_loop())

    assert seen == [(SLUG, "running"), (SLUG, "succeeded"), (OTHER, "succeeded")]
    assert receiver.stats.handler_errors == 0


def test_a_standalone_receiver_serves_again_on_the_same_port_in_the_next_loop() -> None:
    seen: list[str] = []
    receiver = CallbackReceiver()

    @receiver.on_callback
    async def record(notice: RunCallback) -> None:
        seen.append(notice.run_status)

    async def first_loop() -> Launch:
        await receiver.start()
        launch = receiver.mint()
        launch.bind(SLUG)
        assert await post(launch.callback_url, SLUG, "running") == 200
        await until(lambda: seen == ["running"])
        return launch  # no close: the loop's end stops the server

    launch = asyncio.run(first_loop())
    url = receiver.public_url

    async def second_loop() -> None:
        assert await receiver.start() == url
        waiting = asyncio.create_task(launch.wait(timeout=3))
        assert await post(launch.callback_url, SLUG, "succeeded") == 200
        assert (await waiting).succeeded
        await until(lambda: seen == ["running", "succeeded"])
        await receiver.close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
        assert others == []

    asyncio.run(second_loop())
    asyncio.run(receiver.close())  # idempotent, from yet another loop


def test_notices_queued_when_a_loop_ends_are_handled_in_the_next_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    entered: list[str] = []
    receiver = CallbackReceiver(handler_tasks=1)

    @receiver.on_callback
    async def slow_on_running(notice: RunCallback) -> None:
        entered.append(notice.run_status)
        if notice.run_status == "running":
            await asyncio.Event().wait()  # never set: still running when its loop ends

    async def first_loop() -> None:
        await receiver.start()
        launch = receiver.mint()
        launch.bind(SLUG)
        for status in ("running", "aborting", "failed"):
            assert await post(launch.callback_url, SLUG, status) == 200
        await until(lambda: entered == ["running"])

    with caplog.at_level(logging.WARNING, logger="coreclaw_async"):
        asyncio.run(first_loop())

    assert receiver.stats.queued_for_handlers == 2
    assert "was cancelled with its handler task" in caplog.text
    assert "ended with 2 notice(s) queued" in caplog.text

    async def second_loop() -> None:
        await receiver.start()
        await until(lambda: entered == ["running", "aborting", "failed"])
        await receiver.close()

    asyncio.run(second_loop())

    assert receiver.stats.queued_for_handlers == 0
    assert receiver.stats.handler_errors == 0


def test_notices_queued_outside_any_loop_are_handled_by_the_next_call_inside_one() -> None:
    seen: list[str | None] = []
    receiver = CallbackReceiver()

    @receiver.on_callback
    async def record(notice: RunCallback) -> None:
        seen.append(notice.run_slug)

    async def first_loop() -> Launch:
        await receiver.start()
        launch = receiver.mint()
        # The legacy shape (run_id, no run_slug): its run is known only at the bind.
        assert await post(launch.callback_url, None, "succeeded") == 200
        return launch

    launch = asyncio.run(first_loop())
    launch.bind(SLUG)  # outside any loop: the notice is queued for the handlers

    assert receiver.stats.queued_for_handlers == 1

    async def second_loop() -> None:
        assert (await receiver.wait(SLUG, timeout=1)).run_id == 7
        await until(lambda: seen == [SLUG])
        await receiver.close()

    asyncio.run(second_loop())


def test_handler_tasks_left_in_a_loop_run_by_hand_are_stopped_there_when_another_loop_takes_over() -> None:
    seen: list[str] = []
    port = free_port()
    receiver = CallbackReceiver(public_url=f"http://127.0.0.1:{port}")

    @receiver.on_callback
    async def record(notice: RunCallback) -> None:
        seen.append(notice.run_status)

    async def deliver(launch: Launch, status: str) -> None:
        runner = await serve_routes(receiver, port)
        try:
            assert await post(launch.callback_url, SLUG, status) == 200
            await until(lambda: seen[-1:] == [status])
        finally:
            await runner.cleanup()

    by_hand = asyncio.new_event_loop()
    try:
        launch = receiver.mint()
        launch.bind(SLUG)
        by_hand.run_until_complete(deliver(launch, "running"))
        left = [t for t in asyncio.all_tasks(by_hand) if t.get_name().startswith("coreclaw_async")]
        # Idle handler tasks, in a loop that is still open.
        assert len(left) == 8
        assert not any(t.done() for t in left)

        asyncio.run(deliver(launch, "succeeded"))  # another loop: new handler tasks there
        by_hand.run_until_complete(asyncio.sleep(0))  # the open loop runs the cancellation it was sent

        assert all(t.cancelled() for t in left)
        assert seen == ["running", "succeeded"]
    finally:
        by_hand.run_until_complete(receiver.close())
        by_hand.close()
