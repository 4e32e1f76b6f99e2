"""Endpoints as data: one ``Operation`` per API call says how to build its request and read its answer.

Resources pass an ``Operation`` (taken from the client's dialect) and a request model to the
session manager, which turns them into HTTP. An operation knows its method and path, where
the request's fields go (JSON body, query string, path segments or nowhere), the names they
have on the wire, whether a failed attempt may be repeated (``kind``) and how to read
``data``. That is what lets another API version sit behind the same resource methods.
"""

from __future__ import annotations

import enum
import functools
import string
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import attrs

from .errors import InvalidParameterError, NotFoundError

__all__ = ["Kind", "Operation"]

RespT = TypeVar("RespT")


class Kind(enum.Enum):
    """What a call does, which decides how its failures may be retried."""

    READ = "read"
    """Changes nothing: retried on every failure that may pass (not sent, unknown, 5xx, rate limit)."""

    RUN_START = "run_start"
    """Creates a billed run (no idempotency key exists): retried only when nothing was created."""

    ACTION = "action"
    """Changes state but creates nothing billed (abort): retried only when it was not sent or rate-limited."""


def _placeholders(path: str) -> tuple[str, ...]:
    return tuple(name for _, name, _, _ in string.Formatter().parse(path) if name)


def _keep(value: str) -> str:
    return value


@functools.lru_cache(maxsize=4096)
def _quoted(value: str) -> str:
    # A fan-out starts the same few Tasks many times: quoting each id once is enough.
    return quote(value, safe="")


def _path_segment(field: str, value: str) -> str:
    """``value`` quoted as one path segment; ``.`` and ``..`` would be removed by URL
    normalisation and send the call to another route, so they are refused (nothing sent)."""
    if value in (".", ".."):
        raise InvalidParameterError(field, f"{value!r} cannot be an id in a URL path")
    return _quoted(value)


@attrs.frozen
class Operation(Generic[RespT]):
    """One API endpoint.

    Attributes:
        name: short id used in logs and retry notes (``"task.run"``).
        method, path: the HTTP call. ``path`` may hold ``{field}`` placeholders: each is filled
            from the request field of that name, passed through ``path_id`` and
            percent-quoted (so ``/`` and ``?`` in an id cannot change the route); the field
            then leaves the body or query.
        kind: READ, RUN_START or ACTION.
        parse: turns the envelope's ``data`` into the result (``None`` ignores ``data``).
        auth: whether the API key is required.
        in_query: send the remaining fields as query parameters instead of a JSON body.
        body: ``False`` sends no body at all (and no fields may remain for one).
        wire_names: request field name -> key on the wire, where they differ.
        path_id: applied to each id before it is quoted into the path (e.g. one API version
            writes a Worker id's ``/`` as ``~``).
        min_timeout: calls of this operation get at least this deadline (synchronous runs).
        encode: turns the request's fields (attribute names) into the values this API version
            expects, before they are placed and renamed (a status number into its name, a list
            into a comma-separated string...).
        not_found: the error a bare "not found" answer means for this operation (a missing
            run is a ``RunNotFoundError`` whichever code the version uses).
        keeps_request_id: the answer's ``request_id`` is copied into the result model.
        reconcile_with: where a caller looks when a start of this operation has an unknown
            outcome (``"runs.list"``; ``"queue.list"`` for the run queue).
    """

    name: str
    method: str
    path: str
    kind: Kind
    parse: Callable[[Any], RespT] | None = None
    auth: bool = True
    in_query: bool = False
    body: bool = True
    wire_names: Mapping[str, str] = attrs.field(factory=dict)
    path_id: Callable[[str], str] = _keep
    min_timeout: float | None = None
    encode: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    not_found: type[NotFoundError] | None = None
    keeps_request_id: bool = False
    reconcile_with: str = "runs.list"
    placeholders: tuple[str, ...] = attrs.field(init=False)

    _around: tuple[str, str] = attrs.field(init=False, repr=False, eq=False)

    @placeholders.default
    def _find_placeholders(self) -> tuple[str, ...]:
        return _placeholders(self.path)

    @_around.default
    def _split_at_placeholder(self) -> tuple[str, str]:
        # The path before and after its only placeholder, for the fast path of render().
        if len(self.placeholders) != 1:
            return "", ""
        head, _, rest = self.path.partition("{" + self.placeholders[0] + "}")
        return head, rest

    plain: bool = attrs.field(init=False, repr=False, eq=False)
    """True when the request's fields go to the wire as they are (no path ids, no renames)."""

    @plain.default
    def _is_plain(self) -> bool:
        return not self.placeholders and not self.wire_names

    def render(self, fields: dict[str, Any] | None) -> tuple[str, dict[str, Any] | None]:
        """Return the concrete path and the fields left for the body or query, renamed for the wire.

        Raises ``KeyError`` naming a placeholder the request does not fill (a bug in the
        dialect, not in the caller's input).
        """
        if self.encode is not None and fields is not None:
            fields = self.encode(fields)
        if self.plain:
            return self.path, fields
        remaining = dict(fields) if fields else {}
        path = self.path
        placeholders = self.placeholders
        if len(placeholders) == 1:
            # The common case (one id in the path), without str.format.
            head, tail = self._around
            name = placeholders[0]
            path = head + _path_segment(name, self.path_id(str(remaining.pop(name)))) + tail
        elif placeholders:
            values = {}
            for name in placeholders:
                values[name] = _path_segment(name, self.path_id(str(remaining.pop(name))))
            path = path.format(**values)
        if self.wire_names:
            remaining = {self.wire_names.get(key, key): value for key, value in remaining.items()}
        return path, remaining if (remaining or fields is not None) else None
