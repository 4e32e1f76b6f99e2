"""Models of Worker runs (``scraper/run``), Worker detail (``/api/scraper``), the store (``/api/store``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from .._constants import DEFAULT_CPUS, DEFAULT_EXECUTE_LIMIT_SECONDS, DEFAULT_MEMORY_MB
from ._base import RequestModel
from ._fields import meta
from .callbacks import FINAL_CALLBACK_STATUSES
from .runs import ResultPage

__all__ = [
    "InputProperty",
    "InputSchema",
    "StoreSearchRequest",
    "StoreWorker",
    "SystemParameters",
    "Worker",
    "WorkerDetailRequest",
    "WorkerInput",
    "WorkerInputSchema",
    "WorkerListRequest",
    "WorkerPage",
    "WorkerParameters",
    "WorkerRunRequest",
    "WorkerRunSync",
]


@attrs.frozen(kw_only=True)
class SystemParameters:
    """The container settings of a Worker run (``input.parameters.system``).

    Used both ways: ``Worker.parameters.system`` holds a Worker's defaults (read from
    ``memory`` or the legacy ``memory_bytes``), and ``workers.run(system=...)`` sends it.

    Attributes:
        cpus: CPU cores (0.125, 0.25, 0.5, 1, 2, 4).
        memory: MB, one of 512, 1024, 2048, 4096, 8192, 16384.
        execute_limit_time_seconds: container timeout.
        max_total_charge: USD cap, 0 = none.
        max_total_traffic: MB cap, 0 = none.
        proxy_region: ISO-3166 alpha-2 exit region; ``None`` leaves the server's default (US).
    """

    cpus: float = DEFAULT_CPUS
    memory: int = DEFAULT_MEMORY_MB
    execute_limit_time_seconds: int = DEFAULT_EXECUTE_LIMIT_SECONDS
    max_total_charge: float = 0.0
    max_total_traffic: float = 0.0
    proxy_region: str | None = None


@attrs.frozen(kw_only=True)
class WorkerInput:
    """The input of a Worker run: the Worker's own fields (``custom``) and container settings (``system``).

    Sent as ``{"parameters": {"system": {...}, "custom": {...}}}``. Build ``custom`` from
    ``Worker.parameters.custom.properties`` (each ``name`` is a key); ``Worker.default_input()``
    gives the Worker's defaults.

    Example::

        WorkerInput(custom={"startURLs": [{"url": "https://example.com"}]},
                    system=SystemParameters(memory=1024))
    """

    custom: Mapping[str, Any] = attrs.field(factory=dict)
    system: SystemParameters = attrs.field(factory=SystemParameters)


@attrs.frozen
class WorkerRunRequest(RequestModel):
    """Body of ``scraper/run``: ``is_async`` is always sent, ``page_index``/``page_size`` only when sync."""

    scraper_slug: str
    is_async: bool
    input: WorkerInput
    version: str | None = None
    callback_url: str | None = None
    page_index: int | None = None
    page_size: int | None = None


@attrs.frozen(kw_only=True)
class WorkerRunSync:
    """The answer of a synchronous ``scraper/run`` (``is_async=False``).

    The server waits up to 5 minutes; if the run has not ended by then ``run_status`` is
    ``"running"`` and the run goes on. Only trust :attr:`is_finished`: when it is False,
    wait for the run with ``runs.wait(run_slug)``.

    Attributes:
        run_slug: the run.
        run_status: ``"completed"`` or ``"running"`` (v1 strings; kept raw).
        error_message, result_message: texts from the server, ``""`` when none.
        execution_start_timestamp, execution_end_timestamp: UTC datetimes (sent in ms); ``None`` if 0.
        running_duration: seconds.
        results: the window of result rows chosen by ``page_index``/``page_size``.
        finished: the answer's explicit ``is_finished`` flag, when it has one.
    """

    run_slug: str
    run_status: str = ""
    error_message: str = ""
    result_message: str = ""
    execution_start_timestamp: datetime | None = attrs.field(default=None, metadata=meta(unit="ms"))
    execution_end_timestamp: datetime | None = attrs.field(default=None, metadata=meta(unit="ms"))
    running_duration: int = 0
    results: ResultPage | None = None
    finished: bool | None = attrs.field(default=None, metadata=meta(wire="is_finished"))

    @property
    def is_finished(self) -> bool:
        """True only when the answer says the run is over: an explicit ``is_finished`` flag, or
        a final ``run_status`` (``completed``, ``succeeded``, ``failed``, ``aborted``).

        An answer without either (``{"run_slug": ...}`` alone) or with ``running`` is not
        finished: wait for the run with ``client.runs.wait(result.run_slug)``.
        """
        if self.finished is not None:
            return self.finished
        return self.run_status.strip().lower() in FINAL_CALLBACK_STATUSES


@attrs.frozen(kw_only=True)
class InputProperty:
    """One input field of a Worker (``parameters.custom.properties[]``).

    ``extra`` keeps descriptor keys this version does not name (enum options, limits, ...).
    """

    name: str
    type: str = ""
    title: str = ""
    editor: str = ""
    default: Any = None
    required: bool = False
    description: str = ""
    extra: Mapping[str, Any] = attrs.field(factory=dict, metadata=meta(extra=True))


@attrs.frozen(kw_only=True)
class InputSchema:
    """The Worker-specific input form: ``properties``, optional ``description``, legacy ``split_by`` (``b``).

    ``extra`` keeps keys this version does not name.
    """

    properties: tuple[InputProperty, ...] = ()
    description: str = ""
    split_by: str | None = attrs.field(default=None, metadata=meta(wire="b"))
    extra: Mapping[str, Any] = attrs.field(factory=dict, metadata=meta(extra=True))


@attrs.frozen(kw_only=True)
class WorkerParameters:
    """``parameters`` of a Worker: container defaults (``system``) and the input form (``custom``)."""

    system: SystemParameters = attrs.field(factory=SystemParameters)
    custom: InputSchema = attrs.field(factory=InputSchema)


@attrs.frozen(kw_only=True)
class Worker:
    """A Worker and its live input schema (``GET /api/scraper`` on v1, ``GET /api/v2/workers/{id}``).

    Attributes:
        version: the latest version (pass it as ``version=`` to pin runs).
        readme: Markdown.
        parameters: container defaults and input form.
        name, username: the Worker's name and its owner (API v2 only).
    """

    version: str = ""
    readme: str = ""
    parameters: WorkerParameters = attrs.field(factory=WorkerParameters)
    name: str = ""
    username: str = ""

    @property
    def system(self) -> SystemParameters:
        """The Worker's default container settings."""
        return self.parameters.system

    @property
    def properties(self) -> tuple[InputProperty, ...]:
        """The Worker's input fields."""
        return self.parameters.custom.properties

    def default_input(self) -> dict[str, Any]:
        """The ``custom`` input made of every field's default (fields without a default are left out)."""
        return {prop.name: prop.default for prop in self.properties if prop.default is not None}


