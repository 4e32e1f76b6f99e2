"""Checks run on user input before anything is sent; each failure names the field."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from .errors import InvalidParameterError

__all__ = [
    "require_callback_url",
    "require_int",
    "require_number",
    "require_optional_slug",
    "require_slug",
]

# Matches exactly the characters for which ``str.isspace()`` is true (the same Unicode table).
_WHITE_SPACE = re.compile(r"\s")


def require_slug(field: str, value: Any) -> str:
    """Return ``value`` if it is a non-blank string, else raise ``InvalidParameterError``."""
    if not isinstance(value, str):
        raise InvalidParameterError(field, f"must be a string, got {type(value).__name__}")
    stripped = value.strip()
    if not stripped:
        raise InvalidParameterError(field, "must not be blank")
    if value != stripped:
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
    if _WHITE_SPACE.search(value) is not None:
        raise InvalidParameterError(field, f"must not contain white space: {value!r}")
    return value


def require_optional_slug(field: str, value: Any) -> str | None:
    """``None`` or a slug that passes :func:`require_slug`."""
    return None if value is None else require_slug(field, value)


def require_int(field: str, value: Any, *, minimum: int, maximum: int | None = None) -> int:
    """Return ``value`` if it is an int (not a bool) within ``[minimum, maximum]``, else raise."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidParameterError(field, f"must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise InvalidParameterError(field, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InvalidParameterError(field, f"must be at most {maximum}, got {value}")
    return value


def require_number(field: str, value: Any, *, minimum: float, exclusive: bool = False) -> float:
    """Return ``value`` as a float if it is a finite number above (or at) ``minimum``, else raise."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise InvalidParameterError(field, f"must be a number, got {type(value).__name__}")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidParameterError(field, f"must be finite, got {value!r}")
    if number < minimum or (exclusive and number == minimum):
        relation = "greater than" if exclusive else "at least"
        raise InvalidParameterError(field, f"must be {relation} {minimum:g}, got {value!r}")
    return number
