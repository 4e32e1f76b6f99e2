"""Helpers of the v1 integration tests: a FakeCoreClaw with chosen settings plus a client bound to it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from coreclaw_async import AsyncCoreClaw
from coreclaw_async.testing import FakeCoreClaw

from ..conftest import CALLBACK_URL

WORKER = "coreclaw/google-maps-scraper"
MAPS_INPUT = {"searchTerms": ["coffee"], "location": "Berlin"}


@contextlib.asynccontextmanager
async def serving(**fake_kwargs: Any) -> AsyncIterator[tuple[FakeCoreClaw, AsyncCoreClaw]]:
    """A started ``FakeCoreClaw(**fake_kwargs)`` and a client for it; both closed on exit."""
    fake_kwargs.setdefault("seed", 1234)
    async with (
        FakeCoreClaw(**fake_kwargs) as fake,
        AsyncCoreClaw(fake.api_key, base_url=fake.url, callback_url=CALLBACK_URL) as client,
    ):
        yield fake, client


async def start_run(client: AsyncCoreClaw) -> str:
    """Start a Google Maps Worker run and return its slug."""
    started = await client.workers.run(WORKER, input=MAPS_INPUT)
    return started.run_slug
