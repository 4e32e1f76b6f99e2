"""Shared test fixtures: fail on asyncio ERROR records, the API version, and a running FakeCoreClaw.

A test that asks for ``api_version`` (itself, or through ``fake`` or ``client``) runs once
per API version, ids ``v1`` and ``v2``; the fake then serves that version only, so that a
request that leaked to the other version would get a plain 404. A test about v1 alone says
so with ``@pytest.mark.v1_only("why")`` and runs on v1 only.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from coreclaw_async import AsyncCoreClaw
from coreclaw_async.testing import FakeCoreClaw

CALLBACK_URL = "https://hooks.example.com/coreclaw"
API_VERSIONS = ("v1", "v2")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "v1_only(reason): the test is about API v1 itself; the api_version fixture gives it v1 only",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``api_version`` (``v1``, ``v2``; ``v1`` alone under ``v1_only``)."""
    if "api_version" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
        if isinstance(names, str):
            names = [name.strip() for name in names.split(",")]
        if "api_version" in names:
            return  # the test chose its versions itself
    versions: tuple[str, ...] = API_VERSIONS
    only = metafunc.definition.get_closest_marker("v1_only")
    if only is not None:
        if not (only.args or only.kwargs.get("reason")):
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: v1_only needs a reason")
        versions = ("v1",)
    metafunc.parametrize("api_version", versions, indirect=True, ids=versions)


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
def api_version(request: pytest.FixtureRequest) -> str:
    """``"v1"`` or ``"v2"``: the CoreClaw API version this run of the test speaks."""
    version: str = request.param
    return version


@pytest.fixture
async def fake(api_version: str) -> AsyncIterator[FakeCoreClaw]:
    """A started FakeCoreClaw on 127.0.0.1 serving ``api_version`` only."""
    async with FakeCoreClaw(seed=1234, api_versions=(api_version,)) as server:
        yield server


@pytest.fixture
async def client(fake: FakeCoreClaw, api_version: str) -> AsyncIterator[AsyncCoreClaw]:
    """An AsyncCoreClaw speaking ``api_version`` to ``fake``, with a default callback URL."""
    async with AsyncCoreClaw(
        fake.api_key, base_url=fake.url, callback_url=CALLBACK_URL, api_version=api_version
    ) as c:
        yield c
