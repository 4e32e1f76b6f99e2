"""API v2 as a :class:`~coreclaw_async._dialect.Dialect`: the same operations on ``/api/v2``, and its own.

What differs from v1 on the wire, all of it here: the key travels as ``Authorization: Bearer``;
reads are ``GET`` with a query string; ids go into the path, percent-quoted, a Worker id's
``/`` written ``~``; ``offset`` is the 1-based page number and ``limit`` at most 100; a run's
status is a string; synchronous results count time in seconds (v1: milliseconds); run
detail carries no failure message; the envelope adds ``request_id`` (kept on started runs) and
may leave ``data`` out; a missing run, Task or Worker may come back as the generic 11004. Only
``POST /api/v1/task/run`` and ``rerun`` needed a callback URL; v2 needs none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._constants import SYNC_RUN_TIMEOUT, V2_MAX_PAGE_SIZE
from ._converter import Structure
from ._dialect import Dialect, Operations
from ._operation import Kind, Operation
from .errors import RunNotFoundError, TaskNotFoundError, WorkerNotFoundError
from .models.account import AccountInfo, ProxyRegion, _ProxyRegionList
from .models.queue import QueueActivation, QueuedRun, QueuePage, _QueueResults
from .models.runs import ExportLink, ResultPage, Run, RunLog, RunPage, RunStatus, StartedRun
from .models.tasks import Task, TaskInput, TaskPage
from .models.workers import (
    StoreWorker,
    Worker,
    WorkerInputSchema,
    WorkerPage,
    WorkerRunSync,
    _StoreSearchData,
)

__all__ = ["V2"]

PREFIX = "/api/v2"

# v1 request field names -> v2 query/body keys.
_PAGING = {"page_index": "offset", "page_size": "limit"}


def worker_path_id(worker: str) -> str:
    """A Worker id as v2 paths take it: ``owner/name`` is written ``owner~name`` (an encoded
    ``/`` would be routed as another segment)."""
    return worker.replace("/", "~")


def _bearer(api_key: str) -> tuple[str, str]:
    return "Authorization", f"Bearer {api_key}"


# -- reading v2 answers into the models every version shares --------------------------------


def _run_record(data: Any) -> Any:
    """A v2 run record: its status string becomes the v1 number the model reads, and is kept."""
    if isinstance(data, dict):
        status = data.get("status")
        if isinstance(status, str):
            data = dict(data)
            data["status"] = int(RunStatus.from_name(status))
            data["status_name"] = status
    return data


def _run_page(data: Any) -> Any:
    if isinstance(data, dict) and isinstance(data.get("list"), list):
        data = dict(data)
        data["list"] = [_run_record(item) for item in data["list"]]
    return data


# Epoch values at or above this are already milliseconds (1e11 s is the year 5138).
_MILLISECONDS_FROM = 100_000_000_000


def _as_epoch(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _seconds_to_ms(data: Any) -> Any:
    """Synchronous results count in seconds on v2; the shared model reads milliseconds.

    Values that are already milliseconds (the unit is not settled by the docs) are kept.
    """
    if isinstance(data, dict):
        data = dict(data)
        for key in ("execution_start_timestamp", "execution_end_timestamp"):
            number = _as_epoch(data.get(key))
            if number is not None:
                data[key] = number if number >= _MILLISECONDS_FROM else number * 1000
    return data


# Where a v2 list may put its items: the documented "list", or the keys other clients try.
_LIST_KEYS = ("list", "items", "records", "data", "results")


def _listed(key: str, then: Callable[[Any], Any] | None = None) -> Callable[[Any], Any]:
    """A ``pre`` that moves a page's items to ``key`` wherever the server put them (then ``then``)."""

    def pre(data: Any) -> Any:
        if isinstance(data, dict) and not isinstance(data.get(key), list):
            for name in _LIST_KEYS:
                items = data.get(name)
                if isinstance(items, list):
                    data = {k: v for k, v in data.items() if k != name}
                    data[key] = items
                    break
        return then(data) if then is not None else data

    return pre


def _log(data: Any) -> Any:
    """v2 log entries are objects like v1's, but one published example shows bare strings."""
    if isinstance(data, dict) and isinstance(data.get("list"), list):
        data = dict(data)
        data["list"] = [
            {"type": 0, "content": item} if isinstance(item, str) else item for item in data["list"]
        ]
    return data


def _queue_page(data: Any) -> Any:
    """Queue items name their state ``queue_status`` like a queued run, or plain ``status``."""
    if isinstance(data, dict) and isinstance(data.get("list"), list):
        items = []
        for item in data["list"]:
            if isinstance(item, dict) and "queue_status" not in item and "status" in item:
                item = dict(item)
                item["queue_status"] = item.pop("status")
            items.append(item)
        data = {**data, "list": items}
    return data


