"""Callback delivery of the fake: each run's state changes POSTed to its ``callback_url``.

A run's lifecycle is computed lazily from the clock, so nothing happens by itself when a
run starts or finishes. This module turns the computed instants into deliveries: one
scheduler task keeps a heap of due events (state changes and the sends they produce) and
a small fixed pool of sender tasks POSTs the notices over one ``aiohttp.ClientSession``.
No timer is created per run.

Only loopback URLs (127.0.0.0/8, ::1, ``localhost``) are ever contacted; any other
callback URL is skipped and counted, so a test's ``https://hooks.example.com/...``
default never leaves the machine. Redirects are not followed, for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import ipaddress
import itertools
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import aiohttp

from . import _wire as wire
from ._records import ABORTING, FAILED, RUNNING, SUCCEEDED, FakeRun

__all__ = [
    "CallbackDelivery",
    "CallbackDispatcher",
    "CallbackSettings",
    "CallbackStats",
    "is_loopback_url",
]

# Sender tasks POSTing notices concurrently; enough for thousands of runs a second on loopback.
CALLBACK_SENDERS = 16
# One notice may take this long (connect, send, read the answer) before it counts as failed.
CALLBACK_TIMEOUT = 5.0
# A reordered notice arrives this long after the notice it was meant to precede.
REORDER_GAP = 0.01
# Room kept on the run clock so that "just after the final instant" reads as final
# despite float rounding of created_at + ready_for + running_for.
_FINAL_EPSILON = 1e-6

_STATUS_NAMES = {RUNNING: "running", SUCCEEDED: "succeeded", FAILED: "failed", ABORTING: "aborting"}
_USER_AGENT = "CoreClaw-Callback/fake"


def is_loopback_url(url: str) -> bool:
    """True if ``url`` is http(s) to 127.0.0.0/8, ``::1`` or ``localhost`` (where the fake may post)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _probability(name: str, value: float | bool) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must be within [0, 1] (or a bool)")
    return number


def _delay_range(value: float | tuple[float, float]) -> tuple[float, float]:
    if isinstance(value, tuple):
        low, high = (float(v) for v in value)
    else:
        low = high = float(value)
    if low < 0 or high < low or not math.isfinite(high):
        raise ValueError("callback_delay must be seconds >= 0 or a (low, high) range with 0 <= low <= high")
    return low, high


@dataclass
class CallbackSettings:
    """The delivery knobs of a `FakeCoreClaw`; each may be changed while it runs.

    Attributes:
        enabled: deliver at all (runs created while off are never notified).
        drop: probability that a notice is lost (never sent).
        duplicate: probability that a notice is sent twice.
        delay: seconds between a state change and its notice, or a ``(low, high)`` range
            drawn uniformly per notice.
        reorder: probability that a run's ``running`` notice arrives after its final one.
        legacy_shape: probability that a notice carries the pre-2026-07-03 ``run_id``
            integer instead of ``run_slug``.
    """

    enabled: bool = True
    drop: float = 0.0
    duplicate: float = 0.0
    delay: tuple[float, float] = (0.0, 0.0)
    reorder: float = 0.0
    legacy_shape: float = 0.0

    @classmethod
    def build(
        cls,
        *,
        enabled: bool,
        drop: float,
        duplicate: float,
        delay: float | tuple[float, float],
        reorder: float | bool,
        legacy_shape: float | bool,
    ) -> CallbackSettings:
        """Validate and normalise the constructor arguments; ``ValueError`` if one is out of range."""
        return cls(
            enabled=bool(enabled),
            drop=_probability("callback_drop", drop),
            duplicate=_probability("callback_duplicate", duplicate),
            delay=_delay_range(delay),
            reorder=_probability("callback_reorder", reorder),
            legacy_shape=_probability("callback_legacy_shape", legacy_shape),
        )


@dataclass
class CallbackStats:
    """Counters of the fake's callback delivery (a snapshot from ``FakeCoreClaw.callback_stats``).

    Attributes:
        notices: notices produced by state changes of notified runs (before drops).
        dropped: notices lost on purpose (``callback_drop``).
        duplicated: notices sent a second time (``callback_duplicate``).
        sent: POSTs attempted, duplicates included.
        delivered: POSTs answered with a 2xx status.
        failed: POSTs answered otherwise, or that failed to connect or timed out (never retried).
        skipped: runs whose callback URL is not on loopback, hence never contacted.
    """

    notices: int = 0
    dropped: int = 0
    duplicated: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class CallbackDelivery:
    """One POST of a notice: to which URL, about which run, and how the receiver answered.

    ``http_status`` is ``None`` when no answer came (connection refused, timeout).
    ``payload`` is the JSON object that was sent.
    """

    run_slug: str
    run_status: str
    url: str
    http_status: int | None
    duplicate: bool
    payload: dict[str, Any] = field(repr=False)


