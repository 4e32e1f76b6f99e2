"""Models of the run queue (API v2): runs that wait for balance or plan capacity instead of failing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ._base import RequestModel
from ._fields import meta

__all__ = [
    "QueueActivation",
    "QueueItem",
    "QueueListRequest",
    "QueuePage",
    "QueueRefsRequest",
    "QueuedRun",
]


@attrs.frozen(kw_only=True)
class QueuedRun:
    """A run put in the queue (``workers.queue``): it waits there (``queue_status`` ``"waiting"``)
    until activated with ``client.queue.activate([queue_ref])``, which starts (and bills) it.

    ``queued`` is the server's word that the item was queued; ``request_id`` the id of the
    request that queued it (for CoreClaw's support).
    """

    queue_ref: str = attrs.field(metadata=meta(identifier=True))
    queue_status: str = ""
    queued: bool = False
    request_id: str | None = None


@attrs.frozen(kw_only=True)
class QueueItem:
    """An item of the run queue: its reference, its ``queue_status`` (``"waiting"`` or
    ``"inactive"``), the Worker it would run, and what else the server says (``extra``)."""

    queue_ref: str = attrs.field(metadata=meta(identifier=True))
    queue_status: str = ""
    worker_slug: str = ""
    created_at: datetime | None = attrs.field(default=None, metadata=meta(unit="s"))
    extra: Mapping[str, Any] = attrs.field(factory=dict, metadata=meta(extra=True))


@attrs.frozen(kw_only=True)
class QueuePage:
    """One page of the run queue: ``count`` items in total, ``items`` on this page."""

    count: int | None = None
    items: tuple[QueueItem, ...] = attrs.field(default=(), metadata=meta(wire="list"))


@attrs.frozen(kw_only=True)
class QueueActivation:
    """What became of one reference given to ``queue.activate``: ``success`` says whether its
    run was started; ``message`` why not, when the server says."""

    queue_ref: str = attrs.field(metadata=meta(identifier=True))
    success: bool = False
    message: str = ""


@attrs.frozen(kw_only=True)
class _QueueResults:
    """``data`` of the queue's activate and release calls."""

    results: tuple[QueueActivation, ...] = ()


@attrs.frozen
class QueueListRequest(RequestModel):
    """Query of the run queue list: a 1-based page, its size, and optionally a status."""

    page_index: int
    page_size: int
    status: str | None = None


@attrs.frozen
class QueueRefsRequest(RequestModel):
    """Body of the queue's activate and release calls: the references, and a release ``reason``."""

    queue_refs: tuple[str, ...]
    reason: str | None = None