def _store_workers(data: _StoreSearchData) -> list[StoreWorker]:
    return list(data.scraper)


def _proxy_regions(data: _ProxyRegionList) -> list[ProxyRegion]:
    return list(data.items)


def _queue_results(data: _QueueResults) -> list[QueueActivation]:
    return list(data.results)


def _none(data: Any) -> None:
    return None


# -- writing requests the v2 way ------------------------------------------------------------


def _run_list(fields: dict[str, Any]) -> dict[str, Any]:
    fields = dict(fields)
    status = fields.pop("status", None)
    if status:  # 0 (all) and None send no filter
        fields["status"] = RunStatus.from_code(status).wire_name
    worker = fields.pop("scraper_slug", None)
    if worker is not None:
        fields["worker_id"] = worker_path_id(worker)
    return fields


def _export(fields: dict[str, Any]) -> dict[str, Any]:
    fields = dict(fields)
    keys = fields.pop("filter_keys", None)
    if keys:
        fields["filter_keys"] = ",".join(keys)
    return fields


def _with_worker_id(fields: dict[str, Any]) -> dict[str, Any]:
    worker = fields.get("worker_id")
    if isinstance(worker, str):
        fields = dict(fields)
        fields["worker_id"] = worker_path_id(worker)
    return fields


def _flat_schedule(fields: dict[str, Any]) -> dict[str, Any]:
    """A Task body's ``schedule`` becomes the ``schedule_*`` fields the API reads."""
    fields = dict(fields)
    schedule = fields.pop("schedule", None)
    if isinstance(schedule, dict):
        fields.update(schedule)
    return _with_worker_id(fields)


def _op(
    name: str,
    method: str,
    path: str,
    kind: Kind,
    parse: Callable[[Any], Any] | None = None,
    **options: Any,
) -> Operation[Any]:
    return Operation(name=name, method=method, path=PREFIX + path, kind=kind, parse=parse, **options)


_READ_QUERY: dict[str, Any] = {"in_query": True}
_RUN_ID: dict[str, Any] = {"not_found": RunNotFoundError}
_TASK_ID: dict[str, Any] = {"not_found": TaskNotFoundError}
_WORKER_ID: dict[str, Any] = {"not_found": WorkerNotFoundError, "path_id": worker_path_id}

