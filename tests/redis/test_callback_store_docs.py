"""The docs' many-process example (docs/many-processes.md), run as written: two copies of its
app, one Redis, one fake.

The copies stand for two worker processes behind one URL: their ``PUBLIC_URL`` is the second
copy's address, so every notice of a run started through the first copy reaches the second,
and the first copy's ``runs.wait`` must be woken through the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from coreclaw_async.testing import FakeCoreClaw

from ..docs.snippets import DOCS, run_example
from .server import RedisServer

PAGE = DOCS / "many-processes.md"


def example_factory() -> Callable[[], Awaitable[web.Application]]:
    namespace = run_example(PAGE, "## One callback inbox for many processes")
    factory: Callable[[], Awaitable[web.Application]] = namespace["make_app"]
    return factory


async def test_a_run_started_in_one_worker_is_woken_by_its_notice_reaching_another(
    redis_server: RedisServer, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The example waits with timeout=900: its first read would come 30 s in, so within the
    # 10 s bound only a notice can end the wait.
    monkeypatch.setattr("coreclaw_async._polling.WAIT_FIRST_DELAY", 30.0)
    make_app = example_factory()
    async with FakeCoreClaw(tasks=1, seed=5, run_schedule=(0.02, 0.1), api_versions=("v1",)) as fake:
        monkeypatch.setenv("CORECLAW_API_KEY", fake.api_key)
        monkeypatch.setenv("CORECLAW_BASE_URL", fake.url)
        monkeypatch.setenv("REDIS_URL", redis_server.url)
        monkeypatch.setenv("PUBLIC_URL", "http://127.0.0.1:9/coreclaw")  # the second copy mints nothing
        async with TestClient(TestServer(await make_app(), host="127.0.0.1")) as second:
            public_url = str(second.make_url("/coreclaw"))
            monkeypatch.setenv("PUBLIC_URL", public_url)
            async with TestClient(TestServer(await make_app(), host="127.0.0.1")) as first:
                response = await asyncio.wait_for(first.post(f"/tasks/{fake.task_slugs[0]}/run"), 10)
                answer = await response.json()

    assert response.status == 200
    assert answer == {"run_slug": fake.runs[0].slug, "status": "SUCCEEDED"}
    assert fake.runs[0].callback_url.startswith(public_url + "/")
    assert fake.callback_stats.delivered == 2
    assert await redis.keys("{coreclaw:callbacks}:inbox:*") != []
