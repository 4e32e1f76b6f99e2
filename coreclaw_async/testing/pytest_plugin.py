"""pytest fixtures for testing against FakeCoreClaw.

Opt in from your root ``conftest.py``::

    pytest_plugins = ["coreclaw_async.testing.pytest_plugin"]

then use the ``coreclaw_fake`` fixture. Settings can be passed per test with the marker
``@pytest.mark.coreclaw_fake(latency=0.01, fail_every=2)`` (any `FakeCoreClaw` keyword).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from ._fake import FakeCoreClaw

__all__ = ["coreclaw_fake"]


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``coreclaw_fake`` marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers", "coreclaw_fake(**kwargs): keyword arguments for the coreclaw_fake fixture"
    )


@pytest_asyncio.fixture
async def coreclaw_fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeCoreClaw]:
    """A started `FakeCoreClaw`, closed after the test.

    Keyword arguments come from the closest ``@pytest.mark.coreclaw_fake(...)`` marker.
    """
    marker = request.node.get_closest_marker("coreclaw_fake")
    kwargs = dict(marker.kwargs) if marker is not None else {}
    async with FakeCoreClaw(**kwargs) as fake:
        yield fake
