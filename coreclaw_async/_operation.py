"""Endpoints as data: one ``Operation`` per API call says how to build and read it.

Resources pass an ``Operation`` and a request model to the session; the session turns
them into HTTP. Keeping the method, path, request placement and response shape of each
endpoint in one object is what lets a v2 dialect sit behind the same resource methods.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import attrs

RespT = TypeVar("RespT")


class Kind(enum.Enum):
    """What a call does, which decides how its failures may be retried."""

    READ = "read"
    """Changes nothing: retried on every failure that may pass (not sent, unknown, 5xx, rate limit)."""

    RUN_START = "run_start"
    """Creates a billed run (no idempotency key exists): retried only when nothing was created."""

    ACTION = "action"
    """Changes state but creates nothing billed (abort): retried only when it was not sent or rate-limited."""


@attrs.frozen
class Operation(Generic[RespT]):
    """One API endpoint.

    Attributes:
        name: short id used in logs and stats (``"task.run"``).
        method, path: the HTTP call; ``path`` may hold ``{field}`` placeholders filled
            from the request model (and then removed from the body or query).
        kind: READ, RUN_START or ACTION.
        parse: turns the envelope's ``data`` into the result (``None`` ignores ``data``).
        auth: whether the API key is required.
        in_query: send the request fields as query parameters instead of a JSON body.
        min_timeout: calls of this operation get at least this deadline (sync runs).
    """

    name: str
    method: str
    path: str
    kind: Kind
    parse: Callable[[Any], RespT] | None = None
    auth: bool = True
    in_query: bool = False
    min_timeout: float | None = None
    has_placeholders: bool = attrs.field(init=False)

    @has_placeholders.default
    def _has_placeholders(self) -> bool:
        return "{" in self.path

    def render(self, fields: dict[str, Any] | None) -> tuple[str, dict[str, Any] | None]:
        """Return the concrete path and the fields left for the body or query."""
        if not self.has_placeholders or fields is None:
            return self.path, fields
        remaining = dict(fields)
        names = [part.split("}", 1)[0] for part in self.path.split("{")[1:]]
        values = {name: remaining.pop(name) for name in names}
        return self.path.format(**values), remaining
