"""coreclaw-async: an asyncio-native client for the CoreClaw OpenAPI.

Start here::

    from coreclaw_async import AsyncCoreClaw

    async with AsyncCoreClaw(callback_url="https://example.com/hook") as client:
        run = await client.tasks.run("01KSFDXRNYGKT3NNE11EMR4W5X")

``coreclaw_async.testing.FakeCoreClaw`` is an in-process fake of the API for your tests.
"""

from __future__ import annotations

import logging as _logging
from typing import Any as _Any

from ._budget import BudgetTimeout, SharedBudget
from ._client import AsyncCoreClaw
from ._polling import FinishedRuns
from ._retry import RetryPolicy
from ._stats import ClientStats
from ._version import __version__
from .callbacks import CallbackHandler, CallbackReceiver, CallbackStore, Launch, ReceiverStats
from .errors import (
    AccountUnavailableError,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BudgetUnavailableError,
    CallbackStoreError,
    ClientStateError,
    ConcurrencyLimitError,
    CoreClawAPIError,
    CoreClawError,
    InsufficientBalanceError,
    InsufficientTrafficError,
    InvalidCallbackError,
    InvalidParameterError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ReceiverAddressError,
    ReceiverClosedError,
    RequestRejectedError,
    ResponseDecodeError,
    ResponseValidationError,
    RunAbortFailedError,
    RunNotFoundError,
    RunStartUnknownError,
    ServerError,
    TaskNotFoundError,
    UnsupportedOperationError,
    WaitTimeoutError,
    WorkerNotFoundError,
    WorkerRunFailedError,
    WorkerVersionUnavailableError,
)
from .fanout import TaskRunBatch, TaskRunOutcome
from .models import (
    FINAL_CALLBACK_STATUSES,
    AccountInfo,
    ExportLink,
    InputProperty,
    InputSchema,
    LogEntry,
    LogLevel,
    ProxyRegion,
    QueueActivation,
    QueuedRun,
    QueueItem,
    QueuePage,
    ResultHeader,
    ResultPage,
    Run,
    RunCallback,
    RunLog,
    RunPage,
    RunStatus,
    Schedule,
    ScheduleKind,
    StartedRun,
    StoreWorker,
    SystemParameters,
    Task,
    TaskInput,
    TaskPage,
    TaskRunRequest,
    Worker,
    WorkerInput,
    WorkerInputSchema,
    WorkerPage,
    WorkerParameters,
    WorkerRunRequest,
    WorkerRunSync,
)
from .models.tasks import deprecated_task_run as _deprecated_task_run
from .resources import AsyncAccount, AsyncQueue, AsyncRuns, AsyncTasks, AsyncWorkers

# A library never configures logging; without this, warnings would reach stderr by default.
_logging.getLogger("coreclaw_async").addHandler(_logging.NullHandler())


def __getattr__(name: str) -> _Any:
    # TaskRun: the former name of StartedRun, kept for one release with a DeprecationWarning.
    return _deprecated_task_run(__name__, name)


__all__ = [
    "FINAL_CALLBACK_STATUSES",
    "APIConnectionError",
    "APITimeoutError",
    "AccountInfo",
    "AccountUnavailableError",
    "AsyncAccount",
    "AsyncCoreClaw",
    "AsyncQueue",
    "AsyncRuns",
    "AsyncTasks",
    "AsyncWorkers",
    "AuthenticationError",
    "BudgetTimeout",
    "BudgetUnavailableError",
    "CallbackHandler",
    "CallbackReceiver",
    "CallbackStore",
    "CallbackStoreError",
    "ClientStateError",
    "ClientStats",
    "ConcurrencyLimitError",
    "CoreClawAPIError",
    "CoreClawError",
    "ExportLink",
    "FinishedRuns",
    "InputProperty",
    "InputSchema",
    "InsufficientBalanceError",
    "InsufficientTrafficError",
    "InvalidCallbackError",
    "InvalidParameterError",
    "InvalidRequestError",
    "Launch",
    "LogEntry",
    "LogLevel",
    "NotFoundError",
    "ProxyRegion",
    "QueueActivation",
    "QueueItem",
    "QueuePage",
    "QueuedRun",
    "RateLimitError",
    "ReceiverAddressError",
    "ReceiverClosedError",
    "ReceiverStats",
    "RequestRejectedError",
    "ResponseDecodeError",
    "ResponseValidationError",
    "ResultHeader",
    "ResultPage",
    "RetryPolicy",
    "Run",
    "RunAbortFailedError",
    "RunCallback",
    "RunLog",
    "RunNotFoundError",
    "RunPage",
    "RunStartUnknownError",
    "RunStatus",
    "Schedule",
    "ScheduleKind",
    "ServerError",
    "SharedBudget",
    "StartedRun",
    "StoreWorker",
    "SystemParameters",
    "Task",
    "TaskInput",
    "TaskNotFoundError",
    "TaskPage",
    "TaskRunBatch",
    "TaskRunOutcome",
    "TaskRunRequest",
    "UnsupportedOperationError",
    "WaitTimeoutError",
    "Worker",
    "WorkerInput",
    "WorkerInputSchema",
    "WorkerNotFoundError",
    "WorkerPage",
    "WorkerParameters",
    "WorkerRunFailedError",
    "WorkerRunRequest",
    "WorkerRunSync",
    "WorkerVersionUnavailableError",
    "__version__",
]
