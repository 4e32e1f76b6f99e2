"""Models of the Task endpoints: the request that starts a saved Task."""

from __future__ import annotations

import warnings
from typing import Any

import attrs

from ._base import RequestModel
from .runs import StartedRun

__all__ = ["TaskRunRequest"]


@attrs.frozen
class TaskRunRequest(RequestModel):
    """Body of a Task run start: which saved Task, and where CoreClaw should post callbacks.

    ``callback_url`` may be left ``None`` here; the client then fills in its default
    before sending (and refuses the call if the API version requires one and none is set).
    """

    task_slug: str
    callback_url: str | None = None


def deprecated_task_run(module: str, name: str) -> Any:
    """``TaskRun``, the former name of :class:`StartedRun`, with a ``DeprecationWarning``."""
    if name == "TaskRun":
        warnings.warn(
            "TaskRun is deprecated: it is the same model as StartedRun, use that name",
            DeprecationWarning,
            stacklevel=3,
        )
        return StartedRun
    raise AttributeError(f"module {module!r} has no attribute {name!r}")


def __getattr__(name: str) -> Any:
    return deprecated_task_run(__name__, name)
