"""``client.tasks``: start runs of saved Tasks, one at a time or fanned out."""

from __future__ import annotations

import asyncio
import logging
import operator
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from .. import _v1
from .._constants import LOGGER_NAME
from .._validation import require_callback_url, require_slug
from ..fanout import TaskRunBatch, TaskRunOutcome, TaskRunRequests
from ..models.tasks import TaskRun, TaskRunRequest
from ._base import Resource

if TYPE_CHECKING:
    from .._session import SessionManager
    from ..callbacks import CallbackReceiver

logger = logging.getLogger(LOGGER_NAME)

__all__ = ["AsyncTasks"]


class AsyncTasks(Resource):
    """Saved Tasks: a Worker plus a preset input, started by slug."""

    __slots__ = ()

    def __init__(self, session: SessionManager, *, callback_url: str | None) -> None:
        # The default URL is checked once, here (AsyncCoreClaw has checked it too), so that
        # prepare() need not check it again for every item of a fan-out.
        if callback_url is not None:
            require_callback_url("callback_url", callback_url)
        super().__init__(session, callback_url=callback_url)

    def prepare(self, task: str | TaskRunRequest, *, callback_url: str | None = None) -> TaskRunRequest:
        """Validate ``task`` and fill in the callback URL, without sending anything.

        The callback URL is the first of: the request's own, ``callback_url``, the
        client's default. Raises ``InvalidParameterError`` naming the bad field.
        """
        if isinstance(task, TaskRunRequest):
            slug, own_url = task.task_slug, task.callback_url
        else:
            slug, own_url = task, None
        require_slug("task_slug", slug)
        url = own_url or callback_url or self._callback_url
        if url is None or url is not self._callback_url:  # the default was checked in __init__
            require_callback_url("callback_url", url)
        if isinstance(task, TaskRunRequest) and own_url == url:
            return task
        return TaskRunRequest(slug, url)  # (task_slug, callback_url): positional is cheaper

    async def run(
        self,
        task_slug: str | TaskRunRequest,
        *,
        callback_url: str | None = None,
        callback: CallbackReceiver | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> TaskRun:
        """Start a run of the saved Task ``task_slug`` and return it (``POST /api/v1/task/run``).

        CoreClaw requires a callback URL; ``callback_url`` falls back to the client's.
        With ``callback=receiver`` (a :class:`~coreclaw_async.callbacks.CallbackReceiver`)
        the start uses a URL minted by the receiver instead, and the run is bound to it
        before this returns, so ``receiver.wait(run.run_slug)`` and
        ``client.runs.wait(run.run_slug, receiver=receiver)`` wake on its notices.
        The start is retried only when nothing can have been created (not sent, rate
        limited); if it was sent and no verdict came back, ``RunStartUnknownError`` is
        raised and it is not re-sent.

        Raises:
            InvalidParameterError: blank slug, missing/invalid callback URL, both
                ``callback`` and ``callback_url``, or a closed receiver (nothing sent).
            TaskNotFoundError, AuthenticationError, RateLimitError, InsufficientBalanceError,
            ...: the server refused the start (see ``coreclaw_async.errors``).
            RunStartUnknownError: sent, outcome unknown.

        Example::

            run = await client.tasks.run("01KSFDXRNYGKT3NNE11EMR4W5X")
            print(run.run_slug)
        """
        tasks = self if callback is None else _with_receiver(self, callback, callback_url)
        request = tasks.prepare(task_slug, callback_url=callback_url)
        return await tasks._start(request, timeout=timeout, max_retries=max_retries)

    def _start(
        self, request: TaskRunRequest, *, timeout: float | None, max_retries: int | None
    ) -> Coroutine[Any, Any, TaskRun]:
        """Send a request that ``prepare`` made (no second validation); ``run_many`` uses it too.

        Returns the session's coroutine itself rather than wrapping it in one more (the hot
        path of ``run_many``); an override may still be an ``async def``.
        """
        return self._session.call(_v1.TASK_RUN, request, timeout=timeout, max_retries=max_retries)

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
            InvalidParameterError: ``concurrency``, ``timeout`` or ``max_retries`` is out of
                range, or ``requests`` is not iterable (a lone string is refused too).

        Example::

            async with client.tasks.run_many(slugs, concurrency=20) as batch:
                async for outcome in batch:
                    if outcome.started is None:
                        log_for_reconciliation(outcome.request)
        """
        tasks = self if callback is None else _with_receiver(self, callback, callback_url)
        return TaskRunBatch(
            tasks,
            requests,
            callback_url=callback_url,
            concurrency=self._session.max_connections if concurrency is None else concurrency,
            timeout=timeout,
            max_retries=max_retries,
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
        on_cancel: Callable[[list[TaskRunOutcome]], None] | None = None,
    ) -> list[TaskRunOutcome]:
        """Like :meth:`run_many`, but wait for every item and return the outcomes in input order.

        The list holds one outcome per item, so it grows with the input; use
        :meth:`run_many` for very large inputs. If the awaiting task is cancelled, launches
        stop at once, everything is released and ``CancelledError`` propagates. Before it
        does, ``on_cancel`` (if given) is called with every outcome known at that moment, in
        input order: the finished ones and, with ``started=None``, the starts that were in
        flight, so you can reconcile them. Items never taken from the input get no outcome.

        Example::

            outcomes = await client.tasks.run_all(["01KSF...", "01KSG..."])
            started = [o.run.run_slug for o in outcomes if o.run is not None]
        """
        outcomes: list[TaskRunOutcome] = []
        batch = self.run_many(
            requests,
            callback_url=callback_url,
            callback=callback,
            concurrency=concurrency,
            timeout=timeout,
            max_retries=max_retries,
        )
        try:
            async with batch:
                async for outcome in batch:
                    outcomes.append(outcome)
        except asyncio.CancelledError:
            finished = outcomes + batch.undelivered
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
        outcomes.sort(key=operator.attrgetter("index"))
        return outcomes


def _with_receiver(tasks: AsyncTasks, receiver: CallbackReceiver, callback_url: str | None) -> AsyncTasks:
    # Imported here: the receiver view imports this module.
    from ._callback_tasks import with_receiver

    return with_receiver(tasks, receiver, callback_url)
