"""``client.tasks``: start runs of saved Tasks, one at a time or fanned out."""

from __future__ import annotations

import asyncio
import logging
import operator
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .._constants import LOGGER_NAME
from .._converter import converter
from .._validation import require_callback_url, require_optional_timeout, require_slug
from .._validation import require_optional_int as _optional_count
from ..callbacks import CallbackReceiver, Launch
from ..errors import CoreClawError, InvalidParameterError, ReceiverClosedError, RunStartUnknownError
from ..fanout import TaskRunBatch, TaskRunOutcome, TaskRunRequests
from ..models.runs import StartedRun
from ..models.tasks import TaskRunRequest
from ._base import Resource

if TYPE_CHECKING:
    from .._session import SessionManager

logger = logging.getLogger(LOGGER_NAME)

__all__ = ["AsyncTasks"]


class _TaskLauncher:
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
            return TaskRunRequest(item, url)  # (task_slug, callback_url): positional is cheaper
        if not isinstance(item, TaskRunRequest):
            raise InvalidParameterError(
                "task_slug", f"must be a string or a TaskRunRequest, got {type(item).__name__}"
            )
        request: TaskRunRequest = item
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


class _ReceiverLauncher(_TaskLauncher):
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
        """As :meth:`_TaskLauncher.prepare`, with a freshly minted callback URL when the item has none.

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
        """Start; the returned run is bound to its launch before this returns."""
        launch = self._launches.pop(request.callback_url or "", None)
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


class AsyncTasks(Resource):
    """Saved Tasks: a Worker plus a preset input, started by slug."""

    __slots__ = ("_plain",)

    def __init__(self, manager: SessionManager, *, callback_url: str | None) -> None:
        # The default URL is checked once, here, so that no fan-out item checks it again.
        if callback_url is not None:
            require_callback_url("callback_url", callback_url)
        super().__init__(manager, callback_url=callback_url)
        # The launcher of calls that override nothing: built once, not per call.
        self._plain = _TaskLauncher(
            manager, default_url=callback_url, callback_url=None, timeout=None, max_retries=None
        )

    def _launcher(
        self,
        *,
        callback_url: str | None,
        callback: CallbackReceiver | None,
        timeout: float | None,
        max_retries: int | None,
    ) -> _TaskLauncher:
        if callback is None:
            if callback_url is None and timeout is None and max_retries is None:
                return self._plain
            return _TaskLauncher(
                self._manager,
                default_url=self._callback_url,
                callback_url=callback_url,
                timeout=timeout,
                max_retries=max_retries,
            )
        if not isinstance(callback, CallbackReceiver):
            raise InvalidParameterError(
                "callback", f"must be a CallbackReceiver, got {type(callback).__name__}"
            )
        if callback_url is not None:
            raise InvalidParameterError("callback", "pass either callback= or callback_url=, not both")
        return _ReceiverLauncher(self._manager, callback, timeout=timeout, max_retries=max_retries)

    def prepare(self, task: str | TaskRunRequest, *, callback_url: str | None = None) -> TaskRunRequest:
        """Validate ``task`` and fill in the callback URL, without sending anything.

        The callback URL is the first of: the request's own, ``callback_url``, the
        client's default. Raises ``InvalidParameterError`` naming the bad field.
        """
        launcher = self._launcher(callback_url=callback_url, callback=None, timeout=None, max_retries=None)
        return launcher.prepare(task)

    async def run(
        self,
        task_slug: str | TaskRunRequest,
        *,
        callback_url: str | None = None,
        callback: CallbackReceiver | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> StartedRun:
        """Start a run of the saved Task ``task_slug`` and return it (``POST /api/v1/task/run`` on v1).

        API v1 requires a callback URL here; ``callback_url`` falls back to the client's.
        With ``callback=receiver`` (a :class:`~coreclaw_async.callbacks.CallbackReceiver`)
        the start uses a URL minted by the receiver instead, and the run is bound to it
        before this returns, so ``receiver.wait(run.run_slug)`` and
        ``client.runs.wait(run.run_slug, receiver=receiver)`` wake on its notices.
        The start is retried only when nothing can have been created (not sent, rate
        limited); if it was sent and no verdict came back, ``RunStartUnknownError`` is
        raised and it is not re-sent.

        Raises:
            InvalidParameterError: blank slug, missing/invalid callback URL, both
                ``callback`` and ``callback_url``, a closed receiver, a bad ``timeout`` or
                ``max_retries`` (nothing sent).
            TaskNotFoundError, AuthenticationError, RateLimitError, InsufficientBalanceError,
            ...: the server refused the start (see ``coreclaw_async.errors``).
            RunStartUnknownError: sent, outcome unknown.

        Example::

            run = await client.tasks.run("01KSFDXRNYGKT3NNE11EMR4W5X")
            print(run.run_slug)
        """
        launcher = self._launcher(
            callback_url=callback_url, callback=callback, timeout=timeout, max_retries=max_retries
        )
        return await launcher.start(launcher.prepare(task_slug))

    def run_many(
        self,
        requests: TaskRunRequests,
        *,
        callback_url: str | None = None,
        callback: CallbackReceiver | None = None,
        concurrency: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> TaskRunBatch:
        """Start a run for every item of ``requests``, ``concurrency`` at a time.

        ``requests`` is any iterable or async iterable of task slugs or ``TaskRunRequest``
        objects; it is consumed lazily, so a generator of a million items is fine (memory
        grows with ``concurrency``, not with the input). The result is a
        :class:`~coreclaw_async.fanout.TaskRunBatch`: iterate it for one
        :class:`~coreclaw_async.fanout.TaskRunOutcome` per item, in completion order. A
        failed item never stops the batch: it yields an outcome with ``error`` set
        (``InvalidParameterError`` and ``started=False`` for a bad slug, nothing sent).

        ``concurrency`` defaults to the client's ``max_connections``. ``callback_url``
        applies to items without their own; ``timeout`` and ``max_retries`` apply to each
        item's start as in :meth:`run`, sharing the client's limiter with every other call.
        With ``callback=receiver`` every item without its own URL gets one minted by the
        receiver and each started run is bound to it (see :meth:`run`); pass the started
        slugs to ``client.runs.wait_many(..., receiver=receiver)`` to learn how they end.
        Nothing is sent until the batch is entered or iterated.

        Raises:
            InvalidParameterError: ``concurrency``, ``timeout``, ``max_retries`` or
                ``callback_url`` is invalid, or ``requests`` is not iterable (a lone string is
                refused too).

        Example::

            async with client.tasks.run_many(slugs, concurrency=20) as batch:
                async for outcome in batch:
                    if outcome.started is None:
                        log_for_reconciliation(outcome.request)
        """
        launcher = self._launcher(
            callback_url=callback_url, callback=callback, timeout=timeout, max_retries=max_retries
        )
        return TaskRunBatch(
            launcher,
            requests,
            concurrency=self._manager.max_connections if concurrency is None else concurrency,
        )

    async def run_all(
        self,
        requests: TaskRunRequests,
        *,
        callback_url: str | None = None,
        callback: CallbackReceiver | None = None,
        concurrency: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        on_cancel: Callable[[list[TaskRunOutcome]], None] | None = None,
    ) -> list[TaskRunOutcome]:
        """Like :meth:`run_many`, but wait for every item and return the outcomes in input order.

        The list holds one outcome per item, so it grows with the input; use
        :meth:`run_many` for very large inputs. If the awaiting task is cancelled, launches
        stop at once, everything is released and ``CancelledError`` propagates. Before it
        does, ``on_cancel`` (if given) is called with every outcome known at that moment, in
        input order: the finished ones and, with ``started=None``, the starts that were in
        flight, so you can reconcile them. Items never taken from the input get no outcome.

        Raises:
            InvalidParameterError: as :meth:`run_many`, or ``on_cancel`` is not callable.

        Example::

            outcomes = await client.tasks.run_all(["01KSF...", "01KSG..."])
            started = [o.run.run_slug for o in outcomes if o.run is not None]
        """
        if on_cancel is not None and not callable(on_cancel):
            raise InvalidParameterError("on_cancel", f"must be callable, got {type(on_cancel).__name__}")
        outcomes: list[TaskRunOutcome] = []
        batch = self.run_many(
            requests,
            callback_url=callback_url,
            callback=callback,
            concurrency=concurrency,
            timeout=timeout,
            max_retries=max_retries,
        )
        try:
            async with batch:
                async for outcome in batch:
                    outcomes.append(outcome)
        except asyncio.CancelledError:
            finished = outcomes + batch.undelivered
            if on_cancel is not None:
                known = sorted(finished + batch.unreconciled, key=operator.attrgetter("index"))
                try:
                    on_cancel(known)
                except Exception:  # the caller's hook must not hide the cancellation
                    logger.exception("run_all: the on_cancel callback raised")
            logger.warning(
                "run_all cancelled after %d of %d item(s): %d run(s) started, %d in flight (outcome unknown)",
                len(finished),
                batch.taken,
                sum(o.started is True for o in finished),
                len(batch.unreconciled),
            )
            raise
        outcomes.sort(key=operator.attrgetter("index"))
        return outcomes
