"""run_many keeps memory flat: its peak does not grow with the number of items.

FakeCoreClaw runs in a child process here (``python -m coreclaw_async.testing``): its run
ledger grows with every start by design, and tracemalloc must see only the client's side.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator

import pytest

from coreclaw_async import AsyncCoreClaw

from ..conftest import CALLBACK_URL
from ..served_fake import served_fake

pytestmark = pytest.mark.slow

SMALL, LARGE = 1_000, 10_000
CONCURRENCY = 20


@pytest.fixture
async def remote_fake(api_version: str) -> AsyncIterator[dict[str, str]]:
    """A FakeCoreClaw serving ``api_version`` in a child process; yields its ``KEY=value``
    start-up lines as a dict."""
    async with served_fake("--api-versions", api_version) as settings:
        yield settings


async def _launch(client: AsyncCoreClaw, slugs: list[str], count: int) -> int:
    started = 0
    items = (slugs[number % len(slugs)] for number in range(count))  # a generator: nothing stored
    async with client.tasks.run_many(items, concurrency=CONCURRENCY) as batch:
        async for outcome in batch:
            started += outcome.started is True
    return started


async def _peak_growth(client: AsyncCoreClaw, slugs: list[str], count: int) -> int:
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    assert await _launch(client, slugs, count) == count
    return tracemalloc.get_traced_memory()[1] - before


async def test_peak_memory_of_run_many_does_not_grow_with_the_number_of_items(
    remote_fake: dict[str, str], api_version: str
) -> None:
    slugs = remote_fake["CORECLAW_TASK_SLUGS"].split(",")
    async with AsyncCoreClaw(
        remote_fake["CORECLAW_API_KEY"],
        base_url=remote_fake["CORECLAW_BASE_URL"],
        callback_url=CALLBACK_URL,
        api_version=api_version,
    ) as client:
        await _launch(client, slugs, 200)  # warm up: session, connections, converter caches
        tracemalloc.start()
        try:
            small = await _peak_growth(client, slugs, SMALL)
            large = await _peak_growth(client, slugs, LARGE)
        finally:
            tracemalloc.stop()

    # Ten times the items, (about) the same peak: what is held is per worker, not per item.
    assert large < small * 1.5 + 256 * 1024, (small, large)
    assert large < 4 * 1024 * 1024, (small, large)
