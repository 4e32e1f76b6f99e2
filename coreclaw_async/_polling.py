"""The one poll engine: ``runs.wait`` (one run) and ``runs.wait_many`` (any number) both run on it.

However many runs are waited for, a fixed number of poller tasks serve them: each run has
a due time in one heap; a poller takes whichever run is due next, reads it with the "get
this run" callable it was given, and asks the run's :class:`Cadence` when the next read is
due (at once, then about a second, growing by half again each time up to ``poll_interval``,
jittered so waiters do not poll in lockstep). With a callback receiver (anything with the
:class:`RunNotices` interface), a final notice makes its run due at once, and the first
read waits for the first gap, since notices cover the runs that end sooner; a notice is a
hint, so the run is still read before it is reported final, and polling goes on for runs
whose notice is lost. A run stuck "aborting" is reported as it is after ``abort_grace``.

A read that fails on the way (a connection, a timeout, a server error, a rate limit) is tried
again at the run's next turn; a run whose read the server refuses (not found, a slug of
another kind, a proxy refusing the route) is given up (``errors``; ``runs.wait`` raises it);
an authentication failure or an unusable client ends the whole wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from ._background import BackgroundIterator
from ._constants import (
    LOGGED_SLUGS,
    LOGGER_NAME,
    WAIT_BACKOFF_FACTOR,
    WAIT_FIRST_DELAY,
    WAIT_JITTER,
    WAIT_SETTLE,
)
from .errors import (
    AuthenticationError,
    ClientStateError,
    CoreClawError,
    InvalidParameterError,
    RateLimitError,
    ResponseValidationError,
    WaitTimeoutError,
)
from .models.runs import Run, RunStatus

__all__ = ["Cadence", "FinishedRuns", "PollEngine", "ReadRun", "RunNotices"]

logger = logging.getLogger(LOGGER_NAME)

ReadRun = Callable[[str, float], Awaitable[Run]]
"""The "get this run" callable: ``read(run_slug, call_timeout)`` returns the run's record."""


class RunNotices(Protocol):
    """What the pollers need of a callback receiver (``CallbackReceiver`` has it)."""

    @property
    def closed(self) -> bool:
        """Whether the receiver has stopped (no more notices will come)."""

    def subscribe(self, run_slugs: Iterable[str], on_final: Callable[[str], None]) -> Callable[[], None]:
        """Call ``on_final(slug)`` for each final notice of these runs; return the unsubscribe function."""

    def confirm_final(self, run_slug: str) -> None:
        """A read showed ``run_slug`` final."""


class Cadence:
    """When the next read of one run is due: the one place that decides it."""

    __slots__ = ("_gap", "_grace", "_interval", "aborting_since")

    def __init__(self, poll_interval: float, abort_grace: float) -> None:
        self._interval = poll_interval
        self._grace = abort_grace
        self._gap = min(WAIT_FIRST_DELAY, poll_interval)
        self.aborting_since: float | None = None

    @property
    def first_gap(self) -> float:
        """The gap before the first re-check (about a second, never above ``poll_interval``)."""
        return min(WAIT_FIRST_DELAY, self._interval)

    def next_read(self, run: Run, now: float, rng: random.Random) -> float | None:
        """After reading ``run`` at loop time ``now``: ``None`` when the wait for it is over
        (final, or still aborting after the grace), else the loop time of the next read."""
        if run.is_final:
            return None
        if run.status is RunStatus.ABORTING:
            if self.aborting_since is None:
                self.aborting_since = now
            if now >= self.aborting_since + self._grace:
                logger.info(
                    "run %s still aborting after %.1fs; returning it as is", run.run_slug, self._grace
                )
                return None
        else:
            self.aborting_since = None
        return self.after_failure(now, rng)

    def after_failure(self, now: float, rng: random.Random) -> float:
        """The loop time of the next read after one at ``now`` (also after a failed read)."""
        gap = self._gap
        # Jittered around the current gap but never above poll_interval, so waiters that
        # reached the cap still spread out instead of polling in lockstep.
        delay = rng.uniform(gap * (1 - WAIT_JITTER), min(self._interval, gap * (1 + WAIT_JITTER)))
        self._gap = min(gap * WAIT_BACKOFF_FACTOR, self._interval)
        at = now + delay
        if self.aborting_since is not None:
            at = min(at, self.aborting_since + self._grace)
        return at


class _Entry:
    """The polling state of one pending run."""

    __slots__ = ("cadence", "due_seq", "failure", "in_flight", "last", "recheck")

    def __init__(self, cadence: Cadence) -> None:
        self.cadence = cadence
        self.due_seq = -1
        self.last: Run | None = None
        self.failure: CoreClawError | None = None
        self.in_flight = False
        self.recheck = False


