"""A dialect: one version of the CoreClaw API as data.

Resources never import a version's module; they ask the client's :class:`Dialect` for the
operation to call (``dialect.ops.run_get``), for the page-size cap to respect and for
whether a start needs a callback URL. The session manager asks it for the auth header.
A new API version is a new ``Dialect`` value, not a second copy of any resource.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from ._operation import Operation
from .errors import InvalidParameterError, UnsupportedOperationError
from .models.account import AccountInfo, ProxyRegion
from .models.queue import QueueActivation, QueuedRun, QueuePage
from .models.runs import ExportLink, ResultPage, Run, RunLog, RunPage, StartedRun
from .models.tasks import Task, TaskInput, TaskPage
from .models.workers import StoreWorker, Worker, WorkerInputSchema, WorkerPage, WorkerRunSync

T = TypeVar("T")

__all__ = ["Dialect", "Operations"]


@attrs.frozen(kw_only=True)
class Operations:
    """Every operation a dialect must define, by what it does (names are the same in every version)."""

    task_run: Operation[StartedRun]
    worker_run: Operation[StartedRun]
    worker_run_sync: Operation[WorkerRunSync]
    run_abort: Operation[None]
    run_get: Operation[Run]
    run_list: Operation[RunPage]
    run_results: Operation[ResultPage]
    run_log: Operation[RunLog]
    run_export: Operation[ExportLink]
    run_rerun: Operation[StartedRun]
    account_info: Operation[AccountInfo]
    worker_get: Operation[Worker]
    store_search: Operation[list[StoreWorker]]
    proxy_regions: Operation[list[ProxyRegion]]
    # What API v2 adds; a version without them leaves them None.
    run_last: Operation[Run] | None = None
    task_list: Operation[TaskPage] | None = None
    task_get: Operation[Task] | None = None
    task_create: Operation[Task] | None = None
    task_update: Operation[None] | None = None
    task_delete: Operation[None] | None = None
    task_input_get: Operation[TaskInput] | None = None
    task_input_update: Operation[None] | None = None
    worker_list: Operation[WorkerPage] | None = None
    worker_input_schema: Operation[WorkerInputSchema] | None = None
    worker_queue: Operation[QueuedRun] | None = None
    queue_list: Operation[QueuePage] | None = None
    queue_activate: Operation[list[QueueActivation]] | None = None
    queue_release: Operation[list[QueueActivation]] | None = None

    def all(self) -> tuple[Operation[Any], ...]:
        """Every operation this version has, in declaration order."""
        found = (getattr(self, field.name) for field in attrs.fields(type(self)))
        return tuple(op for op in found if op is not None)


@attrs.frozen(kw_only=True)
class Dialect:
    """One API version.

    Attributes:
        name: ``"v1"``.
        ops: the operations.
        auth_header: turns an API key into the ``(header name, value)`` that carries it.
        max_page_size: the largest page a list operation may ask for (``None``: no documented cap).
        callback_required: the names of the start operations (``"task_run"``, ``"run_rerun"``...)
            that the server refuses without a callback URL.
    """

    name: str
    ops: Operations
    auth_header: Callable[[str], tuple[str, str]]
    max_page_size: int | None = None
    callback_required: frozenset[str] = frozenset()

    def require(self, op: Operation[T] | None, what: str) -> Operation[T]:
        """``op`` if this version has it, else ``UnsupportedOperationError`` (nothing sent)
        naming ``what`` the caller asked for and the version that has it."""
        if op is None:
            raise UnsupportedOperationError(
                f"{what} is only in CoreClaw API v2; this client speaks {self.name}: "
                "pass api_version='v2' to AsyncCoreClaw (or set CORECLAW_API_VERSION=v2)",
                attempts=0,
                outcome="not_sent",
            )
        return op

    def requires_callback(self, operation: str) -> bool:
        """Whether the start operation named ``operation`` needs a callback URL in this version."""
        return operation in self.callback_required

    def check_page_size(self, field: str, page_size: int) -> int:
        """Return ``page_size`` if this version allows pages that large; else ``InvalidParameterError``."""
        cap = self.max_page_size
        if cap is not None and page_size > cap:
            raise InvalidParameterError(
                field, f"must be at most {cap} on API {self.name} (got {page_size}); page through the rest"
            )
        return page_size

    def page_size_for(self, page_size: int) -> int:
        """The page size an iterator should request: ``page_size`` capped to what this version allows."""
        cap = self.max_page_size
        return page_size if cap is None else min(page_size, cap)
