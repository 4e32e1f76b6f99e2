"""The envelope check every response passes: ``{"code": int, "message": str, "data": ...}``, code 0 = success.

Read the body as bytes, decode it whatever the HTTP status, decide on ``code``; fall back
to the HTTP status only when the body is not an envelope. Everything here is pure
(no I/O), so it is tested directly with arbitrary bytes.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

from ._constants import BODY_EXCERPT_LIMIT, REQUEST_ID_HEADERS
from ._json import decode
from .errors import (
    UNKNOWN_OUTCOME_CODES,
    AuthenticationError,
    CoreClawAPIError,
    NotFoundError,
    RateLimitError,
    RequestRejectedError,
    ResponseDecodeError,
    ServerError,
    error_class_for_code,
)

__all__ = [
    "add_request_id",
    "body_excerpt",
    "decode",
    "error_for_status",
    "error_from_envelope",
    "failure_for",
    "parse_retry_after",
    "redact",
    "unwrap",
]


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` (an API key) replaced by ``***``."""
    # Very short "keys" are test placeholders; blanking them would garble ordinary words.
    if secret and len(secret) >= 8 and secret in text:
        return text.replace(secret, "***")
    return text


def body_excerpt(raw: bytes, secret: str | None = None) -> str:
    """The start of a body as text, for error messages, with ``secret`` blanked out."""
    # Redact before cutting, so a key straddling the limit cannot leak its first characters.
    extra = len(secret) if secret else 0
    text = redact(raw[: BODY_EXCERPT_LIMIT + extra].decode("utf-8", errors="replace"), secret)
    return text[:BODY_EXCERPT_LIMIT]


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); ``None`` if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN / inf
        return None
    return max(0.0, seconds)


def _request_id(payload: Mapping[str, Any] | None, headers: Mapping[str, str] | None) -> str | None:
    if payload is not None:
        rid = payload.get("request_id")
        if isinstance(rid, str) and rid:
            return rid
    if headers is not None:
        for name in REQUEST_ID_HEADERS:
            rid = headers.get(name)
            if rid:
                return rid
    return None


def add_request_id(payload: dict[str, Any], data: dict[str, Any], headers: Mapping[str, str] | None) -> None:
    """Copy the answer's request id (from the envelope, else a response header) into ``data``,
    a dict decoded from this very answer, for the model to keep."""
    request_id = _request_id(payload, headers)
    if request_id is not None:
        data["request_id"] = request_id


def unwrap(
    raw: bytes,
    *,
    http_status: int,
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    secret: str | None = None,
    not_found: type[CoreClawAPIError] | None = None,
    keep_request_id: bool = False,
) -> Any:
    """Return ``data`` of a successful envelope, or raise the error the response stands for.

    Raises a ``CoreClawAPIError`` subclass chosen by ``code`` when the body is an error
    envelope (CoreClaw's HTTP status is not consistent, so the code decides; a generic
    "not found" becomes ``not_found`` when the operation says what was missing); when it is
    not an envelope at all, the error :func:`error_for_status` picks by HTTP status. With
    ``keep_request_id`` the answer's request id is added to an object ``data`` as
    ``request_id``, for the model to keep.
    """
    payload = decode(raw)
    # The success test of the session's hot path, spelled the same way: an int code equal to 0.
    code = payload.get("code") if type(payload) is dict else None
    if code == 0 and type(code) is int:
        data = payload.get("data")
        if keep_request_id and type(data) is dict:
            add_request_id(payload, data, headers)
        return data
    raise failure_for(
        payload,
        raw,
        http_status=http_status,
        method=method,
        path=path,
        headers=headers,
        secret=secret,
        not_found=not_found,
    )


def failure_for(
    payload: Any,
    raw: bytes,
    *,
    http_status: int,
    method: str,
    path: str,
    headers: Mapping[str, str] | None,
    secret: str | None,
    not_found: type[CoreClawAPIError] | None = None,
) -> CoreClawAPIError:
    """The error an answer that is not a successful envelope stands for (``payload`` is what
    ``raw`` decoded to, ``None`` if it is not JSON): by ``code`` for an error envelope, by HTTP
    status for anything else."""
    if type(payload) is dict and type(payload.get("code")) is int:
        return error_from_envelope(
            payload,
            raw,
            http_status=http_status,
            method=method,
            path=path,
            headers=headers,
            secret=secret,
            not_found=not_found,
        )
    return error_for_status(
        http_status,
        raw,
        payload,
        method=method,
        path=path,
        headers=headers,
        secret=secret,
    )


