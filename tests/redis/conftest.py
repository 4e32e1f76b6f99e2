"""Fixtures of the Redis tests: a real ``redis-server`` and clients of it.

``redis_server`` is one server for the whole session (tests keep apart by key prefix, and
each test starts from an empty database); ``own_redis_server`` is a server of the test's
own, for tests that kill and restart it.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from .server import RedisServer, running_redis_server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis_server(tmp_path / "redis") as server:
        yield server


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        await client.flushdb()
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def name() -> str:
    """A budget or store name of the test's own."""
    return f"test-{secrets.token_hex(4)}"
