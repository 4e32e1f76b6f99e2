"""Waiting for final notices: waiters, subscriptions, and waking them when a notice comes or on close.

Nothing here outlives one wait: each wait makes its future in the loop it runs in and removes
it when it ends, so a receiver used again in a later event loop carries no future of an ended
one. A future found whose loop is closed anyway (a loop closed while a wait was still pending)
is skipped rather than woken, since waking it would raise in the caller's task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from .._validation import require_number, require_slug
from ..errors import ReceiverClosedError, WaitTimeoutError
from ..models.callbacks import RunCallback
from ._launch import Launch
from ._log import logger
from ._registry import LaunchRegistry

__all__ = ["Waiting"]


def _call(listener: Callable[[str], None], run_slug: str) -> None:
    # A subscriber's failure is its own: the notice still reaches every other subscriber,
    # the handlers and the sender's answer.
    try:
        listener(run_slug)
    except Exception:
        logger.exception("a subscriber of run %s failed on its final notice", run_slug)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done() and not future.get_loop().is_closed():
        future.set_result(None)


class Waiting:
    """Who waits for which run's final notice, and waking them.

    Subscribers (``subscribe``) are plain callables called on each final notice of their
    runs; waiters (``wait``) await futures woken by those notices and by
    ``close``.
    """

    __slots__ = ("_all", "_closed", "_launch_waiters", "_listeners", "_registry")

    def __init__(self, registry: LaunchRegistry) -> None:
        self._registry = registry
        self._listeners: dict[str, list[Callable[[str], None]]] = {}
        # Waits on a launch whose run was not known when they began.
        self._launch_waiters: dict[Launch, list[asyncio.Future[None]]] = {}
        # Every pending wait, so that close() can end them all.
        self._all: set[asyncio.Future[None]] = set()
        self._closed = False

    def subscribe(self, run_slugs: list[str], listener: Callable[[str], None]) -> Callable[[], None]:
        """Call ``listener(slug)`` on each final notice of these runs (at once for those that
        already have one); return the function that unsubscribes (idempotent)."""
        slugs = list(dict.fromkeys(run_slugs))
        unsubscribe = self._listen(slugs, listener)
        for slug in slugs:
            if self._registry.final_notice(slug) is not None:
                _call(listener, slug)
        return unsubscribe

    def _listen(self, slugs: list[str], listener: Callable[[str], None]) -> Callable[[], None]:
        """Call ``listener(slug)`` on each final notice of these runs from now on."""
        for slug in slugs:
            self._listeners.setdefault(slug, []).append(listener)

        def unsubscribe() -> None:
            for slug in slugs:
                listeners = self._listeners.get(slug)
                if listeners is None:
                    continue
                with contextlib.suppress(ValueError):
                    listeners.remove(listener)
                if not listeners:
                    del self._listeners[slug]

        return unsubscribe

    def final_known(self, launch: Launch, run_slug: str) -> None:
        """A final notice of ``run_slug`` was recorded on ``launch``: wake its waiters and subscribers."""
        self.launch_final(launch)
        self.run_final(run_slug)

    def run_final(self, run_slug: str) -> None:
        """A final notice of ``run_slug`` is known: wake the waits and subscribers of that run."""
        for listener in tuple(self._listeners.get(run_slug, ())):
            _call(listener, run_slug)

    def launch_final(self, launch: Launch) -> None:
        """A final notice was recorded on ``launch`` (its run may not be known yet): wake its waiters."""
        for future in self._launch_waiters.get(launch, ()):
            _wake(future)

    def close(self) -> None:
        """End every wait: ``wait`` raises ``ReceiverClosedError``."""
        self._closed = True
        for future in tuple(self._all):
            _wake(future)

    async def wait(self, run: str | Launch, timeout: float) -> RunCallback:
        """The first final notice of a run slug or a launch, waiting up to ``timeout`` seconds.

        Raises:
            WaitTimeoutError: none within ``timeout``. ReceiverClosedError: closed before one came.
            InvalidParameterError: bad ``timeout`` or blank slug.
        """
        require_number("timeout", timeout, minimum=0, exclusive=True)
        if not isinstance(run, Launch):
            require_slug("run", run)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # Bounded by the deadline: each pass returns, raises or waits until woken or past it.
        while True:
            if self._closed:
                raise ReceiverClosedError()
            notice = run.final if isinstance(run, Launch) else self._registry.final_notice(run)
            if notice is not None:
                return notice
            remaining = deadline - loop.time()
            if remaining <= 0:
                name = run if isinstance(run, str) else run.run_slug or f"launch {run.number}"
                raise WaitTimeoutError(f"No final callback for run {name} within {timeout:g} s")
            await self._until_woken(run, remaining)

    async def _until_woken(self, run: str | Launch, timeout: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake(_: str = "") -> None:
            _wake(future)

        self._all.add(future)
        unsubscribe: Callable[[], None] | None = None
        if isinstance(run, Launch):
            self._launch_waiters.setdefault(run, []).append(future)
            if run.run_slug is not None:
                unsubscribe = self._listen([run.run_slug], wake)
        else:
            # Only notices from now on: the caller checked the ones already there.
            unsubscribe = self._listen([run], wake)
        try:
            await asyncio.wait((future,), timeout=timeout)
        finally:
            if unsubscribe is not None:
                unsubscribe()
            self._all.discard(future)
            if isinstance(run, Launch):
                self._remove_launch_waiter(run, future)
            future.cancel()

    def _remove_launch_waiter(self, launch: Launch, future: asyncio.Future[None]) -> None:
        waiters = self._launch_waiters.get(launch)
        if waiters is None:
            return
        with contextlib.suppress(ValueError):
            waiters.remove(future)
        if not waiters:
            del self._launch_waiters[launch]
