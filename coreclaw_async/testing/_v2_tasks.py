"""v2 operations on saved Tasks: list, create, get, update, delete, read and replace the input, run.

Tasks live in the shared ledger, so a Task created here runs through v1's ``task/run`` and
a Task added for v1 shows here. The input is kept exactly as sent: the documented form is
``{"parameters": {"custom": {...}}}``; a flat input is stored too, but a start of that
Task is refused with 11000 "<field> is required" for the first required Worker field it
lacks (as the platform refuses it). Updates are partial (absent fields keep their value)
and touch only title, description and schedule; the input has its own operation. A
missing Task (or another user's) is 60001; a second delete of a Task is 60001 too.
"""

from __future__ import annotations

import time

from . import _wire as wire
from ._http import Args
from ._records import FakeTask, TaskSchedule
from ._v2_args import opt_text, paging, read_schedule, req_text, unprocessable
from ._v2_base import Ids, Op, V2Base, read_start
from ._v2_records import task_record

__all__ = ["TaskOps"]


def _worker_ident(args: Args) -> str | int:
    value = args.get("worker_id")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return req_text(args, "worker_id")


def _optional_text(args: Args, key: str) -> str | None:
    """A string field an update may set to anything, "" included; None if absent or null."""
    value = args.get(key)
    if value is not None and not isinstance(value, str):
        raise unprocessable(f"{key} must be a string")
    return value


class TaskOps(V2Base):
    """The saved Tasks of the caller."""

    def ops(self) -> list[Op]:
        """The operations of this group."""
        return [
            Op("GET", "worker-tasks", self._list),
            Op("POST", "worker-tasks", self._create),
            Op("GET", "worker-tasks/{task}", self._get),
            Op("PUT", "worker-tasks/{task}", self._update),
            Op("DELETE", "worker-tasks/{task}", self._delete),
            Op("GET", "worker-tasks/{task}/input", self._get_input),
            Op("PUT", "worker-tasks/{task}/input", self._update_input),
            Op("POST", "worker-tasks/{task}/runs", self._run, body="optional"),
        ]

    def _record(self, task: FakeTask) -> dict[str, object]:
        worker = self._ledger.workers.get(task.scraper_slug)
        return task_record(task, worker, self._ledger.runs_by_task.get(task.slug, 0))

    async def _list(self, args: Args, path: str, ids: Ids) -> bytes:
        worker_id = opt_text(args, "worker_id")
        keyword = (opt_text(args, "keyword") or "").strip().lower()
        page, size = paging(args, query=True)
        await self._http.checkpoint(path)
        scraper_slug: str | None = None
        if worker_id is not None:
            worker = self._ledger.find_worker(worker_id)
            # A filter naming no Worker matches no Task.
            scraper_slug = worker.slug if worker is not None else ""
        found = [
            task
            for task in reversed(self._ledger.tasks.values())
            if not task.foreign
            and scraper_slug in (None, task.scraper_slug)
            and (not keyword or keyword in task.title.lower() or keyword in task.description.lower())
        ]
        start = (page - 1) * size
        records = [self._record(task) for task in found[start : start + size]]
        return wire.dumps({"count": len(found), "list": records, "page_index": page, "page_size": size})

    async def _create(self, args: Args, path: str, ids: Ids) -> bytes:
        ident = _worker_ident(args)
        title = req_text(args, "title")
        input_ = args.get("input")
        self.check_input(input_)
        description = _optional_text(args, "description") or ""
        version = opt_text(args, "version")
        schedule = read_schedule(args, TaskSchedule())
        await self._http.checkpoint(path)
        worker = self.worker(ident)
        task = self._ledger.create_task(
            worker,
            title=title,
            input_=input_,
            version=self.check_version(worker, version),
            description=description,
        )
        task.schedule = schedule
        return wire.dumps({"slug": task.slug})

    async def _get(self, args: Args, path: str, ids: Ids) -> bytes:
        await self._http.checkpoint(path)
        return wire.dumps(self._record(self.task(ids["task"])))

    async def _update(self, args: Args, path: str, ids: Ids) -> bytes:
        title = args.get("title")
        if title is not None:
            title = req_text(args, "title")
        description = _optional_text(args, "description")
        await self._http.checkpoint(path)
        task = self.task(ids["task"])
        # Checked against the Task's schedule, since an update may change part of it.
        task.schedule = read_schedule(args, task.schedule)
        if title is not None:
            task.title = title
        if description is not None:
            task.description = description
        task.updated_at = int(time.time())
        return b""

    async def _delete(self, args: Args, path: str, ids: Ids) -> bytes:
        await self._http.checkpoint(path)
        self._ledger.delete_task(self.task(ids["task"]).slug)
        return b""

    async def _get_input(self, args: Args, path: str, ids: Ids) -> bytes:
        await self._http.checkpoint(path)
        task = self.task(ids["task"])
        return wire.dumps({"input": task.input, "version": task.version})

    async def _update_input(self, args: Args, path: str, ids: Ids) -> bytes:
        input_ = args.get("input")
        self.check_input(input_)
        version = opt_text(args, "version")
        await self._http.checkpoint(path)
        task = self.task(ids["task"])
        if version is not None:
            task.version = self.check_version(self.worker(task.scraper_slug), version)
        task.input = input_
        task.updated_at = int(time.time())
        return b""

    async def _run(self, args: Args, path: str, ids: Ids) -> bytes:
        start = read_start(args)
        await self._http.checkpoint(path)
        task = self.task(ids["task"])
        worker = self._ledger.workers.get(task.scraper_slug)
        self.check_runnable(worker, task.input)
        self.check_can_start()
        run = self._ledger.create_run(
            task_slug=task.slug,
            worker=worker,
            scraper_slug=task.scraper_slug,
            version=task.version,
            callback_url=start.callback_url,
            input_=task.input,
        )
        return await self.answer_start(run, start)
