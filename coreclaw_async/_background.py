"""The one base of the async iterators that run asyncio tasks in the background.

``TaskRunBatch`` (``run_many``) and ``FinishedRuns`` (``wait_many``) both start a pool of
tasks when first entered or iterated, hand out items as the tasks produce them, and must
stop those tasks on every way out: the input or the work is exhausted, the consumer leaves
its ``async with`` block, the consuming task is cancelled, ``aclose()`` is called, or the
iterator is dropped while running (its finaliser then cancels the tasks and warns). This
base does that in one way for both; a subclass supplies its :class:`Machinery`.
"""

from __future__ import annotations

import warnings
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["BackgroundIterator", "Machinery"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
SelfT = TypeVar("SelfT", bound="BackgroundIterator[Any]")


class Machinery(Protocol[T_co]):
    """What a background iterator drives. It must hold no reference to the iterator, so a
    dropped iterator can be collected and its finaliser can stop the tasks."""

    def start(self) -> None:
        """Create the background tasks (called once, inside the running loop)."""

    def take(self) -> T_co | None:
        """An item that is ready now, or ``None`` (no await)."""

    async def next(self) -> T_co:
        """Wait for the next item; raise ``StopAsyncIteration`` when there are no more, or the
        error that ends the iteration."""

    async def finish(self) -> None:
        """After the last item: make sure every task has ended; may raise what the iteration
        should end with instead of ``StopAsyncIteration``."""

    async def shutdown(self) -> None:
        """Stop early: cancel every task and wait until each has ended. Idempotent."""

    def abandon(self) -> bool:
        """Stop from a finaliser (no await possible); ``True`` if tasks were still running."""


class BackgroundIterator(Generic[T]):
    """An async iterator (and async context manager) over items produced by background tasks.

    Nothing starts until it is entered or iterated. Leaving the ``async with`` block,
    cancellation of the consuming task while it waits for an item, an error ending the
    iteration, and :meth:`aclose` all stop every background task before returning.
    """

    _how_to_use = "use `async with` or call aclose()"

    def __init__(self, machinery: Machinery[T]) -> None:
        self._machinery = machinery
        self._started = False
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether the iteration has ended (exhausted, closed, failed or cancelled)."""
        return self._closed

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._machinery.start()

    def __aiter__(self: SelfT) -> SelfT:
        return self

    async def __anext__(self) -> T:
        if self._closed:
            raise StopAsyncIteration
        machinery = self._machinery
        item = machinery.take()
        if item is not None:  # the common case while running: no wait, no inner coroutine
            return item
        self._start()
        try:
            return await machinery.next()
        except StopAsyncIteration:
            pass
        except BaseException:
            # An error ending the iteration, or cancellation of the consuming task.
            await self.aclose()
            raise
        self._closed = True
        await machinery.finish()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop: cancel every background task and wait until each has ended. Idempotent."""
        self._closed = True
        if self._started:
            await self._machinery.shutdown()

    async def __aenter__(self: SelfT) -> SelfT:
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
        # Dropped while running (e.g. `break` out of a plain `async for`): stop the tasks
        # rather than leave them pending. aclose() is the proper way.
        if not getattr(self, "_started", False) or getattr(self, "_closed", True):
            return
        self._closed = True
        if self._machinery.abandon():
            name = type(self).__name__
            warnings.warn(
                f"{name} was dropped while running; its background tasks were cancelled. "
                f"{self._how_to_use[0].upper()}{self._how_to_use[1:]}.",
                ResourceWarning,
                source=self,
                stacklevel=2,
            )
