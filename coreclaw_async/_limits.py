"""The client-wide gate every request passes before it is sent.

One ``Limiter`` per client bounds requests in flight (to the connection pool size),
optionally paces them to ``max_rate`` per second, and reacts to rate-limit answers for the
whole client at once: a shared cooldown that every caller waits out (also callers already
queued for a slot), and a concurrency limit that halves on a rate-limit answer and grows
back by one per window of successes. Answers to requests sent before the last halving do
not halve it again (see ``epoch``), so a burst of 429s from one window of requests costs
one halving, not a collapse to a single slot. Waiting here happens before anything is
sent, so a call that times out in the gate is "not sent" and always safe to retry.

We keep this in-house rather than using ``aiolimiter``: pacing is a few lines, and the
cooldown and adaptive concurrency must share one wait queue with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Callable

__all__ = ["CapacityGate", "GateTimeout", "Limiter"]


class GateTimeout(Exception):
    """The gate could not let the caller through before its deadline.

    ``args[0]`` says why: ``"slot"`` (no free slot in time: the pool timeout), ``"cooldown"``
    (a rate-limit cooldown outlasts the deadline), ``"pace"`` (``max_rate`` pacing does) or
    ``"capacity"`` (the plan's concurrent-run limit did not free up in time).
    """

    @property
    def reason(self) -> str:
        """``"slot"``, ``"cooldown"``, ``"pace"`` or ``"capacity"``."""
        return str(self.args[0]) if self.args else "slot"


class Limiter:
    """Concurrency, pacing and cooldown shared by every call of one client."""

    def __init__(self, max_concurrency: int, *, max_rate: float | None = None) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if max_rate is not None and max_rate <= 0:
            raise ValueError("max_rate must be positive")
        self.max_concurrency = max_concurrency
        self.limit = max_concurrency
        self.max_rate = max_rate
        self._interval = 1.0 / max_rate if max_rate else 0.0
        self._next_free = 0.0  # earliest send time of the next request when pacing
        self._cooldown_until = 0.0
        self._active = 0
        self._waiters: deque[asyncio.Future[bool]] = deque()
        self._successes = 0
        self._epoch = 0  # bumped by every halving; tells stale rate-limit answers apart
        self.waited_total = 0.0  # seconds spent waiting here, across calls, however each wait ended
        self.on_wait: Callable[[float], None] | None = None  # told of each wait (telemetry)

    @property
    def in_flight(self) -> int:
        """Requests currently holding a slot."""
        return self._active

    @property
    def cooling_down(self) -> bool:
        """Whether a rate-limit cooldown is in force now."""
        return asyncio.get_running_loop().time() < self._cooldown_until

    @property
    def cooldown_until(self) -> float:
        """``loop.time()`` at which the current (or last) cooldown ends."""
        return self._cooldown_until

    @property
    def epoch(self) -> int:
        """Count of halvings so far. Read it right after :meth:`acquire` and hand it back to
        :meth:`on_rate_limited`, so answers to requests sent before a halving do not halve again."""
        return self._epoch

    async def acquire(self, gate_deadline: float, *, slot_deadline: float | None = None) -> float:
        """Wait for a slot (and the pace and cooldown); return the seconds waited.

        ``gate_deadline`` is a ``loop.time()`` value bounding the whole wait; passing it (or
        seeing that a cooldown or the pace would outlast it) raises ``GateTimeout``.
        ``slot_deadline``, if given, bounds only the wait for a free slot (the pool timeout).
        """
        loop = asyncio.get_running_loop()
        start = loop.time()
        if self.try_acquire(start):
            return 0.0
        try:
            await self._gate(loop, gate_deadline, slot_deadline)
        finally:
            # Counted however the wait ends (slot, timeout, cancellation): it is time spent here.
            waited = loop.time() - start
            self.waited_total += waited
            if self.on_wait is not None:
                self.on_wait(waited)
        return waited

    def try_acquire(self, now: float) -> bool:
        """Take a slot at once if nothing would make :meth:`acquire` wait; ``False`` otherwise.

        The fast path of :meth:`acquire` (a free slot, nobody queued, no cooldown at
        ``loop.time()`` ``now``, no pacing), without creating a coroutine. Waits nothing, so
        it adds nothing to :attr:`waited_total`.
        """
        if (
            self._active < self.limit
            and not self._waiters
            and not self._interval
            and now >= self._cooldown_until
        ):
            self._active += 1
            return True
        return False

    async def _gate(
        self, loop: asyncio.AbstractEventLoop, deadline: float, slot_deadline: float | None
    ) -> None:
        await self._wait_cooldown(loop, deadline)
        if self._active < self.limit and not self._waiters:
            self._active += 1
        else:
            await self._wait_slot(loop, deadline if slot_deadline is None else min(deadline, slot_deadline))
        try:
            # A cooldown may have begun while we queued: a slot handed over does not skip it.
            await self._wait_cooldown(loop, deadline)
            if self._interval:
                await self._wait_pace(loop, deadline)
        except BaseException:
            self.release()
            raise

    async def _wait_cooldown(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        # Bounded: each pass sleeps until the cooldown end it saw, which only moves forward,
        # and a cooldown reaching past the deadline fails at once instead of sleeping to it.
        while True:
            now = loop.time()
            if now >= self._cooldown_until:
                return
            if self._cooldown_until > deadline:
                raise GateTimeout("cooldown")
            await asyncio.sleep(self._cooldown_until - now)

    async def _wait_slot(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        fut: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(fut)
        timer = loop.call_at(deadline, _resolve, fut, False)
        try:
            granted = await fut
        except BaseException:
            timer.cancel()
            if fut.done() and not fut.cancelled() and fut.result():
                self.release()  # the slot was handed to us just as we were cancelled
            else:
                self._discard(fut)
            raise
        timer.cancel()
        if not granted:
            self._discard(fut)
            raise GateTimeout("slot")

    async def _wait_pace(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        now = loop.time()
        slot = max(now, self._next_free)
        if slot > deadline:
            raise GateTimeout("pace")
        self._next_free = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)

    def _discard(self, fut: asyncio.Future[bool]) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(fut)

    def release(self) -> None:
        """Give a slot back, handing it straight to the next waiter if the limit allows."""
        if self._active <= self.limit:
            while self._waiters:
                fut = self._waiters.popleft()
                if not fut.done():
                    fut.set_result(True)  # the slot moves to the waiter; _active is unchanged
                    return
        self._active -= 1

    def on_success(self) -> None:
        """Count a success; after a full window of them, allow one more request in flight."""
        if self.limit < self.max_concurrency:
            self._successes += 1
            if self._successes >= self.limit:
                self._successes = 0
                self.limit += 1
                self._wake()

    def on_rate_limited(self, cooldown: float, *, epoch: int | None = None) -> None:
        """React to a rate-limit answer: everyone waits ``cooldown`` s, concurrency halves.

        ``epoch`` is :attr:`epoch` as read when the rate-limited request got its slot; if a
        halving happened since, this answer belongs to a window already reacted to and only
        the cooldown is extended. ``None`` always halves.
        """
        loop = asyncio.get_running_loop()
        self._cooldown_until = max(self._cooldown_until, loop.time() + cooldown)
        if epoch is None or epoch == self._epoch:
            self.limit = max(1, self.limit // 2)
            self._successes = 0
            self._epoch += 1

    def _wake(self) -> None:
        while self._waiters and self._active < self.limit:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(True)
                self._active += 1


def _resolve(fut: asyncio.Future[bool], value: bool) -> None:
    if not fut.done():
        fut.set_result(value)


# Backoffs double at most this many times in a row; 2**60 times any base is past every ceiling.
_MAX_DOUBLINGS = 60


class CapacityGate:
    """Where the run starts of one client wait while the plan's concurrent-run limit is full.

    CoreClaw refuses a start with code 30003 when the account already runs as many runs as
    its plan allows; nothing is created, so the start may be sent again once a run ends.
    Runs last seconds to minutes, so instead of every caller polling on its own, the first
    refusal closes the gate for every start of the client: from then on one start at a time
    (the *probe*) is let through, after a jittered backoff that grows with each refusal in a
    row (``base`` doubling up to ``ceiling``). A probe that starts a run opens the way for the
    next waiter at once (capacity may have freed for several); when nobody waits any more the
    gate opens again. Waiting here happens before anything is sent.
    """

    def __init__(self, *, base: float, ceiling: float, rng: random.Random) -> None:
        self._base = base
        self._ceiling = ceiling
        self._rng = rng
        self._closed = False  # True while starts must queue for the probe
        self._probe_at = 0.0  # loop.time() before which no probe may be sent
        self._holder = False  # a probe is in flight
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._refusals_in_row = 0
        self.waited_total = 0.0
        """Seconds starts spent waiting here, however each wait ended."""
        self.on_wait: Callable[[float], None] | None = None
        """Told of each wait here, however it ended (telemetry)."""

    @property
    def closed(self) -> bool:
        """Whether starts currently queue for a probe."""
        return self._closed

    @property
    def probe_at(self) -> float:
        """``loop.time()`` before which no probe is sent (the current backoff's end)."""
        return self._probe_at

    def backoff(self) -> float:
        """The wait before the next probe after the current run of refusals (jittered)."""
        # The exponent stops growing long before a float would overflow: the ceiling caps it anyway.
        exponent = min(max(self._refusals_in_row - 1, 0), _MAX_DOUBLINGS)
        ceiling = min(self._ceiling, self._base * 2.0**exponent)
        return ceiling * (0.5 + self._rng.random() / 2)

    async def enter(self, deadline: float) -> bool:
        """Wait for this start's turn; return whether it holds the probe (pass that to :meth:`leave`).

        Returns ``False`` at once while the gate is open. Raises ``GateTimeout("capacity")``
        when the turn cannot come before ``deadline`` (a ``loop.time()`` value).
        """
        if not self._closed:
            return False
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            if self._holder or self._waiters:
                fut: asyncio.Future[None] = loop.create_future()
                self._waiters.append(fut)
                timer = loop.call_at(deadline, _expire, fut)
                try:
                    await fut
                except BaseException:
                    timer.cancel()
                    if fut.done() and not fut.cancelled() and fut.exception() is None:
                        self._pass_on()  # the probe was handed to us as we gave up
                    else:
                        with contextlib.suppress(ValueError):
                            self._waiters.remove(fut)
                    raise
                timer.cancel()
            else:
                self._holder = True
            # We hold the probe now: wait for its time, unless it comes too late anyway.
            try:
                if self._probe_at > deadline:
                    raise GateTimeout("capacity")
                delay = self._probe_at - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            except BaseException:
                self._pass_on()
                raise
            return True
        finally:
            waited = loop.time() - start
            self.waited_total += waited
            if self.on_wait is not None:
                self.on_wait(waited)

    def leave(self, held: bool, *, started: bool | None) -> None:
        """Report how a start went: ``True`` a run was created, ``False`` refused with 30003,
        ``None`` anything else (another error, cancellation)."""
        try:
            now = asyncio.get_running_loop().time()
            if started is False:
                if held or not self._closed:
                    self._refusals_in_row = min(self._refusals_in_row + 1, _MAX_DOUBLINGS + 1)
                self._closed = True
                self._probe_at = max(self._probe_at, now + self.backoff())
            elif started and held:
                self._refusals_in_row = 0
                self._probe_at = now
        finally:
            # Whatever happened above, a held probe always moves on: a leaked one would block
            # every start of the client for good.
            if held:
                self._pass_on()

    def _pass_on(self) -> None:
        # Hand the probe to the next live waiter; with none left, an open way means an open gate.
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                self._holder = True
                fut.set_result(None)
                return
        self._holder = False
        if self._refusals_in_row == 0:
            self._closed = False


def _expire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(GateTimeout("capacity"))
