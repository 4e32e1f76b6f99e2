"""Two receiver processes, one RedisCallbackStore: launches minted in this process, every notice
delivered by FakeCoreClaw to a receiver in another OS process.

The other process is a real ``python`` child serving a receiver on 127.0.0.1 with the same
store; this process's receiver has the child's address as its ``public_url`` (as every worker
of a backend has the load balancer's), so each minted URL points there. Runs started here must
be woken here by those notices, not found by polling, and each notice handled exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import redis.asyncio as aioredis

from coreclaw_async import AsyncCoreClaw, CallbackReceiver, Run, RunCallback
from coreclaw_async.redis import RedisCallbackStore
from coreclaw_async.testing import FakeCoreClaw

from .server import RedisServer

ROOT = Path(__file__).resolve().parents[2]

# The other worker process: serves a receiver sharing the store until a line (or EOF) comes on
# stdin, then closes it and prints its stats as one JSON line.
CHILD = """
import asyncio, json, sys
import attrs
import redis.asyncio as aioredis
from coreclaw_async import CallbackReceiver
from coreclaw_async.redis import RedisCallbackStore

async def main(url, prefix):
    client = aioredis.Redis.from_url(url)
    try:
        receiver = CallbackReceiver(store=RedisCallbackStore(client, prefix=prefix))
        print(await receiver.start("127.0.0.1", 0), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await receiver.close()
        print(json.dumps(attrs.asdict(receiver.stats)), flush=True)
    finally:
        await client.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@attrs.define
class OtherProcess:
    process: asyncio.subprocess.Process
    url: str

    async def stop(self) -> dict[str, Any]:
        """Close its receiver and return its stats."""
        out, _ = await asyncio.wait_for(self.process.communicate(b"stop\n"), 20)
        assert self.process.returncode == 0
        stats: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        return stats


@contextlib.asynccontextmanager
async def other_process(redis_url: str, prefix: str) -> AsyncIterator[OtherProcess]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        redis_url,
        prefix,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line.startswith(b"http://127.0.0.1:"), line
        yield OtherProcess(process, line.decode().strip())
    finally:
        # Killed on every path that did not stop it (a failed assertion, a timeout, a cancel).
        if process.returncode is None:
            process.kill()
            await process.communicate()


async def test_runs_started_here_are_woken_by_notices_another_process_received_each_handled_once(
    redis_server: RedisServer, redis: aioredis.Redis, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a receiver, runs.wait reads a run first after the first gap, capped at half its
    # timeout: 30 s here. Runs end within 0.3 s, so only a notice can end a wait before that
    # first read; each then confirms with one read. The 10 s bound only keeps a broken test
    # from waiting the 30 s out.
    monkeypatch.setattr("coreclaw_async._polling.WAIT_FIRST_DELAY", 30.0)
    handled: list[tuple[str | None, str]] = []
    async with other_process(redis_server.url, name) as child:
        async with (
            CallbackReceiver(public_url=child.url, store=RedisCallbackStore(redis, prefix=name)) as receiver,
            FakeCoreClaw(seed=7, tasks=3, run_schedule=(0.05, 0.2), callback_duplicate=1.0) as fake,
            AsyncCoreClaw(fake.api_key, base_url=fake.url) as client,
        ):

            @receiver.on_callback
            async def record(notice: RunCallback) -> None:
                handled.append((notice.run_slug, notice.run_status))

            started = [await client.tasks.run(task, callback=receiver) for task in fake.task_slugs]
            assert all(run.callback_url.startswith(child.url + "/") for run in fake.runs)
            for run in started:
                polls: list[Run] = []
                final = await asyncio.wait_for(
                    client.runs.wait(
                        run.run_slug, receiver=receiver, timeout=60, poll_interval=30, on_poll=polls.append
                    ),
                    10,
                )
                assert final.is_final
                assert [poll.is_final for poll in polls] == [True]
                assert receiver.final_notice(run.run_slug) is not None

            await fake.drain_callbacks()
            sent = fake.callback_stats
            assert sent.notices == 2 * len(started)  # running, then succeeded
            assert sent.duplicated == sent.notices
            assert sent.delivered == sent.notices + sent.duplicated
            for _ in range(500):  # bounded: ~5 s for the last notices to come through the inbox
                if receiver.stats.from_store == sent.notices:
                    break
                await asyncio.sleep(0.01)
            here = receiver.stats
        there = await child.stop()

    assert sorted(handled) == sorted(
        (run.run_slug, status) for run in started for status in ("running", "succeeded")
    )
    assert (here.accepted, here.from_store, here.received, here.duplicates) == (6, 6, 0, 0)
    assert (there["received"], there["forwarded"], there["duplicates"]) == (12, 6, 6)
    assert (there["accepted"], there["unknown_token"], there["store_errors"]) == (0, 0, 0)