@attrs.frozen(kw_only=True)
class StoreWorker:
    """A Worker found in the store (``GET /api/store``), or one of yours (``workers.list``, v2).

    ``name``, ``path`` (``owner~name``) and ``username`` come with API v2 only.
    """

    slug: str
    title: str = ""
    description: str = ""
    name: str = ""
    path: str = ""
    username: str = ""


@attrs.frozen(kw_only=True)
class WorkerInputSchema:
    """A Worker's input schema as API v2 publishes it (``GET /api/v2/workers/{id}/input-schema``,
    no key needed): a JSON-schema-like object, kept as it came in :attr:`input_schema`."""

    input_schema: Mapping[str, Any] = attrs.field(factory=dict, metadata=meta(raw=True))

    @property
    def properties(self) -> Mapping[str, Any]:
        """The input fields, by name (``{}`` when the schema lists none)."""
        value = self.input_schema.get("properties") if isinstance(self.input_schema, Mapping) else None
        return value if isinstance(value, Mapping) else {}

    @property
    def required(self) -> tuple[str, ...]:
        """The names of the fields a run must be given."""
        value = self.input_schema.get("required") if isinstance(self.input_schema, Mapping) else None
        return tuple(str(name) for name in value) if isinstance(value, list) else ()


@attrs.frozen(kw_only=True)
class WorkerPage:
    """One page of your own Workers (API v2 ``workers.list``)."""

    count: int | None = None
    items: tuple[StoreWorker, ...] = attrs.field(default=(), metadata=meta(wire="scraper"))


@attrs.frozen
class WorkerListRequest(RequestModel):
    """Query of your own Workers: a 1-based page, its size and an optional keyword."""

    page_index: int
    page_size: int
    keyword: str | None = None


@attrs.frozen(kw_only=True)
class _StoreSearchData:
    """``data`` of ``/api/store``: the array key is ``scraper`` although the items are Workers."""

    scraper: tuple[StoreWorker, ...] = ()


@attrs.frozen
class WorkerDetailRequest(RequestModel):
    """Query of ``GET /api/scraper``: the Worker's ``slug`` (ULID or ``owner/name``)."""

    slug: str


@attrs.frozen
class StoreSearchRequest(RequestModel):
    """Query of the store search: a non-blank ``search`` text (v2 calls it ``keyword``), a
    ``limit``, and on v2 a 1-based page (``offset``)."""

    search: str
    limit: int
    page_index: int | None = None
