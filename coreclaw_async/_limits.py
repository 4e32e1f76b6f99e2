"""The client-wide gate every request passes before it is sent.

One ``Limiter`` per client bounds requests in flight (to the connection pool size),
optionally paces them to ``max_rate`` per second, and reacts to rate-limit answers for the
whole client at once: a shared cooldown that every caller waits out, and a concurrency
limit that halves on each rate-limit answer and grows back by one per window of
successes. Waiting here happens before anything is sent, so a call that times out in the
gate is "not sent" and always safe to retry.

We keep this in-house rather than using ``aiolimiter``: pacing is a few lines, and the
cooldown and adaptive concurrency must share one wait queue with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

__all__ = ["GateTimeout", "Limiter"]


class GateTimeout(Exception):
    """No slot became free before the caller's gate deadline."""


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
        self.waited_total = 0.0  # seconds spent waiting here, across calls

    @property
    def in_flight(self) -> int:
        """Requests currently holding a slot."""
        return self._active

    @property
    def cooling_down(self) -> bool:
        """Whether a rate-limit cooldown is in force now."""
        return asyncio.get_running_loop().time() < self._cooldown_until

    async def acquire(self, gate_deadline: float) -> float:
        """Wait for a slot (and the pace and cooldown); return the seconds waited.

        ``gate_deadline`` is a ``loop.time()`` value; passing it raises ``GateTimeout``.
        """
        loop = asyncio.get_running_loop()
        start = loop.time()
        # Fast path: a free slot, nobody queued, no cooldown, no pacing.
        if (
            self._active < self.limit
            and not self._waiters
            and not self._interval
            and start >= self._cooldown_until
        ):
            self._active += 1
            return 0.0
        await self._wait_cooldown(loop, gate_deadline)
        if self._active < self.limit and not self._waiters:
            self._active += 1
        else:
            await self._wait_slot(loop, gate_deadline)
        if self._interval:
            try:
                await self._wait_pace(loop, gate_deadline)
            except BaseException:
                self.release()
                raise
        waited = loop.time() - start
        self.waited_total += waited
        return waited

    async def _wait_cooldown(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        while True:  # bounded: each pass waits until the cooldown seen, which only moves forward
            now = loop.time()
            if now >= self._cooldown_until:
                return
            if self._cooldown_until > deadline:
                await asyncio.sleep(max(0.0, deadline - now))
                raise GateTimeout
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
            raise GateTimeout

    async def _wait_pace(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        now = loop.time()
        slot = max(now, self._next_free)
        if slot > deadline:
            raise GateTimeout
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

    def on_rate_limited(self, cooldown: float) -> None:
        """React to a rate-limit answer: everyone waits ``cooldown`` s, concurrency halves."""
        loop = asyncio.get_running_loop()
        self._cooldown_until = max(self._cooldown_until, loop.time() + cooldown)
        self.limit = max(1, self.limit // 2)
        self._successes = 0

    def _wake(self) -> None:
        while self._waiters and self._active < self.limit:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(True)
                self._active += 1


def _resolve(fut: asyncio.Future[bool], value: bool) -> None:
    if not fut.done():
        fut.set_result(value)
