"""Two receivers sharing one RedisCallbackStore, as two worker processes behind one URL would.

Both run in the test's process, each served standalone on 127.0.0.1 and each with its own
instance id, which is all the store tells processes apart by. Launches are minted by ``a``;
their notices are POSTed to ``b`` (the origin of the URL rewritten to ``b``'s, the token
path kept), as a load balancer would send them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
import redis.asyncio as aioredis

from coreclaw_async import CallbackReceiver, InvalidParameterError, Launch, RunCallback
from coreclaw_async.callbacks import MAX_NOTICES_PER_LAUNCH, CallbackStoreError, SharedLaunch
from coreclaw_async.callbacks._shared import launch_key
from coreclaw_async.redis import RedisCallbackStore

from .server import RedisServer

SLUG = "01KZDQ89G8PTTWG5Z703BG7D1T"
OTHER = "01KSFDS8XWTJME33C08XMCR6B9"

Pair = tuple[CallbackReceiver, CallbackReceiver, RedisCallbackStore]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def pair(redis: aioredis.Redis, name: str) -> AsyncIterator[Pair]:
    store = RedisCallbackStore(redis, prefix=name)
    a, b = CallbackReceiver(store=store), CallbackReceiver(store=store)
    try:
        await a.start()
        await b.start()
        yield a, b, store
    finally:
        await a.close()
        await b.close()


def at(receiver: CallbackReceiver, launch: Launch) -> str:
    """The launch's URL with the origin of ``receiver``: where a load balancer might send it."""
    return f"{receiver.public_url}/{launch.token}"


async def post(
    http: aiohttp.ClientSession, url: str, status: str = "succeeded", slug: str | None = SLUG, **extra: object
) -> tuple[int, str]:
    body: dict[str, object] = {
        "run_status": status,
        **({"run_slug": slug} if slug else {"run_id": 7}),
        **extra,
    }
    async with http.post(url, json=body) as resp:
        answer = await resp.json()
        return resp.status, answer["result"]


def summary(notice: RunCallback) -> tuple[object, ...]:
    return notice.run_slug, notice.run_status, notice.label, notice.result_count


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(500):  # bounded: ~5 s
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met within 5 s")


async def shared_launch(
    receiver: CallbackReceiver, run_slug: str | None = SLUG, label: str | None = None
) -> Launch:
    launch = receiver.mint(label=label)
    if run_slug is not None:
        launch.bind(run_slug)
    assert await launch.registered()
    return launch


async def test_notices_posted_to_another_receiver_wake_the_minting_receivers_waiters_and_handlers(
    pair: Pair, http: aiohttp.ClientSession
) -> None:
    a, b, _ = pair
    seen: list[RunCallback] = []

    @a.on_callback
    async def record(notice: RunCallback) -> None:
        seen.append(notice)

    launch = await shared_launch(a, label="nightly")
    by_slug = asyncio.create_task(a.wait(SLUG, timeout=5))
    by_launch = asyncio.create_task(launch.wait(timeout=5))

    assert await post(http, at(b, launch), "running") == (200, "accepted")
    assert await post(http, at(b, launch), "succeeded", result_count=3) == (200, "accepted")

    final = await by_slug
    assert summary(final) == (SLUG, "succeeded", "nightly", 3)
    assert await by_launch == final
    assert a.final_notice(SLUG) == final
    await until(lambda: len(seen) == 2)
    assert [(n.run_slug, n.run_status) for n in seen] == [(SLUG, "running"), (SLUG, "succeeded")]
    assert (a.stats.accepted, a.stats.from_store, a.stats.received) == (2, 2, 0)
    assert (b.stats.received, b.stats.forwarded, b.stats.accepted, b.stats.launches) == (2, 2, 0, 0)


