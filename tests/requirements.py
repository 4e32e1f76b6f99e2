"""What a test needs that a developer's machine may lack: skipped there with the reason, but a
failure under ``CI=true``, where ``make test`` installs everything (the ``dev`` extra)."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def missing(reason: str) -> None:
    """Skip the test for ``reason``, or fail it under ``CI=true``."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: nothing CI installs may be skipped)")
    pytest.skip(reason)


def require_module(name: str) -> ModuleType:
    """``import name``, or :func:`missing` when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"{name} is not installed (it is in the dev extra)")
        raise  # not reached: missing() raises
