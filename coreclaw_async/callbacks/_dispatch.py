"""Handler dispatch: ``on_callback`` handlers run in the receiver's handler tasks, a run's notices in order.

Queues are plain deques, bound to no event loop; the handler tasks that empty them belong to
the loop that made them. When the receiver is used from another loop (``asyncio.run`` per
command, a test framework's loop per test), the next call made in it (a notice, ``mint``,
``wait``, ``start``, ``close``) makes new handler tasks there, and notices still queued from
the ended loop are handled by them: nothing queued is lost with a loop. A handler that was
running when its loop ended was cancelled with it; that is logged, and the notice is not run
a second time.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from ..models.callbacks import RunCallback
from ._log import logger
from ._stats import ReceiverCounters

__all__ = ["CallbackHandler", "HandlerDispatch"]

CallbackHandler: TypeAlias = Callable[[RunCallback], Awaitable[Any]]
"""An async function called with every accepted (non-duplicate) notice whose run is known."""


def _name(handler: CallbackHandler) -> object:
    return getattr(handler, "__qualname__", handler)


class HandlerDispatch:
    """Queues accepted notices for the handlers and runs them in handler tasks of the running loop.

    Args:
        counters: where ``handler_errors`` are counted.
        task_count: handler tasks (and queues); a notice goes to queue ``shard % task_count``,
            so every notice of one launch is handled by one task, in arrival order.
    """

    __slots__ = (
        "_counters",
        "_done",
        "_handlers",
        "_loop",
        "_loop_end_reported",
        "_queues",
        "_stopping",
        "_tasks",
        "_unfinished",
        "_wakeups",
    )

    def __init__(self, counters: ReceiverCounters, task_count: int) -> None:
        self._counters = counters
        self._handlers: list[CallbackHandler] = []
        self._queues: list[deque[RunCallback]] = [deque() for _ in range(task_count)]
        # Loop-bound: the handler tasks, and what each awaits while its queue is empty.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None] | None] = [None] * task_count
        self._wakeups: list[asyncio.Future[None] | None] = [None] * task_count
        # Notices queued or being handled; shutdown waits for it to reach 0.
        self._unfinished = 0
        self._done: asyncio.Future[None] | None = None
        self._stopping = False
        self._loop_end_reported = False

    @property
    def has_handlers(self) -> bool:
        """Whether any handler was added."""
        return bool(self._handlers)

    @property
    def queued(self) -> int:
        """Notices waiting for a handler task."""
        return sum(len(queue) for queue in self._queues)

    def add(self, handler: CallbackHandler) -> None:
        """Run ``handler`` for every notice submitted from now on."""
        self._handlers.append(handler)

    def is_handler_task(self, task: asyncio.Task[Any] | None) -> bool:
        """Whether ``task`` is one of the handler tasks (a handler is running in it)."""
        return task is not None and task in self._tasks

    def submit(self, notice: RunCallback, shard: int) -> None:
        """Queue ``notice`` for the handlers, in the queue of ``shard``; never blocks."""
        if self._stopping or not self._handlers:
            return
        number = shard % len(self._queues)
        self._queues[number].append(notice)
        self._unfinished += 1
        self.resume()
        wakeup = self._wakeups[number]
        if wakeup is not None and not wakeup.done() and not wakeup.get_loop().is_closed():
            wakeup.set_result(None)

    def resume(self) -> None:
        """Make sure queued notices have live handler tasks in the running loop (none needed if
        nothing is queued; nothing to do outside a loop: the next call inside one does it)."""
        if self._stopping or not self._unfinished:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._loop is not loop:
            self._leave_old_loop()
            self._loop = loop
            self._loop_end_reported = False
        for number, task in enumerate(self._tasks):
            if task is None or task.done():
                self._wakeups[number] = None
                self._tasks[number] = loop.create_task(
                    self._serve(number), name=f"coreclaw_async.callback-handlers-{number}"
                )

    def _leave_old_loop(self) -> None:
        """Drop the handler tasks of another loop; they are done if that loop ended with ``asyncio.run``."""
        self._cancel_tasks(None)
        self._tasks = [None] * len(self._tasks)
        self._wakeups = [None] * len(self._wakeups)

    def _cancel_tasks(self, loop: asyncio.AbstractEventLoop | None) -> list[asyncio.Task[None]]:
        """Cancel every live handler task; return those of ``loop``, which the caller can await."""
        ours: list[asyncio.Task[None]] = []
        for task in self._tasks:
            if task is None or task.done():
                continue
            home = task.get_loop()
            if home is loop:
                task.cancel()
                ours.append(task)
            elif not home.is_closed():
                # Its loop may run again (managed by hand): stop the task there rather than
                # have two loops take from the same queues. A closed loop runs nothing more.
                home.call_soon_threadsafe(task.cancel)
        return ours

    async def shutdown(self, timeout: float) -> None:
        """Give queued notices ``timeout`` seconds to be handled, then cancel the handler tasks;
        every handler task has ended on return, and nothing more is accepted."""
        self.resume()
        loop = asyncio.get_running_loop()
        try:
            if self._unfinished and self._loop is loop:
                pending = self.queued
                done = self._done = loop.create_future()
                try:
                    await asyncio.wait((done,), timeout=timeout)
                finally:
                    self._done = None
                    done.cancel()
                if self._unfinished:
                    logger.warning(
                        "callback receiver closed with handlers still busy (%d notice(s) were queued); "
                        "cancelled",
                        pending,
                    )
        finally:
            self._stopping = True
            ours = self._cancel_tasks(loop)
            if ours:
                await asyncio.wait(ours)
            self._tasks = [None] * len(self._tasks)
            self._wakeups = [None] * len(self._wakeups)
            for queue in self._queues:
                queue.clear()
            self._unfinished = 0

    # -- the handler tasks -----------------------------------------------------------------

    async def _serve(self, number: int) -> None:
        queue = self._queues[number]
        loop = asyncio.get_running_loop()
        try:
            # Serves until cancelled: by shutdown, or when its event loop ends.
            while True:
                if not queue:
                    wakeup = self._wakeups[number] = loop.create_future()
                    await wakeup
                    continue
                notice = queue.popleft()
                try:
                    await self._run_handlers(notice)
                finally:
                    self._one_done()
        except asyncio.CancelledError:
            if not self._stopping:
                self._report_loop_end()
            raise

    async def _run_handlers(self, notice: RunCallback) -> None:
        for handler in tuple(self._handlers):
            try:
                await handler(notice)
            except asyncio.CancelledError:
                if self._task_cancelled():
                    if not self._stopping:
                        logger.warning(
                            "callback handler %s on run %s (%s) was cancelled with its handler task "
                            "(its event loop ended); the notice is not handled again",
                            _name(handler),
                            notice.run_slug,
                            notice.run_status,
                        )
                    raise
                # The handler awaited something that was cancelled: its failure, not a
                # reason for this task to stop serving the others.
                self._counters.handler_errors += 1
                logger.error(
                    "callback handler %s was cancelled on run %s (%s)",
                    _name(handler),
                    notice.run_slug,
                    notice.run_status,
                )
            except Exception:
                self._counters.handler_errors += 1
                logger.exception(
                    "callback handler %s failed on run %s (%s)",
                    _name(handler),
                    notice.run_slug,
                    notice.run_status,
                )

    def _task_cancelled(self) -> bool:
        """Whether the running handler task itself is being cancelled (by shutdown or its loop's end)."""
        if self._stopping:
            return True
        task = asyncio.current_task()
        cancelling = getattr(task, "cancelling", None)  # Python 3.11+
        return bool(cancelling is not None and cancelling())

    def _one_done(self) -> None:
        self._unfinished -= 1
        done = self._done
        if not self._unfinished and done is not None and not done.done():
            done.set_result(None)

    def _report_loop_end(self) -> None:
        """A handler task was cancelled by something other than shutdown, most likely its loop's end."""
        if self._loop_end_reported:
            return
        self._loop_end_reported = True
        queued = self.queued
        if queued:
            logger.warning(
                "the event loop running the callback receiver's handler tasks ended with %d notice(s) "
                "queued; they are handled once the receiver is used in an event loop again",
                queued,
            )
