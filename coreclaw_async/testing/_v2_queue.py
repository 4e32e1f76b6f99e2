"""v2 run queue: queue a Worker run, list the queue, activate and release items.

A queued run never starts by itself: it waits (``waiting``) until activated, whatever the
balance or the plan limit, which is how a start the platform would refuse now (30001,
30003) is kept for later. Activating an item starts a run from it if the platform lets a
run start now (it leaves the list); otherwise that ref reports ``success: false`` and keeps
waiting. Releasing makes a waiting item ``inactive`` for good; releasing one that is not
waiting is "not found" (11004 for the single release, ``success: false`` in bulk).
"""

from __future__ import annotations

from typing import Any

from . import _wire as wire
from ._http import ApiError, Args
from ._records import FakeRun
from ._v2_args import opt_text, paging, queue_refs, unprocessable
from ._v2_base import Ids, Op, V2Base
from ._v2_records import queue_record
from ._v2_wire import NOT_FOUND

__all__ = ["QueueOps"]

_LISTED = ("waiting", "inactive")


class QueueOps(V2Base):
    """The run queue of the caller."""

    def ops(self) -> list[Op]:
        """The operations of this group."""
        return [
            Op("POST", "workers/{worker}/queued-runs", self._queue_run),
            Op("GET", "run-queue/items", self._list),
            Op("POST", "run-queue/items/activate", self._activate),
            Op("POST", "run-queue/items/release", self._release_many),
            Op("POST", "run-queue/items/{queue}/release", self._release_one, body="optional"),
        ]

    async def _queue_run(self, args: Args, path: str, ids: Ids) -> bytes:
        # The body is a run's; is_async, offset and limit mean nothing to a queued run.
        input_ = args.get("input")
        self.check_input(input_)
        version = opt_text(args, "version")
        callback_url = opt_text(args, "callback_url")
        await self._http.checkpoint(path)
        worker = self.worker(ids["worker"])
        version = self.check_version(worker, version)
        self.check_runnable(worker, input_)
        item = self._ledger.enqueue(worker, version=version, input_=input_, callback_url=callback_url)
        return wire.dumps({"queue_ref": item.ref, "queue_status": item.status, "queued": True})

    async def _list(self, args: Args, path: str, ids: Ids) -> bytes:
        status = opt_text(args, "status")
        if status is not None and status not in _LISTED:
            raise unprocessable("status must be waiting or inactive")
        page, size = paging(args, query=True)
        await self._http.checkpoint(path)
        wanted = _LISTED if status is None else (status,)
        found = [item for item in self._ledger.queue.values() if item.status in wanted]
        start = (page - 1) * size
        workers = self._ledger.workers
        records = [queue_record(item, workers.get(item.scraper_slug)) for item in found[start : start + size]]
        return wire.dumps({"count": len(found), "list": records, "page_index": page, "page_size": size})

    async def _activate(self, args: Args, path: str, ids: Ids) -> bytes:
        refs = queue_refs(args)
        await self._http.checkpoint(path)
        results = [
            {"queue_ref": ref, "success": isinstance(self._ledger.activate(ref), FakeRun)} for ref in refs
        ]
        return wire.dumps({"results": results})

    async def _release_many(self, args: Args, path: str, ids: Ids) -> bytes:
        refs = queue_refs(args)
        reason = opt_text(args, "reason") or ""
        await self._http.checkpoint(path)
        results: list[dict[str, Any]] = []
        for ref in refs:
            if self._ledger.release(ref, reason):
                results.append({"queue_ref": ref, "success": True})
            else:
                results.append({"queue_ref": ref, "success": False, "error": "queue item not found"})
        return wire.dumps({"results": results})

    async def _release_one(self, args: Args, path: str, ids: Ids) -> bytes:
        reason = opt_text(args, "reason") or ""
        await self._http.checkpoint(path)
        if not self._ledger.release(ids["queue"], reason):
            raise ApiError(NOT_FOUND)
        return b""
