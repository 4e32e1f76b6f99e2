"""Typed request and response models (attrs classes), one module per resource."""

from __future__ import annotations

from .tasks import TaskRun, TaskRunRequest

__all__ = ["TaskRun", "TaskRunRequest"]
