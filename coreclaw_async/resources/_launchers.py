"""Launchers of saved-Task runs: the fan-out's :class:`~coreclaw_async.fanout.Launcher` seam.

A launcher checks an item and turns it into the request to send (``prepare``), sends it
(``start``) and builds the error of a start left in flight (``in_flight_error``). ``client.tasks``
builds one per call or batch, minting callback URLs from a ``CallbackReceiver`` when given one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .._constants import LOGGER_NAME
from .._converter import converter
from .._validation import require_callback_url, require_optional_timeout, require_slug
from .._validation import require_optional_int as _optional_count
from ..callbacks import CallbackReceiver, Launch
from ..errors import CoreClawError, InvalidParameterError, ReceiverClosedError, RunStartUnknownError
from ..models.runs import StartedRun
from ..models.tasks import TaskRunRequest

if TYPE_CHECKING:
    from .._session import SessionManager

__all__ = ["ReceiverLauncher", "TaskLauncher"]

logger = logging.getLogger(LOGGER_NAME)


_new_object = object.__new__
_set_task_slug = TaskRunRequest.__dict__["task_slug"].__set__
_set_callback_url = TaskRunRequest.__dict__["callback_url"].__set__


class TaskLauncher:
    """Launches saved-Task runs for one call or one batch (the fan-out's :class:`Launcher`)."""

    __slots__ = ("_default_url", "_manager", "_max_retries", "_needs_url", "_op", "_timeout")

    def __init__(
        self,
        manager: SessionManager,
        *,
        default_url: str | None,
        callback_url: str | None,
        timeout: float | None,
        max_retries: int | None,
    ) -> None:
        if callback_url is not None:
            require_callback_url("callback_url", callback_url)
        self._manager = manager
        self._op = manager.dialect.ops.task_run
        # The per-call URL, else the client's (checked when the client was built); both
        # checked once, here, not per item.
        self._default_url = callback_url if callback_url is not None else default_url
        self._needs_url = manager.dialect.requires_callback("task_run")
        self._timeout = require_optional_timeout("timeout", timeout)
        self._max_retries = _optional_count("max_retries", max_retries, minimum=0)

    def prepare(self, item: Any) -> TaskRunRequest:
        """Check ``item`` (a task slug or a ``TaskRunRequest``) and fill in the callback URL.

        The callback URL is the first of: the request's own, the call's, the client's.
        Raises ``InvalidParameterError`` naming the bad field.
        """
        if isinstance(item, str):
            require_slug("task_slug", item)
            url = self._default_url
            if url is None and self._needs_url:
                require_callback_url("callback_url", None)
            # TaskRunRequest(item, url), filled in through its slots (it has no validators).
            request: TaskRunRequest = _new_object(TaskRunRequest)
            _set_task_slug(request, item)
            _set_callback_url(request, url)
            return request
        if not isinstance(item, TaskRunRequest):
            raise InvalidParameterError(
                "task_slug", f"must be a string or a TaskRunRequest, got {type(item).__name__}"
            )
        request = item
        require_slug("task_slug", request.task_slug)
        if request.callback_url is not None:
            require_callback_url("callback_url", request.callback_url)
            return request
        url = self._default_url
        if url is None and self._needs_url:
            require_callback_url("callback_url", None)
        return TaskRunRequest(request.task_slug, url)

    def start(
        self, request: TaskRunRequest, on_send: Callable[[bool], None] | None = None
    ) -> Awaitable[StartedRun]:
        """Send a request that :meth:`prepare` made; never re-sent once it may have arrived."""
        return self._manager.call(
            self._op, request, timeout=self._timeout, max_retries=self._max_retries, on_send=on_send
        )

    def in_flight_error(self, request: TaskRunRequest) -> RunStartUnknownError:
        """A start that was in flight when its batch stopped: a run may exist."""
        path, _ = self._op.render(converter.unstructure(request))
        return RunStartUnknownError.build(
            method=self._op.method,
            path=path,
            request=request,
            attempts=1,
            reason="the batch was closed while it was in flight",
        )


class ReceiverLauncher(TaskLauncher):
    """Launches whose callback URLs a ``CallbackReceiver`` mints, each bound to its run.

    An item that carries its own ``callback_url`` keeps it and is not tracked. A launch is
    discarded when its start certainly created nothing; when the outcome is unknown (or the
    start was cancelled) it is kept, so notices can still name the run that may exist.
    """

    __slots__ = ("_launches", "_receiver")

    def __init__(
        self,
        manager: SessionManager,
        receiver: CallbackReceiver,
        *,
        timeout: float | None,
        max_retries: int | None,
    ) -> None:
        super().__init__(
            manager, default_url=None, callback_url=None, timeout=timeout, max_retries=max_retries
        )
        self._receiver = receiver
        # Launches minted by prepare() and not yet taken by start(), by callback URL.
        self._launches: dict[str, Launch] = {}

    def prepare(self, item: Any) -> TaskRunRequest:
        """As :meth:`TaskLauncher.prepare`, with a freshly minted callback URL when the item has none.

        Raises ``InvalidParameterError`` for a bad item or when the receiver cannot mint
        (closed, no public URL yet).
        """
        if isinstance(item, TaskRunRequest) and item.callback_url is not None:
            return super().prepare(item)
        slug = item.task_slug if isinstance(item, TaskRunRequest) else item
        require_slug("task_slug", slug)
        try:
            launch = self._receiver.mint(label=slug)
        except ReceiverClosedError:
            raise InvalidParameterError("callback", "the CallbackReceiver is closed") from None
        self._launches[launch.callback_url] = launch
        return TaskRunRequest(slug, launch.callback_url)

    async def start(
        self, request: TaskRunRequest, on_send: Callable[[bool], None] | None = None
    ) -> StartedRun:
        """Start; the returned run is bound to its launch before this returns.

        With a receiver sharing its launches through a store, the start is sent once the
        launch is registered there (or the store failed to answer in time), so that a notice
        reaching another process never comes before the launch is known to it.
        """
        launch = self._launches.pop(request.callback_url or "", None)
        if launch is not None:
            try:
                await launch.registered()
            except asyncio.CancelledError:
                launch.discard()  # nothing was sent: no run can report to it
                raise
        try:
            started = await self._manager.call(
                self._op, request, timeout=self._timeout, max_retries=self._max_retries, on_send=on_send
            )
        except CoreClawError as error:
            if launch is not None and error.outcome in ("not_sent", "rejected"):
                launch.discard()
            raise
        if launch is not None:
            try:
                launch.bind(started.run_slug)
            except InvalidParameterError:
                # The run exists; a slug we cannot bind must not turn that into an error.
                logger.warning(
                    "run %r started but could not be bound to its callback launch", started.run_slug
                )
        return started