class PollEngine:
    """The machinery behind one wait: the schedule, the poller tasks, the finished runs.

    Holds no reference to the iterator that drives it, so a dropped iterator can be
    collected and its finaliser can stop the pollers.
    """

    def __init__(
        self,
        read: ReadRun,
        slugs: Iterable[str],
        *,
        notices: RunNotices | None,
        timeout: float,
        poll_interval: float,
        abort_grace: float,
        pollers: int,
        call_timeout: float,
        on_poll: Callable[[Run], Any] | None = None,
    ) -> None:
        self._read = read
        self._notices = notices
        self._timeout = timeout
        self._poller_count = pollers
        self._call_timeout = call_timeout
        self._on_poll = on_poll
        self._rng = random.Random()
        self.pending: dict[str, _Entry] = {
            slug: _Entry(Cadence(poll_interval, abort_grace)) for slug in slugs
        }
        self.total = len(self.pending)
        self.ready: deque[Run] = deque()
        self.errors: dict[str, CoreClawError] = {}
        self.fatal: BaseException | None = None
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._pollers: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadline = 0.0
        # One future per idle poller: new work wakes one of them, not all.
        self._idle: deque[asyncio.Future[None]] = deque()
        self._output: asyncio.Future[None] | None = None
        self.stopped = False
        self.polls = 0

    # -- Machinery -----------------------------------------------------------------------

    def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        now = loop.time()
        self._deadline = now + self._timeout
        self._output = loop.create_future()
        notices = self._notices
        listening = notices is not None and not notices.closed
        for slug, entry in self.pending.items():
            # With a receiver, notices cover the runs that end soon; the first read waits for
            # the first gap, but always comes well before a short wait's deadline.
            first = now + min(entry.cadence.first_gap, self._timeout / 2) if listening else now
            self._schedule(slug, first)
        count = min(self._poller_count, len(self.pending))
        self._pollers = [
            loop.create_task(self._poll_loop(), name=f"coreclaw_async.poller-{number}")
            for number in range(count)
        ]
        if listening:
            assert notices is not None
            self._unsubscribe = notices.subscribe(list(self.pending), self._on_final_notice)

    def take(self) -> Run | None:
        return self.ready.popleft() if self.ready else None

    async def next(self) -> Run:
        loop = asyncio.get_running_loop()
        # Bounded by the deadline: each pass yields, ends, or waits for output or the deadline.
        while True:
            # Runs already confirmed final are handed out before any fatal error.
            if self.ready:
                return self.ready.popleft()
            if self.fatal is not None:
                raise self.fatal
            if not self.pending:
                raise StopAsyncIteration
            remaining = self._deadline - loop.time()
            if remaining <= 0:
                # Reads in flight end by the same deadline: let them report first, so the
                # timeout error carries the last record or failure.
                running = [task for task in self._pollers if not task.done()]
                if running:
                    await asyncio.wait(running, timeout=WAIT_SETTLE)
                if self.ready:
                    continue
                raise self.timeout_error()
            assert self._output is not None
            await asyncio.wait((self._output,), timeout=remaining)

    async def finish(self) -> None:
        await self.shutdown()

    async def shutdown(self) -> None:
        pending = self._stop()
        if pending:
            await asyncio.wait(pending)

    def abandon(self) -> bool:
        if self.stopped:
            return False
        running = any(not task.done() for task in self._pollers)
        # RuntimeError: the loop is closed already, nothing can run any more anyway.
        with contextlib.suppress(RuntimeError):
            self._stop()
        return running

    def _stop(self) -> list[asyncio.Task[None]]:
        self.stopped = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        pending = [task for task in self._pollers if not task.done()]
        for task in pending:
            task.cancel()
        return pending

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
                    self._signal_output()  # the consumer raises the timeout
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
            # A bug of ours (or of an on_poll callback): end the whole wait with it rather
            # than hang until the deadline.
            logger.error("poller failed", exc_info=True)
            if self.fatal is None:
                self.fatal = exc
            self._signal_output()

    async def _poll(self, slug: str, entry: _Entry, loop: asyncio.AbstractEventLoop) -> None:
        budget = min(self._call_timeout, max(self._deadline - loop.time(), 0.001))
        entry.in_flight = True
        entry.recheck = False
        try:
            run = await self._read(slug, budget)
        except (AuthenticationError, ClientStateError, InvalidParameterError) as exc:
            # Every other run would fail the same way.
            self._fail(exc)
            return
        except CoreClawError as exc:
            if (exc.outcome == "rejected" and not isinstance(exc, RateLimitError)) or isinstance(
                exc, ResponseValidationError
            ):
                # The server (or a proxy in front of it) answered and refused: not found, a
                # slug of another kind, a wrong route. Asking again would get the same answer.
                logger.warning("run %s cannot be read (%s); not waited for", slug, exc)
                self.errors[slug] = exc
                del self.pending[slug]
                self._signal_output()
                return
            entry.failure = exc
            logger.info("reading run %s failed (%s); trying again at its next turn", slug, exc)
            # A final notice came during the failed read: try again at once (only once: the
            # next read starts with recheck cleared).
            now = loop.time()
            self._schedule(slug, now if entry.recheck else entry.cadence.after_failure(now, self._rng))
            return
        finally:
            entry.in_flight = False
        self.polls += 1
        entry.last = run
        entry.failure = None
        if self._on_poll is not None:
            try:
                self._on_poll(run)
            except Exception as exc:
                # The caller's callback failed: end the wait with its exception, as raised.
                self._fail(exc)
                return
        now = loop.time()
        due = entry.cadence.next_read(run, now, self._rng)
        if due is None:
            self._finish(slug, run)
        else:
            # A final notice came while this read was in flight: read again at once.
            self._schedule(slug, now if entry.recheck else due)

    def _fail(self, exc: BaseException) -> None:
        """End the whole wait with ``exc`` (raised to the consumer after the runs already final)."""
        if self.fatal is None:
            self.fatal = exc
        self.stopped = True
        self._signal_output()
        self._wake_all_pollers()

    def _finish(self, slug: str, run: Run) -> None:
        del self.pending[slug]
        if self._notices is not None and run.is_final:
            self._notices.confirm_final(slug)
        self.ready.append(run)
        self._signal_output()
        if not self.pending:
            self._wake_all_pollers()  # idle pollers see there is nothing left and end

    # -- results -------------------------------------------------------------------------

    def last_seen(self) -> dict[str, Run | None]:
        return {slug: entry.last for slug, entry in self.pending.items()}

    def timeout_error(self) -> WaitTimeoutError:
        """The error of a wait whose deadline passed with runs pending (the one way it is built)."""
        pending = self.pending
        if self.total == 1 and len(pending) == 1:
            slug, entry = next(iter(pending.items()))
            last = entry.last
            state = last.status.name.lower() if last is not None else "never read"
            error = WaitTimeoutError(
                f"Run {slug} was not final after {self._timeout:g} s "
                f"(last status: {state}, {self.polls} checks)",
                last_run=last,
                attempts=self.polls,
            )
            error.__cause__ = entry.failure
            return error
        named = ", ".join(list(pending)[:LOGGED_SLUGS]) + (", ..." if len(pending) > LOGGED_SLUGS else "")
        return WaitTimeoutError(
            f"{len(pending)} of {self.total} run(s) not final after {self._timeout:g} s: {named}",
            attempts=self.polls,
        )


