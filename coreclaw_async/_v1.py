"""The v1 dialect: every v1 endpoint as an ``Operation`` (spec section 2).

Resources only ever name operations from here; a v2 dialect will define the same names.
Each operation's ``parse`` is a :class:`Structure`: the model ``data`` is read into (with
the lenient converter unless told otherwise) and, for list wrappers, the part returned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import attrs
from cattrs import Converter

from ._constants import SYNC_RUN_TIMEOUT
from ._converter import converter
from ._operation import Kind, Operation
from .models.account import AccountInfo, ProxyRegion, _ProxyRegionList
from .models.runs import ExportLink, ResultPage, Run, RunLog, RunPage, StartedRun
from .models.tasks import TaskRun
from .models.workers import StoreWorker, Worker, WorkerRunSync, _StoreSearchData

__all__ = [
    "ACCOUNT_INFO",
    "OPERATIONS",
    "PROXY_REGIONS",
    "RUN_ABORT",
    "RUN_EXPORT",
    "RUN_GET",
    "RUN_LIST",
    "RUN_LOG",
    "RUN_RERUN",
    "RUN_RESULTS",
    "STORE_SEARCH",
    "TASK_RUN",
    "WORKER_GET",
    "WORKER_RUN",
    "WORKER_RUN_SYNC",
    "Structure",
]

T = TypeVar("T")


@attrs.frozen
class Structure(Generic[T]):
    """Parse ``data`` into ``model``, then ``pick`` the part the caller gets (the whole model by default).

    ``using(strict_converter, data)`` runs the same parse with another converter (our tests
    check every documented example this way).
    """

    model: type[Any]
    pick: Callable[[Any], T] | None = None
    # The default converter's hook for ``model``, looked up on first use (every hook is
    # registered when ``_converter`` is imported), so each call skips the dispatch.
    _hook: Callable[[Any, Any], Any] | None = attrs.field(init=False, default=None, eq=False, repr=False)

    def __call__(self, data: Any) -> T:
        hook = self._hook
        if hook is None:
            hook = converter.get_structure_hook(self.model)
            object.__setattr__(self, "_hook", hook)
        value = hook(data, self.model)
        if self.pick is None:
            return value  # type: ignore[no-any-return]
        return self.pick(value)

    def using(self, conv: Converter, data: Any) -> T:
        """Parse ``data`` with ``conv``."""
        value = conv.structure(data, self.model)
        if self.pick is None:
            return value  # type: ignore[no-any-return]
        return self.pick(value)


def _store_workers(data: _StoreSearchData) -> list[StoreWorker]:
    return list(data.scraper)


def _proxy_regions(data: _ProxyRegionList) -> list[ProxyRegion]:
    return list(data.items)


TASK_RUN: Operation[TaskRun] = Operation(
    name="task.run",
    method="POST",
    path="/api/v1/task/run",
    kind=Kind.RUN_START,
    parse=Structure(TaskRun),
)

WORKER_RUN: Operation[StartedRun] = Operation(
    name="worker.run",
    method="POST",
    path="/api/v1/scraper/run",
    kind=Kind.RUN_START,
    parse=Structure(StartedRun),
)
"""``scraper/run`` with ``is_async: true``: answers at once with the new run's slug."""

WORKER_RUN_SYNC: Operation[WorkerRunSync] = Operation(
    name="worker.run_sync",
    method="POST",
    path="/api/v1/scraper/run",
    kind=Kind.RUN_START,
    parse=Structure(WorkerRunSync),
    min_timeout=SYNC_RUN_TIMEOUT,
)
"""``scraper/run`` with ``is_async: false``: the server holds the request up to 5 minutes."""

RUN_ABORT: Operation[None] = Operation(
    name="run.abort",
    method="POST",
    path="/api/v1/scraper/abort",
    kind=Kind.ACTION,
)

RUN_GET: Operation[Run] = Operation(
    name="run.get",
    method="POST",
    path="/api/v1/run/detail",
    kind=Kind.READ,
    parse=Structure(Run),
)

RUN_LIST: Operation[RunPage] = Operation(
    name="run.list",
    method="POST",
    path="/api/v1/run/list",
    kind=Kind.READ,
    parse=Structure(RunPage),
)

RUN_RESULTS: Operation[ResultPage] = Operation(
    name="run.results",
    method="POST",
    path="/api/v1/run/result/list",
    kind=Kind.READ,
    parse=Structure(ResultPage),
)

RUN_LOG: Operation[RunLog] = Operation(
    name="run.log",
    method="POST",
    path="/api/v1/run/last/log",
    kind=Kind.READ,
    parse=Structure(RunLog),
)

RUN_EXPORT: Operation[ExportLink] = Operation(
    name="run.export",
    method="POST",
    path="/api/v1/run/result/export",
    # Creates a file but no run and no charge: retrying it at worst makes a second file.
    kind=Kind.READ,
    parse=Structure(ExportLink),
)

RUN_RERUN: Operation[StartedRun] = Operation(
    name="run.rerun",
    method="POST",
    path="/api/v1/rerun",
    kind=Kind.RUN_START,
    parse=Structure(StartedRun),
)

ACCOUNT_INFO: Operation[AccountInfo] = Operation(
    name="account.info",
    method="POST",
    path="/api/v1/account/info",
    kind=Kind.READ,
    parse=Structure(AccountInfo),
)

WORKER_GET: Operation[Worker] = Operation(
    name="worker.get",
    method="GET",
    path="/api/scraper",
    kind=Kind.READ,
    parse=Structure(Worker),
    auth=False,
    in_query=True,
)

STORE_SEARCH: Operation[list[StoreWorker]] = Operation(
    name="store.search",
    method="GET",
    path="/api/store",
    kind=Kind.READ,
    parse=Structure(_StoreSearchData, _store_workers),
    auth=False,
    in_query=True,
)

PROXY_REGIONS: Operation[list[ProxyRegion]] = Operation(
    name="proxy.regions",
    method="GET",
    path="/api/proxy/region",
    kind=Kind.READ,
    parse=Structure(_ProxyRegionList, _proxy_regions),
    auth=False,
    in_query=True,
)

OPERATIONS: tuple[Operation[Any], ...] = (
    TASK_RUN,
    WORKER_RUN,
    WORKER_RUN_SYNC,
    RUN_ABORT,
    RUN_GET,
    RUN_LIST,
    RUN_RESULTS,
    RUN_LOG,
    RUN_EXPORT,
    RUN_RERUN,
    ACCOUNT_INFO,
    WORKER_GET,
    STORE_SEARCH,
    PROXY_REGIONS,
)
"""Every v1 operation (13 endpoints; ``scraper/run`` appears twice, async and sync)."""
