"""Shared test fixtures: fail on asyncio ERROR records, and a running FakeCoreClaw."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from coreclaw_async import AsyncCoreClaw
from coreclaw_async.testing import FakeCoreClaw

CALLBACK_URL = "https://hooks.example.com/coreclaw"


@pytest.fixture(autouse=True)
def fail_on_asyncio_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail a test when asyncio logs an ERROR ("Task was destroyed but it is pending",
    "Unclosed client session", unhandled exceptions in callbacks...)."""
    caplog.set_level(logging.WARNING, logger="asyncio")
    yield
    errors = [r for r in caplog.get_records("call") if r.name == "asyncio" and r.levelno >= logging.ERROR]
    errors += [
        r for r in caplog.get_records("teardown") if r.name == "asyncio" and r.levelno >= logging.ERROR
    ]
    if errors:
        pytest.fail("asyncio logged errors:\n" + "\n".join(r.getMessage() for r in errors))


@pytest.fixture
async def fake() -> AsyncIterator[FakeCoreClaw]:
    """A started FakeCoreClaw on 127.0.0.1."""
    async with FakeCoreClaw(seed=1234) as server:
        yield server


@pytest.fixture
async def client(fake: FakeCoreClaw) -> AsyncIterator[AsyncCoreClaw]:
    """An AsyncCoreClaw talking to ``fake`` with a default callback URL."""
    async with AsyncCoreClaw(fake.api_key, base_url=fake.url, callback_url=CALLBACK_URL) as c:
        yield c
