"""Resources hanging off ``AsyncCoreClaw``: thin wrappers that build requests and call the session."""

from __future__ import annotations

from .account import AsyncAccount
from .queue import AsyncQueue
from .runs import AsyncRuns
from .tasks import AsyncTasks
from .workers import AsyncWorkers

__all__ = ["AsyncAccount", "AsyncQueue", "AsyncRuns", "AsyncTasks", "AsyncWorkers"]
