"""Models of the run endpoints: detail, list, results, log, export, rerun and abort."""

from __future__ import annotations

import enum
import warnings
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from ._base import RequestModel
from ._fields import meta

__all__ = [
    "ExportLink",
    "ExportRequest",
    "LogEntry",
    "LogLevel",
    "RerunRequest",
    "ResultHeader",
    "ResultListRequest",
    "ResultPage",
    "Run",
    "RunListRequest",
    "RunLog",
    "RunPage",
    "RunRequest",
    "RunStatus",
    "StartedRun",
]


class RunStatus(enum.IntEnum):
    """The state of a run (the v1 integers 1-5; v2 names them).

    ``UNKNOWN`` stands for a value this version does not know; the raw integer stays
    available as ``Run.status_code`` (the raw v2 string as ``Run.status_name``). ``SUCCEEDED``
    and ``FAILED`` are final; ``ABORTING`` is "being stopped" and may last (``runs.wait`` gives
    it a bounded grace). ``ABORTED`` is not in CoreClaw's documented set (v1 has no number for
    it) but some servers and clients report it; it is final when it comes.
    """

    UNKNOWN = -1
    READY = 1
    RUNNING = 2
    SUCCEEDED = 3
    FAILED = 4
    ABORTING = 5
    ABORTED = 6

    @classmethod
    def from_code(cls, code: int) -> RunStatus:
        """The member for ``code``, or ``UNKNOWN`` for a value not defined here (never raises)."""
        member = cls._value2member_map_.get(code)
        return member if isinstance(member, cls) and member is not cls.UNKNOWN else cls.UNKNOWN

    @classmethod
    def from_name(cls, name: str) -> RunStatus:
        """The member for an API v2 status string (``"running"``...), ``UNKNOWN`` if not one of ours."""
        member = cls.__members__.get(name.strip().upper()) if isinstance(name, str) else None
        return member if member is not None and member is not cls.UNKNOWN else cls.UNKNOWN

    @property
    def wire_name(self) -> str:
        """The API v2 string of this status (``"succeeded"``...)."""
        return self.name.lower()

    @property
    def is_final(self) -> bool:
        """True for ``SUCCEEDED``, ``FAILED`` and ``ABORTED``: the run will not change any more."""
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.ABORTED)


def _run_status(run: Run) -> RunStatus:
    return RunStatus.from_code(run.status_code)


@attrs.frozen(kw_only=True)
class Run:
    """One run record (``run/detail``, ``run/list``).

    Attributes:
        run_slug: the run slug (``slug`` in the wire record).
        status: the state as a ``RunStatus``, the same member on API v1 and v2 (``UNKNOWN`` for
            values this version does not know).
        status_code: the status as the v1 integer (as sent on v1; on v2 the integer of the
            named status, -1 for a name this version does not know).
        status_name: the status string as sent on API v2 (kept when unknown); ``None`` on v1.
        err_msg: error text, ``""`` when none (run detail on v2 never carries it: see
            :attr:`error` and ``runs.failure_reason``).
        scraper_slug, scraper_title: the Worker that ran.
        results: rows collected so far.
        usage: cost in USD (``Decimal``, exact).
        started_at, finished_at: aware UTC datetimes; ``finished_at`` is ``None`` until the run ends.
        duration: seconds run (0 while running).
        origin: ``"api"`` or ``"web"``.
        traffic: bytes of proxy traffic used.
        version: the Worker version that ran.
    """

    run_slug: str = attrs.field(metadata=meta(wire="slug"))
    status_code: int = attrs.field(metadata=meta(wire="status", enum=RunStatus))
    status: RunStatus = attrs.field(init=False, default=attrs.Factory(_run_status, takes_self=True))
    status_name: str | None = None
    err_msg: str = ""
    scraper_slug: str = ""
    scraper_title: str = ""
    results: int = 0
    usage: Decimal = Decimal(0)
    started_at: datetime | None = attrs.field(default=None, metadata=meta(unit="s"))
    finished_at: datetime | None = attrs.field(default=None, metadata=meta(unit="s"))
    duration: int = 0
    origin: str = ""
    traffic: int = 0
    version: str = ""

    @property
    def slug(self) -> str:
        """Deprecated alias of :attr:`run_slug` (one name for a run's id everywhere); removed in 0.3."""
        warnings.warn("Run.slug is deprecated; use Run.run_slug", DeprecationWarning, stacklevel=2)
        return self.run_slug

    @property
    def error(self) -> str | None:
        """The failure text the record carries, ``None`` when it carries none (API v2 run
        detail never does: ``client.runs.failure_reason(run_slug)`` reads it from the log)."""
        return self.err_msg or None

    @property
    def is_final(self) -> bool:
        """True once the run succeeded, failed or (where a server reports it) was aborted;
        aborting (5) is not final."""
        return self.status.is_final

    @property
    def succeeded(self) -> bool:
        """True if the run finished successfully (status 3)."""
        return self.status is RunStatus.SUCCEEDED

    @property
    def failed(self) -> bool:
        """True if the run finished with a failure (status 4)."""
        return self.status is RunStatus.FAILED


