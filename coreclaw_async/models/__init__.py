"""Typed request and response models (attrs classes), one module per resource."""

from __future__ import annotations

from .account import AccountInfo, ProxyRegion
from .callbacks import FINAL_CALLBACK_STATUSES, RunCallback
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
from .tasks import TaskRun, TaskRunRequest
from .workers import (
    InputProperty,
    InputSchema,
    StoreSearchRequest,
    StoreWorker,
    SystemParameters,
    Worker,
    WorkerDetailRequest,
    WorkerInput,
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
    "StartedRun",
    "StoreSearchRequest",
    "StoreWorker",
    "SystemParameters",
    "TaskRun",
    "TaskRunRequest",
    "Worker",
    "WorkerDetailRequest",
    "WorkerInput",
    "WorkerParameters",
    "WorkerRunRequest",
    "WorkerRunSync",
]
