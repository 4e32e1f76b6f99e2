"""``client.tasks``: start runs of saved Tasks, one at a time or fanned out; on API v2, manage them."""

from __future__ import annotations

import asyncio
import builtins
import logging
import operator
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._constants import DEFAULT_MAX_PAGES, LOGGER_NAME, MAX_CONCURRENCY, V2_MAX_PAGE_SIZE
from .._outcomes import KeptOutcomes, outcomes_in_order
from .._pagination import KeyedIterator, check_page_args
from .._validation import (
    require_bool,
    require_callback_url,
    require_int,
    require_optional_int,
    require_optional_slug,
    require_optional_timeout,
    require_slug,
    require_text,
)
from ..callbacks import CallbackReceiver
from ..errors import CoreClawError, InvalidParameterError, NotFoundError
from ..fanout import TaskRunBatch, TaskRunOutcome, TaskRunRequests
from ..models.runs import StartedRun
from ..models.tasks import (
    Schedule,
    Task,
    TaskCreateRequest,
    TaskInput,
    TaskInputRequest,
    TaskListRequest,
    TaskPage,
    TaskRequest,
    TaskRunRequest,
    TaskUpdateRequest,
)
from ..models.workers import WorkerInput
from ._base import Resource
from ._inputs import wrapped_input
from ._launchers import ReceiverLauncher, TaskLauncher

if TYPE_CHECKING:
    from .._session import SessionManager

logger = logging.getLogger(LOGGER_NAME)

__all__ = ["AsyncTasks"]


