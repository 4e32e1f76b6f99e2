"""Fan-out: start many saved-Task runs with bounded concurrency, one outcome per item.

``client.tasks.run_many(requests)`` returns a :class:`TaskRunBatch`, an async iterator of
:class:`TaskRunOutcome` in completion order; ``await client.tasks.run_all(requests)`` collects
them in input order. A fixed pool of ``concurrency`` worker tasks pulls items from the input
lazily and hands finished outcomes over through a small buffer, so memory grows with
``concurrency``, never with the number of items: a generator of a million slugs is fine.

Every item yields exactly one outcome; a failed item (an invalid slug, a refusal, a run
start whose outcome is unknown) never stops the batch. Retries, rate limiting and the
per-call deadline are the client's (see ``AsyncCoreClaw``), shared with every other call.
Closing or cancelling a batch stops new launches at once; the run starts that were in
flight at that moment are listed in :attr:`TaskRunBatch.unreconciled` (``started=None``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import operator
import warnings
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs

from ._constants import LOGGER_NAME
from .errors import CoreClawError, InvalidParameterError, RunStartUnknownError
from .models.tasks import TaskRun, TaskRunRequest

if TYPE_CHECKING:
    from .resources.tasks import AsyncTasks

__all__ = ["TaskRunBatch", "TaskRunOutcome", "TaskRunRequests"]

logger = logging.getLogger(LOGGER_NAME)

TaskRunRequests: TypeAlias = Iterable[str | TaskRunRequest] | AsyncIterable[str | TaskRunRequest]
"""What ``run_many`` and ``run_all`` accept: task slugs and/or ``TaskRunRequest`` objects,
from any iterable or async iterable (consumed lazily, never all at once)."""

# How many task slugs a log line about unreconciled items names before it says "...".
_LOGGED_SLUGS = 10


@attrs.frozen
class TaskRunOutcome:
    """What became of one item of a fan-out.

    Exactly one of ``run`` and ``error`` is set, except for the rare ``started=True`` with a
    ``ResponseValidationError`` (the server said yes but its answer could not be read).

    Attributes:
        index: the item's position in the input (0-based).
        request: the ``TaskRunRequest`` that was sent (callback URL filled in), or the item
            as given when it could not be turned into one (then ``error`` says why).
        run: the started run, when the start succeeded.
        error: why there is no run: a ``CoreClawError`` (``InvalidParameterError`` for a bad
            item, ``RunStartUnknownError`` when the start may or may not have happened, ...).
        started: ``True`` if a run was created, ``False`` if certainly not (never sent, or
            refused), ``None`` if unknown: reconcile those with ``runs.list`` before retrying.

    Example::

        async for outcome in client.tasks.run_many(slugs):
            if outcome.started is None:
                to_reconcile.append(outcome.request)
    """

    index: int
    request: Any
    run: TaskRun | None
    error: CoreClawError | None
    started: bool | None

    @property
    def ok(self) -> bool:
        """Whether the run was started and its slug is known (``run`` is set)."""
        return self.run is not None


def _started(error: CoreClawError) -> bool | None:
    if error.outcome in ("not_sent", "rejected"):
        return False
    if error.outcome == "accepted":
        return True
    return None


def _unknown_outcome(index: int, request: TaskRunRequest) -> TaskRunOutcome:
    error = RunStartUnknownError(
        "The batch was closed while this run start was in flight: a run may have been created. "
        "Check runs.list before starting it again.",
        request=request,
        method="POST",
        path="/api/v1/task/run",
    )
    return TaskRunOutcome(index=index, request=request, run=None, error=error, started=None)


def _unexpected_outcome(index: int, request: TaskRunRequest, exc: Exception) -> TaskRunOutcome:
    unexpected = CoreClawError(f"Unexpected error: {exc!r}", outcome="unknown")
    unexpected.__cause__ = exc
    return TaskRunOutcome(index=index, request=request, run=None, error=unexpected, started=None)


def _slugs(outcomes: list[TaskRunOutcome]) -> str:
    slugs = [getattr(o.request, "task_slug", "?") for o in outcomes[:_LOGGED_SLUGS]]
    more = ", ..." if len(outcomes) > _LOGGED_SLUGS else ""
    return ", ".join(slugs) + more


class _Pool:
    """The machinery behind one batch: workers, the input, the hand-off buffer.

    Kept apart from :class:`TaskRunBatch` so that the worker tasks never hold a reference
    to the batch: a batch the caller drops can then be collected, and its finaliser stops
    the workers.
    """

    def __init__(
        self,
        tasks: AsyncTasks,
        *,
        sync_source: Iterator[Any] | None,
        async_source: AsyncIterator[Any] | None,
        callback_url: str | None,
        workers: int,
        buffer: int,
        timeout: float | None,
        max_retries: int | None,
    ) -> None:
        self._tasks = tasks
        self._sync_source = sync_source
        self._async_source = async_source
        self._callback_url = callback_url
        self._worker_count = workers
        self._buffer = buffer
        self._timeout = timeout
        self._max_retries = max_retries
        self._ready: deque[TaskRunOutcome] = deque()
        self._in_flight: dict[int, TaskRunRequest] = {}
        self._next_index = 0
        self._exhausted = False
        self.source_error: Exception | None = None
        self._stopping = False
        self._shut = False
        self._workers: list[asyncio.Task[None]] = []
        self._live = 0
        self._output = asyncio.Event()
        self._room = asyncio.Event()
        self._pull_lock = asyncio.Lock()
        self.unreconciled: list[TaskRunOutcome] = []
        self.undelivered: list[TaskRunOutcome] = []

    @property
    def taken(self) -> int:
        return self._next_index

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._live = self._worker_count
        self._workers = [
            loop.create_task(self._work(), name=f"coreclaw_async.run_many-worker-{number}")
            for number in range(self._worker_count)
        ]

    # -- workers ---------------------------------------------------------------------

    async def _work(self) -> None:
        try:
            while not self._stopping:
                if len(self._ready) >= self._buffer:
                    # The consumer is behind: launch nothing more until it catches up.
                    self._room.clear()
                    await self._room.wait()
                    continue
                if self._async_source is not None:
                    pulled = await self._pull_async(self._async_source)
                else:
                    pulled = self._pull_sync()
                if pulled is None:
                    return
                index, item = pulled
                try:
                    request = self._tasks.prepare(item, callback_url=self._callback_url)
                except InvalidParameterError as error:
                    outcome = TaskRunOutcome(index=index, request=item, run=None, error=error, started=False)
                else:
                    # The start is awaited here rather than in a helper coroutine: one
                    # coroutine less per item, and one frame less at every resumption.
                    # Left in place if we are cancelled below: that makes the item "unreconciled".
                    self._in_flight[index] = request
                    try:
                        run = await self._tasks._start(
                            request, timeout=self._timeout, max_retries=self._max_retries
                        )
                    except CoreClawError as error:
                        outcome = TaskRunOutcome(
                            index=index, request=request, run=None, error=error, started=_started(error)
                        )
                    except Exception as exc:
                        # A bug of ours, not a verdict on the item: report it on the item, never
                        # abort the batch.
                        logger.error(
                            "run_many: unexpected error starting %s", request.task_slug, exc_info=True
                        )
                        outcome = _unexpected_outcome(index, request, exc)
                    else:
                        # Positional (index, request, run, error, started): cheaper than keywords.
                        outcome = TaskRunOutcome(index, request, run, None, True)
                    del self._in_flight[index]
                self._ready.append(outcome)
                self._output.set()
        finally:
            self._live -= 1
            self._output.set()

    def _pull_sync(self) -> tuple[int, Any] | None:
        if self._exhausted or self._sync_source is None:
            return None
        try:
            item = next(self._sync_source)
        except StopIteration:
            self._exhausted = True
            return None
        except Exception as exc:
            self._source_failed(exc)
            return None
        index = self._next_index
        self._next_index += 1
        return index, item

    async def _pull_async(self, source: AsyncIterator[Any]) -> tuple[int, Any] | None:
        # An async iterator (an async generator above all) must not be advanced twice at once.
        async with self._pull_lock:
            if self._exhausted:
                return None
            try:
                item = await source.__anext__()
            except StopAsyncIteration:
                self._exhausted = True
                return None
            except Exception as exc:
                self._source_failed(exc)
                return None
            index = self._next_index
            self._next_index += 1
            return index, item

    def _source_failed(self, exc: Exception) -> None:
        # The input itself broke: launch nothing more; the consumer gets the outcomes of
        # what is in flight, then this exception.
        self._exhausted = True
        if self.source_error is None:
            self.source_error = exc

    # -- consumer --------------------------------------------------------------------

    def take(self) -> TaskRunOutcome | None:
        """The next finished outcome if one is ready now, else ``None``."""
        if not self._ready:
            return None
        outcome = self._ready.popleft()
        self._room.set()
        return outcome

    async def next(self) -> TaskRunOutcome:
        """The next finished outcome; ``StopAsyncIteration`` once every worker is done."""
        # Bounded: each pass returns, raises, or waits for a deposit or a worker exit.
        while True:
            outcome = self.take()
            if outcome is not None:
                return outcome
            if self._live <= 0:
                raise StopAsyncIteration
            self._output.clear()
            await self._output.wait()

    async def finish(self) -> None:
        """After the last outcome: make sure every worker task has really ended."""
        self._shut = True
        pending = [task for task in self._workers if not task.done()]
        if pending:
            await asyncio.wait(pending)
        self._collect(self._workers)

    # -- stopping --------------------------------------------------------------------

    def _stop(self) -> list[asyncio.Task[None]]:
        """Cancel the workers and record what they leave behind; no await."""
        self._shut = True
        self._stopping = True
        pending = [task for task in self._workers if not task.done()]
        for task in pending:
            task.cancel()
        self._room.set()
        self.unreconciled = [_unknown_outcome(i, r) for i, r in sorted(self._in_flight.items())]
        self._in_flight.clear()
        self.undelivered = list(self._ready)
        self._ready.clear()
        if self.unreconciled:
            logger.warning(
                "run_many stopped with %d run start(s) in flight, outcome unknown "
                "(POST /api/v1/task/run, task slugs: %s); see TaskRunBatch.unreconciled",
                len(self.unreconciled),
                _slugs(self.unreconciled),
            )
        return pending

    async def shutdown(self) -> None:
        """Stop launching, cancel every worker and wait until each has ended. Idempotent."""
        pending = self._stop() if not self._shut else [task for task in self._workers if not task.done()]
        if pending:
            await asyncio.wait(pending)
        self._collect(self._workers)

    def abandon(self) -> bool:
        """Stop from a finaliser (no await possible); ``True`` if workers were still running."""
        if self._shut:
            return False
        self._shut = True
        if all(task.done() for task in self._workers):
            return False
        # RuntimeError: the loop is already closed, so nothing can run any more anyway.
        with contextlib.suppress(RuntimeError):
            self._stop()
        return True

    @staticmethod
    def _collect(tasks: list[asyncio.Task[None]]) -> None:
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                logger.error("run_many worker failed", exc_info=task.exception())


class TaskRunBatch:
    """A running fan-out of Task run starts: an async iterator of :class:`TaskRunOutcome`.

    Made by ``client.tasks.run_many(...)``; nothing starts until it is entered or iterated.
    Outcomes come in completion order, exactly one per input item. Use it as an async
    context manager so that leaving the block (normally, by an exception or by
    cancellation) stops it; plain ``async for`` also works and stops it when the input is
    exhausted, when the consuming task is cancelled, or on :meth:`aclose`.

    When the batch stops early, launches stop at once, every connection and limiter slot is
    released, and:

    * :attr:`unreconciled` lists the items whose run start was in flight (``started=None``,
      error ``RunStartUnknownError``): a run may exist for them;
    * :attr:`undelivered` lists outcomes that had finished but were not yet yielded.

    If iterating the input raises, the outcomes already in flight are still yielded and then
    the input's exception is raised from the ``async for``.

    Example::

        async with client.tasks.run_many(slugs, concurrency=20) as batch:
            async for outcome in batch:
                print(outcome.index, outcome.run or outcome.error)
        retry_later = [o.request for o in batch.unreconciled]
    """

    def __init__(
        self,
        tasks: AsyncTasks,
        requests: TaskRunRequests,
        *,
        concurrency: int,
        callback_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        self._started = False
        self._closed = False
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidParameterError("concurrency", f"must be a positive integer, got {concurrency!r}")
        if timeout is not None and timeout <= 0:
            raise InvalidParameterError("timeout", "must be positive")
        if max_retries is not None and max_retries < 0:
            raise InvalidParameterError("max_retries", "must not be negative")
        if isinstance(requests, (str, bytes)):
            raise InvalidParameterError(
                "requests", "must be an iterable of task slugs or TaskRunRequests, not a single string"
            )
        sync_source: Iterator[Any] | None = None
        async_source: AsyncIterator[Any] | None = None
        if isinstance(requests, AsyncIterable):
            async_source = aiter(requests)
            workers = concurrency
        elif isinstance(requests, Iterable):
            sync_source = iter(requests)
            hint = operator.length_hint(requests, 0)
            # A short, sized input needs no more workers than items.
            workers = min(concurrency, hint) if hint > 0 else concurrency
        else:
            raise InvalidParameterError(
                "requests", f"must be an iterable or async iterable, got {type(requests).__name__}"
            )
        self.concurrency = concurrency
        """Largest number of run starts in flight at once."""
        self._pool = _Pool(
            tasks,
            sync_source=sync_source,
            async_source=async_source,
            callback_url=callback_url,
            workers=workers,
            buffer=concurrency,
            timeout=timeout,
            max_retries=max_retries,
        )

    # -- state -----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the batch has stopped (input exhausted, closed or cancelled)."""
        return self._closed

    @property
    def in_flight(self) -> int:
        """Run starts in flight right now."""
        return self._pool.in_flight

    @property
    def taken(self) -> int:
        """Items taken from the input so far."""
        return self._pool.taken

    @property
    def unreconciled(self) -> list[TaskRunOutcome]:
        """Items whose run start was in flight when the batch stopped early, by input position.

        Each has ``started=None`` and a ``RunStartUnknownError``: the request may or may not
        have reached CoreClaw, so a run may exist. Empty unless the batch was closed or
        cancelled before the input was exhausted.
        """
        return list(self._pool.unreconciled)

    @property
    def undelivered(self) -> list[TaskRunOutcome]:
        """Outcomes that had finished but were not yet yielded when the batch stopped early."""
        return list(self._pool.undelivered)

    # -- iteration -------------------------------------------------------------------

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._pool.start()

    def __aiter__(self) -> TaskRunBatch:
        return self

    async def __anext__(self) -> TaskRunOutcome:
        if self._closed:
            raise StopAsyncIteration
        outcome = self._pool.take()
        if outcome is not None:  # the common case while running: no wait, no inner coroutine
            return outcome
        self._start()
        try:
            return await self._pool.next()
        except StopAsyncIteration:
            pass
        except BaseException:
            # Cancellation of the consuming task (or anything else) ends the batch.
            await self.aclose()
            raise
        self._closed = True
        await self._pool.finish()
        error = self._pool.source_error
        if error is not None:
            raise error
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop the batch: no new launches, cancel what is in flight, wait until every worker
        has ended (releasing its connection and slot). Idempotent.

        Items that were in flight are then in :attr:`unreconciled`, and finished outcomes not
        yet yielded in :attr:`undelivered`.
        """
        self._closed = True
        if self._started:
            await self._pool.shutdown()

    async def __aenter__(self) -> TaskRunBatch:
        self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # A batch dropped while running (e.g. after `break` out of a plain `async for`):
        # stop its workers rather than leave them pending. aclose() is the proper way.
        if not getattr(self, "_started", False) or getattr(self, "_closed", True):
            return
        self._closed = True
        if self._pool.abandon():
            warnings.warn(
                "TaskRunBatch was dropped while running; its workers were cancelled. "
                "Use `async with client.tasks.run_many(...)` or call aclose().",
                ResourceWarning,
                source=self,
                stacklevel=2,
            )

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("running" if self._started else "not started")
        return (
            f"<TaskRunBatch {state} concurrency={self.concurrency} taken={self.taken} "
            f"in_flight={self.in_flight}>"
        )
