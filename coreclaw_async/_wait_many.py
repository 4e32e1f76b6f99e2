"""``client.runs.wait_many``: final runs as they finish, from one bounded pool of pollers.

However many runs are waited for, a fixed number of poller tasks (``concurrency``) serve
them: each run has a due time in one heap, the pollers take whichever run is due next,
read it with ``runs.get`` and put it back with a longer, jittered gap (the ``runs.wait``
cadence: at once, then about a second, growing up to ``poll_interval``). With a
``CallbackReceiver``, a final notice makes its run due at once (and the first read waits for
the first gap, since notices cover the runs that end sooner); it is still confirmed by
``runs.get`` before it is yielded, and polling carries on for runs whose notice is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
import warnings
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING

from ._constants import LOGGER_NAME, WAIT_BACKOFF_FACTOR, WAIT_FIRST_DELAY, WAIT_JITTER
from ._validation import require_int, require_number, require_slug
from .errors import (
    AuthenticationError,
    CoreClawError,
    InvalidParameterError,
    InvalidRequestError,
    NotFoundError,
    WaitTimeoutError,
)
from .models.runs import Run, RunStatus

if TYPE_CHECKING:
    from .callbacks import CallbackReceiver
    from .resources.runs import AsyncRuns

__all__ = ["FinishedRuns"]

logger = logging.getLogger(LOGGER_NAME)

# How many slugs a timeout message names before it says "...".
_NAMED_SLUGS = 5


class _Entry:
    """The polling state of one pending run."""

    __slots__ = ("aborting_since", "due_seq", "failures", "gap", "in_flight", "last", "recheck")

    def __init__(self, gap: float) -> None:
        self.gap = gap
        self.due_seq = -1
        self.aborting_since: float | None = None
        self.last: Run | None = None
        self.in_flight = False
        self.recheck = False
        self.failures = 0


class _Pollers:
    """The machinery behind one :class:`FinishedRuns`; holds no reference to it, so a dropped
    iterator can be collected and its finaliser can stop the pollers."""

    def __init__(
        self,
        runs: AsyncRuns,
        slugs: list[str],
        *,
        receiver: CallbackReceiver | None,
        timeout: float,
        poll_interval: float,
        abort_grace: float,
        pollers: int,
        call_timeout: float,
        max_retries: int | None,
    ) -> None:
        self._runs = runs
        self._receiver = receiver
        self._timeout = timeout
        self._poll_interval = poll_interval
        self._abort_grace = abort_grace
        self._poller_count = pollers
        self._call_timeout = call_timeout
        self._max_retries = max_retries
        first_gap = min(WAIT_FIRST_DELAY, poll_interval)
        self.pending: dict[str, _Entry] = {slug: _Entry(first_gap) for slug in slugs}
        self.ready: deque[Run] = deque()
        self.errors: dict[str, CoreClawError] = {}
        self.fatal: BaseException | None = None
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadline = 0.0
        # One future per idle poller: new work wakes one of them, not all.
        self._idle: deque[asyncio.Future[None]] = deque()
        self._output: asyncio.Future[None] | None = None
        self.stopped = False
        self.polls = 0

    @property
    def deadline(self) -> float:
        return self._deadline

    def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._deadline = loop.time() + self._timeout
        self._output = loop.create_future()
        now = loop.time()
        # Without a receiver every run is read at once. With one, a run whose final notice
        # already came is due at once (the subscription below), so the others can wait for
        # their first gap: a run just started is not final yet, and a lost notice costs at
        # most that gap.
        first = now
        if self._receiver is not None and not self._receiver.closed:
            first = now + min(WAIT_FIRST_DELAY, self._poll_interval)
        for slug in self.pending:
            self._schedule(slug, first)
        count = min(self._poller_count, len(self.pending))
        self._tasks = [
            loop.create_task(self._poll_loop(), name=f"coreclaw_async.wait_many-poller-{number}")
            for number in range(count)
        ]
        receiver = self._receiver
        if receiver is not None and not receiver.closed:
            self._unsubscribe = receiver._subscribe(list(self.pending), self._on_final_notice)

    # -- scheduling ----------------------------------------------------------------------

    def _schedule(self, slug: str, at: float) -> None:
        entry = self.pending[slug]
        entry.due_seq = next(self._seq)
        heapq.heappush(self._heap, (at, entry.due_seq, slug))
        self._signal_work()

    def _signal_work(self) -> None:
        """Wake one idle poller (it looks at the schedule again)."""
        idle = self._idle
        while idle:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _wake_all_pollers(self) -> None:
        idle, self._idle = self._idle, deque()
        for waiter in idle:
            if not waiter.done():
                waiter.set_result(None)

    def _signal_output(self) -> None:
        output = self._output
        if output is not None and not output.done():
            output.set_result(None)
        assert self._loop is not None
        self._output = self._loop.create_future()

    def _on_final_notice(self, slug: str) -> None:
        receiver = self._receiver
        if receiver is not None and receiver.closed:
            # Woken by the receiver closing, not by a notice: carry on polling at its pace.
            return
        entry = self.pending.get(slug)
        if entry is None or self.stopped or self._loop is None:
            return
        if entry.in_flight:
            entry.recheck = True
        else:
            self._schedule(slug, self._loop.time())

    # -- the pollers ---------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        loop = self._loop
        assert loop is not None
        heap = self._heap
        try:
            # Bounded by the deadline: every pass polls a due run or waits for the next due time.
            while not self.stopped and self.pending:
                now = loop.time()
                if now >= self._deadline:
                    return
                if heap and heap[0][0] <= now:
                    _, seq, slug = heapq.heappop(heap)
                    entry = self.pending.get(slug)
                    if entry is None or entry.due_seq != seq:
                        continue  # finished, or rescheduled since
                    if heap and heap[0][0] <= now:
                        self._signal_work()  # more is due: hand it to an idle poller
                    await self._poll(slug, entry, loop)
                    continue
                wake_at = min(heap[0][0] if heap else self._deadline, self._deadline)
                waiter = loop.create_future()
                self._idle.append(waiter)
                try:
                    await asyncio.wait((waiter,), timeout=max(wake_at - now, 0.0))
                finally:
                    if not waiter.done():
                        waiter.cancel()
                        with contextlib.suppress(ValueError):
                            self._idle.remove(waiter)
        except Exception as exc:
            # A bug of ours: end the whole wait with it rather than hang until the deadline.
            logger.error("wait_many poller failed", exc_info=True)
            if self.fatal is None:
                self.fatal = exc
            self._signal_output()

    async def _poll(self, slug: str, entry: _Entry, loop: asyncio.AbstractEventLoop) -> None:
        budget = min(self._call_timeout, max(self._deadline - loop.time(), 0.001))
        entry.in_flight = True
        entry.recheck = False
        try:
            run = await self._runs.get(slug, timeout=budget, max_retries=self._max_retries)
        except AuthenticationError as exc:
            # Every other run would fail the same way.
            self.fatal = exc
            self.stopped = True
            self._signal_output()
            self._wake_all_pollers()
            return
        except (NotFoundError, InvalidRequestError) as exc:
            logger.warning("wait_many: run %s cannot be read (%s); not waited for", slug, exc)
            self.errors[slug] = exc
            del self.pending[slug]
            self._signal_output()
            return
        except CoreClawError as exc:
            entry.failures += 1
            logger.info("wait_many: reading run %s failed (%s); trying again later", slug, exc)
            if entry.recheck:
                # A final notice came during the failed read: try again at once (only once:
                # the next read starts with recheck cleared).
                self._schedule(slug, loop.time())
            else:
                self._reschedule(slug, entry, loop)
            return
        finally:
            entry.in_flight = False
        self.polls += 1
        entry.last = run
        if run.is_final:
            self._finish(slug, run)
            return
        now = loop.time()
        if run.status is RunStatus.ABORTING:
            if entry.aborting_since is None:
                entry.aborting_since = now
            if now >= entry.aborting_since + self._abort_grace:
                logger.info("run %s still aborting after %.1fs; returning it as is", slug, self._abort_grace)
                self._finish(slug, run)
                return
        else:
            entry.aborting_since = None
        if entry.recheck:
            # A final notice came while this read was in flight: read again at once.
            self._schedule(slug, now)
            return
        self._reschedule(slug, entry, loop)

    def _reschedule(self, slug: str, entry: _Entry, loop: asyncio.AbstractEventLoop) -> None:
        gap = entry.gap
        # Jittered around the current gap, never above poll_interval (as runs.wait does).
        delay = random.uniform(gap * (1 - WAIT_JITTER), min(self._poll_interval, gap * (1 + WAIT_JITTER)))
        entry.gap = min(gap * WAIT_BACKOFF_FACTOR, self._poll_interval)
        at = loop.time() + delay
        if entry.aborting_since is not None:
            at = min(at, entry.aborting_since + self._abort_grace)
        self._schedule(slug, at)

    def _finish(self, slug: str, run: Run) -> None:
        del self.pending[slug]
        if self._receiver is not None:
            self._receiver._confirmed(slug)
        self.ready.append(run)
        self._signal_output()
        if not self.pending:
            self._wake_all_pollers()  # idle pollers see there is nothing left and end

    # -- consumer side -------------------------------------------------------------------

    async def wait_output(self, timeout: float) -> None:
        assert self._output is not None
        await asyncio.wait((self._output,), timeout=timeout)

    def last_seen(self) -> dict[str, Run | None]:
        return {slug: entry.last for slug, entry in self.pending.items()}

    def _stop(self) -> list[asyncio.Task[None]]:
        self.stopped = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        pending = [task for task in self._tasks if not task.done()]
        for task in pending:
            task.cancel()
        return pending

    async def shutdown(self) -> None:
        pending = self._stop()
        if pending:
            await asyncio.wait(pending)

    def abandon(self) -> bool:
        if self.stopped:
            return False
        running = any(not task.done() for task in self._tasks)
        # RuntimeError: the loop is closed already, nothing can run any more anyway.
        with contextlib.suppress(RuntimeError):
            self._stop()
        return running


class FinishedRuns:
    """Final runs as they finish: an async iterator of :class:`~coreclaw_async.models.Run`.

    Made by ``client.runs.wait_many(run_slugs, ...)``. Each run is yielded once, as soon as a
    ``runs.get`` shows it final (or still aborting after ``abort_grace``). A run that cannot
    be read (``RunNotFoundError``, a slug of another kind) is not yielded: it is in
    :attr:`errors`. Transient failures of a read are retried at the run's next turn. An
    ``AuthenticationError`` ends the iteration at once.

    When ``timeout`` passes with runs still pending, the iteration raises
    ``WaitTimeoutError``; :attr:`pending` then maps each such slug to the last record seen.
    Use it as an async context manager (or call :meth:`aclose`) so that leaving early stops
    the pollers at once.

    Example::

        async with client.runs.wait_many(slugs, receiver=receiver, timeout=900) as finished:
            async for run in finished:
                print(run.slug, run.status.name)
    """

    def __init__(
        self,
        runs: AsyncRuns,
        run_slugs: Iterable[str],
        *,
        receiver: CallbackReceiver | None,
        timeout: float,
        poll_interval: float,
        abort_grace: float,
        concurrency: int,
        call_timeout: float,
        max_retries: int | None,
    ) -> None:
        self._started = False
        self._closed = False
        if isinstance(run_slugs, (str, bytes)):
            raise InvalidParameterError("run_slugs", "must be an iterable of run slugs, not a single string")
        slugs = list(dict.fromkeys(require_slug("run_slugs", slug) for slug in run_slugs))
        self._timeout = require_number("timeout", timeout, minimum=0, exclusive=True)
        self._pollers = _Pollers(
            runs,
            slugs,
            receiver=receiver,
            timeout=self._timeout,
            poll_interval=require_number("poll_interval", poll_interval, minimum=0, exclusive=True),
            abort_grace=require_number("abort_grace", abort_grace, minimum=0),
            pollers=require_int("concurrency", concurrency, minimum=1),
            call_timeout=require_number("call_timeout", call_timeout, minimum=0, exclusive=True),
            max_retries=max_retries,
        )
        self.total = len(slugs)
        """Distinct runs waited for."""

    @property
    def pending(self) -> dict[str, Run | None]:
        """Runs not yielded yet, each with the last record seen (``None`` if never read)."""
        return self._pollers.last_seen()

    @property
    def errors(self) -> dict[str, CoreClawError]:
        """Runs given up on because they cannot be read (e.g. ``RunNotFoundError``), by slug."""
        return dict(self._pollers.errors)

    @property
    def polls(self) -> int:
        """``runs.get`` reads that returned a record so far."""
        return self._pollers.polls

    def __aiter__(self) -> FinishedRuns:
        return self

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._pollers.start()

    async def __anext__(self) -> Run:
        if self._closed:
            raise StopAsyncIteration
        self._start()
        pollers = self._pollers
        loop = asyncio.get_running_loop()
        try:
            # Bounded by the deadline: each pass yields, ends, or waits for output or the deadline.
            while True:
                # Runs already confirmed final are handed out before any fatal error.
                if pollers.ready:
                    return pollers.ready.popleft()
                if pollers.fatal is not None:
                    await self.aclose()
                    raise pollers.fatal
                if not pollers.pending:
                    await self.aclose()
                    raise StopAsyncIteration
                remaining = pollers.deadline - loop.time()
                if remaining <= 0:
                    await self.aclose()
                    raise self._timeout_error()
                await pollers.wait_output(remaining)
        except (StopAsyncIteration, CoreClawError):
            raise
        except BaseException:
            # Cancellation of the consuming task (or anything else) ends the wait.
            await self.aclose()
            raise

    def _timeout_error(self) -> WaitTimeoutError:
        pending = self.pending
        named = ", ".join(list(pending)[:_NAMED_SLUGS]) + (", ..." if len(pending) > _NAMED_SLUGS else "")
        return WaitTimeoutError(
            f"{len(pending)} of {self.total} run(s) not final after {self._timeout:g} s: {named}",
            attempts=self.polls,
        )

    async def aclose(self) -> None:
        """Stop polling and wait until every poller task has ended. Idempotent."""
        self._closed = True
        if self._started:
            await self._pollers.shutdown()

    async def __aenter__(self) -> FinishedRuns:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        if not getattr(self, "_started", False) or getattr(self, "_closed", True):
            return
        self._closed = True
        if self._pollers.abandon():
            warnings.warn(
                "FinishedRuns was dropped while polling; its pollers were cancelled. "
                "Use `async with client.runs.wait_many(...)` or call aclose().",
                ResourceWarning,
                source=self,
                stacklevel=2,
            )

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("running" if self._started else "not started")
        return f"<FinishedRuns {state} total={self.total} pending={len(self._pollers.pending)}>"