class AsyncTasks(Resource):
    """Saved Tasks: a Worker plus a preset input, started by slug."""

    __slots__ = ("_plain",)

    def __init__(self, manager: SessionManager, *, callback_url: str | None) -> None:
        # The default URL is checked once, here, so that no fan-out item checks it again.
        if callback_url is not None:
            require_callback_url("callback_url", callback_url)
        super().__init__(manager, callback_url=callback_url)
        # The launcher of calls that override nothing: built once, not per call.
        self._plain = TaskLauncher(
            manager, default_url=callback_url, callback_url=None, timeout=None, max_retries=None
        )

    def _launcher(
        self,
        *,
        callback_url: str | None,
        callback: CallbackReceiver | None,
        timeout: float | None,
        max_retries: int | None,
    ) -> TaskLauncher:
        if callback is None:
            if callback_url is None and timeout is None and max_retries is None:
                return self._plain
            return TaskLauncher(
                self._manager,
                default_url=self._callback_url,
                callback_url=callback_url,
                timeout=timeout,
                max_retries=max_retries,
            )
        if not isinstance(callback, CallbackReceiver):
            raise InvalidParameterError(
                "callback", f"must be a CallbackReceiver, got {type(callback).__name__}"
            )
        if callback_url is not None:
            raise InvalidParameterError("callback", "pass either callback= or callback_url=, not both")
        return ReceiverLauncher(self._manager, callback, timeout=timeout, max_retries=max_retries)

    def prepare(self, task: str | TaskRunRequest, *, callback_url: str | None = None) -> TaskRunRequest:
        """Validate ``task`` and fill in the callback URL, without sending anything.

        The callback URL is the first of: the request's own, ``callback_url``, the
        client's default. Raises ``InvalidParameterError`` naming the bad field.
        """
        launcher = self._launcher(callback_url=callback_url, callback=None, timeout=None, max_retries=None)
        return launcher.prepare(task)

    async def run(
        self,
        task_slug: str | TaskRunRequest,
        *,
        callback_url: str | None = None,
        callback: CallbackReceiver | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> StartedRun:
        """Start a run of the saved Task ``task_slug`` and return it (``POST /api/v1/task/run`` on v1).

        API v1 requires a callback URL here; ``callback_url`` falls back to the client's.
        With ``callback=receiver`` (a :class:`~coreclaw_async.callbacks.CallbackReceiver`)
        the start uses a URL minted by the receiver instead, and the run is bound to it
        before this returns, so ``receiver.wait(run.run_slug)`` and
        ``client.runs.wait(run.run_slug, receiver=receiver)`` wake on its notices.
        The start is retried only when nothing can have been created (not sent, rate
        limited); if it was sent and no verdict came back, ``RunStartUnknownError`` is
        raised and it is not re-sent.

        Raises:
            InvalidParameterError: blank slug, missing/invalid callback URL, both
                ``callback`` and ``callback_url``, a closed receiver, a bad ``timeout`` or
                ``max_retries`` (nothing sent).
            CoreClawAPIError: the server refused the start: ``TaskNotFoundError``,
                ``AuthenticationError``, ``RateLimitError``, ``InsufficientBalanceError``, ...
                (see ``coreclaw_async.errors``).
            RunStartUnknownError: sent, outcome unknown.

        Example::

            run = await client.tasks.run("01KSFDXRNYGKT3NNE11EMR4W5X")
            print(run.run_slug)
        """
        launcher = self._launcher(
            callback_url=callback_url, callback=callback, timeout=timeout, max_retries=max_retries
        )
        return await launcher.start(launcher.prepare(task_slug))

    def run_many(
        self,
        requests: TaskRunRequests,
        *,
        callback_url: str | None = None,
        callback: CallbackReceiver | None = None,
        concurrency: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> TaskRunBatch:
        """Start a run for every item of ``requests``, ``concurrency`` at a time.

        ``requests`` is any iterable or async iterable of task slugs or ``TaskRunRequest``
        objects; it is consumed lazily, so a generator of a million items is fine (memory
        grows with ``concurrency``, not with the input). The result is a
        :class:`~coreclaw_async.fanout.TaskRunBatch`: iterate it for one
        :class:`~coreclaw_async.fanout.TaskRunOutcome` per item, in completion order. A
        failed item never stops the batch: it yields an outcome with ``error`` set
        (``InvalidParameterError`` and ``started=False`` for a bad slug, nothing sent).

        ``concurrency`` defaults to the client's ``max_connections``. ``callback_url``
        applies to items without their own; ``timeout`` and ``max_retries`` apply to each
        item's start as in :meth:`run`, sharing the client's limiter with every other call.
        With ``callback=receiver`` every item without its own URL gets one minted by the
        receiver and each started run is bound to it (see :meth:`run`); pass the started
        slugs to ``client.runs.wait_many(..., receiver=receiver)`` to learn how they end.
        Nothing is sent until the batch is entered or iterated.

        Raises:
            InvalidParameterError: ``concurrency``, ``timeout``, ``max_retries`` or
                ``callback_url`` is invalid, or ``requests`` is not iterable (a lone string is
                refused too).

        Example::

            async with client.tasks.run_many(slugs, concurrency=20) as batch:
                async for outcome in batch:
                    if outcome.started is None:
                        log_for_reconciliation(outcome.request)
        """
        return self._batch(
            requests,
            callback_url=callback_url,
            callback=callback,
            concurrency=concurrency,
            timeout=timeout,
            max_retries=max_retries,
        )

    def _batch(
        self,
        requests: TaskRunRequests,
        *,
        callback_url: str | None,
        callback: CallbackReceiver | None,
        concurrency: int | None,
        timeout: float | None,
        max_retries: int | None,
        records: KeptOutcomes | None = None,
    ) -> TaskRunBatch:
        launcher = self._launcher(
            callback_url=callback_url, callback=callback, timeout=timeout, max_retries=max_retries
        )
        return TaskRunBatch(
            launcher,
            requests,
            concurrency=min(self._manager.max_connections, MAX_CONCURRENCY)
            if concurrency is None
            else concurrency,
            records=records,
        )

    async def run_all(
        self,
        requests: TaskRunRequests,
        *,
        callback_url: str | None = None,
        callback: CallbackReceiver | None = None,
        concurrency: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        on_cancel: Callable[[builtins.list[TaskRunOutcome]], None] | None = None,
    ) -> builtins.list[TaskRunOutcome]:
        """Like :meth:`run_many`, but wait for every item and return the outcomes in input order.

        The list holds one outcome per item, so it grows with the input; use
        :meth:`run_many` for very large inputs. If the awaiting task is cancelled, launches
        stop at once, everything is released and ``CancelledError`` propagates. Before it
        does, ``on_cancel`` (if given) is called with every outcome known at that moment, in
        input order: the finished ones and, with ``started=None``, the starts that were in
        flight, so you can reconcile them. Items never taken from the input get no outcome.

        Raises:
            InvalidParameterError: as :meth:`run_many`, or ``on_cancel`` is not callable.

        Example::

            outcomes = await client.tasks.run_all(["01KSF...", "01KSG..."])
            started = [o.run.run_slug for o in outcomes if o.run is not None]
        """
        if on_cancel is not None and not callable(on_cancel):
            raise InvalidParameterError("on_cancel", f"must be callable, got {type(on_cancel).__name__}")
        # The batch appends each outcome (or its compact record) here as it finishes: no hand-off
        # through its buffer, and nothing more per item for the garbage collector to walk.
        records = KeptOutcomes()
        batch = self._batch(
            requests,
            callback_url=callback_url,
            callback=callback,
            concurrency=concurrency,
            timeout=timeout,
            max_retries=max_retries,
            records=records,
        )
        try:
            async with batch:
                async for _ in batch:  # yields nothing; ends when every item has its outcome
                    pass
        except asyncio.CancelledError:
            finished = outcomes_in_order(records) + batch.undelivered
            if on_cancel is not None:
                known = sorted(finished + batch.unreconciled, key=operator.attrgetter("index"))
                try:
                    on_cancel(known)
                except Exception:  # the caller's hook must not hide the cancellation
                    logger.exception("run_all: the on_cancel callback raised")
            logger.warning(
                "run_all cancelled after %d of %d item(s): %d run(s) started, %d in flight (outcome unknown)",
                len(finished),
                batch.taken,
                sum(o.started is True for o in finished),
                len(batch.unreconciled),
            )
            raise
        return outcomes_in_order(records)

    # -- saved Task management (API v2) ---------------------------------------------------

    async def list_page(
        self,
        *,
        page_index: int = 1,
        page_size: int = V2_MAX_PAGE_SIZE,
        worker: str | None = None,
        keyword: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> TaskPage:
        """One page of your saved Tasks (``GET /api/v2/worker-tasks``), optionally of one
        ``worker`` or matching ``keyword``.

        Raises:
            UnsupportedOperationError: on API v1. InvalidParameterError: bad arguments.
        """
        op = self._dialect.require(self._ops.task_list, "tasks.list_page")
        request = TaskListRequest(
            page_index=require_int("page_index", page_index, minimum=1),
            page_size=self._dialect.check_page_size(
                "page_size", require_int("page_size", page_size, minimum=1)
            ),
            worker_id=require_optional_slug("worker", worker),
            keyword=None if keyword is None else require_text("keyword", keyword),
        )
        return await self._manager.call(op, request, timeout=timeout, max_retries=max_retries)

    def list(
        self,
        *,
        worker: str | None = None,
        keyword: str | None = None,
        page_size: int = V2_MAX_PAGE_SIZE,
        max_pages: int = DEFAULT_MAX_PAGES,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> KeyedIterator[Task, TaskPage]:
        """Iterate over every saved Task (optionally of one ``worker`` or matching ``keyword``).

        Example::

            async for task in client.tasks.list(worker="coreclaw/google-maps-scraper"):
                print(task.task_slug, task.title)
        """
        op = self._dialect.require(self._ops.task_list, "tasks.list")
        check_page_args(page_size, max_pages)
        require_optional_timeout("timeout", timeout)
        require_optional_int("max_retries", max_retries, minimum=0)
        worker_id = require_optional_slug("worker", worker)
        text = None if keyword is None else require_text("keyword", keyword)
        size = self._dialect.page_size_for(page_size)

        async def fetch(page_index: int) -> TaskPage:
            request = TaskListRequest(
                page_index=page_index, page_size=size, worker_id=worker_id, keyword=text
            )
            return await self._manager.call(op, request, timeout=timeout, max_retries=max_retries)

        return KeyedIterator(fetch, page_size=size, max_pages=max_pages, what="tasks.list", key=_task_key)

    async def get(self, task: str, *, timeout: float | None = None, max_retries: int | None = None) -> Task:
        """A saved Task: its Worker, input, schedule and run count (``GET /api/v2/worker-tasks/{task}``).

        Raises:
            UnsupportedOperationError: on API v1. TaskNotFoundError: no such Task.
        """
        op = self._dialect.require(self._ops.task_get, "tasks.get")
        request = TaskRequest(require_slug("task", task))
        return await self._manager.call(op, request, timeout=timeout, max_retries=max_retries)

    async def create(
        self,
        worker: str,
        *,
        title: str,
        input: Mapping[str, Any] | WorkerInput,
        description: str | None = None,
        version: str | None = None,
        schedule: Schedule | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Task:
        """Save a new Task of ``worker`` (``POST /api/v2/worker-tasks``) and return it, read back
        whole (the create answers with the new slug only).

        ``input`` is the Worker's own fields (or a ``WorkerInput``, or the wire shape); it is
        always saved wrapped as ``{"parameters": {"custom": ...}}``, the form a saved Task
        needs to stay runnable. A create is not re-sent once it may have reached the server
        (a second one would be a second Task).

        Raises:
            UnsupportedOperationError: on API v1. InvalidParameterError: bad arguments.
            WorkerNotFoundError: no such Worker.

        Example::

            task = await client.tasks.create(
                "coreclaw/google-maps-scraper",
                title="Coffee in Berlin",
                input={"searchTerms": ["coffee"], "location": "Berlin"},
                schedule=Schedule.daily("07:00"),
            )
            run = await client.tasks.run(task.task_slug)
        """
        op = self._dialect.require(self._ops.task_create, "tasks.create")
        request = TaskCreateRequest(
            worker_id=require_slug("worker", worker),
            title=require_text("title", title),
            input=wrapped_input(input),
            description=_optional_text("description", description),
            version=require_optional_slug("version", version),
            schedule=_schedule_fields(schedule),
        )
        created = await self._manager.call(op, request, timeout=timeout, max_retries=max_retries)
        # The create answers with the new slug; the whole Task is one read away.
        try:
            return await self.get(created.task_slug, timeout=timeout, max_retries=max_retries)
        except CoreClawError as error:
            logger.warning("task %s was created but could not be read back: %s", created.task_slug, error)
            return created

    async def update(
        self,
        task: str,
        *,
        title: str | None = None,
        description: str | None = None,
        schedule: Schedule | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        """Change a Task's title, description or schedule (``PUT /api/v2/worker-tasks/{task}``);
        what is not given stays. Change its input with :meth:`update_input`.

        Raises:
            UnsupportedOperationError: on API v1. InvalidParameterError: nothing to change, or
                a bad argument. TaskNotFoundError: no such Task.
        """
        op = self._dialect.require(self._ops.task_update, "tasks.update")
        if title is None and description is None and schedule is None:
            raise InvalidParameterError("update", "give at least one of title, description, schedule")
        request = TaskUpdateRequest(
            task_slug=require_slug("task", task),
            title=None if title is None else require_text("title", title),
            description=_optional_text("description", description),
            schedule=_schedule_fields(schedule),
        )
        await self._manager.call(op, request, timeout=timeout, max_retries=max_retries)

    async def delete(
        self,
        task: str,
        *,
        missing_ok: bool = False,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        """Delete a saved Task (``DELETE /api/v2/worker-tasks/{task}``).

        A second delete is answered "not found"; ``missing_ok=True`` makes that a success.

        Raises:
            UnsupportedOperationError: on API v1. TaskNotFoundError: no such Task (unless
                ``missing_ok``).
        """
        op = self._dialect.require(self._ops.task_delete, "tasks.delete")
        request = TaskRequest(require_slug("task", task))
        missing = require_bool("missing_ok", missing_ok)
        try:
            await self._manager.call(op, request, timeout=timeout, max_retries=max_retries)
        except NotFoundError:
            if not missing:
                raise

    async def get_input(
        self, task: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> TaskInput:
        """A saved Task's input and Worker version (``GET /api/v2/worker-tasks/{task}/input``).

        Raises:
            UnsupportedOperationError: on API v1. TaskNotFoundError: no such Task.
        """
        op = self._dialect.require(self._ops.task_input_get, "tasks.get_input")
        request = TaskRequest(require_slug("task", task))
        return await self._manager.call(op, request, timeout=timeout, max_retries=max_retries)

    async def update_input(
        self,
        task: str,
        input: Mapping[str, Any] | WorkerInput,
        *,
        version: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        """Replace a saved Task's input (``PUT /api/v2/worker-tasks/{task}/input``), sent wrapped
        as ``{"parameters": {"custom": ...}}``; ``version`` pins a Worker version.

        Raises:
            UnsupportedOperationError: on API v1. InvalidParameterError: bad arguments.
            TaskNotFoundError: no such Task.
        """
        op = self._dialect.require(self._ops.task_input_update, "tasks.update_input")
        request = TaskInputRequest(
            task_slug=require_slug("task", task),
            input=wrapped_input(input),
            version=require_optional_slug("version", version),
        )
        await self._manager.call(op, request, timeout=timeout, max_retries=max_retries)


def _task_key(task: Task) -> str:
    return task.task_slug


def _optional_text(field: str, value: str | None) -> str | None:
    return None if value is None else require_text(field, value, allow_empty=True)


def _schedule_fields(schedule: Schedule | None) -> dict[str, Any] | None:
    if schedule is None:
        return None
    if not isinstance(schedule, Schedule):
        raise InvalidParameterError("schedule", f"must be a Schedule, got {type(schedule).__name__}")
    return schedule.check().to_wire()
