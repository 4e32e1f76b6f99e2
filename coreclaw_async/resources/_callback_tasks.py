"""``client.tasks`` with a ``CallbackReceiver``: each start gets a minted URL, bound to its run.

Imported by ``resources/tasks.py`` only when a receiver is passed (this module imports it).

Used by ``tasks.run(..., callback=receiver)``, ``run_many`` and ``run_all``. It is a view
of ``AsyncTasks`` over the same session whose ``prepare`` mints a launch for every item
without a callback URL of its own, and whose ``_start`` binds the launch to the slug the
start returned. A launch is discarded when its start certainly created nothing; when the
outcome is unknown it is kept, so notices can still name the run that may exist.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .._constants import LOGGER_NAME
from .._validation import require_slug
from ..callbacks import CallbackReceiver
from ..errors import CoreClawError, InvalidParameterError, ReceiverClosedError
from ..models.tasks import TaskRun, TaskRunRequest
from .tasks import AsyncTasks

if TYPE_CHECKING:
    from ..callbacks import Launch

__all__ = ["ReceiverTasks", "with_receiver"]

logger = logging.getLogger(LOGGER_NAME)


def with_receiver(tasks: AsyncTasks, receiver: CallbackReceiver, callback_url: str | None) -> ReceiverTasks:
    """``tasks`` minting its callback URLs from ``receiver``.

    Raises:
        InvalidParameterError: ``callback_url`` was given too (one or the other), or
            ``receiver`` is not a ``CallbackReceiver``.
    """
    if not isinstance(receiver, CallbackReceiver):
        raise InvalidParameterError("callback", f"must be a CallbackReceiver, got {type(receiver).__name__}")
    if callback_url is not None:
        raise InvalidParameterError("callback", "pass either callback= or callback_url=, not both")
    return ReceiverTasks(tasks, receiver)


class ReceiverTasks(AsyncTasks):
    """``AsyncTasks`` whose starts use URLs minted by a ``CallbackReceiver``.

    An item that carries its own ``callback_url`` (a ``TaskRunRequest``) keeps it and is
    not tracked by the receiver.
    """

    __slots__ = ("_launches", "_receiver")

    def __init__(self, tasks: AsyncTasks, receiver: CallbackReceiver) -> None:
        super().__init__(tasks._session, callback_url=tasks._callback_url)
        self._receiver = receiver
        # Launches minted by prepare() and not yet taken by run(), by callback URL.
        self._launches: dict[str, Launch] = {}

    def prepare(self, task: str | TaskRunRequest, *, callback_url: str | None = None) -> TaskRunRequest:
        """As ``AsyncTasks.prepare``, with a freshly minted callback URL when none is given.

        Raises:
            InvalidParameterError: blank slug, or the receiver cannot mint (closed, no public URL).
        """
        own = task.callback_url if isinstance(task, TaskRunRequest) else None
        if own is not None or callback_url is not None:
            return super().prepare(task, callback_url=callback_url)
        slug = task.task_slug if isinstance(task, TaskRunRequest) else task
        require_slug("task_slug", slug)
        try:
            launch = self._receiver.mint(label=slug)
        except ReceiverClosedError:
            raise InvalidParameterError("callback", "the CallbackReceiver is closed") from None
        self._launches[launch.callback_url] = launch
        return super().prepare(task, callback_url=launch.callback_url)

    async def _start(
        self, request: TaskRunRequest, *, timeout: float | None, max_retries: int | None
    ) -> TaskRun:
        """As ``AsyncTasks._start``; the returned run is bound to its launch before this returns."""
        launch = self._launches.pop(request.callback_url or "", None)
        try:
            started = await super()._start(request, timeout=timeout, max_retries=max_retries)
        except CoreClawError as error:
            if launch is not None and error.outcome in ("not_sent", "rejected"):
                launch.discard()
            raise
        # Cancelled or any other failure: the run may exist, so its launch stays for its notices.
        if launch is not None:
            try:
                launch.bind(started.run_slug)
            except InvalidParameterError:
                # The run exists; a slug we cannot bind must not turn that into an error.
                logger.warning(
                    "run %r started but could not be bound to its callback launch", started.run_slug
                )
        return started
