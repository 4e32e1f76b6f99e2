"""``client.queue`` (API v2): runs waiting in the queue for balance or plan capacity."""

from __future__ import annotations

import builtins
from collections.abc import Iterable

from .._constants import DEFAULT_MAX_PAGES, V2_MAX_PAGE_SIZE
from .._pagination import KeyedIterator, check_page_args
from .._validation import (
    require_int,
    require_optional_int,
    require_optional_timeout,
    require_slug,
    require_text,
)
from ..errors import InvalidParameterError
from ..models.queue import QueueActivation, QueueItem, QueueListRequest, QueuePage, QueueRefsRequest
from ._base import Resource

__all__ = ["AsyncQueue"]

_STATUSES = ("waiting", "inactive")


def _status(status: str | None) -> str | None:
    if status is not None and status not in _STATUSES:
        raise InvalidParameterError(
            "status", f"must be one of {', '.join(_STATUSES)} or None, got {status!r:.40}"
        )
    return status


def _refs(queue_refs: Iterable[str]) -> tuple[str, ...]:
    if isinstance(queue_refs, (str, bytes)) or not isinstance(queue_refs, Iterable):
        raise InvalidParameterError(
            "queue_refs", f"must be an iterable of queue references, got {type(queue_refs).__name__}"
        )
    refs = tuple(require_slug("queue_refs", ref) for ref in queue_refs)
    if not refs:
        raise InvalidParameterError("queue_refs", "must name at least one queue reference")
    return refs


class AsyncQueue(Resource):
    """The run queue (API v2): runs put there with ``workers.queue`` wait until you activate them
    (which starts and bills them) or release them. On API v1 every method raises
    ``UnsupportedOperationError`` (nothing sent)."""

    __slots__ = ()

    async def list_page(
        self,
        *,
        page_index: int = 1,
        page_size: int = V2_MAX_PAGE_SIZE,
        status: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> QueuePage:
        """One page of the queue (``GET /api/v2/run-queue/items``); ``status`` is ``"waiting"``
        or ``"inactive"`` (``None``: both).

        Raises:
            UnsupportedOperationError: on API v1. InvalidParameterError: bad arguments.
        """
        op = self._dialect.require(self._ops.queue_list, "queue.list_page")
        request = QueueListRequest(
            page_index=require_int("page_index", page_index, minimum=1),
            page_size=self._dialect.check_page_size(
                "page_size", require_int("page_size", page_size, minimum=1)
            ),
            status=_status(status),
        )
        return await self._manager.call(op, request, timeout=timeout, max_retries=max_retries)

    def list(
        self,
        *,
        status: str | None = None,
        page_size: int = V2_MAX_PAGE_SIZE,
        max_pages: int = DEFAULT_MAX_PAGES,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> KeyedIterator[QueueItem, QueuePage]:
        """Iterate over every queue item (optionally of one ``status``), one page at a time.

        Example::

            async for item in client.queue.list(status="waiting"):
                print(item.queue_ref, item.worker_slug)
        """
        op = self._dialect.require(self._ops.queue_list, "queue.list")
        check_page_args(page_size, max_pages)
        require_optional_timeout("timeout", timeout)
        require_optional_int("max_retries", max_retries, minimum=0)
        wanted = _status(status)
        size = self._dialect.page_size_for(page_size)

        async def fetch(page_index: int) -> QueuePage:
            request = QueueListRequest(page_index=page_index, page_size=size, status=wanted)
            return await self._manager.call(op, request, timeout=timeout, max_retries=max_retries)

        return KeyedIterator(fetch, page_size=size, max_pages=max_pages, what="queue.list", key=_queue_key)

    async def activate(
        self, queue_refs: Iterable[str], *, timeout: float | None = None, max_retries: int | None = None
    ) -> builtins.list[QueueActivation]:
        """Start the runs of these queue items (``POST /api/v2/run-queue/items/activate``); one
        result per reference says whether its run started.

        Activation starts billed runs, so like every run start it is never re-sent once it may
        have reached the server (``RunStartUnknownError`` then: check ``queue.list``).

        Raises:
            UnsupportedOperationError: on API v1. InvalidParameterError: no or blank references.
        """
        op = self._dialect.require(self._ops.queue_activate, "queue.activate")
        request = QueueRefsRequest(queue_refs=_refs(queue_refs))
        return await self._manager.call(op, request, timeout=timeout, max_retries=max_retries)

    async def release(
        self,
        queue_refs: Iterable[str],
        *,
        reason: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> builtins.list[QueueActivation]:
        """Take these items out of the queue without running them (``.../release``); they become
        ``"inactive"``. ``reason`` is kept by the server.

        Raises:
            UnsupportedOperationError: on API v1. InvalidParameterError: bad arguments.
        """
        op = self._dialect.require(self._ops.queue_release, "queue.release")
        if reason is not None:
            require_text("reason", reason)
        request = QueueRefsRequest(queue_refs=_refs(queue_refs), reason=reason)
        return await self._manager.call(op, request, timeout=timeout, max_retries=max_retries)


def _queue_key(item: QueueItem) -> str:
    return item.queue_ref
