"""The envelope check every response passes (spec section 3).

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
from ._json import loads
from .errors import (
    UNKNOWN_OUTCOME_CODES,
    AuthenticationError,
    CoreClawAPIError,
    RateLimitError,
    ResponseDecodeError,
    error_class_for_code,
)

__all__ = ["body_excerpt", "error_from_envelope", "parse_retry_after", "redact", "unwrap"]


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


def unwrap(
    raw: bytes,
    *,
    http_status: int,
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    secret: str | None = None,
) -> Any:
    """Return ``data`` of a successful envelope, or raise the error the response stands for.

    Raises a ``CoreClawAPIError`` subclass chosen by ``code`` when the body is an error
    envelope; when it is not an envelope at all, ``RateLimitError`` / ``AuthenticationError``
    for HTTP 429 / 401 / 403 and ``ResponseDecodeError`` otherwise.
    """
    try:
        payload = loads(raw)
    except ValueError:
        payload = None
    if type(payload) is dict:
        code = payload.get("code")
        if type(code) is int:
            if code == 0:
                return payload.get("data")
            raise error_from_envelope(
                payload,
                raw,
                http_status=http_status,
                method=method,
                path=path,
                headers=headers,
                secret=secret,
            )
    raise _not_an_envelope(
        raw,
        payload,
        http_status=http_status,
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
) -> CoreClawAPIError:
    """Build the typed error for an envelope whose ``code`` is not 0."""
    code = payload["code"]
    message = payload.get("message")
    if not isinstance(message, str) or not message:
        message = f"CoreClaw error {code}"
    else:
        message = redact(message, secret)
    cls = error_class_for_code(code)
    kwargs: dict[str, Any] = {
        "code": code,
        "http_status": http_status,
        "method": method,
        "path": path,
        "request_id": _request_id(payload, headers),
        "body": body_excerpt(raw, secret),
        "details": payload.get("details"),
    }
    if code in UNKNOWN_OUTCOME_CODES:
        kwargs["outcome"] = "unknown"
    if cls is RateLimitError:
        retry_after = parse_retry_after(headers.get("Retry-After") if headers else None)
        return RateLimitError(message, retry_after=retry_after, **kwargs)
    return cls(message, **kwargs)


def _not_an_envelope(
    raw: bytes,
    payload: Any,
    *,
    http_status: int,
    method: str,
    path: str,
    headers: Mapping[str, str] | None,
    secret: str | None,
) -> CoreClawAPIError:
    kwargs: dict[str, Any] = {
        "http_status": http_status,
        "method": method,
        "path": path,
        "request_id": _request_id(None, headers),
        "body": body_excerpt(raw, secret),
    }
    if http_status == 429:
        retry_after = parse_retry_after(headers.get("Retry-After") if headers else None)
        return RateLimitError("Too many requests", retry_after=retry_after, **kwargs)
    if http_status in (401, 403):
        return AuthenticationError(f"HTTP {http_status} without a CoreClaw envelope", **kwargs)
    if payload is None:
        what = "an empty body" if not raw.strip() else "a body that is not JSON"
    else:
        what = f"JSON that is not a CoreClaw envelope ({type(payload).__name__})"
    return ResponseDecodeError(f"Expected a CoreClaw envelope, got {what}", **kwargs)
