"""The CoreClaw v2 API as a dialect of the dispatcher: its routes, authentication, arguments
and envelopes. The operations themselves live in `_v2_workers`, `_v2_tasks`, `_v2_runs`
and `_v2_queue`, all answering from the ledger v1 answers from.

v2 paths start ``/api/v2/`` and carry ids: ``{workerId}`` is a Worker's slug or
``owner~name`` (``~`` stands for ``/``), ``{workerTaskId}`` a Task slug, ``{runId}`` a run
slug, ``{queueId}`` a queue ref. Paths are matched segment by segment after percent-decoding,
so an encoded ``%2F`` becomes a separator and the path names another (unknown) route. An
unknown path or a known path asked with another method is 11004 with HTTP 404.

Reads are GETs with a query, writes POST/PUT/DELETE with a JSON object body; an abort
takes no body at all (one is refused with 11000). The key is accepted from
``Authorization: Bearer``, the legacy ``api-key`` header or ``?token=``; none is 12001 and
a wrong one 12002 (both HTTP 401). Proxy regions, the store and input schemas are public.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from aiohttp import web

from . import _wire as wire
from ._faults import Fault
from ._files import FileStore
from ._http import ApiError, Args, Dispatcher, Route, json_response
from ._ledger import Ledger
from ._v2_args import invalid
from ._v2_base import Ids, Op, V2Base, V2Settings
from ._v2_queue import QueueOps
from ._v2_runs import RunOps
from ._v2_tasks import TaskOps
from ._v2_wire import (
    INVALID_TOKEN,
    NOT_FOUND,
    PLAN_LIMITED,
    RATE_LIMITED,
    SYSTEM_ERROR,
    UNAUTHORIZED,
    Envelopes,
    http_status,
)
from ._v2_workers import WorkerOps

__all__ = ["V2_PREFIX", "V2Api"]

V2_PREFIX: Final = "/api/v2/"
_FAULT_CODES: Final[Mapping[Fault, int]] = {
    Fault.RATE_LIMIT: RATE_LIMITED,
    Fault.RATE_LIMIT_V2: RATE_LIMITED,
    Fault.CONCURRENCY_LIMIT: PLAN_LIMITED,
    Fault.SERVER_ERROR: SYSTEM_ERROR,
    Fault.SERVER_ERROR_AFTER_CREATE: SYSTEM_ERROR,
}


class _Bound:
    """An operation with one request's path ids bound, called as the dispatcher calls endpoints."""

    __slots__ = ("ids", "op")

    def __init__(self, op: Op, ids: Ids) -> None:
        self.op = op
        self.ids = ids

    async def __call__(self, args: Args, path: str) -> bytes:
        return await self.op.handler(args, path, self.ids)


async def _not_found(args: Args, path: str) -> bytes:
    raise ApiError(NOT_FOUND)


class V2Api:
    """The v2 dialect: route table, authentication, arguments and envelopes."""

    not_found_code: Final = NOT_FOUND
    fault_codes: Final = _FAULT_CODES

    def __init__(self, ledger: Ledger, http: Dispatcher, files: FileStore, settings: V2Settings) -> None:
        self._ledger = ledger
        self._settings = settings
        self._envelopes = Envelopes()
        # (method, number of segments) -> [(segments with "{name}" placeholders, operation)]
        self._table: dict[tuple[str, int], list[tuple[tuple[str, ...], Op]]] = {}
        groups: list[V2Base] = [
            WorkerOps(ledger, http, files, settings),
            TaskOps(ledger, http, files, settings),
            RunOps(ledger, http, files, settings),
            QueueOps(ledger, http, files, settings),
        ]
        for group in groups:
            for op in group.ops():
                self._add(op)

    def _add(self, op: Op) -> None:
        parts = tuple(op.path.split("/"))
        routes = self._table.setdefault((op.method, len(parts)), [])
        if any(known == parts for known, _ in routes):
            raise ValueError(f"duplicate route {op.method} {op.path}")
        routes.append((parts, op))

    # -- dialect ---------------------------------------------------------------------

    def resolve(self, method: str, path: str) -> Route | None:
        """The v2 route of ``method path``; a "not found" route for any other v2 path; None outside v2."""
        if not path.startswith(V2_PREFIX):
            return None
        segments = path[len(V2_PREFIX) :].split("/")
        best: tuple[Op, dict[str, str]] | None = None
        best_literals = -1
        for parts, op in self._table.get((method, len(segments)), ()):
            ids: dict[str, str] = {}
            literals = 0
            for part, segment in zip(parts, segments, strict=True):
                if part.startswith("{"):
                    if not segment:
                        break
                    ids[part[1:-1]] = segment
                elif part == segment:
                    literals += 1
                else:
                    break
            else:
                # A literal segment wins over a placeholder: "worker-runs/last" is not a run slug.
                if literals > best_literals:
                    best, best_literals = (op, ids), literals
        if best is None:
            return Route(method, _not_found, public=True)
        op, ids = best
        return Route(method, _Bound(op, ids), public=op.public, body_optional=op.body != "json")

    def authenticate(self, request: web.BaseRequest) -> None:
        """Accept the key from ``Authorization: Bearer``, ``api-key`` or ``?token=``.

        12001 if none is given, 12002 if it is not the fake's key.
        """
        headers = request.headers
        key = ""
        authorization = headers.get("Authorization", "")
        if authorization[:7].lower() == "bearer ":
            key = authorization[7:].strip()
        if not key:
            key = headers.get("api-key", "").strip()
        if not key:
            key = request.query.get("token", "").strip()
        if not key:
            raise ApiError(UNAUTHORIZED)
        if key != self._ledger.api_key:
            raise ApiError(INVALID_TOKEN)

    async def read_args(self, request: web.BaseRequest, route: Route) -> Args:
        """A GET's or DELETE's query, else the JSON object body (11000 with HTTP 400 if unreadable)."""
        endpoint = route.endpoint
        if not isinstance(endpoint, _Bound):
            return {}
        op = endpoint.op
        if op.method in ("GET", "DELETE"):
            return request.query
        raw = await request.read()
        if op.body == "none":
            if raw.strip():
                raise invalid("this operation takes no request body")
            return {}
        if not raw.strip():
            if op.body == "optional":
                return {}
            raise invalid("a JSON object body is required")
        try:
            value = wire.loads(raw)
        except wire.JSONError:
            raise invalid("the body is not valid JSON") from None
        if not isinstance(value, dict):
            raise invalid("the body must be a JSON object")
        return value

    def ok_body(self, data: bytes) -> bytes:
        """``data`` in a v2 success envelope (no ``data`` key if it is empty)."""
        return self._envelopes.ok(data)

    def error_response(self, code: int, message: str | None = None) -> web.Response:
        """The v2 error envelope with its HTTP status (business codes: see `http_status`)."""
        status = http_status(code, always_200=self._settings.always_200)
        return json_response(status, self._envelopes.error(code, message))
