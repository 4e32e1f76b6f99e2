"""Redis going away under two receivers that share a store, and coming back.

While Redis is down, a receiver's own launches keep working for notices that reach it;
a notice that only the store could place (another process's token) is answered 503; the
outage is logged once. Once Redis is back, sharing resumes without anything being restarted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
import redis.asyncio as aioredis

from coreclaw_async import CallbackReceiver, Launch
from coreclaw_async.redis import RedisCallbackStore

from .server import RedisServer

SLUG = "01KZDQ89G8PTTWG5Z703BG7D1T"
LOCAL = "01KSFDS8XWTJME33C08XMCR6B9"
LATER = "01KSFDXRNYGKT3NNE11EMR4W5X"


@pytest.fixture
async def client(own_redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.Redis.from_url(own_redis_server.url)
    try:
        yield redis
    finally:
        await redis.aclose()


async def post(url: str, slug: str) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json={"run_slug": slug, "run_status": "succeeded"}) as resp,
    ):
        return resp.status, await resp.json()


def at(receiver: CallbackReceiver, launch: Launch) -> str:
    return f"{receiver.public_url}/{launch.token}"


def outage_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "callback store unreachable" in r.getMessage()]


async def test_own_launches_keep_working_foreign_ones_get_503_and_sharing_resumes_when_redis_is_back(
    own_redis_server: RedisServer, client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisCallbackStore(client, prefix="outage")
    async with CallbackReceiver(store=store).serve() as a, CallbackReceiver(store=store).serve() as b:
        shared = a.mint()
        shared.bind(SLUG)
        assert await shared.registered()

        with caplog.at_level(logging.INFO, logger="coreclaw_async"):
            own_redis_server.kill()
            local = a.mint()
            local.bind(LOCAL)
            assert not await local.registered()
            assert await post(at(a, local), LOCAL) == (200, {"ok": True, "result": "accepted"})
            assert await post(at(a, shared), SLUG) == (200, {"ok": True, "result": "accepted"})
            assert (await a.wait(LOCAL, timeout=5)).run_slug == LOCAL
            assert (await a.wait(SLUG, timeout=5)).run_slug == SLUG
            for _ in range(3):
                assert await post(at(b, shared), SLUG) == (503, {"ok": False, "result": "store unavailable"})
            warnings_while_down = outage_warnings(caplog)

            own_redis_server.start()
            # Bounded: ~5 s for the store to be tried again and the reader to come back.
            for _ in range(100):
                later = a.mint()
                later.bind(LATER)
                if await later.registered():
                    break
                later.discard()
                await asyncio.sleep(0.05)
            assert await post(at(b, later), LATER) == (200, {"ok": True, "result": "accepted"})
            notice = await a.wait(LATER, timeout=5)

        assert notice.run_slug == LATER
        assert len([w for w in warnings_while_down if "503" in w]) == 2  # once per receiver
        assert any("reachable again" in r.getMessage() for r in caplog.records)
        assert b.stats.store_errors >= 1
        assert a.stats.store_errors >= 1
        assert b.stats.forwarded == 1
        assert a.stats.from_store == 1
        assert (a.stats.accepted, b.stats.accepted) == (3, 0)
