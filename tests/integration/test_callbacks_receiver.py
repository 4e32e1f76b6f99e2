"""CallbackReceiver over real HTTP: tokens, limits, dedupe, binding, handlers, waiting, mounting, shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from coreclaw_async import (
    CallbackReceiver,
    InvalidParameterError,
    ReceiverClosedError,
    RunCallback,
    WaitTimeoutError,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "api-examples"
SLUG = "01KZDQ89G8PTTWG5Z703BG7D1T"
OTHER = "01KSFDS8XWTJME33C08XMCR6B9"


def notice(status: str = "succeeded", slug: str | None = SLUG, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EXAMPLES / "callback_succeeded.json").read_text())
    body["run_status"] = status
    if slug is None:
        del body["run_slug"]
        body["run_id"] = 123456
    else:
        body["run_slug"] = slug
    body.update(extra)
    return body


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    async with CallbackReceiver().serve() as served:
        yield served


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def send(
    http: aiohttp.ClientSession, url: str, body: Any = None, *, data: Any = None
) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {"data": data} if data is not None else {"json": body}
    async with http.post(url, **kwargs) as resp:
        raw = await resp.read()
        return resp.status, json.loads(raw) if raw.startswith(b"{") else raw


# -- minting ---------------------------------------------------------------------------------


def test_minted_urls_are_distinct_and_carry_an_unguessable_token() -> None:
    receiver = CallbackReceiver(public_url="https://example.com/coreclaw/")
    launches = [receiver.mint(label=str(i)) for i in range(100)]

    assert len({launch.callback_url for launch in launches}) == 100
    for launch in launches:
        assert launch.callback_url == f"https://example.com/coreclaw/{launch.token}"
        assert len(launch.token) >= 32
        assert launch.token not in repr(launch)
    assert receiver.stats.launches == 100


def test_minting_needs_a_public_url() -> None:
    with pytest.raises(InvalidParameterError, match="public_url"):
        CallbackReceiver().mint()


@pytest.mark.parametrize("url", ["example.com/hook", "ftp://example.com/hook", "https:///nohost"])
def test_a_bad_public_url_is_refused(url: str) -> None:
    with pytest.raises(InvalidParameterError, match="public_url"):
        CallbackReceiver(public_url=url)


async def test_serving_without_a_public_url_uses_the_bound_address() -> None:
    async with CallbackReceiver().serve("127.0.0.1", 0) as receiver:
        assert receiver.public_url is not None
        assert receiver.public_url.startswith("http://127.0.0.1:")
        assert receiver.mint().callback_url.startswith(receiver.public_url + "/")


async def test_minting_after_close_raises() -> None:
    receiver = CallbackReceiver(public_url="https://example.com/coreclaw")
    await receiver.close()

    with pytest.raises(ReceiverClosedError):
        receiver.mint()


# -- accepting and refusing ------------------------------------------------------------------


async def test_a_notice_is_accepted_and_reaches_wait(
    receiver: CallbackReceiver, http: aiohttp.ClientSession
) -> None:
    launch = receiver.mint(label="nightly")
    launch.bind(SLUG)

    status, answer = await send(http, launch.callback_url, notice())
    got = await receiver.wait(SLUG, timeout=1)

    assert status == 200
    assert answer == {"ok": True, "result": "accepted"}
    assert got.run_slug == SLUG
    assert got.succeeded
    assert got.label == "nightly"
    assert launch.final == got
    assert receiver.final_notice(SLUG) == got
    assert receiver.launch_for(SLUG) is launch


async def test_forged_tokens_are_refused_with_404(
    receiver: CallbackReceiver, http: aiohttp.ClientSession
) -> None:
    launch = receiver.mint()
    launch.bind(SLUG)
    base = receiver.public_url
    forged = [
        f"{base}/{secrets.token_urlsafe(24)}",
        f"{base}/{launch.token[:-1]}",
        f"{base}/{launch.token}x",
        f"{base}/{launch.token.upper()}",
        f"{base}/%00",
    ]

    for url in forged:
        status, _ = await send(http, url, notice())
        assert status == 404, url

    assert receiver.stats.unknown_token == len(forged)
    assert receiver.stats.accepted == 0
    assert receiver.final_notice(SLUG) is None


async def test_other_paths_and_methods_are_not_served(
    receiver: CallbackReceiver, http: aiohttp.ClientSession
) -> None:
    launch = receiver.mint()
    async with http.get(launch.callback_url) as resp:
        assert resp.status == 405
    async with http.post(f"{receiver.public_url}/a/b", json=notice()) as resp:
        assert resp.status == 404


async def test_an_oversized_notice_is_refused_with_413(
    receiver: CallbackReceiver, http: aiohttp.ClientSession
) -> None:
    launch = receiver.mint()
    big = notice(result_message="x" * (64 * 1024))

    status, _ = await send(http, launch.callback_url, big)

    assert status == 413
    assert receiver.stats.too_large == 1
    assert launch.notices == ()


async def test_an_oversized_chunked_notice_is_refused_with_413(
    receiver: CallbackReceiver, http: aiohttp.ClientSession
) -> None:
    launch = receiver.mint()

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"run_slug":"x","run_status":"running","result_message":"'
        for _ in range(20):
            yield b"y" * 8192
        yield b'"}'

    status, _ = await send(http, launch.callback_url, data=chunks())

    assert status == 413
    assert receiver.stats.too_large == 1


async def test_the_body_limit_can_be_lowered(http: aiohttp.ClientSession) -> None:
    async with CallbackReceiver(max_body_size=100).serve() as receiver:
        launch = receiver.mint()
        small, _ = await send(http, launch.callback_url, {"run_slug": SLUG, "run_status": "running"})
        large, _ = await send(http, launch.callback_url, notice())

    assert (small, large) == (200, 413)


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'{"run_slug":"x"}'])
async def test_a_malformed_notice_is_refused_with_400(
    receiver: CallbackReceiver, http: aiohttp.ClientSession, body: bytes
) -> None:
    launch = receiver.mint()

    status, _ = await send(http, launch.callback_url, data=body)

    assert status == 400
    assert receiver.stats.malformed == 1


async def test_a_repeated_notice_is_answered_2xx_and_dropped(
    receiver: CallbackReceiver, http: aiohttp.ClientSession
) -> None:
    seen: list[RunCallback] = []

    @receiver.on_callback
    async def record(got: RunCallback) -> None:
        seen.append(got)

    launch = receiver.mint()
    launch.bind(SLUG)
    answers = [
        await send(http, launch.callback_url, notice(status))
        for status in ("running", "running", "succeeded")
    ]
    answers.append(await send(http, launch.callback_url, notice("succeeded")))
    await receiver.close()

    assert [status for status, _ in answers] == [200, 200, 200, 200]
    assert [answer["result"] for _, answer in answers] == ["accepted", "duplicate", "accepted", "duplicate"]
    assert [got.run_status for got in seen] == ["running", "succeeded"]
    assert receiver.stats.duplicates == 2


async def test_a_notice_naming_another_run_than_the_bound_one_is_refused_with_409(
    receiver: CallbackReceiver, http: aiohttp.ClientSession
) -> None:
    launch = receiver.mint()
    launch.bind(SLUG)

    status, _ = await send(http, launch.callback_url, notice(slug=OTHER))

    assert status == 409
    assert receiver.stats.mismatched == 1
    assert receiver.final_notice(OTHER) is None


# -- binding ---------------------------------------------------------------------------------


async def test_a_legacy_notice_before_the_bind_is_matched_at_bind_time(
    receiver: CallbackReceiver, http: aiohttp.ClientSession
) -> None:
    seen: list[RunCallback] = []
    receiver.on_callback(_append_to(seen))
    launch = receiver.mint()

    status, _ = await send(http, launch.callback_url, notice(slug=None))
    assert status == 200
    assert receiver.final_notice(SLUG) is None
    assert launch.final is not None
    assert launch.final.run_id == 123456
    await asyncio.sleep(0.05)
    assert seen == []  # the run is not known yet

    launch.bind(SLUG)
    got = await receiver.wait(SLUG, timeout=1)
    await receiver.close()

    assert got.run_slug == SLUG
    assert got.run_id == 123456
    assert [n.run_slug for n in seen] == [SLUG]


async def test_a_notice_with_its_slug_before_the_bind_can_be_waited_for_at_once(
    receiver: CallbackReceiver, http: aiohttp.ClientSession
) -> None:
    launch = receiver.mint()
    waiter = asyncio.ensure_future(receiver.wait(SLUG, timeout=2))
    await asyncio.sleep(0)

    await send(http, launch.callback_url, notice())
    got = await waiter
    launch.bind(SLUG)

    assert got.run_slug == SLUG
    assert launch.notices == (got,)


async def test_a_notice_for_another_run_before_the_bind_is_dropped_at_bind(
    receiver: CallbackReceiver, http: aiohttp.ClientSession
) -> None:
    launch = receiver.mint()
    await send(http, launch.callback_url, notice(slug=OTHER))

    launch.bind(SLUG)
    status, answer = await send(http, launch.callback_url, notice())

    assert (status, answer["result"]) == (200, "accepted")
    assert receiver.stats.mismatched == 1
    assert receiver.final_notice(OTHER) is None
    assert [n.run_slug for n in launch.notices] == [SLUG]


async def test_binding_twice_to_the_same_run_is_harmless_but_to_another_is_refused() -> None:
    receiver = CallbackReceiver(public_url="https://example.com/coreclaw")
    launch = receiver.mint()
    launch.bind(SLUG)
    launch.bind(SLUG)

    with pytest.raises(InvalidParameterError, match="already bound"):
        launch.bind(OTHER)
    with pytest.raises(InvalidParameterError, match="run_slug"):
        receiver.mint().bind(" ")


async def test_a_discarded_launch_answers_404(
    receiver: CallbackReceiver, http: aiohttp.ClientSession
) -> None:
    launch = receiver.mint()
    launch.discard()

    status, _ = await send(http, launch.callback_url, notice())

    assert status == 404


async def test_finished_launches_are_forgotten_after_their_retention(http: aiohttp.ClientSession) -> None:
    # Expiry is checked on every mint and notice (a bounded step), so no interval to shorten.
    async with CallbackReceiver(finished_retention=0.05, launch_ttl=0.2).serve() as receiver:
        done = receiver.mint()
        done.bind(SLUG)
        idle = receiver.mint()
        await send(http, done.callback_url, notice())
        await asyncio.sleep(0.1)
        receiver.mint()  # pruning happens on mint
        late, _ = await send(http, done.callback_url, notice())
        still, _ = await send(http, idle.callback_url, notice("running", slug=OTHER))
        await asyncio.sleep(0.25)
        receiver.mint()
        expired, _ = await send(http, idle.callback_url, notice(slug=OTHER))

    assert (late, still, expired) == (404, 200, 404)


# -- handlers --------------------------------------------------------------------------------


def _append_to(seen: list[RunCallback]) -> Any:
    async def append(got: RunCallback) -> None:
        seen.append(got)

    return append


async def test_a_failing_handler_is_logged_and_the_others_still_run(
    receiver: CallbackReceiver, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[RunCallback] = []

    @receiver.on_callback
    async def broken(got: RunCallback) -> None:
        raise RuntimeError("boom")

    receiver.on_callback(_append_to(seen))
    launch = receiver.mint()
    launch.bind(SLUG)

    with caplog.at_level(logging.ERROR, logger="coreclaw_async"):
        status, _ = await send(http, launch.callback_url, notice())
        await receiver.close()

    assert status == 200
    assert len(seen) == 1
    assert receiver.stats.handler_errors == 1
    assert "broken" in caplog.text
    assert "boom" in caplog.text


async def test_a_runs_notices_reach_handlers_in_arrival_order(
    receiver: CallbackReceiver, http: aiohttp.ClientSession
) -> None:
    order: list[tuple[str, str]] = []

    @receiver.on_callback
    async def slow(got: RunCallback) -> None:
        await asyncio.sleep(0.02 if got.run_status == "running" else 0)
        order.append((str(got.run_slug), got.run_status))

    launches = [receiver.mint() for _ in range(20)]
    slugs = [f"01RUN{i:021d}" for i in range(20)]
    for launch, slug in zip(launches, slugs, strict=True):
        launch.bind(slug)
    for launch, slug in zip(launches, slugs, strict=True):
        await send(http, launch.callback_url, notice("running", slug=slug))
        await send(http, launch.callback_url, notice("succeeded", slug=slug))
    await receiver.close()

    for slug in slugs:
        assert [status for who, status in order if who == slug] == ["running", "succeeded"]


def test_on_callback_refuses_what_cannot_be_called() -> None:
    with pytest.raises(InvalidParameterError, match="handler"):
        CallbackReceiver().on_callback("not a function")  # type: ignore[arg-type]


async def test_the_sender_is_answered_before_a_slow_handler_finishes(
    receiver: CallbackReceiver, http: aiohttp.ClientSession
) -> None:
    release = asyncio.Event()

    @receiver.on_callback
    async def blocked(got: RunCallback) -> None:
        await release.wait()

    launch = receiver.mint()
    launch.bind(SLUG)
    status, _ = await asyncio.wait_for(send(http, launch.callback_url, notice()), 2)
    release.set()

    assert status == 200


# -- waiting ---------------------------------------------------------------------------------


async def test_wait_times_out_without_a_final_notice(
    receiver: CallbackReceiver, http: aiohttp.ClientSession
) -> None:
    launch = receiver.mint()
    launch.bind(SLUG)
    await send(http, launch.callback_url, notice("running"))

    with pytest.raises(WaitTimeoutError, match=SLUG):
        await receiver.wait(SLUG, timeout=0.1)
    with pytest.raises(WaitTimeoutError):
        await launch.wait(timeout=0.1)


async def test_aborting_is_not_final_but_aborted_is(
    receiver: CallbackReceiver, http: aiohttp.ClientSession
) -> None:
    launch = receiver.mint()
    launch.bind(SLUG)
    waiter = asyncio.ensure_future(launch.wait(timeout=2))

    await send(http, launch.callback_url, notice("aborting"))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await send(http, launch.callback_url, notice("aborted"))

    assert (await waiter).run_status == "aborted"


async def test_waits_end_with_receiver_closed_error_on_close() -> None:
    receiver = CallbackReceiver(public_url="https://example.com/coreclaw")
    launch = receiver.mint()
    by_slug = asyncio.ensure_future(receiver.wait(SLUG, timeout=5))
    by_launch = asyncio.ensure_future(launch.wait(timeout=5))
    await asyncio.sleep(0.01)

    await receiver.close()

    for waiter in (by_slug, by_launch):
        with pytest.raises(ReceiverClosedError):
            await waiter


# -- mounting and shutdown -------------------------------------------------------------------


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def test_the_receiver_mounts_as_a_sub_app_of_an_existing_app(http: aiohttp.ClientSession) -> None:
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"healthy": True})

    app = web.Application()
    app.router.add_get("/health", health)
    receiver = CallbackReceiver(public_url="http://placeholder.invalid/coreclaw")
    app.add_subapp("/coreclaw", receiver.app)
    runner, origin = await _serve(app)
    try:
        launch = receiver.mint()
        launch.bind(SLUG)
        path = launch.callback_url.removeprefix("http://placeholder.invalid")
        status, answer = await send(http, origin + path, notice())
        async with http.get(origin + "/health") as resp:
            health_status = resp.status
        forged, _ = await send(http, f"{origin}/coreclaw/{secrets.token_urlsafe(24)}", notice())
        got = await receiver.wait(SLUG, timeout=1)
    finally:
        await runner.cleanup()

    assert (status, answer["result"], health_status, forged) == (200, "accepted", 200, 404)
    assert got.succeeded
    assert receiver.closed  # the app's cleanup closed it


async def test_the_receiver_route_can_be_added_to_an_app_directly(http: aiohttp.ClientSession) -> None:
    app = web.Application()
    receiver = CallbackReceiver(public_url="http://placeholder.invalid/hooks/coreclaw")
    app.add_routes(receiver.routes("/hooks/coreclaw/"))
    app.cleanup_ctx.append(receiver.cleanup_ctx)
    runner, origin = await _serve(app)
    try:
        launch = receiver.mint()
        status, _ = await send(
            http, launch.callback_url.replace("http://placeholder.invalid", origin), notice()
        )
    finally:
        await runner.cleanup()

    assert status == 200
    assert receiver.final_notice(SLUG) is not None
    assert receiver.closed


async def test_notices_after_close_get_503_while_the_host_app_still_serves(
    http: aiohttp.ClientSession,
) -> None:
    app = web.Application()
    receiver = CallbackReceiver(public_url="http://placeholder.invalid")
    app.add_routes(receiver.routes())
    runner, origin = await _serve(app)
    try:
        launch = receiver.mint()
        await receiver.close()
        status, _ = await send(
            http, launch.callback_url.replace("http://placeholder.invalid", origin), notice()
        )
    finally:
        await runner.cleanup()

    assert status == 503
    assert receiver.stats.refused_closed == 1


async def test_close_leaves_nothing_pending(http: aiohttp.ClientSession) -> None:
    before = asyncio.all_tasks()
    started = asyncio.Event()
    cancelled = asyncio.Event()
    receiver = CallbackReceiver(handler_tasks=4)
    await receiver.start()

    @receiver.on_callback
    async def stuck(got: RunCallback) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    for i in range(10):
        launch = receiver.mint()
        launch.bind(f"01RUN{i:021d}")
        await send(http, launch.callback_url, notice(slug=f"01RUN{i:021d}"))
    waiter = asyncio.ensure_future(receiver.wait(SLUG, timeout=60))
    await asyncio.wait_for(started.wait(), 2)

    await receiver.close(timeout=0.1)

    with pytest.raises(ReceiverClosedError):
        await waiter
    assert cancelled.is_set()
    assert asyncio.all_tasks() - before == set()
    await receiver.close()  # idempotent


async def test_close_lets_quick_handlers_finish_first(http: aiohttp.ClientSession) -> None:
    done: list[str] = []
    receiver = CallbackReceiver()
    await receiver.start()

    @receiver.on_callback
    async def quick(got: RunCallback) -> None:
        await asyncio.sleep(0.05)
        done.append(got.run_status)

    launch = receiver.mint()
    launch.bind(SLUG)
    await send(http, launch.callback_url, notice("running"))
    await send(http, launch.callback_url, notice("succeeded"))
    await receiver.close()

    assert done == ["running", "succeeded"]
