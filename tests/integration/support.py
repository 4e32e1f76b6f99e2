"""Helpers of the integration tests, on either API version.

`serving` starts a FakeCoreClaw that serves one version and a client speaking it;
`client_for` builds a client for a fake that serves one version; `Paths` says where each
operation lives on the wire of a version, for ``fake.inject(path=...)`` and for counting
``fake.requests_by_path`` by operation.

The path tables are written from the API documentation, not taken from the client: a
client that sent an operation to the wrong path must not be able to make these agree.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

from coreclaw_async import AsyncCoreClaw
from coreclaw_async.testing import FakeCoreClaw

from ..conftest import CALLBACK_URL

WORKER = "coreclaw/google-maps-scraper"
MAPS_INPUT = {"searchTerms": ["coffee"], "location": "Berlin"}

# Operation -> path template. ``{name}`` is an id in the path (v2 only); files the fake
# serves for exports and full logs are the "file" operation on both versions.
_V1: Mapping[str, str] = {
    "task_run": "/api/v1/task/run",
    "worker_run": "/api/v1/scraper/run",
    "run_abort": "/api/v1/scraper/abort",
    "run_get": "/api/v1/run/detail",
    "run_list": "/api/v1/run/list",
    "run_results": "/api/v1/run/result/list",
    "run_log": "/api/v1/run/last/log",
    "run_export": "/api/v1/run/result/export",
    "run_rerun": "/api/v1/rerun",
    "account_info": "/api/v1/account/info",
    "worker_get": "/api/scraper",
    "store_search": "/api/store",
    "proxy_regions": "/api/proxy/region",
}
_V2: Mapping[str, str] = {
    "task_run": "/api/v2/worker-tasks/{task}/runs",
    "task": "/api/v2/worker-tasks/{task}",
    "task_list": "/api/v2/worker-tasks",
    "worker_run": "/api/v2/workers/{worker}/runs",
    "worker_get": "/api/v2/workers/{worker}",
    "worker_input_schema": "/api/v2/workers/{worker}/input-schema",
    "run_abort": "/api/v2/worker-runs/{run}/abort",
    "run_get": "/api/v2/worker-runs/{run}",
    "run_last": "/api/v2/worker-runs/last",
    "run_list": "/api/v2/worker-runs",
    "run_results": "/api/v2/worker-runs/{run}/result",
    "run_log": "/api/v2/worker-runs/{run}/log",
    "run_export": "/api/v2/worker-runs/{run}/result/export",
    "run_rerun": "/api/v2/worker-runs/{run}/rerun",
    "account_info": "/api/v2/users/account",
    "store_search": "/api/v2/store",
    "proxy_regions": "/api/v2/proxy/region",
}
FILES_PREFIX = "/files/"


class Paths:
    """Where each operation of one API version lives on the wire.

    Operations are named like the client's (``task_run``, ``worker_run``, ``run_get``,
    ``run_list``, ``run_results``, ``run_log``, ``run_export``, ``run_rerun``, ``run_abort``,
    ``account_info``...), plus ``file`` for the fake's downloads. Ids are ``task``, ``run``
    and ``worker`` (``owner/name``, written ``owner~name`` in a v2 path); v1 paths carry
    none and ignore them.

    - ``path(op, **ids)``: the concrete path of one request (every id of the path needed);
    - ``pattern(op, **ids)``: a ``fake.inject(path=...)`` pattern: the concrete path when
      every id is given, else a prefix ending in ``*`` cut at the first missing id (on v2
      ``pattern("task_run")`` is ``/api/v2/worker-tasks/*``, which also matches the other
      Task paths: fine for a test that sends only starts, say so where it matters);
    - ``regex(op)``: a regular expression for any concrete path of ``op`` (log lines);
    - ``op_of(path)``: the operation a concrete path belongs to (a literal segment wins over
      an id, as on the server: ``worker-runs/last`` is not a run), or the path itself;
    - ``counts(fake)``: ``fake.requests_by_path`` summed by operation, for exact comparisons
      like ``paths.counts(fake) == {"run_get": 1}``;
    - ``count(fake, op)``: the requests one operation received, over all its paths.
    """

    def __init__(self, version: str) -> None:
        if version not in ("v1", "v2"):
            raise ValueError(f"unknown API version {version!r}")
        self.version = version
        self._templates = _V1 if version == "v1" else _V2

    def __repr__(self) -> str:
        return f"Paths({self.version!r})"

    def template(self, op: str) -> str:
        """The path template of ``op`` (KeyError for an operation this table lacks)."""
        return self._templates[op]

    def path(self, op: str, **ids: str) -> str:
        """The concrete path of ``op`` with ``ids`` filled in; KeyError if one is missing."""
        pattern = self.pattern(op, **ids)
        if pattern.endswith("*"):
            raise KeyError(f"{op} on {self.version} needs its ids: {self.template(op)}")
        return pattern

    def pattern(self, op: str, **ids: str) -> str:
        """A path pattern for ``fake.inject``: exact with every id, else a prefix ``...*``."""
        segments: list[str] = []
        for part in self.template(op).split("/"):
            if part.startswith("{"):
                value = ids.get(part[1:-1])
                if value is None:
                    return "/".join([*segments, "*"])
                part = value.replace("/", "~") if part == "{worker}" else value
            segments.append(part)
        return "/".join(segments)

    def regex(self, op: str) -> str:
        """A regular expression matching any concrete path of ``op`` (e.g. inside a log line)."""
        parts = self.template(op).split("/")
        return "/".join(r"[^/\s]+" if part.startswith("{") else re.escape(part) for part in parts)

    def op_of(self, path: str) -> str:
        """The operation ``path`` belongs to, or ``path`` itself if it is none of them."""
        if path.startswith(FILES_PREFIX):
            return "file"
        segments = path.split("/")
        best, best_literals = path, -1
        for op, template in self._templates.items():
            parts = template.split("/")
            if len(parts) != len(segments):
                continue
            literals = 0
            for part, segment in zip(parts, segments, strict=True):
                if part.startswith("{") and segment:
                    continue
                if part != segment:
                    break
                literals += 1
            else:
                if literals > best_literals:
                    best, best_literals = op, literals
        return best

    def counts(self, fake: FakeCoreClaw) -> dict[str, int]:
        """``fake.requests_by_path`` summed by operation (unknown paths keep their path)."""
        by_op: dict[str, int] = {}
        for path, number in fake.requests_by_path.items():
            op = self.op_of(path)
            by_op[op] = by_op.get(op, 0) + number
        return by_op

    def count(self, fake: FakeCoreClaw, op: str) -> int:
        """How many requests ``op`` received, over all its concrete paths."""
        if op != "file":
            self.template(op)  # an unknown operation is a KeyError, not a silent 0
        return self.counts(fake).get(op, 0)


def client_for(fake: FakeCoreClaw, **options: Any) -> AsyncCoreClaw:
    """A client for ``fake`` speaking the one version it serves: ``fake.api_key`` (or
    ``api_key=``) and ``CALLBACK_URL`` unless ``options`` say otherwise."""
    (version,) = fake.api_versions
    options.setdefault("api_key", fake.api_key)
    options.setdefault("callback_url", CALLBACK_URL)
    return AsyncCoreClaw(base_url=fake.url, api_version=version, **options)


@contextlib.asynccontextmanager
async def serving(
    api_version: str, /, **fake_kwargs: Any
) -> AsyncIterator[tuple[FakeCoreClaw, AsyncCoreClaw]]:
    """A started ``FakeCoreClaw(**fake_kwargs)`` serving ``api_version`` only, and a client
    speaking it; both closed on exit."""
    fake_kwargs.setdefault("seed", 1234)
    async with (
        FakeCoreClaw(api_versions=(api_version,), **fake_kwargs) as fake,
        client_for(fake) as client,
    ):
        yield fake, client


async def start_run(client: AsyncCoreClaw) -> str:
    """Start a Google Maps Worker run and return its slug."""
    started = await client.workers.run(WORKER, input=MAPS_INPUT)
    return started.run_slug