_OPS = Operations(
    task_run=_op(
        "task.run",
        "POST",
        "/worker-tasks/{task_slug}/runs",
        Kind.RUN_START,
        Structure(StartedRun),
        keeps_request_id=True,
        **_TASK_ID,
    ),
    worker_run=_op(
        "worker.run",
        "POST",
        "/workers/{scraper_slug}/runs",
        Kind.RUN_START,
        Structure(StartedRun),
        wire_names=_PAGING,
        keeps_request_id=True,
        **_WORKER_ID,
    ),
    worker_run_sync=_op(
        "worker.run_sync",
        "POST",
        "/workers/{scraper_slug}/runs",
        Kind.RUN_START,
        Structure(WorkerRunSync, pre=_seconds_to_ms),
        wire_names=_PAGING,
        min_timeout=SYNC_RUN_TIMEOUT,
        **_WORKER_ID,
    ),
    run_abort=_op("run.abort", "POST", "/worker-runs/{run_slug}/abort", Kind.ACTION, body=False, **_RUN_ID),
    run_get=_op(
        "run.get", "GET", "/worker-runs/{run_slug}", Kind.READ, Structure(Run, pre=_run_record), **_RUN_ID
    ),
    run_list=_op(
        "run.list",
        "GET",
        "/worker-runs",
        Kind.READ,
        Structure(RunPage, pre=_run_page),
        wire_names=_PAGING,
        encode=_run_list,
        **_READ_QUERY,
    ),
    run_results=_op(
        "run.results",
        "GET",
        "/worker-runs/{run_slug}/result",
        Kind.READ,
        Structure(ResultPage),
        wire_names=_PAGING,
        **_READ_QUERY,
        **_RUN_ID,
    ),
    run_log=_op(
        "run.log", "GET", "/worker-runs/{run_slug}/log", Kind.READ, Structure(RunLog, pre=_log), **_RUN_ID
    ),
    # Creates a file but no run and no charge: retrying it at worst makes a second file.
    run_export=_op(
        "run.export",
        "GET",
        "/worker-runs/{run_slug}/result/export",
        Kind.READ,
        Structure(ExportLink),
        encode=_export,
        **_READ_QUERY,
        **_RUN_ID,
    ),
    run_rerun=_op(
        "run.rerun",
        "POST",
        "/worker-runs/{run_slug}/rerun",
        Kind.RUN_START,
        Structure(StartedRun),
        keeps_request_id=True,
        **_RUN_ID,
    ),
    account_info=_op("account.info", "GET", "/users/account", Kind.READ, Structure(AccountInfo)),
    worker_get=_op("worker.get", "GET", "/workers/{slug}", Kind.READ, Structure(Worker), **_WORKER_ID),
    store_search=_op(
        "store.search",
        "GET",
        "/store",
        Kind.READ,
        Structure(_StoreSearchData, _store_workers),
        auth=False,
        wire_names={"search": "keyword", "page_index": "offset"},
        **_READ_QUERY,
    ),
    proxy_regions=_op(
        "proxy.regions",
        "GET",
        "/proxy/region",
        Kind.READ,
        Structure(_ProxyRegionList, _proxy_regions),
        auth=False,
        **_READ_QUERY,
    ),
    run_last=_op(
        "run.last", "GET", "/worker-runs/last", Kind.READ, Structure(Run, pre=_run_record), **_RUN_ID
    ),
    task_list=_op(
        "task.list",
        "GET",
        "/worker-tasks",
        Kind.READ,
        Structure(TaskPage, pre=_listed("list")),
        wire_names=_PAGING,
        encode=_with_worker_id,
        **_READ_QUERY,
    ),
    task_get=_op("task.get", "GET", "/worker-tasks/{task_slug}", Kind.READ, Structure(Task), **_TASK_ID),
    # Creating, changing and deleting a Task bill nothing, but a second create is a second
    # Task and a second delete a "not found": retried only when certainly not done.
    task_create=_op(
        "task.create",
        "POST",
        "/worker-tasks",
        Kind.ACTION,
        Structure(Task),
        encode=_flat_schedule,
        not_found=WorkerNotFoundError,
    ),
    task_update=_op(
        "task.update",
        "PUT",
        "/worker-tasks/{task_slug}",
        Kind.ACTION,
        _none,
        encode=_flat_schedule,
        **_TASK_ID,
    ),
    task_delete=_op(
        "task.delete", "DELETE", "/worker-tasks/{task_slug}", Kind.ACTION, _none, body=False, **_TASK_ID
    ),
    task_input_get=_op(
        "task.input", "GET", "/worker-tasks/{task_slug}/input", Kind.READ, Structure(TaskInput), **_TASK_ID
    ),
    task_input_update=_op(
        "task.update_input", "PUT", "/worker-tasks/{task_slug}/input", Kind.ACTION, _none, **_TASK_ID
    ),
    worker_list=_op(
        "worker.list",
        "GET",
        "/workers",
        Kind.READ,
        Structure(WorkerPage, pre=_listed("scraper")),
        wire_names=_PAGING,
        **_READ_QUERY,
    ),
    worker_input_schema=_op(
        "worker.input_schema",
        "GET",
        "/workers/{slug}/input-schema",
        Kind.READ,
        Structure(WorkerInputSchema),
        auth=False,
        **_WORKER_ID,
    ),
    # A queued run is billed once activated: like a start, never re-sent when unknown.
    worker_queue=_op(
        "worker.queue",
        "POST",
        "/workers/{scraper_slug}/queued-runs",
        Kind.RUN_START,
        Structure(QueuedRun),
        wire_names=_PAGING,
        keeps_request_id=True,
        reconcile_with="queue.list",
        **_WORKER_ID,
    ),
    queue_list=_op(
        "queue.list",
        "GET",
        "/run-queue/items",
        Kind.READ,
        Structure(QueuePage, pre=_listed("list", _queue_page)),
        wire_names=_PAGING,
        **_READ_QUERY,
    ),
    # Activation starts billed runs: never re-sent after an unknown outcome.
    queue_activate=_op(
        "queue.activate",
        "POST",
        "/run-queue/items/activate",
        Kind.RUN_START,
        Structure(_QueueResults, _queue_results),
        reconcile_with="queue.list",
    ),
    queue_release=_op(
        "queue.release",
        "POST",
        "/run-queue/items/release",
        Kind.ACTION,
        Structure(_QueueResults, _queue_results),
    ),
)

V2 = Dialect(
    name="v2",
    ops=_OPS,
    auth_header=_bearer,
    max_page_size=V2_MAX_PAGE_SIZE,
    callback_required=frozenset(),
)
"""The v2 dialect."""