class FinishedRuns(BackgroundIterator[Run]):
    """Final runs as they finish: an async iterator of :class:`~coreclaw_async.models.Run`.

    Made by ``client.runs.wait_many(run_slugs, ...)``. Each run is yielded once, as soon as a
    read shows it final (or still aborting after ``abort_grace``). A run that cannot be read
    (``RunNotFoundError``, a slug of another kind) is not yielded: it is in :attr:`errors`.
    A failed read is tried again at the run's next turn. An ``AuthenticationError`` (or a
    closed client) ends the iteration at once.

    When ``timeout`` passes with runs still pending, the iteration raises
    ``WaitTimeoutError``; :attr:`pending` then maps each such slug to the last record seen.
    Use it as an async context manager (or call :meth:`aclose`) so that leaving early stops
    the pollers at once.

    Example::

        async with client.runs.wait_many(slugs, receiver=receiver, timeout=900) as finished:
            async for run in finished:
                print(run.run_slug, run.status.name)
    """

    _how_to_use = "use `async with client.runs.wait_many(...)` or call aclose()"

    def __init__(self, engine: PollEngine) -> None:
        super().__init__(engine)
        self._engine = engine
        self.total = engine.total
        """Distinct runs waited for."""

    @property
    def pending(self) -> dict[str, Run | None]:
        """Runs not yielded yet, each with the last record seen (``None`` if never read)."""
        return self._engine.last_seen()

    @property
    def errors(self) -> dict[str, CoreClawError]:
        """Runs given up on because they cannot be read (e.g. ``RunNotFoundError``), by slug."""
        return dict(self._engine.errors)

    @property
    def polls(self) -> int:
        """Reads that returned a record so far."""
        return self._engine.polls

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("running" if self._started else "not started")
        return f"<FinishedRuns {state} total={self.total} pending={len(self._engine.pending)}>"
