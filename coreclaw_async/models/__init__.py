"""Typed request and response models (attrs classes), one module per resource."""

from __future__ import annotations

from typing import Any

from .account import AccountInfo, ProxyRegion, ProxyRegionRequest
from .callbacks import FINAL_CALLBACK_STATUSES, RunCallback
from .queue import QueueActivation, QueuedRun, QueueItem, QueueListRequest, QueuePage, QueueRefsRequest
from .runs import (
    ExportLink,
    ExportRequest,
    LogEntry,
    LogLevel,
    RerunRequest,
    ResultHeader,
    ResultListRequest,
    ResultPage,
    Run,
    RunListRequest,
    RunLog,
    RunPage,
    RunRequest,
    RunStatus,
    StartedRun,
)
from .tasks import (
    Schedule,
    ScheduleKind,
    Task,
    TaskCreateRequest,
    TaskInput,
    TaskInputRequest,
    TaskListRequest,
    TaskPage,
    TaskRequest,
    TaskRunRequest,
    TaskUpdateRequest,
    deprecated_task_run,
)
from .workers import (
    InputProperty,
    InputSchema,
    StoreSearchRequest,
    StoreWorker,
    SystemParameters,
    Worker,
    WorkerDetailRequest,
    WorkerInput,
    WorkerInputSchema,
    WorkerListRequest,
    WorkerPage,
    WorkerParameters,
    WorkerRunRequest,
    WorkerRunSync,
)

__all__ = [
    "FINAL_CALLBACK_STATUSES",
    "AccountInfo",
    "ExportLink",
    "ExportRequest",
    "InputProperty",
    "InputSchema",
    "LogEntry",
    "LogLevel",
    "ProxyRegion",
    "ProxyRegionRequest",
    "QueueActivation",
    "QueueItem",
    "QueueListRequest",
    "QueuePage",
    "QueueRefsRequest",
    "QueuedRun",
    "RerunRequest",
    "ResultHeader",
    "ResultListRequest",
    "ResultPage",
    "Run",
    "RunCallback",
    "RunListRequest",
    "RunLog",
    "RunPage",
    "RunRequest",
    "RunStatus",
    "Schedule",
    "ScheduleKind",
    "StartedRun",
    "StoreSearchRequest",
    "StoreWorker",
    "SystemParameters",
    "Task",
    "TaskCreateRequest",
    "TaskInput",
    "TaskInputRequest",
    "TaskListRequest",
    "TaskPage",
    "TaskRequest",
    "TaskRunRequest",
    "TaskUpdateRequest",
    "Worker",
    "WorkerDetailRequest",
    "WorkerInput",
    "WorkerInputSchema",
    "WorkerListRequest",
    "WorkerPage",
    "WorkerParameters",
    "WorkerRunRequest",
    "WorkerRunSync",
]


def __getattr__(name: str) -> Any:
    # TaskRun: the former name of StartedRun, kept for one release with a DeprecationWarning.
    return deprecated_task_run(__name__, name)
