"""``client.runs``: read, page through, export, wait for, rerun and abort runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from .._constants import (
    DEFAULT_ABORT_GRACE,
    DEFAULT_DOWNLOAD_TIMEOUT,
    DEFAULT_EXPORT_FORMAT,
    DEFAULT_MAX_PAGES,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_RESULT_PAGE_SIZE,
    DEFAULT_RUN_PAGE_SIZE,
    DEFAULT_WAIT_MANY_POLLERS,
    DEFAULT_WAIT_TIMEOUT,
    EXPORT_FORMATS,
)
from .._download import download as _download
from .._files import Destination, Writer, check_destination, write_stream
from .._pagination import ResultIterator, RunIterator, check_page_args
from .._polling import FinishedRuns, PollEngine
from .._validation import (
    require_callback_url,
    require_int,
    require_number,
    require_optional_int,
    require_optional_slug,
    require_optional_timeout,
    require_slug,
    require_timeout,
)
from ..callbacks import CallbackReceiver
from ..errors import InvalidParameterError
from ..models.runs import (
    ExportLink,
    ExportRequest,
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
from ._base import Resource

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


class AsyncRuns(Resource):
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
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> RunPage:
        """Return one page of the run history, newest first (``POST /api/v1/run/list``).

        ``status`` filters by state (``RunStatus`` or 0-5; 0 = all), ``scraper_slug`` by Worker.
        ``RunPage.count`` is the total number of matching runs.

        Raises:
            InvalidParameterError: a bad page, size, status or slug (nothing sent).

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
        return await self._manager.call(self._ops.run_list, request, timeout=timeout, max_retries=max_retries)

    def list(
        self,
        *,
        status: RunStatus | int | None = None,
        scraper_slug: str | None = None,
        page_size: int = DEFAULT_RUN_PAGE_SIZE,
        max_pages: int = DEFAULT_MAX_PAGES,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> RunIterator:
        """Iterate over every run of the history, newest first, fetching one page at a time.

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
        page_size = self._dialect.page_size_for(page_size)

        async def fetch(page_index: int) -> RunPage:
            request = RunListRequest(
                page_index=page_index, page_size=page_size, status=status_code, scraper_slug=scraper
            )
            return await self._manager.call(
                self._ops.run_list, request, timeout=timeout, max_retries=max_retries
            )

        return RunIterator(fetch, page_size=page_size, max_pages=max_pages, what="runs.list")

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

    async def wait(
        self,
        run_slug: str,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        abort_grace: float = DEFAULT_ABORT_GRACE,
        on_poll: Callable[[Run], Any] | None = None,
        call_timeout: float | None = None,
        max_retries: int | None = None,
        receiver: CallbackReceiver | None = None,
    ) -> Run:
        """Poll a run until it is final and return its last record.

        The one-run case of :meth:`wait_many`, with the same cadence: the first check is
        immediate, the next after about a second, then the gaps grow (jittered) up to
        ``poll_interval``. With ``receiver`` (the
        :class:`~coreclaw_async.callbacks.CallbackReceiver` the run was started with), the
        first check waits for the first gap and a final notice makes the run due at once;
        the run is still read with ``get`` and returned only when that shows it final, and
        polling goes on as usual if no notice comes: a lost callback costs latency, never
        correctness. A failed read is tried again at the next turn, until ``timeout``. A run
        stuck in ``ABORTING`` is polled for ``abort_grace`` more seconds and then returned as
        it is (check ``run.status``). ``timeout`` is this wait's own deadline;
        ``call_timeout``/``max_retries`` apply to each status request. ``on_poll(run)`` is
        called after every check (e.g. for progress).

        Raises:
            WaitTimeoutError: the run was not final by ``timeout``; ``last_run`` is the last
                record seen and ``__cause__`` the last read's failure, if the last read failed.
            InvalidParameterError: bad arguments. RunNotFoundError: no such run.
            AuthenticationError: the key was refused.

        Example::

            run = await client.runs.wait(run_slug, timeout=600, receiver=receiver)
            if run.succeeded:
                async for row in client.runs.results(run.run_slug):
                    ...
        """
        slug = require_slug("run_slug", run_slug)
        engine = self._engine(
            [slug],
            receiver=receiver,
            timeout=timeout,
            poll_interval=poll_interval,
            abort_grace=abort_grace,
            pollers=1,
            call_timeout=call_timeout,
            max_retries=max_retries,
            on_poll=on_poll,
        )
        async with FinishedRuns(engine) as finished:
            async for run in finished:
                return run
        # The iteration ended without the run: it cannot be read (not found, another kind of slug).
        raise engine.errors[slug]

    def wait_many(
        self,
        run_slugs: Iterable[str],
        *,
        receiver: CallbackReceiver | None = None,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        abort_grace: float = DEFAULT_ABORT_GRACE,
        concurrency: int = DEFAULT_WAIT_MANY_POLLERS,
        call_timeout: float | None = None,
        max_retries: int | None = None,
    ) -> FinishedRuns:
        """Wait for many runs at once: an async iterator of final ``Run`` records as they finish.

        ``concurrency`` poller tasks serve every run, however many there are: each run is
        read at once, then with growing jittered gaps up to ``poll_interval`` (the same
        engine and cadence as :meth:`wait`); a failed read is tried again at the run's next
        turn. With ``receiver``, a final notice makes its run due at once, and the
        first read of the others waits for the first gap (about a second); every
        run is still confirmed with ``get`` before it is yielded, so lost, duplicated or
        forged notices change latency, never the result. Each run is yielded exactly once;
        runs that cannot be read (``RunNotFoundError``) end up in ``errors`` instead.
        ``timeout`` bounds the whole wait: ``WaitTimeoutError`` then, with ``pending``
        holding the last record of each unfinished run. Duplicate slugs are waited for once.

        Raises:
            InvalidParameterError: bad arguments (checked here, before anything is sent).

        Example::

            async with client.runs.wait_many(slugs, receiver=receiver, timeout=900) as finished:
                async for run in finished:
                    print(run.run_slug, run.status.name)
        """
        if isinstance(run_slugs, (str, bytes)):
            raise InvalidParameterError("run_slugs", "must be an iterable of run slugs, not a single string")
        if not isinstance(run_slugs, Iterable):
            raise InvalidParameterError(
                "run_slugs", f"must be an iterable of run slugs, got {type(run_slugs).__name__}"
            )
        slugs = list(dict.fromkeys(require_slug("run_slugs", slug) for slug in run_slugs))
        engine = self._engine(
            slugs,
            receiver=receiver,
            timeout=timeout,
            poll_interval=poll_interval,
            abort_grace=abort_grace,
            pollers=require_int("concurrency", concurrency, minimum=1),
            call_timeout=call_timeout,
            max_retries=max_retries,
            on_poll=None,
        )
        return FinishedRuns(engine)

    def _engine(
        self,
        slugs: Sequence[str],
        *,
        receiver: CallbackReceiver | None,
        timeout: float,
        poll_interval: float,
        abort_grace: float,
        pollers: int,
        call_timeout: float | None,
        max_retries: int | None,
        on_poll: Callable[[Run], Any] | None,
    ) -> PollEngine:
        """The poll engine for ``runs.wait`` and ``runs.wait_many``, every argument checked."""
        if receiver is not None and not isinstance(receiver, CallbackReceiver):
            raise InvalidParameterError(
                "receiver", f"must be a CallbackReceiver, got {type(receiver).__name__}"
            )
        if on_poll is not None and not callable(on_poll):
            raise InvalidParameterError("on_poll", f"must be callable, got {type(on_poll).__name__}")
        per_call = require_optional_timeout("call_timeout", call_timeout)
        retries = require_optional_int("max_retries", max_retries, minimum=0)
        get = self._ops.run_get
        manager = self._manager

        def read(run_slug: str, budget: float) -> Awaitable[Run]:
            return manager.call(get, RunRequest(run_slug), timeout=budget, max_retries=retries)

        return PollEngine(
            read,
            slugs,
            notices=receiver,
            timeout=require_timeout("timeout", timeout),
            poll_interval=require_timeout("poll_interval", poll_interval),
            abort_grace=require_number("abort_grace", abort_grace, minimum=0),
            pollers=pollers,
            call_timeout=manager.timeout if per_call is None else per_call,
            on_poll=on_poll,
        )


def _check_call_options(timeout: Any, max_retries: Any) -> None:
    """Check a call's ``timeout``/``max_retries`` where the call itself happens later (iterators)."""
    require_optional_timeout("timeout", timeout)
    require_optional_int("max_retries", max_retries, minimum=0)