@attrs.frozen(kw_only=True)
class RunPage:
    """One page of ``run/list``: ``count`` matching runs in total, ``items`` on this page.

    ``count`` is ``None`` only if the server left it out.
    """

    count: int | None = None
    items: tuple[Run, ...] = attrs.field(default=(), metadata=meta(wire="list"))


@attrs.frozen(kw_only=True)
class ResultHeader:
    """A result column: ``label`` for display, ``key`` in each row, ``format`` (``text``, ``number``, ...)."""

    label: str = ""
    key: str
    format: str = ""


@attrs.frozen(kw_only=True)
class ResultPage:
    """One page of ``run/result/list``.

    Attributes:
        count: total rows of the run (so far, for a running run); ``None`` if not sent.
        headers: the columns.
        items: the rows, as dicts keyed by ``headers[].key`` (plus ``__coreclaw_data_id__``).
        page_index, page_size: the page, when the server echoes it.
    """

    count: int | None = None
    headers: tuple[ResultHeader, ...] = ()
    items: tuple[dict[str, Any], ...] = attrs.field(default=(), metadata=meta(wire="list", rows=True))
    page_index: int | None = None
    page_size: int | None = None


class LogLevel(enum.IntEnum):
    """Level of a log entry (v1 ``type``: 1 debug, 2 info, 3 warn, 4 error); ``UNKNOWN`` otherwise."""

    UNKNOWN = -1
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4

    @classmethod
    def from_code(cls, code: int) -> LogLevel:
        """The member for ``code``, or ``UNKNOWN`` (never raises)."""
        member = cls._value2member_map_.get(code)
        return member if isinstance(member, cls) and member is not cls.UNKNOWN else cls.UNKNOWN


def _log_level(entry: LogEntry) -> LogLevel:
    return LogLevel.from_code(entry.type)


@attrs.frozen(kw_only=True)
class LogEntry:
    """One log line: ``level`` (from the raw ``type``), subtask ``group``, ``content``, UTC ``timestamp``."""

    type: int = attrs.field(metadata=meta(enum=LogLevel))
    level: LogLevel = attrs.field(init=False, default=attrs.Factory(_log_level, takes_self=True))
    group: str = attrs.field(default="", metadata=meta(identifier=True))
    content: str = ""
    timestamp: datetime | None = attrs.field(default=None, metadata=meta(unit="ms"))


@attrs.frozen(kw_only=True)
class RunLog:
    """The log of a run (``run/last/log``): recent ``items``, the full log at ``all_logs_url``, and
    ``result_count``."""

    all_logs_url: str = ""
    items: tuple[LogEntry, ...] = attrs.field(default=(), metadata=meta(wire="list"))
    result_count: int = 0


@attrs.frozen(kw_only=True)
class ExportLink:
    """A pre-signed URL of an exported result file (``run/result/export``).

    Its lifetime is not documented: download it promptly and do not store it.
    """

    download_url: str


@attrs.frozen(kw_only=True)
class StartedRun:
    """A run just started (``tasks.run``, ``workers.run``, ``runs.rerun``): ``run_slug`` identifies it
    from now on; ``request_id`` is the server's id of the request that started it (API v2 only),
    worth quoting to CoreClaw's support."""

    run_slug: str
    request_id: str | None = None


# -- requests ----------------------------------------------------------------------------


@attrs.frozen
class RunRequest(RequestModel):
    """Body naming one run: ``run/detail``, ``run/last/log``, ``scraper/abort``."""

    run_slug: str


@attrs.frozen
class RunListRequest(RequestModel):
    """Body of ``run/list``: a 1-based page, its size, and optional filters (status 0 = all);
    ``start_time``/``end_time`` (Unix seconds) are the API v2 time window."""

    page_index: int
    page_size: int
    status: int | None = None
    scraper_slug: str | None = None
    start_time: int | None = None
    end_time: int | None = None


@attrs.frozen
class ResultListRequest(RequestModel):
    """Body of ``run/result/list``: the run and a 1-based page."""

    run_slug: str
    page_index: int
    page_size: int


@attrs.frozen
class ExportRequest(RequestModel):
    """Body of ``run/result/export``: format and the column keys to keep (empty = all); all required."""

    run_slug: str
    format: str
    filter_keys: tuple[str, ...]


@attrs.frozen
class RerunRequest(RequestModel):
    """Body of ``rerun``; API v1 requires ``callback_url`` (the client fills in its default)."""

    run_slug: str
    callback_url: str | None = None
