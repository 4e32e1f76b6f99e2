"""Wire format of the fake: JSON codec, v1 envelope codes and ready-made response bodies.

Everything here is written from the documented wire format, never from the client code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

try:  # orjson is optional: it only makes the fake faster.
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only without the speedups extra
    _orjson = None  # type: ignore[assignment]


def _dumps_std(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _loads_std(data: bytes) -> Any:
    return json.loads(data)


dumps: Callable[[Any], bytes] = _orjson.dumps if _orjson is not None else _dumps_std
loads: Callable[[bytes], Any] = _orjson.loads if _orjson is not None else _loads_std
# Both json.JSONDecodeError and orjson.JSONDecodeError subclass ValueError.
JSONError = ValueError

# v1 envelope codes. 13000 (rate limited) and 30003 (plan concurrency) come from the v2 code
# table; the backend behind both versions may answer them on v1 paths too.
OK: Final = 0
INVALID_PARAMS: Final = 4000
UNAUTHORIZED: Final = 4010
NOT_FOUND: Final = 4040
RATE_LIMITED: Final = 4290
INTERNAL: Final = 5000
RATE_LIMITED_V2: Final = 13000
INVALID_API_KEY: Final = 20001
INSUFFICIENT_BALANCE: Final = 30001
CONCURRENCY_LIMITED: Final = 30003
WORKER_NOT_FOUND: Final = 50001
VERSION_UNAVAILABLE: Final = 50003
TASK_NOT_FOUND: Final = 60001
RUN_NOT_FOUND: Final = 70001
ABORT_FAILED: Final = 70002

MESSAGES: Final[dict[int, str]] = {
    INVALID_PARAMS: "Invalid request parameters",
    UNAUTHORIZED: "Unauthorized",
    NOT_FOUND: "Resource not found",
    RATE_LIMITED: "Too many requests, please try again later",
    INTERNAL: "Network error, try again",
    RATE_LIMITED_V2: "too many requests",
    INVALID_API_KEY: "Invalid API key",
    INSUFFICIENT_BALANCE: "Balance is not enough",
    CONCURRENCY_LIMITED: "the current running tasks have reached the plan limit",
    WORKER_NOT_FOUND: "Script does not exist",
    VERSION_UNAVAILABLE: "The script version is not available",
    TASK_NOT_FOUND: "Task does not exist",
    RUN_NOT_FOUND: "Run record does not exist",
    ABORT_FAILED: "Failed to abort run",
}
TASK_NOT_YOURS_MESSAGE: Final = "Task does not belong to you"

# HTTP status per code as the v1 OpenAPI document pairs them; codes it pairs with no status
# (30001, 30003, ...) answer 200.
HTTP_STATUS: Final[dict[int, int]] = {
    INVALID_PARAMS: 400,
    UNAUTHORIZED: 401,
    NOT_FOUND: 404,
    RATE_LIMITED: 429,
    INTERNAL: 500,
    RATE_LIMITED_V2: 429,
    INVALID_API_KEY: 401,
    WORKER_NOT_FOUND: 404,
    TASK_NOT_FOUND: 404,
    RUN_NOT_FOUND: 404,
    ABORT_FAILED: 500,
}

OK_PREFIX: Final = b'{"code":0,"message":"success","data":'
OK_SUFFIX: Final = b"}"
# Raw (unescaped) control characters inside a JSON string: meaningful to a lenient parser,
# rejected by a strict one. v1 answers may carry them (an official v1 client strips them
# before parsing).
_SUCCESS_MESSAGE: Final = b'"message":"success"'
_SUCCESS_MESSAGE_WITH_CONTROL_CHARS: Final = b'"message":"success\x01\t\n"'
NOT_ENVELOPE_BODY: Final = b'{"ok":true}'


def ok_body(data_json: bytes) -> bytes:
    """Wrap already-encoded ``data`` in a success envelope."""
    return OK_PREFIX + data_json + OK_SUFFIX


def with_control_chars(envelope: bytes) -> bytes:
    """Return a success ``envelope`` whose ``"success"`` message carries raw control characters."""
    return envelope.replace(_SUCCESS_MESSAGE, _SUCCESS_MESSAGE_WITH_CONTROL_CHARS, 1)


_error_bodies: dict[tuple[int, str], bytes] = {}


def error_body(code: int, message: str | None = None) -> bytes:
    """Return the (cached) error envelope for ``code``; ``data`` is always null."""
    text = MESSAGES.get(code, "error") if message is None else message
    key = (code, text)
    body = _error_bodies.get(key)
    if body is None:
        body = dumps({"code": code, "message": text, "data": None})
        _error_bodies[key] = body
    return body


# Reason phrases as nginx words them on its error pages. nginx itself answers oversized
# headers with 400; 431 takes the standard phrase, as the proxies that send it do.
_REASONS: Final = {
    400: "Bad Request",
    405: "Not Allowed",
    413: "Request Entity Too Large",
    414: "Request-URI Too Large",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def nginx_error_page(status: int) -> bytes:
    """Return the HTML page an nginx reverse proxy answers with for an error ``status``."""
    title = f"{status} {_REASONS.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()
