"""Checks run on user input before anything is sent; each failure names the field."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from .errors import InvalidParameterError

__all__ = ["require_callback_url", "require_slug"]


def require_slug(field: str, value: Any) -> str:
    """Return ``value`` if it is a non-blank string, else raise ``InvalidParameterError``."""
    if not isinstance(value, str):
        raise InvalidParameterError(field, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidParameterError(field, "must not be blank")
    if value != value.strip():
        raise InvalidParameterError(field, f"must not start or end with white space: {value!r}")
    return value


def require_callback_url(field: str, value: Any) -> str:
    """Return ``value`` if it is an absolute http(s) URL, else raise ``InvalidParameterError``."""
    if value is None:
        raise InvalidParameterError(
            field,
            "is required: pass callback_url= to this call or to AsyncCoreClaw (or set CORECLAW_CALLBACK_URL)",
        )
    if not isinstance(value, str):
        raise InvalidParameterError(field, f"must be a string, got {type(value).__name__}")
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise InvalidParameterError(field, f"is not a valid URL ({exc}): {value!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameterError(field, f"must be an absolute http(s) URL, got {value!r}")
    if any(ch.isspace() for ch in value):
        raise InvalidParameterError(field, f"must not contain white space: {value!r}")
    return value
