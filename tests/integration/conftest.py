"""Fixtures of the integration tests: where each operation lives on the wire of ``api_version``."""

from __future__ import annotations

import pytest

from .support import Paths


@pytest.fixture
def paths(api_version: str) -> Paths:
    """The paths of ``api_version``: ``paths.pattern("run_get")``, ``paths.count(fake, "run_get")``..."""
    return Paths(api_version)
