"""Wire format of the fake's v2 API: envelope codes, HTTP statuses, run statuses and envelopes.

A v2 success is ``{"code":0,"message":"success","request_id":"…","data":…}``, with ``data``
absent where the operation returns nothing (abort, delete, update). An error is
``{"code":N,"message":"…","request_id":"…"}`` with no ``data``; the documented error bodies
carry no ``details`` either, so the reason of an invalid argument is said in ``message``.
Every answer has its own ``request_id``.
"""

from __future__ import annotations

import itertools
import secrets
from typing import Final

from . import _wire as wire
from ._records import ABORTING, FAILED, READY, RUNNING, SUCCEEDED

__all__ = [
    "INSUFFICIENT_BALANCE",
    "INVALID_ARGUMENT",
    "INVALID_TOKEN",
    "NOT_FOUND",
    "PLAN_LIMITED",
    "RATE_LIMITED",
    "RUN_FAILED",
    "RUN_NOT_FOUND",
    "STATUS_CODES",
    "STATUS_NAMES",
    "SYSTEM_ERROR",
    "TASK_NOT_FOUND",
    "UNAUTHORIZED",
    "UNPROCESSABLE",
    "VERSION_UNAVAILABLE",
    "WORKER_NOT_FOUND",
    "Envelopes",
    "http_status",
]

SYSTEM_ERROR: Final = 10000
INVALID_ARGUMENT: Final = 11000
NOT_FOUND: Final = 11004
UNAUTHORIZED: Final = 12001
INVALID_TOKEN: Final = 12002
RATE_LIMITED: Final = 13000
INSUFFICIENT_BALANCE: Final = 30001
PLAN_LIMITED: Final = 30003
WORKER_NOT_FOUND: Final = 50001
VERSION_UNAVAILABLE: Final = 50003
TASK_NOT_FOUND: Final = 60001
RUN_NOT_FOUND: Final = 70001
RUN_FAILED: Final = 70002
# Never on the wire: an argument the request's schema forbids (a missing or mistyped field,
# a value out of range). It is answered as 11000 with HTTP 422, the status v2 documents
# beside 400 for 11000; 400 is kept for bodies that cannot be read and for rules that
# relate several fields (a run list range across months, an inconsistent schedule).
UNPROCESSABLE: Final = -INVALID_ARGUMENT

MESSAGES: Final[dict[int, str]] = {
    SYSTEM_ERROR: "internal server error",
    INVALID_ARGUMENT: "invalid argument",
    NOT_FOUND: "not found",
    UNAUTHORIZED: "authentication required",
    INVALID_TOKEN: "invalid token",
    RATE_LIMITED: "too many requests",
    INSUFFICIENT_BALANCE: "account balance is insufficient",
    PLAN_LIMITED: "the current running tasks have reached the plan limit",
    WORKER_NOT_FOUND: "worker does not exist",
    VERSION_UNAVAILABLE: "the worker version is not available",
    TASK_NOT_FOUND: "task does not exist",
    RUN_NOT_FOUND: "run record does not exist",
    RUN_FAILED: "run operation failed",
}

# The HTTP status every v2 operation documents for these codes.
_DOCUMENTED_STATUS: Final[dict[int, int]] = {
    SYSTEM_ERROR: 500,
    INVALID_ARGUMENT: 400,
    UNPROCESSABLE: 422,
    NOT_FOUND: 404,
    UNAUTHORIZED: 401,
    INVALID_TOKEN: 401,
    RATE_LIMITED: 429,
}
# Business codes have no documented status; these are plausible ones ("mapped" mode).
_BUSINESS_STATUS: Final[dict[int, int]] = {
    INSUFFICIENT_BALANCE: 402,
    PLAN_LIMITED: 429,
    WORKER_NOT_FOUND: 404,
    VERSION_UNAVAILABLE: 400,
    TASK_NOT_FOUND: 404,
    RUN_NOT_FOUND: 404,
    RUN_FAILED: 409,
}

STATUS_NAMES: Final[dict[int, str]] = {
    READY: "ready",
    RUNNING: "running",
    SUCCEEDED: "succeeded",
    FAILED: "failed",
    ABORTING: "aborting",
}
STATUS_CODES: Final[dict[str, int]] = {name: code for code, name in STATUS_NAMES.items()}

_SUCCESS_HEAD: Final = b'{"code":0,"message":"success","request_id":"'


def http_status(code: int, *, always_200: bool) -> int:
    """The HTTP status of an error ``code``: documented, else plausible (or 200 if ``always_200``)."""
    status = _DOCUMENTED_STATUS.get(code)
    if status is not None:
        return status
    return 200 if always_200 else _BUSINESS_STATUS.get(code, 400)


class Envelopes:
    """Writes v2 envelopes, each with a new ``request_id`` unique to this fake."""

    def __init__(self) -> None:
        self._prefix = f"req-{secrets.token_hex(6)}-"
        self._numbers = itertools.count(1)

    def request_id(self) -> str:
        """A request id never given before by this fake."""
        return f"{self._prefix}{next(self._numbers)}"

    def ok(self, data: bytes) -> bytes:
        """``data`` (already encoded) in a success envelope; empty ``data`` leaves the key out."""
        head = _SUCCESS_HEAD + self.request_id().encode()
        if not data:
            return head + b'"}'
        return head + b'","data":' + data + b"}"

    def error(self, code: int, message: str | None) -> bytes:
        """The error envelope of ``code`` (the internal `UNPROCESSABLE` is written as 11000)."""
        wire_code = INVALID_ARGUMENT if code == UNPROCESSABLE else code
        text = MESSAGES.get(wire_code, "error") if message is None else message
        return wire.dumps({"code": wire_code, "message": text, "request_id": self.request_id()})
