"""A receiver built before a fork (a pre-forking server, gunicorn --preload): each forked
process is its own owner in the store, so a notice reaching one process for another's launch
is forwarded there instead of being taken for its own (and refused)."""

from __future__ import annotations

import asyncio
import multiprocessing
from typing import Any

import redis.asyncio as aioredis

from coreclaw_async import CallbackReceiver
from coreclaw_async.callbacks._shared import launch_key
from coreclaw_async.redis import RedisCallbackStore

from .server import RedisServer


def _mint(receiver: CallbackReceiver, store: RedisCallbackStore, queue: Any) -> None:
    async def mint() -> str:
        await receiver.start("127.0.0.1", 0)
        try:
            launch = receiver.mint(label="forked")
            assert await launch.registered()
            entry = await store.lookup(launch_key(launch.token))
            assert entry is not None
            return entry.owner
        finally:
            await receiver.close()

    queue.put(asyncio.run(mint()))


def test_receivers_built_before_a_fork_own_their_launches_apart(redis_server: RedisServer, name: str) -> None:
    store = RedisCallbackStore(aioredis.Redis.from_url(redis_server.url), prefix=name)
    receiver = CallbackReceiver(store=store)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    owners = []
    for _ in range(2):
        child = context.Process(target=_mint, args=(receiver, store, queue))
        child.start()
        child.join(20)
        assert child.exitcode == 0
        owners.append(queue.get(timeout=5))

    assert len(set(owners)) == 2, owners
