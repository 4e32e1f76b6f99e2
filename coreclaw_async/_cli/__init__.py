"""The ``coreclaw-async`` command line (also ``python -m coreclaw_async``)."""

from __future__ import annotations

from ._main import main

__all__ = ["main"]
