"""The JSON objects v2 answers with: run records, result pages, synchronous answers, Workers,
input schemas, task records and queue items.

They show the same ledger records v1 shows, in v2's shapes: string run statuses, origin
``openapi`` for API runs, result headers of ``key`` and ``label``, timestamps in seconds,
and ids of Workers and Tasks as integers beyond 2**53.
"""

from __future__ import annotations

from typing import Any

from ._catalog import RESULT_HEADERS, result_row
from ._records import FAILED, SUCCEEDED, FakeQueueItem, FakeRun, FakeTask, FakeWorker
from ._v2_wire import STATUS_NAMES

__all__ = [
    "input_schema",
    "queue_record",
    "results_page",
    "run_record",
    "sync_answer",
    "task_record",
    "worker_detail",
    "worker_item",
]

_HEADERS = [{"key": header["key"], "label": header["label"]} for header in RESULT_HEADERS]
# The ledger says "api" for runs started through the API, as v1 shows it; v2 says "openapi".
_ORIGINS = {"api": "openapi"}
# JSON-schema keywords a Worker property maps to (the rest stay as extensions, e.g. "editor").
_SCHEMA_KEYS = ("type", "title", "description", "default", "editor", "enum", "items", "minimum", "maximum")


def run_record(run: FakeRun, now: float, *, with_err: bool) -> dict[str, Any]:
    """A run record; the list shows ``err_msg``, the detail does not."""
    state = run.state(now)
    record: dict[str, Any] = {
        "duration": state.duration,
        "finished_at": state.finished_at,
        "origin": _ORIGINS.get(run.origin, run.origin),
        "results": state.results,
        "scraper_slug": run.scraper_slug,
        "scraper_title": run.scraper_title,
        "slug": run.slug,
        "started_at": state.started_at,
        "status": STATUS_NAMES[state.status],
        "traffic": state.traffic,
        "usage": state.usage,
        "version": run.version,
    }
    if with_err:
        record["err_msg"] = state.err_msg
    return record


def results_page(run: FakeRun, count: int, page: int, size: int) -> dict[str, Any]:
    """Rows of page ``page`` (1-based) of ``size`` rows, out of the ``count`` the run has."""
    start = (page - 1) * size
    stop = min(start + size, count)
    return {
        "count": count,
        "headers": _HEADERS if count else [],
        "list": [result_row(run.slug, index) for index in range(start, stop)],
        "page_index": page,
        "page_size": size,
    }


def sync_answer(run: FakeRun, now: float, page: int, size: int, *, rerun: bool) -> dict[str, Any]:
    """The answer of a synchronous start once it stopped waiting at ``now``.

    Timestamps are Unix seconds; ``run_status`` is ``succeeded``/``failed`` once final and
    ``running`` before. A rerun's answer adds ``is_finished`` and has no
    ``error_message``/``result_message``.
    """
    state = run.state(now)
    final = state.status in (SUCCEEDED, FAILED)
    end = int(run.created_at_wall + run.final_at - run.created_at) if final else 0
    answer: dict[str, Any] = {
        "run_slug": run.slug,
        "run_status": STATUS_NAMES[state.status] if final else "running",
        "execution_start_timestamp": int(run.created_at_wall),
        "execution_end_timestamp": end,
        "running_duration": state.duration if final else int(now - run.created_at),
    }
    if rerun:
        answer["is_finished"] = final
    else:
        answer["error_message"] = state.err_msg
        answer["result_message"] = ""
    answer["results"] = results_page(run, state.results, page, size)
    return answer


def worker_item(worker: FakeWorker) -> dict[str, Any]:
    """A Worker as the store and the list of own Workers show it."""
    return {
        "slug": worker.store_slug,
        "name": worker.name,
        "path": worker.path,
        "title": worker.title,
        "username": worker.username,
        "description": worker.description,
    }


def worker_detail(worker: FakeWorker) -> dict[str, Any]:
    """A Worker's detail: its names, latest version, readme and input form."""
    return {
        "name": worker.name,
        "username": worker.username,
        "version": worker.version,
        "readme": worker.readme,
        "parameters": {"system": dict(worker.system), "custom": {"properties": worker.properties}},
    }


def input_schema(worker: FakeWorker) -> dict[str, Any]:
    """A JSON-schema-like object of the Worker's input properties (what goes in ``parameters.custom``)."""
    properties = {
        prop["name"]: {key: prop[key] for key in _SCHEMA_KEYS if key in prop} for prop in worker.properties
    }
    return {
        "title": worker.title,
        "type": "object",
        "properties": properties,
        "required": [prop["name"] for prop in worker.properties if prop.get("required")],
    }


def task_record(task: FakeTask, worker: FakeWorker | None, run_times: int) -> dict[str, Any]:
    """A saved Task as get and list show it; ``last_run_id`` is the newest run's slug ("" if none)."""
    schedule = task.schedule
    return {
        "id": task.id,
        "slug": task.slug,
        "worker_id": worker.id if worker is not None else 0,
        "worker_title": worker.title if worker is not None else "",
        "worker_slug": worker.store_slug if worker is not None else task.scraper_slug,
        "worker_path": worker.path if worker is not None else "",
        "version": task.version,
        # Listed by the platform without a meaning; the fake repeats the Worker's id.
        "platform_actors_id": worker.id if worker is not None else 0,
        "title": task.title,
        "description": task.description,
        "input": task.input,
        "run_times": run_times,
        "last_run_id": task.last_run_slug,
        "last_modified_at": task.updated_at,
        "schedule_enabled": schedule.enabled,
        "schedule_type": schedule.type,
        "schedule_time": schedule.time,
        "schedule_weekday": schedule.weekday,
        "schedule_day": schedule.day,
        "schedule_once_date": schedule.once_date,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
    }


def queue_record(item: FakeQueueItem, worker: FakeWorker | None) -> dict[str, Any]:
    """A run queue item as the queue list shows it."""
    return {
        "queue_ref": item.ref,
        "queue_status": item.status,
        "worker_slug": worker.store_slug if worker is not None else item.scraper_slug,
        "worker_path": worker.path if worker is not None else "",
        "worker_title": worker.title if worker is not None else "",
        "version": item.version,
        "input": item.input,
        "callback_url": item.callback_url or "",
        "reason": item.reason,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }
