"""Every page's Python examples, run as written against a FakeCoreClaw and a real Redis.

One test per page that has blocks to run (see ``snippets.py`` for the convention). The
program runs in a subprocess, in a fresh temporary directory, with ``CORECLAW_API_KEY``,
``CORECLAW_BASE_URL`` (a fake serving v1 and v2), ``CORECLAW_CALLBACK_URL`` (a loopback
sink), ``CORECLAW_TASK_SLUGS`` and ``REDIS_URL`` set.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from coreclaw_async.testing import FakeCoreClaw

from ..redis.server import RedisServer, running_redis_server
from .snippets import DOCS, pages_with_programs, program

# A page's program gets this long; pages start a handful of short runs on the fake.
PAGE_TIMEOUT = 90.0
PAGES = pages_with_programs()


@pytest.fixture(scope="module")
def docs_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis_server(tmp_path_factory.mktemp("docs-redis")) as server:
        yield server


@pytest.fixture
async def callback_sink() -> AsyncIterator[str]:
    """A loopback URL that answers every notice 200, standing for the reader's own webhook."""

    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/{tail:.*}", accept)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/coreclaw/hook"))
    finally:
        await server.close()


def test_the_convention_finds_pages_to_run() -> None:
    assert len(PAGES) >= 8


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(DOCS)) for page in PAGES])
async def test_the_examples_of_the_page_run(
    page: Path, docs_redis: RedisServer, callback_sink: str, tmp_path: Path
) -> None:
    script = tmp_path / "page.py"
    script.write_text(program(page), encoding="utf-8")
    async with FakeCoreClaw(seed=7, run_schedule=(0.05, 0.3)) as fake:
        env = {
            **os.environ,
            "CORECLAW_API_KEY": fake.api_key,
            "CORECLAW_BASE_URL": fake.url,
            "CORECLAW_CALLBACK_URL": callback_sink,
            "CORECLAW_TASK_SLUGS": ",".join(fake.task_slugs),
            "REDIS_URL": docs_redis.url,
            "PYTHONWARNINGS": "error",
        }
        env.pop("CORECLAW_API_VERSION", None)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            cwd=tmp_path,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), PAGE_TIMEOUT)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    text = output.decode("utf-8", "replace")
    assert process.returncode == 0, f"{page.relative_to(DOCS)} failed:\n{text}"