def error_from_envelope(
    payload: Mapping[str, Any],
    raw: bytes,
    *,
    http_status: int,
    method: str,
    path: str,
    headers: Mapping[str, str] | None,
    secret: str | None,
    not_found: type[CoreClawAPIError] | None = None,
) -> CoreClawAPIError:
    """Build the typed error for an envelope whose ``code`` is not 0."""
    code = payload["code"]
    message = payload.get("message")
    if not isinstance(message, str) or not message:
        message = f"CoreClaw error {code}"
    else:
        message = redact(message, secret)
    cls = error_class_for_code(code)
    if cls is NotFoundError and not_found is not None:
        cls = not_found
    kwargs: dict[str, Any] = {
        "code": code,
        "http_status": http_status,
        "method": method,
        "path": path,
        "request_id": _request_id(payload, headers),
        "body": body_excerpt(raw, secret),
        "details": payload.get("details"),
    }
    if code in UNKNOWN_OUTCOME_CODES or (cls is CoreClawAPIError and http_status >= 500):
        # An internal error, or a code we do not know under a server-error status: the server
        # may have acted before failing, so for a run start the outcome is open.
        kwargs["outcome"] = "unknown"
    if cls is RateLimitError:
        retry_after = parse_retry_after(headers.get("Retry-After") if headers else None)
        return RateLimitError(message, retry_after=retry_after, **kwargs)
    return cls(message, **kwargs)


def error_for_status(
    http_status: int,
    raw: bytes,
    payload: Any = None,
    *,
    method: str,
    path: str,
    headers: Mapping[str, str] | None,
    secret: str | None,
    file_host: bool = False,
) -> CoreClawAPIError:
    """The error an answer stands for when its body is not a CoreClaw envelope, by HTTP status.

    The one mapping of bare HTTP statuses, for API calls (``payload`` is what the body
    decoded to, if anything) and for downloads from the file host (``file_host=True``):

    * 429: ``RateLimitError`` (``Retry-After`` kept);
    * 401/403: ``AuthenticationError`` from the API; from the file host
      ``RequestRejectedError`` (a pre-signed link that expired);
    * 404 from the file host: ``NotFoundError``;
    * any other 4xx: ``RequestRejectedError``: something in front of the API (a proxy, the
      HTTP layer) refused the request (too large, URI too long, method not allowed...), so
      it never reached CoreClaw and nothing was created;
    * 3xx from the API: ``RequestRejectedError`` too (API calls never follow a redirect; the
      answer says the request belongs elsewhere);
    * 5xx from the file host: ``ServerError``;
    * anything else from the API (a proxy's 502/503/504 page, an empty or truncated body, JSON
      of another shape under 2xx): ``ResponseDecodeError``, outcome unknown, because a proxy
      may fail after the API acted.
    """
    kwargs: dict[str, Any] = {
        "http_status": http_status,
        "method": method,
        "path": path,
        "request_id": None if file_host else _request_id(None, headers),
        "body": body_excerpt(raw, secret),
    }
    who = "The file host" if file_host else "The server"
    if http_status == 429:
        retry_after = parse_retry_after(headers.get("Retry-After") if headers else None)
        return RateLimitError(f"{who} answered HTTP 429 Too Many Requests", retry_after=retry_after, **kwargs)
    if http_status in (401, 403) and not file_host:
        return AuthenticationError(f"HTTP {http_status} without a CoreClaw envelope", **kwargs)
    if file_host and http_status == 404:
        return NotFoundError("The exported file does not exist (HTTP 404)", **kwargs)
    if 300 <= http_status < 400 and not file_host:
        # API calls do not follow redirects: the server sent us elsewhere and did nothing here.
        location = headers.get("Location") if headers else None
        return RequestRejectedError(
            f"The server redirected the request (HTTP {http_status}) to {location!r:.200}; "
            "point base_url at the final address. Nothing was created",
            **kwargs,
        )
    if 400 <= http_status < 500:
        hint = " (the link may have expired: export again)" if file_host and http_status in (401, 403) else ""
        return RequestRejectedError(
            f"{who} refused the request with HTTP {http_status}{hint}; nothing was created", **kwargs
        )
    if file_host and http_status >= 500:
        return ServerError(f"The file host failed with HTTP {http_status}", **kwargs)
    if payload is None:
        what = "an empty body" if not raw.strip() else "a body that is not JSON"
    else:
        what = f"JSON that is not a CoreClaw envelope ({type(payload).__name__})"
    return ResponseDecodeError(f"Expected a CoreClaw envelope, got {what} (HTTP {http_status})", **kwargs)