class _Change(NamedTuple):
    """A state change of a run due at some instant; checked again when it fires."""

    run: FakeRun
    status: int
    natural: bool
    """True for the schedule's own transitions, False for those an abort caused."""


class _Send(NamedTuple):
    url: str
    body: bytes
    payload: dict[str, Any]
    run_slug: str
    run_status: str
    duplicate: bool
    # A reordered 'running' notice: sent once the run's later notice has been answered, or
    # at this monotonic time if that one never is (dropped, or the run was aborted).
    hold_until: float = 0.0


class CallbackDispatcher:
    """Schedules and sends the notices of every notified run. Owned by one `FakeCoreClaw`."""

    def __init__(self, settings: CallbackSettings, rng: random.Random) -> None:
        self.settings = settings
        self.stats = CallbackStats()
        self.deliveries: list[CallbackDelivery] = []
        self._rng = rng
        self._heap: list[tuple[float, int, _Change | _Send]] = []
        self._seq = itertools.count()
        self._queue: asyncio.Queue[_Send] | None = None
        self._wakeup: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._sending = 0
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        # Runs whose 'running' notice is held back until their later notice was answered.
        self._later_sent: dict[str, asyncio.Event] = {}

    # -- lifecycle -------------------------------------------------------------------

    def _ensure_started(self) -> None:
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._tasks.append(loop.create_task(self._schedule_loop(), name="FakeCoreClaw-callback-scheduler"))
        self._tasks.extend(
            loop.create_task(self._send_loop(), name=f"FakeCoreClaw-callback-sender-{number}")
            for number in range(CALLBACK_SENDERS)
        )

    async def close(self) -> None:
        """Stop every task, forget undelivered notices and close the HTTP session. Idempotent."""
        self._closed = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._heap.clear()
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        if self._idle is not None:
            self._idle.set()

    # -- scheduling ------------------------------------------------------------------

    def run_created(self, run: FakeRun) -> None:
        """Schedule the notices of a new run (``running``, then its final state)."""
        if self._closed or not self.settings.enabled or run.callback_url is None:
            return
        if not is_loopback_url(run.callback_url):
            self.stats.skipped += 1
            return
        run.notify = True
        if run.running_for > 0:
            self._push(run.created_at + run.ready_for, _Change(run, RUNNING, natural=True))
        self._push(run.final_at, _Change(run, FAILED if run.fails else SUCCEEDED, natural=True))

    def run_aborted(self, run: FakeRun) -> None:
        """Schedule the notices of an accepted abort (``aborting`` now, ``failed`` after the linger)."""
        if self._closed or not run.notify or run.aborted_at is None:
            return
        # The schedule's own transitions that are still ahead will not happen now. Aborts are
        # rare, so a scan of the heap is cheap enough, and it keeps drain() exact.
        heap = self._heap
        heap[:] = [
            entry
            for entry in heap
            if not (isinstance(entry[2], _Change) and entry[2].run is run and entry[2].natural)
        ]
        heapq.heapify(heap)
        self._push(run.aborted_at, _Change(run, ABORTING, natural=False))
        if math.isfinite(run.final_at):
            self._push(run.final_at, _Change(run, FAILED, natural=False))

    def _push(self, at: float, item: _Change | _Send) -> None:
        self._ensure_started()
        heap = self._heap
        earliest = heap[0][0] if heap else math.inf
        heapq.heappush(heap, (at, next(self._seq), item))
        idle, wakeup = self._idle, self._wakeup
        assert idle is not None
        assert wakeup is not None
        idle.clear()
        if at < earliest:
            wakeup.set()

    async def _schedule_loop(self) -> None:
        heap = self._heap
        wakeup = self._wakeup
        assert wakeup is not None
        # Bounded by close(): every pass fires a due event or sleeps until the next one.
        while True:
            if not heap:
                self._settle()
                wakeup.clear()
                await wakeup.wait()
                continue
            delay = heap[0][0] - time.monotonic()
            if delay > 0:
                wakeup.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), delay)
                continue
            at, _, item = heapq.heappop(heap)
            if isinstance(item, _Send):
                assert self._queue is not None
                self._queue.put_nowait(item)
            else:
                self._fire(at, item)

    def _fire(self, at: float, change: _Change) -> None:
        run = change.run
        status = change.status
        if status == RUNNING:
            # Skipped when an abort came first: the run never ran.
            if run.aborted_at is not None and run.aborted_at < at:
                return
        elif status != ABORTING and run.final_at != at:
            # The final instant moved (an abort): this transition will not happen.
            return
        if change.natural and status != RUNNING and run.aborted_at is not None:
            return
        self.stats.notices += 1
        settings = self.settings
        rng = self._rng
        if settings.drop and rng.random() < settings.drop:
            self.stats.dropped += 1
            if status != RUNNING and run.slug in self._later_sent:
                self._later_sent[run.slug].set()  # no later notice to wait for
            return
        payload = self._payload(run, status, at)
        url = run.callback_url
        assert url is not None
        low, high = settings.delay
        send_at = time.monotonic() + rng.uniform(low, high)
        reordered = status == RUNNING and bool(settings.reorder) and rng.random() < settings.reorder
        if reordered:
            # After the final notice, whatever delay that one draws; and since senders post
            # concurrently, not before that one was answered (see _post).
            send_at = max(send_at, run.final_at + high + REORDER_GAP)
            self._later_sent.setdefault(run.slug, asyncio.Event())
        body = wire.dumps(payload)
        name = _STATUS_NAMES[status]
        hold = send_at + CALLBACK_TIMEOUT if reordered else 0.0
        self._push(send_at, _Send(url, body, payload, run.slug, name, duplicate=False, hold_until=hold))
        if settings.duplicate and rng.random() < settings.duplicate:
            self.stats.duplicated += 1
            again = send_at + REORDER_GAP + rng.uniform(low, high)
            self._push(again, _Send(url, body, payload, run.slug, name, duplicate=True))

    def _payload(self, run: FakeRun, status: int, at: float) -> dict[str, Any]:
        """The notice body, its fields in the order the platform documents them."""
        if status in (SUCCEEDED, FAILED):
            state = run.state(at + _FINAL_EPSILON)
            error, rows = state.err_msg, state.results
            start, end, duration = state.started_at, state.finished_at, state.duration
            message = "done" if status == SUCCEEDED else ""
        else:
            error, rows, message = "", run.rows_at(at), ""
            start, end, duration = int(run.created_at_wall), 0, 0
        legacy = self.settings.legacy_shape
        identity: dict[str, Any]
        if legacy and self._rng.random() < legacy:
            identity = {"run_id": run.run_id}
        else:
            identity = {"run_slug": run.slug}
        return {
            **identity,
            "run_status": _STATUS_NAMES[status],
            "error_message": error,
            "execution_start_timestamp": start,
            "execution_end_timestamp": end,
            "running_duration": duration,
            "result_count": rows,
            "result_message": message,
        }

    # -- sending ---------------------------------------------------------------------

    async def _send_loop(self) -> None:
        queue = self._queue
        assert queue is not None
        while True:
            item = await queue.get()
            self._sending += 1
            try:
                await self._post(item)
            finally:
                self._sending -= 1
                self._settle()

    async def _post(self, item: _Send) -> None:
        if item.hold_until:
            later = self._later_sent.get(item.run_slug)
            if later is not None and not later.is_set() and time.monotonic() < item.hold_until:
                # Not yet: look again shortly, without holding a sender.
                self._push(time.monotonic() + REORDER_GAP, item)
                return
            self._later_sent.pop(item.run_slug, None)
        session = self._session
        if session is None:
            session = self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=CALLBACK_SENDERS),
                timeout=aiohttp.ClientTimeout(total=CALLBACK_TIMEOUT),
            )
        self.stats.sent += 1
        status: int | None = None
        try:
            async with session.post(
                item.url,
                data=item.body,
                headers={"Content-Type": "application/json", "User-Agent": _USER_AGENT},
                allow_redirects=False,
            ) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError):
            # ValueError: a URL aiohttp cannot use. The platform does not retry; neither do we.
            status = None
        if status is not None and 200 <= status < 300:
            self.stats.delivered += 1
        else:
            self.stats.failed += 1
        self.deliveries.append(
            CallbackDelivery(item.run_slug, item.run_status, item.url, status, item.duplicate, item.payload)
        )
        if item.run_status != "running":
            later = self._later_sent.get(item.run_slug)
            if later is not None:
                later.set()

    # -- waiting for quiet -----------------------------------------------------------

    def _settle(self) -> None:
        queue = self._queue
        quiet = not self._heap and self._sending == 0 and (queue is None or queue.empty())
        if quiet and self._idle is not None:
            self._idle.set()

    async def drain(self, timeout: float) -> None:
        """Wait until no notice is scheduled, queued or being sent; ``TimeoutError`` after ``timeout``."""
        idle = self._idle
        if idle is None or self._closed:
            return
        try:
            await asyncio.wait_for(idle.wait(), timeout)
        except asyncio.TimeoutError:
            pending = len(self._heap) + self._sending + (self._queue.qsize() if self._queue else 0)
            raise TimeoutError(f"{pending} callback notice(s) still pending after {timeout:g} s") from None
