"""Models of the Task endpoints (``POST /api/v1/task/run``)."""

from __future__ import annotations

import attrs

from ._base import RequestModel


@attrs.frozen
class TaskRunRequest(RequestModel):
    """Body of a Task run start: which saved Task, and where CoreClaw should post callbacks.

    ``callback_url`` may be left ``None`` here; the client then fills in its default
    before sending and rejects the call if it has none.
    """

    task_slug: str
    callback_url: str | None = None


@attrs.frozen
class TaskRun:
    """A run started from a saved Task; ``run_slug`` identifies it in every later call."""

    run_slug: str