async def test_duplicates_sent_to_both_receivers_are_delivered_exactly_once_in_total(
    pair: Pair, http: aiohttp.ClientSession
) -> None:
    a, b, _ = pair
    calls: list[tuple[str | None, str]] = []

    @a.on_callback
    async def record(notice: RunCallback) -> None:
        calls.append((notice.run_slug, notice.run_status))

    launch = await shared_launch(a)
    sends = [
        post(http, url, status)
        for _ in range(3)
        for status in ("running", "succeeded")
        for url in (launch.callback_url, at(b, launch))
    ]
    answers = await asyncio.gather(*sends)

    assert {status for status, _ in answers} == {200}
    assert sorted(result for _, result in answers).count("accepted") == 2
    # A barrier: the inbox is read in order, so once this later notice has arrived, every
    # notice forwarded before it has been taken too.
    barrier = await shared_launch(a, run_slug=OTHER)
    assert await post(http, at(b, barrier), slug=OTHER) == (200, "accepted")
    await until(lambda: (OTHER, "succeeded") in calls)

    assert sorted(c for c in calls if c[0] == SLUG) == [(SLUG, "running"), (SLUG, "succeeded")]
    assert a.stats.accepted == 3  # running and succeeded, plus the barrier's
    assert a.stats.duplicates + b.stats.duplicates == 12 - 2
    assert a.stats.from_store == b.stats.forwarded
    assert [n.run_status for n in launch.notices] in (["running", "succeeded"], ["succeeded", "running"])


async def test_a_receiver_refuses_unknown_and_forged_tokens_of_any_process_with_404(
    pair: Pair, http: aiohttp.ClientSession
) -> None:
    a, b, _ = pair
    launch = await shared_launch(a)
    token = launch.token
    forged = token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB")
    unknown = "A" * len(token)

    assert await post(http, f"{b.public_url}/{forged}") == (404, "unknown")
    assert await post(http, f"{b.public_url}/{unknown}") == (404, "unknown")
    assert await post(http, f"{b.public_url}/not-a-token") == (404, "unknown")
    assert await post(http, f"{a.public_url}/{forged}") == (404, "unknown")

    assert b.stats.unknown_token == 3
    assert a.stats.unknown_token == 1
    assert launch.notices == ()


async def test_an_oversized_or_malformed_notice_for_another_processs_launch_is_refused(
    pair: Pair, http: aiohttp.ClientSession
) -> None:
    a, b, _ = pair
    launch = await shared_launch(a)

    async with http.post(at(b, launch), data=b"{" + b" " * (64 * 1024) + b"}") as resp:
        assert resp.status == 413
    async with http.post(at(b, launch), data=b"not json") as resp:
        assert resp.status == 400
    async with http.post(at(b, launch), json={"run_slug": SLUG}) as resp:
        assert resp.status == 400

    assert (b.stats.too_large, b.stats.malformed, b.stats.forwarded) == (1, 2, 0)
    assert launch.notices == ()


async def test_a_notice_for_another_run_is_refused_in_every_process_once_the_launch_is_bound(
    pair: Pair, http: aiohttp.ClientSession
) -> None:
    a, b, _ = pair
    launch = await shared_launch(a)

    assert await post(http, at(b, launch), slug=OTHER) == (409, "another run")
    assert await post(http, launch.callback_url, slug=OTHER) == (409, "another run")

    assert b.stats.mismatched == 1
    assert a.stats.mismatched == 1
    assert launch.notices == ()


async def test_a_launch_takes_at_most_its_cap_of_statuses_whichever_process_they_reach(
    pair: Pair, http: aiohttp.ClientSession
) -> None:
    a, b, _ = pair
    launch = await shared_launch(a)
    statuses = [f"step-{i}" for i in range(MAX_NOTICES_PER_LAUNCH)]

    for number, status in enumerate(statuses):
        url = at(b, launch) if number % 2 else launch.callback_url
        assert await post(http, url, status) == (200, "accepted")
    assert await post(http, at(b, launch), "one-too-many") == (429, "too many notices")
    assert await post(http, launch.callback_url, "one-too-many") == (429, "too many notices")

    await until(lambda: len(launch.notices) == MAX_NOTICES_PER_LAUNCH)
    # Those taken here and those read from the inbox may interleave differently.
    assert sorted(n.run_status for n in launch.notices) == sorted(statuses)
    assert (a.stats.over_limit, b.stats.over_limit) == (1, 1)


