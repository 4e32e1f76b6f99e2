"""``client.runs``: read, page through, export, wait for, rerun and abort runs."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import attrs

from .._constants import (
    DEFAULT_DOWNLOAD_TIMEOUT,
    DEFAULT_EXPORT_FORMAT,
    DEFAULT_MAX_PAGES,
    DEFAULT_RESULT_PAGE_SIZE,
    DEFAULT_RUN_PAGE_SIZE,
    EXPORT_FORMATS,
)
from .._download import download as _download
from .._files import Destination, Writer, check_destination, write_stream
from .._pagination import ResultIterator, RunIterator, check_page_args
from .._validation import (
    require_callback_url,
    require_int,
    require_optional_int,
    require_optional_slug,
    require_optional_timeout,
    require_slug,
    require_timeout,
)
from ..errors import InvalidParameterError
from ..models.runs import (
    ExportLink,
    ExportRequest,
    LogLevel,
    RerunRequest,
    ResultListRequest,
    ResultPage,
    Run,
    RunListRequest,
    RunLog,
    RunPage,
    RunRequest,
    RunStatus,
    StartedRun,
)
from ._history import RunHistory, check_range, day_window, month_windows
from ._waits import RunWaits

__all__ = ["AsyncRuns"]


def _status_filter(status: RunStatus | int | None) -> int | None:
    if status is None:
        return None
    if isinstance(status, RunStatus) and status is RunStatus.UNKNOWN:
        raise InvalidParameterError("status", "UNKNOWN is not a status the server can filter on")
    return require_int(
        "status", int(status) if isinstance(status, RunStatus) else status, minimum=0, maximum=5
    )


def _export_args(run_slug: str, format: str, filter_keys: Iterable[str] | None) -> ExportRequest:
    require_slug("run_slug", run_slug)
    if not isinstance(format, str) or format.strip().lower() not in EXPORT_FORMATS:
        raise InvalidParameterError("format", f"must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}")
    if filter_keys is None:
        filter_keys = ()  # None: every column, as the empty list means on the wire
    if isinstance(filter_keys, (str, bytes)) or not isinstance(filter_keys, Iterable):
        raise InvalidParameterError(
            "filter_keys", f"must be a sequence of column keys, got {type(filter_keys).__name__}"
        )
    keys = tuple(filter_keys)
    for key in keys:
        require_slug("filter_keys", key)
    return ExportRequest(run_slug=run_slug, format=format.strip().lower(), filter_keys=keys)


class AsyncRuns(RunWaits):
    """Runs: one execution of a Worker or Task, identified by its ``run_slug``."""

    __slots__ = ()

    async def get(
        self, run_slug: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> Run:
        """Return the current record of run ``run_slug`` (``POST /api/v1/run/detail``).

        Raises:
            InvalidParameterError: blank slug (nothing sent).
            RunNotFoundError: no such run (70001); InvalidRequestError (4000) for a slug of another kind.

        Example::

            run = await client.runs.get("01KSFDS8XWTJME33C08XMCR6B9")
            print(run.status, run.results, run.usage)
        """
        request = RunRequest(require_slug("run_slug", run_slug))
        return await self._manager.call(self._ops.run_get, request, timeout=timeout, max_retries=max_retries)

    async def list_page(
        self,
        *,
        page_index: int = 1,
        page_size: int = DEFAULT_RUN_PAGE_SIZE,
        status: RunStatus | int | None = None,
        scraper_slug: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> RunPage:
        """Return one page of the run history, newest first (``run/list``; v2 ``GET /worker-runs``).

        ``status`` filters by state (``RunStatus`` or 0-5; 0 = all), ``scraper_slug`` by Worker.
        ``RunPage.count`` is the total number of matching runs. On API v2 the server lists
        only the current calendar month (UTC+8) unless given ``since`` and ``until`` (aware
        datetimes) inside one calendar month; whole days are listed. :meth:`list` walks any
        range, on either version.

        Raises:
            InvalidParameterError: a bad page, size, status, slug or range (nothing sent); a
                range on API v1, whose run list has no time filter.

        Example::

            page = await client.runs.list_page(page_size=20, status=RunStatus.FAILED)
            print(page.count, [run.run_slug for run in page.items])
        """
        request = RunListRequest(
            page_index=require_int("page_index", page_index, minimum=1),
            page_size=self._dialect.check_page_size(
                "page_size", require_int("page_size", page_size, minimum=1)
            ),
            status=_status_filter(status),
            scraper_slug=require_optional_slug("scraper_slug", scraper_slug),
        )
        start, end = check_range(since, until)
        if start is not None or end is not None:
            if self._dialect.name == "v1":
                raise InvalidParameterError(
                    "since", "the v1 run list has no time filter: use runs.list(since=..., until=...)"
                )
            if start is None or end is None:
                raise InvalidParameterError("until", "give both since and until (one calendar month)")
            start_time, end_time = day_window(start, end)
            request = attrs.evolve(request, start_time=start_time, end_time=end_time)
        return await self._manager.call(self._ops.run_list, request, timeout=timeout, max_retries=max_retries)

    def list(
        self,
        *,
        status: RunStatus | int | None = None,
        scraper_slug: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = DEFAULT_RUN_PAGE_SIZE,
        max_pages: int = DEFAULT_MAX_PAGES,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> RunIterator | RunHistory:
        """Iterate over every run of the history, newest first, fetching one page at a time.

        ``since``/``until`` (aware datetimes, either may be left out) keep the runs started in
        that range, on both versions: on API v2 the range is walked one calendar month (UTC+8)
        at a time, since the server lists one month per request, so ``until`` needs ``since``
        there (without ``until`` the walk ends now); on v1 the history is read newest first
        until ``page_size`` runs in a row started before ``since``. A run not started yet counts
        as starting now. Without a range, API v2 lists only the current calendar month (that is
        what the server does) and v1 the whole history. ``max_pages`` bounds each month.

        Pages stop at a short page, an empty page or when ``count`` is reached (the answers say
        nothing else about the end), when the
        server repeats a page (it ignores ``page_index``), or after ``max_pages`` pages.
        ``timeout``/``max_retries`` apply to each page request. Arguments are checked here,
        before anything is sent. Runs started while iterating shift the pages (newest first),
        so a run may then be seen twice.

        Raises:
            InvalidParameterError: bad arguments (raised by this call, not by the iteration).

        Example::

            async for run in client.runs.list(scraper_slug="coreclaw/google-maps-scraper"):
                print(run.run_slug, run.status.name)
        """
        check_page_args(page_size, max_pages)
        _check_call_options(timeout, max_retries)
        status_code = _status_filter(status)
        scraper = require_optional_slug("scraper_slug", scraper_slug)
        start, end = check_range(since, until)
        page_size = self._dialect.page_size_for(page_size)

        def listing(window: tuple[int, int] | None = None) -> RunIterator:
            start_time, end_time = window if window is not None else (None, None)

            async def fetch(page_index: int) -> RunPage:
                request = RunListRequest(
                    page_index=page_index,
                    page_size=page_size,
                    status=status_code,
                    scraper_slug=scraper,
                    start_time=start_time,
                    end_time=end_time,
                )
                return await self._manager.call(
                    self._ops.run_list, request, timeout=timeout, max_retries=max_retries
                )

            return RunIterator(fetch, page_size=page_size, max_pages=max_pages, what="runs.list")

        if start is None and end is None:
            return listing()
        if self._dialect.name == "v1":
            return RunHistory([listing], since=start, until=end, stop_after_older=page_size)
        if start is None:
            # v2 must be told where to stop walking back: there is no "everything before".
            raise InvalidParameterError(
                "since", "is required with until on API v2 (runs are listed by month)"
            )
        windows = month_windows(start, end or datetime.now(timezone.utc))
        listings = [functools.partial(listing, window) for window in windows]
        return RunHistory(listings, since=start, until=end, stop_after_older=None)

    async def results_page(
        self,
        run_slug: str,
        *,
        page_index: int = 1,
        page_size: int = DEFAULT_RESULT_PAGE_SIZE,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> ResultPage:
        """Return one page of a run's result rows (``POST /api/v1/run/result/list``).

        Works on running runs too (rows collected so far). Rows are dicts keyed by
        ``ResultPage.headers[].key``.

        Raises:
            InvalidParameterError: blank slug or bad page arguments. RunNotFoundError: no such run.

        Example::

            page = await client.runs.results_page(run_slug, page_index=2, page_size=50)
        """
        request = ResultListRequest(
            run_slug=require_slug("run_slug", run_slug),
            page_index=require_int("page_index", page_index, minimum=1),
            page_size=self._dialect.check_page_size(
                "page_size", require_int("page_size", page_size, minimum=1)
            ),
        )
        return await self._manager.call(
            self._ops.run_results, request, timeout=timeout, max_retries=max_retries
        )

    def results(
        self,
        run_slug: str,
        *,
        page_size: int = DEFAULT_RESULT_PAGE_SIZE,
        max_pages: int = DEFAULT_MAX_PAGES,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> ResultIterator:
        """Iterate over every result row of a run (dicts), fetching one page at a time.

        Only the current page is held in memory. The returned iterator's ``headers`` (the
        columns) and ``count`` are filled once the first page arrived. Stop rules as for
        :meth:`list`.

        Raises:
            InvalidParameterError: bad arguments (raised by this call).
            RunNotFoundError: no such run (raised by the iteration).

        Example::

            rows = client.runs.results(run_slug)
            async for row in rows:
                print(row["title"])
            print([h.key for h in rows.headers or ()])
        """
        slug = require_slug("run_slug", run_slug)
        check_page_args(page_size, max_pages)
        _check_call_options(timeout, max_retries)
        page_size = self._dialect.page_size_for(page_size)

        async def fetch(page_index: int) -> ResultPage:
            request = ResultListRequest(run_slug=slug, page_index=page_index, page_size=page_size)
            return await self._manager.call(
                self._ops.run_results, request, timeout=timeout, max_retries=max_retries
            )

        return ResultIterator(fetch, page_size=page_size, max_pages=max_pages, what=f"runs.results({slug})")

    async def log(
        self, run_slug: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> RunLog:
        """Return the log summary of a run and the URL of its full log (``POST /api/v1/run/last/log``).

        Raises:
            InvalidParameterError: blank slug. RunNotFoundError: no such run.

        Example::

            log = await client.runs.log(run_slug)
            for entry in log.items:
                print(entry.timestamp, entry.level.name, entry.content)
        """
        request = RunRequest(require_slug("run_slug", run_slug))
        return await self._manager.call(self._ops.run_log, request, timeout=timeout, max_retries=max_retries)

    async def export(
        self,
        run_slug: str,
        *,
        format: str = DEFAULT_EXPORT_FORMAT,
        filter_keys: Iterable[str] = (),
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> ExportLink:
        """Export a run's results to a file and return its pre-signed download URL (``run/result/export``).

        ``format`` is ``"json"`` or ``"csv"`` (documented for v1; other v2 formats are passed
        through); ``filter_keys`` keeps only these column keys (empty = all). Download the
        link promptly (its lifetime is undocumented), e.g. with :meth:`download`.

        Raises:
            InvalidParameterError: blank slug, unknown format, bad keys. RunNotFoundError: no such run.

        Example::

            link = await client.runs.export(run_slug, format="csv", filter_keys=["title", "url"])
            print(link.download_url)
        """
        request = _export_args(run_slug, format, filter_keys)
        return await self._manager.call(
            self._ops.run_export, request, timeout=timeout, max_retries=max_retries
        )

    async def download(
        self,
        run: str | ExportLink,
        dest: Destination,
        *,
        format: str = DEFAULT_EXPORT_FORMAT,
        filter_keys: Iterable[str] = (),
        timeout: float | None = None,
        download_timeout: float = DEFAULT_DOWNLOAD_TIMEOUT,
        max_retries: int | None = None,
    ) -> int:
        """Export a run's results (or take an ``ExportLink``), stream the file to ``dest``, return its size.

        ``dest`` is a path (written to a temporary file and renamed when complete, so it is
        never left half-written) or a binary file object (``write(bytes)``, sync or async).
        The file is streamed in chunks, never held in memory. ``timeout`` bounds the export
        call, ``download_timeout`` the transfer. The API key is never sent to the file host.

        Raises:
            InvalidParameterError: bad arguments or ``dest``.
            RunNotFoundError: no such run. CoreClawAPIError (``http_status`` 403/404...): the file
            host refused the link. APIConnectionError/APITimeoutError: the transfer failed.
            OSError: writing ``dest`` failed.

        Example::

            size = await client.runs.download(run_slug, "results.csv", format="csv")
        """
        require_timeout("download_timeout", download_timeout)
        _check_call_options(timeout, max_retries)
        check_destination(dest)
        if isinstance(run, ExportLink):
            link = run
        else:
            request = _export_args(run, format, filter_keys)
            link = await self._manager.call(
                self._ops.run_export, request, timeout=timeout, max_retries=max_retries
            )

        async def stream(write: Writer) -> int:
            return await _download(
                self._manager, link.download_url, write, timeout=download_timeout, max_retries=max_retries
            )

        return await write_stream(dest, stream)

    async def rerun(
        self,
        run_slug: str,
        *,
        callback_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> StartedRun:
        """Start a new run with the same Worker and input as ``run_slug`` (``POST /api/v1/rerun``).

        API v1 requires a callback URL here; ``callback_url`` falls back to the client's.
        Like every run start it is never re-sent once it may have reached the server.

        Raises:
            InvalidParameterError: blank slug or missing/invalid callback URL (nothing sent).
            RunNotFoundError: no such run. RunStartUnknownError: sent, outcome unknown.

        Example::

            new = await client.runs.rerun(run_slug)
            final = await client.runs.wait(new.run_slug)
        """
        slug = require_slug("run_slug", run_slug)
        url = callback_url if callback_url is not None else self._callback_url
        if url is not None or self._dialect.requires_callback("run_rerun"):
            url = require_callback_url("callback_url", url)
        request = RerunRequest(run_slug=slug, callback_url=url)
        return await self._manager.call(
            self._ops.run_rerun, request, timeout=timeout, max_retries=max_retries
        )

    async def abort(
        self, run_slug: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> None:
        """Ask CoreClaw to stop a run (``POST /api/v1/scraper/abort``).

        The run then shows ``RunStatus.ABORTING`` for a while; use :meth:`wait` to see it end.

        Raises:
            InvalidParameterError: blank slug. RunNotFoundError: no such run.
            RunAbortFailedError: the run could not be aborted, usually because it already finished (70002).

        Example::

            await client.runs.abort(run_slug)
        """
        request = RunRequest(require_slug("run_slug", run_slug))
        await self._manager.call(self._ops.run_abort, request, timeout=timeout, max_retries=max_retries)

    async def failure_reason(
        self, run_slug: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> str | None:
        """Why a run failed, read from its log: the last error entry, or the last line that
        says error, exception or traceback; ``None`` when the log says nothing of the kind.

        Works on both versions (API v2 run detail has no failure message at all; on v1 the
        record's ``err_msg`` is the fallback when the log is silent).

        Raises:
            InvalidParameterError: blank slug. RunNotFoundError: no such run.

        Example::

            run = await client.runs.wait(slug)
            if run.failed:
                print(await client.runs.failure_reason(slug))
        """
        log = await self.log(run_slug, timeout=timeout, max_retries=max_retries)
        reason = failure_from_log(log)
        if reason is None and self._dialect.name == "v1":
            reason = (await self.get(run_slug, timeout=timeout, max_retries=max_retries)).error
        return reason

    async def last(self, *, timeout: float | None = None, max_retries: int | None = None) -> Run:
        """The account's most recent run (``GET /api/v2/worker-runs/last``).

        CoreClaw calls "last" unstable (another start changes it), so nothing here acts on it:
        read it, then use its ``run_slug``.

        Raises:
            UnsupportedOperationError: on API v1.
        """
        op = self._dialect.require(self._ops.run_last, "runs.last")
        return await self._manager.call(op, None, timeout=timeout, max_retries=max_retries)


def _check_call_options(timeout: Any, max_retries: Any) -> None:
    """Check a call's ``timeout``/``max_retries`` where the call itself happens later (iterators)."""
    require_optional_timeout("timeout", timeout)
    require_optional_int("max_retries", max_retries, minimum=0)


# Words of a log line that tell of a failure, when no entry is at the error level.
_FAILURE_WORDS = re.compile(
    # "failed" only when no zero counts it ("1 succeeded, 0 failed" tells of no failure).
    r"\b(?:error|exception|traceback|banned|captcha|forbidden)\b|(?<!\b0 )\bfailed\b",
    re.IGNORECASE,
)


def failure_from_log(log: RunLog) -> str | None:
    """The failure a run log tells of: the last ERROR entry, else the last line naming one."""
    for entry in reversed(log.items):
        if entry.level is LogLevel.ERROR and entry.content.strip():
            return entry.content.strip()
    for entry in reversed(log.items):
        if _FAILURE_WORDS.search(entry.content):
            return entry.content.strip()
    return None
