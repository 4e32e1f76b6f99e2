"""v2 operations on runs: the run list, and detail, abort, log, rerun, results and export of a
run named by its slug, of the account's last run, or of a Worker's last run.

The run list covers one Beijing-time calendar month: the current one, or the one
``start_time``..``end_time`` falls in (a range across months is 11000 "run list time
range cannot cross months"); runs are matched by the instant they started, newest first.
A run that does not exist (or no last run at all) answers `V2Settings.missing_run_code`,
70001 by default for every one of these operations: the run service answers 70001 for
the same operations on v1, and the v2 code table keeps it; 11004 is what v2 answers for
an unknown path. Aborting a run that is already final is 70002; a successful abort has no
``data``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from . import _wire as wire
from ._catalog import RESULT_KEYS
from ._exports import EXPORT_FORMATS
from ._files import log_entries
from ._http import ApiError, Args
from ._records import FakeRun
from ._v2_args import opt_text, paging, run_window, unprocessable
from ._v2_base import Handler, Ids, Op, V2Base, read_start
from ._v2_records import results_page, run_record
from ._v2_wire import RUN_FAILED, STATUS_CODES

__all__ = ["RunOps"]

Locate = Callable[[], FakeRun]
"""Finds the run an operation acts on (called once the request passed its checkpoint)."""
Action = Callable[[Args, str, Locate], Awaitable[bytes]]


def _export_keys(args: Args) -> tuple[str, ...]:
    """The result columns ``filter_keys`` (comma-separated) keeps, in column order; all if empty."""
    raw = opt_text(args, "filter_keys")
    if raw is None:
        return RESULT_KEYS
    wanted = {key.strip() for key in raw.split(",") if key.strip()}
    if not wanted:
        return RESULT_KEYS
    keys = tuple(key for key in RESULT_KEYS if key in wanted)
    if not keys:
        raise unprocessable("filter_keys names no result column")
    return keys


class RunOps(V2Base):
    """Run history and the operations on one run."""

    def ops(self) -> list[Op]:
        """The operations of this group."""
        ops = [Op("GET", "worker-runs", self._list)]
        locators: list[tuple[str, str, Callable[[Ids], FakeRun]]] = [
            ("worker-runs/{run}", "result/export", lambda ids: self.run(ids["run"])),
            ("worker-runs/last", "export", lambda ids: self.last_run()),
            ("workers/{worker}/runs/last", "export", lambda ids: self.last_run(self.worker(ids["worker"]))),
        ]
        for base, export, locate in locators:
            ops += [
                Op("GET", base, self._bind(self._detail, locate)),
                Op("POST", f"{base}/abort", self._bind(self._abort, locate), body="none"),
                Op("GET", f"{base}/log", self._bind(self._log, locate)),
                Op("POST", f"{base}/rerun", self._bind(self._rerun, locate), body="optional"),
                Op("GET", f"{base}/result", self._bind(self._result, locate)),
                Op("GET", f"{base}/{export}", self._bind(self._export, locate)),
            ]
        return ops

    @staticmethod
    def _bind(action: Action, locate: Callable[[Ids], FakeRun]) -> Handler:
        async def handler(args: Args, path: str, ids: Ids) -> bytes:
            return await action(args, path, lambda: locate(ids))

        return handler

    async def _list(self, args: Args, path: str, ids: Ids) -> bytes:
        worker_id = opt_text(args, "worker_id")
        status_name = opt_text(args, "status")
        status = None if status_name is None else STATUS_CODES.get(status_name)
        if status_name is not None and status is None:
            raise unprocessable(f"status must be one of {', '.join(STATUS_CODES)}")
        start, end = run_window(args, time.time())
        page, size = paging(args, query=True)
        await self._http.checkpoint(path)
        scraper_slug: str | None = None
        if worker_id is not None:
            worker = self._ledger.find_worker(worker_id)
            # A filter naming no Worker matches no run.
            scraper_slug = worker.slug if worker is not None else ""
        now = time.monotonic()
        found = [
            run
            for run in self._ledger.runs
            if start <= int(run.created_at_wall) < end
            and scraper_slug in (None, run.scraper_slug)
            and (status is None or run.status_at(now) == status)
        ]
        found.sort(key=lambda run: run.created_at_wall, reverse=True)
        first = (page - 1) * size
        records = [run_record(run, now, with_err=True) for run in found[first : first + size]]
        return wire.dumps({"count": len(found), "list": records})

    async def _detail(self, args: Args, path: str, locate: Locate) -> bytes:
        await self._http.checkpoint(path)
        return wire.dumps(run_record(locate(), time.monotonic(), with_err=False))

    async def _abort(self, args: Args, path: str, locate: Locate) -> bytes:
        await self._http.checkpoint(path)
        if not self._ledger.abort(locate()):
            raise ApiError(RUN_FAILED)
        return b""

    async def _log(self, args: Args, path: str, locate: Locate) -> bytes:
        await self._http.checkpoint(path)
        run = locate()
        now = time.monotonic()
        state = run.state(now)
        return wire.dumps(
            {
                "all_logs_url": self._files.log_url(self.base_url(), run),
                "list": log_entries(run, state, now),
                "result_count": state.results,
            }
        )

    async def _rerun(self, args: Args, path: str, locate: Locate) -> bytes:
        start = read_start(args)
        await self._http.checkpoint(path)
        original = locate()
        self.check_can_start()
        run = self._ledger.create_run(
            task_slug=original.task_slug,
            worker=None,
            scraper_slug=original.scraper_slug,
            scraper_title=original.scraper_title,
            version=original.version,
            callback_url=start.callback_url,
            input_=original.input,
            rerun_of=original.slug,
        )
        return await self.answer_start(run, start, rerun=True)

    async def _result(self, args: Args, path: str, locate: Locate) -> bytes:
        page, size = paging(args, query=True)
        await self._http.checkpoint(path)
        run = locate()
        return wire.dumps(results_page(run, run.rows_at(time.monotonic()), page, size))

    async def _export(self, args: Args, path: str, locate: Locate) -> bytes:
        fmt = (opt_text(args, "format") or "csv").lower()
        if fmt not in EXPORT_FORMATS:
            raise unprocessable(f"format must be one of {', '.join(EXPORT_FORMATS)}")
        keys = _export_keys(args)
        await self._http.checkpoint(path)
        url = self._files.export_url(self.base_url(), locate(), keys, fmt)
        return wire.dumps({"download_url": url})
