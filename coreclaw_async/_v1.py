"""The v1 dialect: every v1 endpoint as an ``Operation`` (spec section 2).

Resources only ever name operations from here; a v2 dialect will define the same names.
"""

from __future__ import annotations

from ._converter import converter
from ._operation import Kind, Operation
from .models.tasks import TaskRun

__all__ = ["TASK_RUN"]

TASK_RUN: Operation[TaskRun] = Operation(
    name="task.run",
    method="POST",
    path="/api/v1/task/run",
    kind=Kind.RUN_START,
    parse=lambda data: converter.structure(data, TaskRun),
)
