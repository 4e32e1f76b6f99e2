"""Resources hanging off ``AsyncCoreClaw``: thin wrappers that build requests and call the session."""

from __future__ import annotations

from .tasks import AsyncTasks

__all__ = ["AsyncTasks"]
