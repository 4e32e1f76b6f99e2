"""A receiver's side of a shared store: sharing its launches, calling the store safely, and its inbox reader.

:class:`SharedIndex` is what a receiver built with ``store=`` adds beside its own registry.
It gives the receiver a random instance id (the owner of the launches it mints, and the
name of its inbox), shares each launch in a tracked background task (registration at mint,
then each bind or discard, in order), and runs one reader task per event loop that takes
the notices other processes recorded for this receiver's launches out of its inbox.

Every store call goes through :meth:`SharedIndex.call`: bounded by ``CALLBACK_STORE_TIMEOUT``,
counted in ``stats.store_errors`` when it fails, logged once per outage (a WARNING when the
store first fails, an INFO line when it answers again), and, for ``CALLBACK_STORE_RETRY_INTERVAL``
after a failure, refused at once without trying, so an outage costs a notice or a run start
no more than a check. A launch whose registration failed works for notices that reach this
process, as without a store.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from .._constants import (
    CALLBACK_INBOX_BLOCK,
    CALLBACK_INBOX_RETRY_BASE,
    CALLBACK_INBOX_RETRY_MAX,
    CALLBACK_STORE_RETRY_INTERVAL,
    CALLBACK_STORE_TIMEOUT,
)
from ..models.callbacks import RunCallback
from ._launch import Launch, SharedState, Verdict
from ._log import logger
from ._shared import CallbackStore, InboxNotice, SharedLaunch, launch_key
from ._stats import ReceiverCounters

__all__ = ["SharedIndex", "StoreUnavailable"]

_T = TypeVar("_T")


class StoreUnavailable(Exception):
    """The store could not be used for one operation (failed, timed out, or still in its retry pause)."""


class SharedIndex:
    """The launches of one receiver, shared through a :class:`CallbackStore` with other processes.

    Args:
        store: the store every receiver of the backend is given.
        counters: the receiver's counters (``store_errors`` and the reader's are counted here).
        take: called with each notice read from this receiver's inbox.
    """

    __slots__ = (
        "_closed",
        "_counters",
        "_down",
        "_failures",
        "_id",
        "_pid",
        "_position",
        "_reader",
        "_retry_at",
        "_store",
        "_take",
        "_tasks",
    )

    def __init__(
        self, store: CallbackStore, counters: ReceiverCounters, take: Callable[[InboxNotice], None]
    ) -> None:
        self._store = store
        self._counters = counters
        self._take = take
        self._pid = os.getpid()
        self._id = secrets.token_hex(16)
        # Sharing tasks still running, kept here so that they are not collected and close() can wait.
        self._tasks: set[asyncio.Task[bool]] = set()
        self._reader: asyncio.Task[None] | None = None
        # The inbox position of the last message taken; kept across readers (one per loop).
        self._position = "0"
        self._down = False
        self._failures = 0
        self._retry_at = 0.0
        self._closed = False

    @property
    def instance_id(self) -> str:
        """This receiver's id in the store: the owner of its launches and the name of its inbox.

        Made again in a forked child (a pre-forking server that built the receiver before the
        fork): the child's launches, and its inbox, are its own.
        """
        self._check_fork()
        return self._id

    def _check_fork(self) -> None:
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._id = secrets.token_hex(16)
            self._position = "0"
            self._reader = None
            self._tasks = set()

    # -- calling the store -----------------------------------------------------------------

    async def call(
        self, operation: Callable[[], Awaitable[_T]], timeout: float = CALLBACK_STORE_TIMEOUT
    ) -> _T:
        """Run one store operation within ``timeout`` seconds.

        Raises:
            StoreUnavailable: it failed or timed out, or the store failed less than
                ``CALLBACK_STORE_RETRY_INTERVAL`` ago (then it is not tried).
        """
        if self._down and time.monotonic() < self._retry_at:
            raise StoreUnavailable()
        try:
            result = await asyncio.wait_for(operation(), timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # whatever the store's client raises when it cannot reach it
            self._failed(exc)
            raise StoreUnavailable() from exc
        if self._down:
            self._down = False
            logger.info(
                "callback store reachable again (%d store operation(s) failed meanwhile)", self._failures
            )
        return result

    def _failed(self, exc: BaseException) -> None:
        self._counters.store_errors += 1
        self._retry_at = time.monotonic() + CALLBACK_STORE_RETRY_INTERVAL
        if self._down:
            self._failures += 1
            return
        self._down, self._failures = True, 1
        logger.warning(
            "callback store unreachable (%s); until it is back, notices to launches of other "
            "processes are answered 503, and launches minted now are known to this process only. "
            "Retrying at most every %g s.",
            f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
            CALLBACK_STORE_RETRY_INTERVAL,
        )

    # -- sharing this receiver's launches ----------------------------------------------------

    def register(self, launch: Launch) -> None:
        """Share a new launch in the background (at the first await if no event loop runs now)."""
        self._spawn(launch, lambda: self._register(launch, with_run=False))

    def bind(self, launch: Launch, run_slug: str) -> None:
        """Share the run a launch was bound to, once its registration is done."""
        previous = launch._shared
        if previous is not False:
            self._spawn(launch, lambda: self._bind(launch, run_slug, previous))

    def discard(self, launch: Launch) -> None:
        """Forget a launch in the store too, once what was shared of it is done."""
        previous = launch._shared
        if previous is not None and previous is not False:
            self._spawn(None, lambda: self._discard(launch, previous))

    async def registered(self, launch: Launch) -> bool:
        """Wait until what was shared of ``launch`` so far is done; whether the store knows it."""
        if launch._shared is None and not self._closed:
            # Minted (and perhaps bound) where no event loop ran: share all of it now.
            self._spawn(launch, lambda: self._register(launch, with_run=True))
        return await self._settled(launch._shared)

    def _spawn(self, launch: Launch | None, work: Callable[[], Coroutine[Any, Any, bool]]) -> None:
        if self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # Shared at the first await instead (registered(), or the launch's first notice).
            return
        task = loop.create_task(work(), name="coreclaw_async.callback-store-share")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if launch is not None:
            launch._shared = task

            def settle(done: asyncio.Task[bool]) -> None:
                # A later operation on the launch replaced this one: that one settles it.
                if launch._shared is done:
                    launch._shared = not done.cancelled() and done.exception() is None and done.result()

            task.add_done_callback(settle)

    async def _settled(self, state: SharedState) -> bool:
        if state is None or isinstance(state, bool):
            return bool(state)
        if state.get_loop() is not asyncio.get_running_loop():
            # A task of an event loop that ended (or another one): nothing can be learnt from it.
            return False
        # wait(), not await: the caller's cancellation must not cancel the sharing, and the
        # sharing's cancellation (at close) must not look like the caller's.
        await asyncio.wait((state,))
        return not state.cancelled() and state.exception() is None and state.result()

    async def _register(self, launch: Launch, *, with_run: bool) -> bool:
        key = launch_key(launch.token)
        try:
            await self.call(
                lambda: self._store.register(
                    key, owner=self.instance_id, number=launch.number, label=launch.label
                )
            )
            run_slug = launch.run_slug if with_run else None
            return run_slug is None or await self.call(lambda: self._store.bind(key, run_slug))
        except StoreUnavailable:
            return False

    async def _bind(self, launch: Launch, run_slug: str, previous: SharedState) -> bool:
        if previous is None:
            if not await self._register(launch, with_run=False):
                return False
        elif not await self._settled(previous):
            return False
        key = launch_key(launch.token)
        try:
            return await self.call(lambda: self._store.bind(key, run_slug))
        except StoreUnavailable:
            return False

    async def _discard(self, launch: Launch, previous: SharedState) -> bool:
        await self._settled(previous)
        key = launch_key(launch.token)
        try:
            await self.call(lambda: self._store.discard(key))
        except StoreUnavailable:
            return False
        return True

    # -- notices --------------------------------------------------------------------------

    async def record_own(self, launch: Launch, notice: RunCallback) -> Verdict | None:
        """Record a notice to one of this receiver's launches in the store first.

        ``None`` when the store cannot decide (unreachable, or it does not know the launch):
        the notice is then handled here alone, as without a store.
        """
        if not await self.registered(launch):
            return None
        key = launch_key(launch.token)
        try:
            verdict = await self.call(
                lambda: self._store.record(key, notice, owner=self.instance_id, recorder=self.instance_id)
            )
        except StoreUnavailable:
            return None
        return None if verdict is Verdict.GONE else verdict

    async def lookup(self, token: str) -> tuple[str, SharedLaunch] | None:
        """The key and entry of another process's launch named by ``token``, or ``None``.

        A launch of this receiver that its registry no longer knows (expired, evicted) is
        unknown here too, as without a store.

        Raises:
            StoreUnavailable: the store cannot be asked.
        """
        key = launch_key(token)
        entry = await self.call(lambda: self._store.lookup(key))
        if entry is None or entry.owner == self.instance_id:
            return None
        return key, entry

    async def record_foreign(self, key: str, entry: SharedLaunch, notice: RunCallback) -> Verdict:
        """Record a notice to another process's launch; when accepted, it is in that process's inbox.

        Raises:
            StoreUnavailable: the store cannot be asked.
        """
        return await self.call(
            lambda: self._store.record(key, notice, owner=entry.owner, recorder=self.instance_id)
        )

    # -- the inbox reader --------------------------------------------------------------------

    def ensure_reader(self) -> None:
        """Make sure the inbox reader runs in the running loop (nothing to do outside one, or once closed)."""
        if self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._check_fork()
        reader = self._reader
        if reader is not None and not reader.done():
            home = reader.get_loop()
            if home is loop:
                return
            if not home.is_closed():
                # Its loop may run again: stop it there rather than have two readers.
                home.call_soon_threadsafe(reader.cancel)
        self._reader = loop.create_task(self._read_loop(), name="coreclaw_async.callback-inbox-reader")

    async def _read_loop(self) -> None:
        failures = 0
        # Runs until close() cancels it, or its event loop ends.
        while True:
            try:
                messages = await self.call(
                    lambda: self._store.read_inbox(
                        self.instance_id, after=self._position, block=CALLBACK_INBOX_BLOCK
                    ),
                    timeout=CALLBACK_INBOX_BLOCK + CALLBACK_STORE_TIMEOUT,
                )
            except StoreUnavailable:
                failures += 1
                pause = min(CALLBACK_INBOX_RETRY_BASE * 2 ** min(failures - 1, 16), CALLBACK_INBOX_RETRY_MAX)
                await asyncio.sleep(pause * random.uniform(0.5, 1.0))
                continue
            failures = 0
            for message in messages:
                self._position = message.message_id
                try:
                    self._take(message)
                except Exception:
                    # A bug in delivery must not stop every later notice from arriving.
                    logger.exception("a notice from the callback store could not be delivered")

    async def close(self, timeout: float) -> None:
        """Stop the reader and give sharing still running ``timeout`` seconds; every task of this
        loop has ended on return."""
        self._closed = True
        loop = asyncio.get_running_loop()
        ours: list[asyncio.Task[Any]] = []
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            home = reader.get_loop()
            if home is loop:
                reader.cancel()
                ours.append(reader)
            elif not home.is_closed():
                home.call_soon_threadsafe(reader.cancel)
        pending = [task for task in self._tasks if task.get_loop() is loop and not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        for task in pending:
            if not task.done():
                task.cancel()
                ours.append(task)
        if ours:
            await asyncio.wait(ours)