async def test_notices_before_the_bind_and_legacy_notices_reach_the_minting_process(
    pair: Pair, http: aiohttp.ClientSession
) -> None:
    a, b, store = pair
    early = await shared_launch(a, run_slug=None)
    legacy = await shared_launch(a, run_slug=OTHER)

    assert await post(http, at(b, early), "succeeded") == (200, "accepted")
    assert await post(http, at(b, legacy), "failed", slug=None) == (200, "accepted")
    await until(lambda: len(early.notices) == 1 and len(legacy.notices) == 1)
    early.bind(SLUG)

    assert (await a.wait(SLUG, timeout=5)).run_status == "succeeded"
    assert (await a.wait(OTHER, timeout=5)).run_status == "failed"
    # The store resolves the legacy notice's run from the launch's bind, like the receiver.
    stored = await store.final_notice(OTHER)
    assert stored is not None
    assert (stored.run_slug, stored.run_id, stored.run_status) == (OTHER, 7, "failed")


async def test_a_discarded_launch_is_unknown_in_every_process(
    pair: Pair, http: aiohttp.ClientSession, redis: aioredis.Redis, name: str
) -> None:
    a, b, _ = pair
    launch = await shared_launch(a)
    launch.discard()
    key = f"{{{name}}}:launch:{launch_key(launch.token)}"
    for _ in range(500):  # bounded: ~5 s for the background discard
        if not await redis.exists(key):
            break
        await asyncio.sleep(0.01)

    assert await post(http, at(b, launch)) == (404, "unknown")
    assert await post(http, launch.callback_url) == (404, "unknown")


async def test_a_notice_for_a_launch_whose_process_is_gone_stays_readable_from_the_store(
    pair: Pair, http: aiohttp.ClientSession
) -> None:
    a, b, store = pair
    launch = await shared_launch(a, label="nightly")
    await a.close()

    assert await post(http, at(b, launch), "running") == (200, "accepted")
    assert await post(http, at(b, launch), "succeeded", result_count=5) == (200, "accepted")
    assert await post(http, at(b, launch), "succeeded") == (200, "duplicate")

    final = await store.final_notice(SLUG)
    assert final is not None
    assert summary(final) == (SLUG, "succeeded", "nightly", 5)
    assert [n.run_status for n in await store.notices(SLUG)] == ["running", "succeeded"]
    assert await store.final_notice(OTHER) is None
    assert launch.notices == ()  # the closed receiver took nothing
    # The process that took the notice sees it as if it had minted the launch.
    taken = b.final_notice(SLUG)
    assert taken is not None
    assert taken.run_status == "succeeded"
    assert (await b.wait(SLUG, timeout=1)).run_status == "succeeded"
    assert b.final_notice(OTHER) is None


async def test_a_waiter_in_the_process_that_takes_a_final_notice_is_woken_too(
    pair: Pair, http: aiohttp.ClientSession
) -> None:
    a, b, _ = pair
    launch = await shared_launch(a)
    waiting = asyncio.ensure_future(b.wait(SLUG, timeout=10))
    await asyncio.sleep(0.05)
    assert await post(http, at(b, launch), "failed") == (200, "accepted")

    assert (await waiting).run_status == "failed"
    assert (await a.wait(SLUG, timeout=10)).run_status == "failed"  # and the minting process


async def test_entries_and_a_gone_processs_inbox_expire(
    redis: aioredis.Redis, name: str, http: aiohttp.ClientSession
) -> None:
    store = RedisCallbackStore(redis, prefix=name, entry_ttl=0.3, inbox_ttl=0.3)
    async with CallbackReceiver(store=store).serve() as a, CallbackReceiver(store=store).serve() as b:
        launch = await shared_launch(a)
        await a.close()
        assert await post(http, at(b, launch)) == (200, "accepted")
        kinds = {key.decode().split(":")[-2] for key in await redis.keys(f"{{{name}}}:*")}
        assert kinds == {"launch", "notices", "run", "inbox"}

        for _ in range(100):  # bounded: ~1 s, past both lifetimes
            if not await redis.keys(f"{{{name}}}:*"):
                break
            await asyncio.sleep(0.01)

        assert await redis.keys(f"{{{name}}}:*") == []
        assert await store.final_notice(SLUG) is None
        assert await post(http, at(b, launch)) == (404, "unknown")


