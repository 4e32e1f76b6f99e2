"""What every group of v2 operations shares: the route description, lookups and run starts.

Lookups raise the envelope code v2 answers when the thing is missing: 50001 for a Worker,
60001 for a Task (another user's Task is missing too, since v2 has no "not yours" code),
and `V2Settings.missing_run_code` for a run (70001 by default).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from . import _wire as wire
from ._files import FileStore
from ._http import ApiError, Args, Dispatcher
from ._ledger import Ledger, Refusal, hold_until_final
from ._records import FakeRun, FakeTask, FakeWorker
from ._v1_args import check_system
from ._v2_args import body_bool, invalid, opt_text, paging, unprocessable
from ._v2_records import sync_answer
from ._v2_wire import (
    INSUFFICIENT_BALANCE,
    NOT_FOUND,
    PLAN_LIMITED,
    RUN_NOT_FOUND,
    TASK_NOT_FOUND,
    VERSION_UNAVAILABLE,
    WORKER_NOT_FOUND,
)

__all__ = ["MISSING_RUN_CODES", "Handler", "Ids", "Op", "Start", "V2Base", "V2Settings", "read_start"]

Ids = Mapping[str, str]
"""The ids a request's path carries, by placeholder name (``worker``, ``task``, ``run``, ``queue``)."""
Handler = Callable[[Args, str, Ids], Awaitable[bytes]]
"""An operation: (arguments, URL path, path ids) -> encoded ``data`` (empty: no ``data`` key)."""
MISSING_RUN_CODES = (RUN_NOT_FOUND, NOT_FOUND)

_REFUSAL_CODES = {Refusal.INSUFFICIENT_BALANCE: INSUFFICIENT_BALANCE, Refusal.PLAN_CONCURRENCY: PLAN_LIMITED}


@dataclass(frozen=True)
class Op:
    """One v2 operation: method, path under ``/api/v2/`` with ``{placeholders}``, and how it is reached."""

    method: str
    path: str
    handler: Handler
    public: bool = False
    body: str = "json"
    """POST/PUT bodies: ``json`` (a JSON object is required), ``optional`` or ``none`` (must be empty)."""


@dataclass
class V2Settings:
    """The v2 knobs of a `FakeCoreClaw`, shared by every operation group."""

    always_200: bool
    missing_run_code: int = RUN_NOT_FOUND


class Start(NamedTuple):
    """The run-start options of a request body (all optional)."""

    callback_url: str | None
    is_async: bool
    page: int
    size: int


def read_start(args: Args) -> Start:
    """``callback_url``, ``is_async`` (default true) and the synchronous window ``offset``/``limit``."""
    callback_url = opt_text(args, "callback_url")
    is_async = body_bool(args, "is_async", True)
    page, size = paging(args, query=False)
    return Start(callback_url, is_async, page, size)


class V2Base:
    """Lookups, start checks and start answers for a group of v2 operations."""

    def __init__(self, ledger: Ledger, http: Dispatcher, files: FileStore, settings: V2Settings) -> None:
        self._ledger = ledger
        self._http = http
        self._files = files
        self._settings = settings

    def ops(self) -> list[Op]:
        """The operations of this group."""
        raise NotImplementedError

    # -- lookups ---------------------------------------------------------------------

    def run(self, run_slug: str) -> FakeRun:
        """The run ``run_slug``; the missing-run code if there is none."""
        run = self._ledger.runs_by_slug.get(run_slug)
        if run is None:
            raise ApiError(self._settings.missing_run_code)
        return run

    def last_run(self, worker: FakeWorker | None = None) -> FakeRun:
        """The newest run (of ``worker`` if given); the missing-run code if there is none."""
        run = self._ledger.last_run(worker.slug if worker is not None else None)
        if run is None:
            raise ApiError(self._settings.missing_run_code)
        return run

    def worker(self, ident: str | int) -> FakeWorker:
        """The Worker ``ident`` names (slug, v2 slug, ``owner~name`` or id); 50001 if none."""
        worker = self._ledger.find_worker(ident)
        if worker is None:
            raise ApiError(WORKER_NOT_FOUND)
        return worker

    def task(self, slug: str) -> FakeTask:
        """The caller's saved Task ``slug``; 60001 if there is none (or it is another user's)."""
        task = self._ledger.tasks.get(slug)
        if task is None or task.foreign:
            raise ApiError(TASK_NOT_FOUND)
        return task

    def base_url(self) -> str:
        """The fake's base URL, for the download URLs it hands out."""
        url = self._http.url
        if url is None:  # pragma: no cover - requests arrive only while serving
            raise RuntimeError("not serving")
        return url

    # -- starts ----------------------------------------------------------------------

    @staticmethod
    def check_input(input_: Any) -> None:
        """422 unless ``input_`` is a JSON object whose ``parameters.system`` (if any) is valid."""
        if not isinstance(input_, dict):
            raise unprocessable("input must be a JSON object")
        parameters = input_.get("parameters")
        if isinstance(parameters, dict) and "system" in parameters:
            try:
                check_system(parameters["system"])
            except ApiError:
                # One set of system checks for both versions; v2 words the refusal its own way.
                raise unprocessable("input.parameters.system has an invalid value") from None

    @staticmethod
    def check_version(worker: FakeWorker, version: str | None) -> str:
        """``version`` (default: the latest) if the Worker has it; 50003 otherwise."""
        if version is None:
            return worker.version
        if version not in worker.versions:
            raise ApiError(VERSION_UNAVAILABLE)
        return version

    @staticmethod
    def check_runnable(worker: FakeWorker | None, input_: Any) -> None:
        """11000 if ``input_`` lacks a required field of the Worker in ``parameters.custom``."""
        missing = worker.missing_input(input_) if worker is not None else None
        if missing is not None:
            raise invalid(f"{missing} is required")

    def check_can_start(self) -> None:
        """30001 or 30003 if the platform refuses to start a run now."""
        refusal = self._ledger.refuse_start()
        if refusal is not None:
            raise ApiError(_REFUSAL_CODES[refusal])

    async def answer_start(self, run: FakeRun, start: Start, *, rerun: bool = False) -> bytes:
        """``{"run_slug"}`` for an asynchronous start; else wait (capped) and answer the result."""
        if start.is_async:
            return b'{"run_slug":"' + run.slug.encode() + b'"}'
        now = await hold_until_final(run, self._ledger.sync_wait_cap, self._http.pause)
        return wire.dumps(sync_answer(run, now, start.page, start.size, rerun=rerun))
