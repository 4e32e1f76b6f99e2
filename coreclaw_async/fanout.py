"""Fan-out: start many saved-Task runs with bounded concurrency, one outcome per item.

``client.tasks.run_many(requests)`` returns a :class:`TaskRunBatch`, an async iterator of
:class:`TaskRunOutcome` in completion order; ``await client.tasks.run_all(requests)`` collects
them in input order. A fixed pool of ``concurrency`` launcher tasks pulls items from the input
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
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any, Protocol, TypeAlias

from ._background import BackgroundIterator
from ._constants import LOGGED_SLUGS, LOGGER_NAME, MAX_CONCURRENCY
from ._outcomes import KeptOutcomes, TaskRunOutcome, _outcome
from ._validation import require_int
from .errors import CoreClawError, InvalidParameterError, RunStartUnknownError
from .models.runs import StartedRun
from .models.tasks import TaskRunRequest

__all__ = ["Launcher", "TaskRunBatch", "TaskRunOutcome", "TaskRunRequests"]

logger = logging.getLogger(LOGGER_NAME)

TaskRunRequests: TypeAlias = Iterable[str | TaskRunRequest] | AsyncIterable[str | TaskRunRequest]
"""What ``run_many`` and ``run_all`` accept: task slugs and/or ``TaskRunRequest`` objects,
from any iterable or async iterable (consumed lazily, never all at once)."""


class Launcher(Protocol):
    """What the fan-out pool needs to launch items: the seam between it and the resources.

    ``client.tasks`` builds one per batch (minting callback URLs from a receiver when one is
    given); the pool never touches the client, the session manager or the receiver itself.
    """

    def prepare(self, item: Any) -> TaskRunRequest:
        """Check an input item and turn it into the request to send; raise ``InvalidParameterError``."""

    def start(self, request: TaskRunRequest, on_send: Callable[[bool], None]) -> Awaitable[StartedRun]:
        """Send ``request`` (retries, deadline and limits are the client's); call
        ``on_send(True)`` when an attempt has passed the client's gates and starts being sent,
        ``on_send(False)`` when that attempt ended with nothing created (refused, not sent)."""

    def in_flight_error(self, request: TaskRunRequest) -> RunStartUnknownError:
        """The error for a start that was in flight when the batch stopped (outcome unknown)."""


def _started(error: CoreClawError) -> bool | None:
    if error.outcome in ("not_sent", "rejected"):
        return False
    if error.outcome == "accepted":
        return True
    return None


def _unexpected_outcome(index: int, request: TaskRunRequest, exc: Exception) -> TaskRunOutcome:
    unexpected = CoreClawError(f"Unexpected error: {exc!r}", outcome="unknown")
    unexpected.__cause__ = exc
    return TaskRunOutcome(index=index, request=request, run=None, error=unexpected, started=None)


def _closed_before_sending() -> CoreClawError:
    return CoreClawError(
        "The batch was closed while this run start waited at the client's gates; it was not sent",
        attempts=0,
        outcome="not_sent",
    )


def _slugs(outcomes: list[TaskRunOutcome]) -> str:
    slugs = [getattr(o.request, "task_slug", "?") for o in outcomes[:LOGGED_SLUGS]]
    more = ", ..." if len(outcomes) > LOGGED_SLUGS else ""
    return ", ".join(slugs) + more


class _Slot:
    """The item one launcher task is starting: its index and request (``None`` between items),
    and whether an attempt is out (a run may exist) or it waits at the client's gates (none can)."""

    __slots__ = ("index", "request", "sending")

    def __init__(self) -> None:
        self.index = -1
        self.request: TaskRunRequest | None = None
        self.sending = False

    def mark(self, sending: bool) -> None:
        """The launcher's ``on_send``: an attempt begins sending (``True``) or ended with nothing
        created (``False``)."""
        self.sending = sending


class _Pool:
    """The machinery behind one batch: the launcher tasks, the input, the hand-off buffer.

    Kept apart from :class:`TaskRunBatch` so that the launcher tasks never hold a reference
    to the batch: a batch the caller drops can then be collected, and its finaliser stops
    them.
    """

    def __init__(
        self,
        launcher: Launcher,
        *,
        sync_source: Iterator[Any] | None,
        async_source: AsyncIterator[Any] | None,
        tasks: int,
        buffer: int,
        sink: KeptOutcomes | None = None,
    ) -> None:
        self._launcher = launcher
        # run_all's list: outcomes (or their compact records) go straight into it, with no
        # hand-off and no buffer limit.
        self._sink = sink
        self._sync_source = sync_source
        self._async_source = async_source
        self._task_count = tasks
        self._buffer = buffer
        self._ready: deque[TaskRunOutcome] = deque()
        # What each launcher task is starting right now (one item at a time each).
        self._slots: list[_Slot] = []
        self._next_index = 0
        self._exhausted = False
        self.source_error: Exception | None = None
        self._stopping = False
        self._shut = False
        self._launchers: list[asyncio.Task[None]] = []
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
        return sum(slot.request is not None for slot in self._slots)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._live = self._task_count
        self._slots = [_Slot() for _ in range(self._task_count)]
        self._launchers = [
            loop.create_task(self._launch_loop(slot), name=f"coreclaw_async.run_many-launcher-{number}")
            for number, slot in enumerate(self._slots)
        ]

    # -- launcher tasks --------------------------------------------------------------

    async def _launch_loop(self, slot: _Slot) -> None:
        launcher = self._launcher
        mark = slot.mark
        sink = self._sink
        ready = self._ready
        sync_source = self._sync_source
        try:
            while not self._stopping:
                if len(ready) >= self._buffer:
                    # The consumer is behind: launch nothing more until it catches up.
                    self._room.clear()
                    await self._room.wait()
                    continue
                if sync_source is not None:
                    # Taken here, not in a helper: every item passes this way.
                    if self._exhausted:
                        return
                    try:
                        item = next(sync_source)
                    except StopIteration:
                        self._exhausted = True
                        return
                    except Exception as exc:
                        self._source_failed(exc)
                        return
                    index = self._next_index
                    self._next_index = index + 1
                else:
                    pulled = await self._pull_async(self._async_source)
                    if pulled is None:
                        return
                    index, item = pulled
                try:
                    request = launcher.prepare(item)
                except InvalidParameterError as error:
                    outcome = TaskRunOutcome(index, item, None, error, False)
                else:
                    # The start is awaited here rather than in a helper coroutine: one
                    # coroutine less per item, and one frame less at every resumption.
                    # Left in the slot if we are cancelled below: once sending began, that
                    # makes the item "unreconciled"; before, it is known not started.
                    slot.index = index
                    slot.request = request
                    slot.sending = False
                    try:
                        run = await launcher.start(request, mark)
                    except CoreClawError as error:
                        outcome = _outcome(index, request, None, error, _started(error))
                    except Exception as exc:
                        # A bug of ours, not a verdict on the item: report it on the item, never
                        # abort the batch.
                        logger.error(
                            "run_many: unexpected error starting %s", request.task_slug, exc_info=True
                        )
                        outcome = _unexpected_outcome(index, request, exc)
                    else:
                        if sink is not None and type(item) is str and type(run) is StartedRun:
                            # run_all keeps this until the end: as atoms in a tuple, which the
                            # garbage collector stops tracking, rather than two more objects
                            # for every later collection to walk. outcomes_in_order() rebuilds
                            # them (a tuple the size of the outcome, whose memory it reuses).
                            record = sink.record(index, item, request.callback_url, run)
                            if record is not None:
                                slot.request = None
                                sink.append(record)
                                continue
                        outcome = _outcome(index, request, run, None, True)
                    slot.request = None
                if sink is None:
                    ready.append(outcome)
                    self._output.set()
                else:
                    sink.append((index, outcome))
        finally:
            self._live -= 1
            self._output.set()

    async def _pull_async(self, source: AsyncIterator[Any] | None) -> tuple[int, Any] | None:
        # An async iterator (an async generator above all) must not be advanced twice at once.
        async with self._pull_lock:
            if self._exhausted or source is None:
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

    # -- consumer (the Machinery of the batch) -----------------------------------------

    def take(self) -> TaskRunOutcome | None:
        """The next finished outcome if one is ready now, else ``None``."""
        if not self._ready:
            return None
        outcome = self._ready.popleft()
        self._room.set()
        return outcome

    async def next(self) -> TaskRunOutcome:
        """The next finished outcome; ``StopAsyncIteration`` once every launcher task is done."""
        # Bounded: each pass returns, raises, or waits for a deposit or a launcher's exit.
        while True:
            outcome = self.take()
            if outcome is not None:
                return outcome
            if self._live <= 0:
                raise StopAsyncIteration
            self._output.clear()
            await self._output.wait()

    async def finish(self) -> None:
        """After the last outcome: make sure every launcher task has ended, then raise the
        input's own exception if iterating it failed."""
        self._shut = True
        pending = [task for task in self._launchers if not task.done()]
        if pending:
            await asyncio.wait(pending)
        self._collect(self._launchers)
        if self.source_error is not None:
            raise self.source_error

    # -- stopping --------------------------------------------------------------------

    def _stop(self) -> list[asyncio.Task[None]]:
        """Cancel the launcher tasks and record what they leave behind; no await."""
        self._shut = True
        self._stopping = True
        pending = [task for task in self._launchers if not task.done()]
        for task in pending:
            task.cancel()
        self._room.set()
        unreconciled: list[TaskRunOutcome] = []
        never_sent: list[TaskRunOutcome] = []
        for slot in sorted(self._slots, key=operator.attrgetter("index")):
            request = slot.request
            if request is None:
                continue
            slot.request = None
            if slot.sending:
                error = self._launcher.in_flight_error(request)
                unreconciled.append(TaskRunOutcome(slot.index, request, None, error, None))
            else:
                never_sent.append(TaskRunOutcome(slot.index, request, None, _closed_before_sending(), False))
        self.unreconciled = unreconciled
        self.undelivered = list(self._ready) + never_sent
        self._ready.clear()
        if self.unreconciled:
            first = self.unreconciled[0].error
            logger.warning(
                "run_many stopped with %d run start(s) in flight, outcome unknown "
                "(%s %s, task slugs: %s); see TaskRunBatch.unreconciled",
                len(self.unreconciled),
                getattr(first, "method", None),
                getattr(first, "path", None),
                _slugs(self.unreconciled),
            )
        return pending

    async def shutdown(self) -> None:
        """Stop launching, cancel every launcher task and wait until each has ended. Idempotent."""
        pending = self._stop() if not self._shut else [task for task in self._launchers if not task.done()]
        if pending:
            await asyncio.wait(pending)
        self._collect(self._launchers)

    def abandon(self) -> bool:
        """Stop from a finaliser (no await possible); ``True`` if launcher tasks were still running."""
        if self._shut:
            return False
        self._shut = True
        if all(task.done() for task in self._launchers):
            return False
        # RuntimeError: the loop is already closed, so nothing can run any more anyway.
        with contextlib.suppress(RuntimeError):
            self._stop()
        return True

    @staticmethod
    def _collect(tasks: list[asyncio.Task[None]]) -> None:
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                logger.error("run_many launcher task failed", exc_info=task.exception())


class TaskRunBatch(BackgroundIterator[TaskRunOutcome]):
    """A running fan-out of Task run starts: an async iterator of :class:`TaskRunOutcome`.

    Made by ``client.tasks.run_many(...)``; nothing starts until it is entered or iterated.
    Outcomes come in completion order, exactly one per input item. Use it as an async
    context manager so that leaving the block (normally, by an exception or by
    cancellation) stops it; plain ``async for`` also works and stops it when the input is
    exhausted, when the consuming task is cancelled, or on :meth:`aclose`.

    When the batch stops early, launches stop at once, every connection and limiter slot is
    released, and:

    * :attr:`unreconciled` lists the items whose run start was being sent (``started=None``,
      error ``RunStartUnknownError``): a run may exist for them;
    * :attr:`undelivered` lists outcomes that had finished but were not yet yielded, and the
      starts that were still waiting at the client's gates, never sent (``started=False``).

    If iterating the input raises, the outcomes already in flight are still yielded and then
    the input's exception is raised from the ``async for``.

    Given a list as ``records`` (what ``run_all`` does), the batch appends every outcome to it
    as it finishes, some in a compact form, and yields none: iterating it then only waits for
    the end, and ``run_all`` turns the list into outcomes by input position.

    Example::

        async with client.tasks.run_many(slugs, concurrency=20) as batch:
            async for outcome in batch:
                print(outcome.index, outcome.run or outcome.error)
        retry_later = [o.request for o in batch.unreconciled]
    """

    _how_to_use = "use `async with client.tasks.run_many(...)` or call aclose()"

    def __init__(
        self,
        launcher: Launcher,
        requests: TaskRunRequests,
        *,
        concurrency: int,
        records: KeptOutcomes | None = None,
    ) -> None:
        require_int("concurrency", concurrency, minimum=1, maximum=MAX_CONCURRENCY)
        if isinstance(requests, (str, bytes)):
            raise InvalidParameterError(
                "requests", "must be an iterable of task slugs or TaskRunRequests, not a single string"
            )
        sync_source: Iterator[Any] | None = None
        async_source: AsyncIterator[Any] | None = None
        if isinstance(requests, AsyncIterable):
            async_source = aiter(requests)
            tasks = concurrency
        elif isinstance(requests, Iterable):
            sync_source = iter(requests)
            hint = operator.length_hint(requests, 0)
            # A short, sized input needs no more launcher tasks than items.
            tasks = min(concurrency, hint) if hint > 0 else concurrency
        else:
            raise InvalidParameterError(
                "requests", f"must be an iterable or async iterable, got {type(requests).__name__}"
            )
        self._pool = _Pool(
            launcher,
            sync_source=sync_source,
            async_source=async_source,
            tasks=tasks,
            buffer=concurrency,
            sink=records,
        )
        super().__init__(self._pool)
        self.concurrency = concurrency
        """Largest number of run starts in flight at once."""

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
        """Outcomes decided but not yet yielded when the batch stopped early: finished ones, and
        starts that were still waiting at the client's gates (a connection slot, a rate-limit
        cooldown, plan capacity) and were never sent (``started=False``)."""
        return list(self._pool.undelivered)

    async def aclose(self) -> None:
        """Stop the batch: no new launches, cancel what is in flight, wait until every launcher
        task has ended (releasing its connection and slot). Idempotent.

        Items that were in flight are then in :attr:`unreconciled`, and finished outcomes not
        yet yielded in :attr:`undelivered`.
        """
        await super().aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("running" if self._started else "not started")
        return (
            f"<TaskRunBatch {state} concurrency={self.concurrency} taken={self.taken} "
            f"in_flight={self.in_flight}>"
        )
