"""``RedisBudget``: one request budget for every client of an account, in any process, on Redis.

Each request asks Redis once, with one script that reads Redis's own clock and, atomically:
gives back the leases this process released since its last ask, refuses while an account-wide
cooldown (a rate-limit answer anywhere) or, for run starts waiting for plan capacity, a
capacity hold is in force, checks ``max_in_flight`` against the live leases (a sorted set
scored by expiry, so a killed process's leases lapse), and reserves the next send time of
``max_rate`` (the generic cell rate algorithm with no burst: one theoretical arrival time,
moved one interval per request). A reservation in the near future is slept out by the
caller; one past the call's deadline is refused. So a request costs one round trip,
however many processes share the budget.

A rate-limit answer sets the cooldown key and publishes it; every process subscribed to the
budget's channel applies it at once to requests already holding a reservation, so the
others stop sending within about one round trip and, the cooldown being one key with one
end, resume together.

When Redis cannot be reached, requests go on under the client's own limits (a WARNING once
per outage) or fail as not sent (``on_unavailable="raise"``); Redis is tried again every
``retry_interval`` seconds. A failure there never changes what the request's outcome means:
nothing is sent before the budget answered.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import os
import random
import secrets
from typing import Any, Literal

from redis.exceptions import RedisError

from .._budget import BudgetTimeout
from .._constants import (
    BUDGET_FULL_POLL,
    BUDGET_FULL_POLL_MAX,
    BUDGET_KEY_PREFIX,
    BUDGET_LEASE_MARGIN,
    BUDGET_MAX_PENDING_RELEASES,
    BUDGET_POOL_BUSY_PAUSE,
    BUDGET_REDIS_TIMEOUT,
    BUDGET_RELEASE_DELAY,
    BUDGET_RETRY_INTERVAL,
    LOGGER_NAME,
)
from .._validation import require_int, require_number
from ..errors import BudgetUnavailableError, InvalidParameterError
from ._budget_scripts import ACQUIRE, HOLD, RELEASE
from ._budget_stats import BudgetCounters, BudgetStats
from ._common import FAILURES, bounded, check_key_part, check_redis, database, pool_busy, stop_task

__all__ = ["BudgetStats", "RedisBudget"]

logger = logging.getLogger(LOGGER_NAME)

_REASONS = {1: "cooldown", 2: "capacity", 3: "slot", 4: "pace"}
# At most this many released leases ride on one acquire (Lua's unpack has a stack limit).
_MAX_RELEASES_PER_ASK = 256
# _ask_redis: Redis did not answer (the request goes on without the budget, or fails).
_DOWN = -1
# _ask_redis: the Redis client's connection pool is capped and full: not an outage, ask again.
_BUSY = -2

Unavailable = Literal["warn", "raise"]


class RedisBudget:
    """A request budget shared by every client built with a budget of the same ``name`` on the same Redis.

    Pass it as ``AsyncCoreClaw(..., budget=budget)`` in each process (several clients of one
    process may share one budget). What is shared:

    * ``max_rate``: requests per second, across all of them together;
    * ``max_in_flight``: requests in flight across all of them, as leases that expire, so a
      process killed mid-request gives its slots back after the request's deadline;
    * the cooldown after a rate-limit answer (4290 / 13000): when one client gets it, all wait
      it out; and while a run start waits for plan capacity (30003 with
      ``wait_for_capacity``), the other clients' waiting starts hold off as long.

    Time spent waiting here counts as "not sent" and stays inside the call's deadline. Each
    request also passes its own client's limits (``max_connections``, ``max_rate``).

    Args:
        redis: a ``redis.asyncio.Redis`` client (yours: the budget never closes it).
        name: the budget's name; clients with the same name (and Redis) share it. Keys are
            ``coreclaw:budget:{<name>}:...`` (one Redis Cluster slot per budget).
        max_rate: requests per second for all clients together (``None``: no shared pace).
            Set it a little under the account's limit: 0.9 to 0.95 of it.
        max_in_flight: requests in flight for all clients together (``None``: no shared cap).
        on_unavailable: when Redis cannot be reached: ``"warn"`` (the default) goes on under
            each client's own limits and logs a WARNING once per outage; ``"raise"`` fails
            the request with ``BudgetUnavailableError`` (not sent).
        redis_timeout: seconds one Redis command may take before Redis counts as unreachable.
        retry_interval: while Redis is unreachable, seconds between attempts to reach it.
        lease_margin: a ``max_in_flight`` lease lasts for its request's deadline plus this
            many seconds; a killed process's slots come back when their leases lapse.

    Raises:
        InvalidParameterError: a bad argument.

    Example::

        import redis.asyncio as redis
        from coreclaw_async.redis import RedisBudget

        budget = RedisBudget(redis.Redis.from_url("redis://localhost"), name="acme", max_rate=9)
        async with AsyncCoreClaw(budget=budget) as client:
            ...
    """

    def __init__(
        self,
        redis: Any,
        *,
        name: str,
        max_rate: float | None = None,
        max_in_flight: int | None = None,
        on_unavailable: Unavailable = "warn",
        redis_timeout: float = BUDGET_REDIS_TIMEOUT,
        retry_interval: float = BUDGET_RETRY_INTERVAL,
        lease_margin: float = BUDGET_LEASE_MARGIN,
    ) -> None:
        self._redis = check_redis(redis, "pubsub")
        self.name = check_key_part("name", name)
        if max_rate is not None:
            max_rate = require_number("max_rate", max_rate, minimum=0, exclusive=True)
        if max_in_flight is not None:
            max_in_flight = require_int("max_in_flight", max_in_flight, minimum=1)
        if on_unavailable not in ("warn", "raise"):
            raise InvalidParameterError(
                "on_unavailable", f"must be 'warn' or 'raise', got {on_unavailable!r:.40}"
            )
        self.max_rate = max_rate
        self.max_in_flight = max_in_flight
        self.on_unavailable: Unavailable = on_unavailable
        self._redis_timeout = require_number("redis_timeout", redis_timeout, minimum=0, exclusive=True)
        self._retry_interval = require_number("retry_interval", retry_interval, minimum=0, exclusive=True)
        self._lease_margin = require_number("lease_margin", lease_margin, minimum=0)
        base = f"{BUDGET_KEY_PREFIX}:{{{self.name}}}"
        self._keys = [f"{base}:pace", f"{base}:cooldown", f"{base}:capacity", f"{base}:leases"]
        # Keys live in one database, but pub/sub channels are shared by all of a server's
        # databases: the database number keeps budgets of one name in two databases apart.
        self._channel = f"{base}:events:{database(redis)}"
        self._interval_us = round(1_000_000 / max_rate) if max_rate else 0
        self._ask = redis.register_script(ACQUIRE)
        self._hold = redis.register_script(HOLD)
        self._give_back = redis.register_script(RELEASE)
        # Lease ids name the process that holds them: made again in a forked child.
        self._pid = os.getpid()
        self._instance = secrets.token_hex(6)
        self._lease_numbers = itertools.count()
        self._rng = random.Random()
        self._counters = BudgetCounters()
        # Local knowledge, in loop.time(): holds heard from any process, and the outage.
        self._cooldown_until = 0.0
        self._capacity_until = 0.0
        self._down_until = 0.0
        self._down = False
        self._released: list[str] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # Requests of this process waiting for a max_in_flight slot, first come first woken,
        # and the count of slot announcements heard (an ask that began before one is retried).
        self._slot_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._slots_heard = 0
        self._clients = 0
        self._stopping = False

    def __repr__(self) -> str:
        return (
            f"<RedisBudget name={self.name!r} max_rate={self.max_rate} max_in_flight={self.max_in_flight}"
            f" clients={self._clients}>"
        )

    @property
    def stats(self) -> BudgetStats:
        """A snapshot of this process's counters for the budget."""
        return self._counters.snapshot(BudgetStats)

    @property
    def available(self) -> bool:
        """Whether Redis answered the last time it was asked (``True`` before the first ask)."""
        return not self._down

    # -- the client's side (SharedBudget) ----------------------------------------------

    def attach(self) -> None:
        """A client starts using the budget (``AsyncCoreClaw`` calls this)."""
        self._clients += 1

    async def detach(self) -> None:
        """A client closed; when the last one has, stop listening and hand back released leases."""
        self._clients = max(self._clients - 1, 0)
        if self._clients == 0:
            await self.aclose()

    async def aclose(self) -> None:
        """Stop the background listener and send the released leases back. Idempotent; the budget
        may be used again afterwards (it starts listening again on the next request)."""
        listener, self._listener = self._listener, None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if listener is not None and not listener.done():
            self._stopping = True  # the listener checks it after every wait
            try:
                if not await stop_task(listener):
                    logger.warning("shared budget %r: its listener did not stop", self.name)
            finally:
                self._stopping = False
        if self._released and self._loop is asyncio.get_running_loop():
            await self._flush()
        tasks = [task for task in self._tasks if not task.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def acquire(self, deadline: float, *, run_start: bool = False) -> str | None:
        """Wait for this request's turn; return its lease (``None`` when nothing is leased).

        ``deadline`` is a ``loop.time()`` value. Raises ``BudgetTimeout`` when the turn cannot
        come before it and ``BudgetUnavailableError`` when Redis cannot be reached under
        ``on_unavailable="raise"``; nothing was sent either way.
        """
        loop = asyncio.get_running_loop()
        self._bind(loop)
        counters = self._counters
        counters.acquires += 1
        start = loop.time()
        waited = False
        full_asks = 0
        try:
            # Bounded by the deadline: every pass returns, raises, or sleeps a positive time
            # that ends before the deadline (a wait past it raises instead).
            while True:
                now = loop.time()
                held = self._local_hold(now, run_start)
                if held is not None:
                    reason, until = held
                    if until > deadline:
                        raise BudgetTimeout(reason)
                    waited = True
                    await asyncio.sleep(until - now)
                    continue
                if now < self._down_until:
                    self._go_on_without()
                    return None
                lease = f"{self._instance}:{next(self._lease_numbers)}" if self.max_in_flight else ""
                heard = self._slots_heard
                status, wait = await self._ask_redis(lease, deadline, run_start)
                if status == _DOWN:
                    self._go_on_without()
                    return None
                if status == _BUSY:
                    pause = BUDGET_POOL_BUSY_PAUSE * (0.5 + self._rng.random())
                    if loop.time() + pause > deadline:
                        raise BudgetTimeout("ask")
                    waited = True
                    await asyncio.sleep(pause)
                    continue
                if status == 0:
                    if wait <= 0:
                        return lease or None
                    waited = True
                    try:
                        await asyncio.sleep(wait)
                    except BaseException:
                        self.release(lease or None)
                        raise
                    if self._local_hold(loop.time(), run_start) is None:
                        return lease or None
                    # A cooldown was announced while this request waited for its send time:
                    # it gives that time up and asks again once the cooldown is over.
                    self.release(lease or None)
                    continue
                reason = _REASONS.get(status, "slot")
                if status == 3:
                    waited = True
                    if self._slots_heard == heard:
                        # Woken by a slot announcement, or after a pause doubling per ask.
                        pause = min(BUDGET_FULL_POLL * 2**full_asks, BUDGET_FULL_POLL_MAX)
                        full_asks += 1
                        pause *= 0.5 + self._rng.random()
                        remaining = deadline - loop.time()
                        if remaining <= 0:
                            raise BudgetTimeout(reason)
                        if not await self._slot_freed(min(pause, remaining)) and pause >= remaining:
                            raise BudgetTimeout(reason)  # no slot came before the deadline
                    continue
                self._note_hold(reason, loop.time() + wait)
                if status == 4 or loop.time() + wait > deadline:
                    raise BudgetTimeout(reason)
                waited = True
                await asyncio.sleep(wait)
        except BudgetTimeout:
            counters.timeouts += 1
            raise
        finally:
            if waited:
                counters.waits += 1
                counters.waited_seconds += loop.time() - start

    def release(self, lease: object | None) -> None:
        """The request holding ``lease`` is over; its slot goes back with the next ask (or shortly)."""
        if not lease or not isinstance(lease, str):
            return
        self._keep_released([lease])
        if self._wake_slot_waiters(1):
            return  # a request of this process asks now, and its ask carries the lease back
        if self._clients == 0:
            # No client is left to ask again soon (closed mid-request): send it back now.
            self._flush_soon()
        else:
            self._schedule_flush(BUDGET_RELEASE_DELAY)

    def rate_limited(self, cooldown: float) -> None:
        """A client got a rate-limit answer: every client of the budget waits ``cooldown`` seconds."""
        self._set_hold("cooldown", cooldown)

    def capacity_full(self, backoff: float) -> None:
        """A run start was refused for plan capacity: waiting starts everywhere hold off ``backoff`` s."""
        self._set_hold("capacity", backoff)

    # -- internals ---------------------------------------------------------------------

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        if os.getpid() != self._pid:
            # A forked child (a pre-forking server built the budget before the fork): a lease
            # id of its own, and none of its parent's leases or tasks.
            self._pid = os.getpid()
            self._instance = secrets.token_hex(6)
            self._lease_numbers = itertools.count()
            self._released = []
            self._loop = None
        if self._loop is not loop:
            # First use, or a new event loop (the old one's tasks ended with it).
            self._loop = loop
            self._listener = None
            self._flush_handle = None
            self._tasks = set()
            self._slot_waiters = collections.deque()
        listener = self._listener
        # Only while a client uses the budget: a retry after the last one closed asks, but
        # does not start listening again (nothing would stop it).
        if (listener is None or listener.done()) and self._clients > 0:
            self._listener = loop.create_task(self._listen(), name=f"coreclaw_async.budget-{self.name}")

    def _local_hold(self, now: float, run_start: bool) -> tuple[str, float] | None:
        if now < self._cooldown_until:
            return "cooldown", self._cooldown_until
        if run_start and now < self._capacity_until:
            return "capacity", self._capacity_until
        return None

    async def _ask_redis(self, lease: str, deadline: float, run_start: bool) -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        now = loop.time()
        released = self._released[:_MAX_RELEASES_PER_ASK]
        del self._released[: len(released)]
        lifetime_ms = max(int((max(deadline - now, 0.0) + self._lease_margin) * 1000), 1)
        max_wait_us = int(max(deadline - now, 0.0) * 1_000_000)
        args: list[Any] = [
            self._interval_us,
            self.max_in_flight or 0,
            lease,
            lifetime_ms,
            max_wait_us,
            "1" if run_start else "0",
            self._channel,
            *released,
        ]
        self._counters.round_trips += 1
        remaining = deadline - now
        try:
            reply = await bounded(
                self._ask(keys=self._keys, args=args), max(min(self._redis_timeout, remaining), 0.001)
            )
        except BaseException as exc:
            # Whatever Redis did with this ask (the lease may have been granted), the released
            # leases and this one go back with a later ask or flush.
            self._keep_released([*released, lease] if lease else released)
            if not isinstance(exc, FAILURES):
                raise  # cancelled
            if pool_busy(exc):
                return _BUSY, 0.0
            if remaining < self._redis_timeout and not isinstance(exc, RedisError):
                # The call's deadline cut the ask short: this request's loss, not an outage.
                raise BudgetTimeout("ask") from None
            self._went_down(exc)
            return _DOWN, 0.0
        self._came_back()
        return int(reply[0]), int(reply[1]) / 1_000_000

    def _go_on_without(self) -> None:
        """Redis is unreachable: go on without the budget, or fail (not sent) if set to."""
        self._counters.unavailable += 1
        if self.on_unavailable == "raise":
            raise BudgetUnavailableError(
                f"The shared budget {self.name!r} cannot reach Redis (on_unavailable='raise'); "
                "the request was not sent"
            )

    def _went_down(self, exc: BaseException) -> None:
        loop = asyncio.get_running_loop()
        self._down_until = loop.time() + self._retry_interval
        # The released leases stay for when Redis answers again (else they would hold their
        # slots until they lapse); the flush waits out the outage's retry interval.
        self._schedule_flush(self._retry_interval)
        if not self._down:
            self._down = True
            self._counters.outages += 1
            then = (
                "requests fail as not sent"
                if self.on_unavailable == "raise"
                else ("requests go on under each client's own limits")
            )
            logger.warning(
                "shared budget %r: Redis is unreachable (%s: %s); %s, retrying every %g s",
                self.name,
                type(exc).__name__,
                exc,
                then,
                self._retry_interval,
            )

    def _came_back(self) -> None:
        if self._down:
            self._down = False
            logger.warning("shared budget %r: Redis is reachable again; sharing resumes", self.name)
            if self._released:
                self._schedule_flush(0.0)

    def _keep_released(self, leases: list[str]) -> None:
        released = self._released
        released.extend(leases)
        if len(released) > BUDGET_MAX_PENDING_RELEASES:
            # Bounded through a long outage: the oldest lapse in Redis on their own.
            del released[: len(released) - BUDGET_MAX_PENDING_RELEASES]

    def _schedule_flush(self, delay: float) -> None:
        loop = self._loop
        if self._flush_handle is None and loop is not None and not loop.is_closed():
            self._flush_handle = loop.call_later(delay, self._flush_soon)

    def _flush_soon(self) -> None:
        self._flush_handle = None
        if self._released:
            self._spawn(self._flush())

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() < self._down_until:
            self._schedule_flush(self._down_until - loop.time())
            return
        # Bounded: each pass takes up to _MAX_RELEASES_PER_ASK leases off the list.
        while self._released:
            batch = self._released[:_MAX_RELEASES_PER_ASK]
            del self._released[: len(batch)]
            self._counters.round_trips += 1
            try:
                args = [self.max_in_flight or 0, self._channel, *batch]
                await bounded(self._give_back(keys=[self._keys[3]], args=args), self._redis_timeout)
            except BaseException as exc:
                self._keep_released(batch)
                if not isinstance(exc, FAILURES):
                    raise
                if pool_busy(exc):
                    self._schedule_flush(BUDGET_RELEASE_DELAY)
                else:
                    self._went_down(exc)
                return
            self._came_back()

    def _set_hold(self, kind: Literal["cooldown", "capacity"], seconds: float) -> None:
        try:
            now = asyncio.get_running_loop().time()
        except RuntimeError:
            return
        if not seconds > 0:
            return
        self._note_hold(kind, now + seconds)
        if self._loop is None or now < self._down_until:
            return
        key = self._keys[1] if kind == "cooldown" else self._keys[2]
        self._spawn(self._share_hold(key, kind, max(int(seconds * 1000), 1)))

    def _note_hold(self, kind: str, until: float) -> None:
        if kind == "cooldown":
            self._cooldown_until = max(self._cooldown_until, until)
        elif kind == "capacity":
            self._capacity_until = max(self._capacity_until, until)

    async def _share_hold(self, key: str, name: str, ms: int) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._redis_timeout
        # Bounded by redis_timeout: a busy pool is tried again after a short pause until then.
        while True:
            self._counters.round_trips += 1
            try:
                extended = await bounded(
                    self._hold(keys=[key], args=[ms, self._channel, name]), self._redis_timeout
                )
                break
            except FAILURES as exc:
                if pool_busy(exc) and loop.time() < give_up:
                    await asyncio.sleep(BUDGET_POOL_BUSY_PAUSE)
                    continue
                self._went_down(exc)
                return
        self._came_back()
        if extended:
            self._counters.cooldowns_shared += 1

    def _spawn(self, coro: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            coro.close()
            return
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _heard(self, data: Any) -> None:
        text = data.decode() if isinstance(data, bytes) else str(data)
        kind, _, number = text.partition(":")
        try:
            value = int(number)
        except ValueError:
            return
        if kind == "slot":
            self._slots_heard += 1
            self._wake_slot_waiters(value)
            return
        seconds = value / 1000
        self._counters.cooldowns_heard += 1
        self._note_hold(kind, asyncio.get_running_loop().time() + seconds)

    async def _slot_freed(self, timeout: float) -> bool:
        """Wait until a slot is announced (or handed over here), at most ``timeout`` seconds;
        whether one was."""
        future = asyncio.get_running_loop().create_future()
        self._slot_waiters.append(future)
        try:
            await asyncio.wait((future,), timeout=timeout)
            return future.done() and not future.cancelled()
        finally:
            if not future.done():
                future.cancel()
                # Rarely more than a few: a waiter leaves the queue once woken or timed out.
                with contextlib.suppress(ValueError):
                    self._slot_waiters.remove(future)

    def _wake_slot_waiters(self, count: int) -> bool:
        """Wake up to ``count`` waiting requests, oldest first; whether one was woken."""
        woken = 0
        waiters = self._slot_waiters
        while waiters and woken < count:
            future = waiters.popleft()
            if not future.done():
                future.set_result(None)
                woken += 1
        return woken > 0

    async def _listen(self) -> None:
        """Apply the holds any process announces, for as long as the budget is in use here."""
        loop = asyncio.get_running_loop()
        # Runs until aclose() sets the flag and cancels it; every failure pauses retry_interval.
        while not self._stopping:
            pause = self._down_until - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
            pubsub = self._redis.pubsub()
            try:
                await bounded(pubsub.subscribe(self._channel), self._redis_timeout)
                while not self._stopping:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._heard(message.get("data"))
            except FAILURES as exc:
                if pool_busy(exc):
                    # Every pooled connection is busy for now: not an outage, try again soon.
                    await asyncio.sleep(BUDGET_POOL_BUSY_PAUSE * 10)
                    continue
                self._went_down(exc)
                await asyncio.sleep(self._retry_interval)
            finally:
                try:
                    await asyncio.shield(pubsub.aclose())
                except (*FAILURES, asyncio.CancelledError):
                    pass
