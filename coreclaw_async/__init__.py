"""coreclaw-async: an asyncio-native client for the CoreClaw OpenAPI.

Start here::

    from coreclaw_async import AsyncCoreClaw

    async with AsyncCoreClaw(callback_url="https://example.com/hook") as client:
        run = await client.tasks.run("01KSFDXRNYGKT3NNE11EMR4W5X")

``coreclaw_async.testing.FakeCoreClaw`` is an in-process fake of the API for your tests.
"""

from __future__ import annotations

import logging as _logging

from ._client import AsyncCoreClaw
from ._retry import RetryPolicy
from ._session import ClientStats
from ._version import __version__
from .errors import (
    AccountUnavailableError,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ConcurrencyLimitError,
    CoreClawAPIError,
    CoreClawError,
    InsufficientBalanceError,
    InsufficientTrafficError,
    InvalidParameterError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
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
from .models import TaskRun, TaskRunRequest
from .resources import AsyncTasks

# A library never configures logging; without this, warnings would reach stderr by default.
_logging.getLogger("coreclaw_async").addHandler(_logging.NullHandler())

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AccountUnavailableError",
    "AsyncCoreClaw",
    "AsyncTasks",
    "AuthenticationError",
    "ClientStats",
    "ConcurrencyLimitError",
    "CoreClawAPIError",
    "CoreClawError",
    "InsufficientBalanceError",
    "InsufficientTrafficError",
    "InvalidParameterError",
    "InvalidRequestError",
    "NotFoundError",
    "RateLimitError",
    "ResponseDecodeError",
    "ResponseValidationError",
    "RetryPolicy",
    "RunAbortFailedError",
    "RunNotFoundError",
    "RunStartUnknownError",
    "ServerError",
    "TaskNotFoundError",
    "TaskRun",
    "TaskRunRequest",
    "UnsupportedOperationError",
    "WaitTimeoutError",
    "WorkerNotFoundError",
    "WorkerRunFailedError",
    "WorkerVersionUnavailableError",
    "__version__",
]