@pytest.mark.parametrize(
    "options", [{"decode_responses": True}, {"protocol": 3}, {"protocol": 3, "decode_responses": True}]
)
async def test_the_store_works_with_clients_that_decode_answers_or_speak_resp3(
    redis_server: RedisServer, name: str, http: aiohttp.ClientSession, options: dict[str, object]
) -> None:
    client = aioredis.Redis.from_url(redis_server.url, **options)
    store = RedisCallbackStore(client, prefix=name)
    try:
        async with CallbackReceiver(store=store).serve() as a, CallbackReceiver(store=store).serve() as b:
            launch = await shared_launch(a, label="é")
            assert await post(http, at(b, launch), "succeeded", error_message="ü\ud800") == (200, "accepted")
            notice = await a.wait(SLUG, timeout=5)
            stored = await store.final_notice(SLUG)
    finally:
        await client.aclose()

    assert (notice.label, notice.error_message) == ("é", "ü\ud800")
    assert stored is not None
    assert (stored.label, stored.error_message, stored.run_status) == ("é", "ü\ud800", "succeeded")
    assert a.stats.from_store == 1


async def test_cancelling_a_wait_for_the_registration_does_not_cancel_it(pair: Pair) -> None:
    a, _, store = pair
    launch = a.mint()
    waiting = asyncio.create_task(launch.registered())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting

    assert await launch.registered()
    assert await store.lookup(launch_key(launch.token)) is not None


def test_a_launch_minted_and_bound_outside_an_event_loop_is_shared_at_its_first_await(
    redis_server: RedisServer, name: str
) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    store = RedisCallbackStore(client, prefix=name)
    receiver = CallbackReceiver(public_url="http://127.0.0.1:9/hooks", store=store)
    launch = receiver.mint(label="sync")
    launch.bind(SLUG)

    async def share() -> object:
        try:
            assert await launch.registered()
            return await store.lookup(launch_key(launch.token))
        finally:
            await receiver.close()
            await client.aclose()

    entry = asyncio.run(share())

    assert isinstance(entry, SharedLaunch)
    assert (entry.number, entry.run_slug) == (launch.number, SLUG)


async def test_the_store_checks_its_arguments(redis: aioredis.Redis) -> None:
    with pytest.raises(InvalidParameterError) as info:
        RedisCallbackStore(object())
    assert info.value.field == "redis"
    for prefix in ("", " ", "a b", "{tag}", "x" * 201, 5):
        with pytest.raises(InvalidParameterError) as info:
            RedisCallbackStore(redis, prefix=prefix)  # type: ignore[arg-type]
        assert info.value.field == "prefix"
    for field in ("entry_ttl", "inbox_ttl"):
        for bad in (0, -1, float("nan"), float("inf"), "60", True):
            with pytest.raises(InvalidParameterError) as info:
                RedisCallbackStore(redis, **{field: bad})  # type: ignore[arg-type]
            assert info.value.field == field
    store = RedisCallbackStore(redis)
    for slug in ("", "  ", None):
        with pytest.raises(InvalidParameterError):
            await store.final_notice(slug)  # type: ignore[arg-type]
    assert "coreclaw:callbacks" in repr(store)


async def test_a_receiver_refuses_a_store_that_is_not_one() -> None:
    with pytest.raises(InvalidParameterError) as info:
        CallbackReceiver(store=object())  # type: ignore[arg-type]
    assert info.value.field == "store"
    assert "RedisCallbackStore" in info.value.message


async def test_reading_the_store_while_redis_is_unreachable_raises_a_store_error(
    unused_tcp_port: int,
) -> None:
    client = aioredis.Redis(host="127.0.0.1", port=unused_tcp_port)
    try:
        store = RedisCallbackStore(client)
        with pytest.raises(CallbackStoreError, match="could not be read"):
            await store.final_notice(SLUG)
    finally:
        await client.aclose()
