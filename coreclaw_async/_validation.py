"""The one set of argument checks, used by the client, every resource method and the CLI.

Each check returns the value (normalised where it says so) or raises
``InvalidParameterError`` naming the argument; nothing is sent before every argument of a
call has passed. The rules: numbers are finite (no NaN, no infinity) and within range,
counts are ``int`` (not ``bool``, not ``2.5``), text is ``str`` that can be encoded as
UTF-8 (no lone surrogates) and carries no control characters, URLs are absolute http(s).
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

from .errors import InvalidParameterError

__all__ = [
    "require_bool",
    "require_callback_url",
    "require_header_value",
    "require_int",
    "require_number",
    "require_optional_bool",
    "require_optional_int",
    "require_optional_slug",
    "require_optional_timeout",
    "require_slug",
    "require_text",
    "require_timeout",
    "require_url",
]

# Matches exactly the characters for which ``str.isspace()`` is true (the same Unicode table).
_WHITE_SPACE = re.compile(r"\s")

# C0 and C1 control characters and DEL: never part of a slug, a URL or a header value.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _type_name(value: Any) -> str:
    return type(value).__name__


def require_text(field: str, value: Any, *, allow_empty: bool = False) -> str:
    """Return ``value`` if it is a ``str`` encodable as UTF-8 without control characters.

    Blank text is refused unless ``allow_empty``.
    """
    if not isinstance(value, str):
        raise InvalidParameterError(field, f"must be a string, got {_type_name(value)}")
    if not allow_empty and not value.strip():
        raise InvalidParameterError(field, "must not be blank")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidParameterError(
            field, f"is not valid Unicode text (lone surrogate): {value!r:.80}"
        ) from None
    if _CONTROL.search(value) is not None:
        raise InvalidParameterError(field, f"must not contain control characters: {value!r:.80}")
    return value


def require_slug(field: str, value: Any) -> str:
    """Return ``value`` if it is a non-blank id: printable text (no control characters, no
    lone surrogates, no invisible format characters) without surrounding white space."""
    # The fast path (every fan-out item passes here): one C-level scan answers it all.
    if type(value) is str and value and value.isprintable() and value[0] != " " and value[-1] != " ":
        return value
    require_text(field, value)
    if value != value.strip():
        raise InvalidParameterError(field, f"must not start or end with white space: {value!r:.80}")
    raise InvalidParameterError(field, f"must be printable text: {value!r:.80}")


def require_optional_slug(field: str, value: Any) -> str | None:
    """``None`` or a slug that passes :func:`require_slug`."""
    return None if value is None else require_slug(field, value)


def require_url(field: str, value: Any) -> str:
    """Return ``value`` if it is an absolute http(s) URL with a host and no white space."""
    require_text(field, value)
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError as exc:
        raise InvalidParameterError(field, f"is not a valid URL ({exc}): {value!r:.200}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidParameterError(field, f"must be an absolute http(s) URL, got {value!r:.200}")
    if _WHITE_SPACE.search(value) is not None:
        raise InvalidParameterError(field, f"must not contain white space: {value!r:.200}")
    return str(value)


def require_callback_url(field: str, value: Any) -> str:
    """Like :func:`require_url`, with a message that says where a missing one comes from."""
    if value is None:
        raise InvalidParameterError(
            field,
            "is required: pass callback_url= to this call or to AsyncCoreClaw (or set CORECLAW_CALLBACK_URL)",
        )
    return require_url(field, value)


def require_header_value(field: str, value: Any) -> str:
    """Return ``value`` if it can be sent as an HTTP header value: printable ASCII, no CR/LF,
    no surrounding white space (a key read from a file often keeps its newline)."""
    if not isinstance(value, str):
        raise InvalidParameterError(field, f"must be a string, got {_type_name(value)}")
    if not value or not value.isascii() or not value.isprintable() or value != value.strip():
        raise InvalidParameterError(field, "must be printable ASCII without surrounding white space")
    return value


def require_bool(field: str, value: Any) -> bool:
    """Return ``value`` if it is a ``bool`` (``0``/``1`` and strings are refused)."""
    if not isinstance(value, bool):
        raise InvalidParameterError(field, f"must be True or False, got {_type_name(value)}")
    return value


def require_optional_bool(field: str, value: Any) -> bool | None:
    """``None`` or a ``bool``."""
    return None if value is None else require_bool(field, value)


def require_int(field: str, value: Any, *, minimum: int, maximum: int | None = None) -> int:
    """Return ``value`` if it is an ``int`` (not a ``bool``) within ``[minimum, maximum]``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidParameterError(field, f"must be an integer, got {_type_name(value)} {value!r:.40}")
    if value < minimum:
        raise InvalidParameterError(field, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InvalidParameterError(field, f"must be at most {maximum}, got {value}")
    return int(value)


def require_optional_int(field: str, value: Any, *, minimum: int, maximum: int | None = None) -> int | None:
    """``None`` or an int that passes :func:`require_int`."""
    return None if value is None else require_int(field, value, minimum=minimum, maximum=maximum)


def require_number(
    field: str, value: Any, *, minimum: float, exclusive: bool = False, maximum: float | None = None
) -> float:
    """Return ``value`` as a ``float`` if it is a finite real number at (or above, with
    ``exclusive``) ``minimum`` and at most ``maximum``."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise InvalidParameterError(field, f"must be a number, got {_type_name(value)} {value!r:.40}")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidParameterError(field, f"is too large: {value!r:.40}") from None
    if not math.isfinite(number):
        raise InvalidParameterError(field, f"must be finite, got {value!r}")
    if number < minimum or (exclusive and number == minimum):
        relation = "greater than" if exclusive else "at least"
        raise InvalidParameterError(field, f"must be {relation} {minimum:g}, got {value!r}")
    if maximum is not None and number > maximum:
        raise InvalidParameterError(field, f"must be at most {maximum:g}, got {value!r}")
    return number


def require_timeout(field: str, value: Any) -> float:
    """Return ``value`` if it is a finite number of seconds above 0."""
    return require_number(field, value, minimum=0, exclusive=True)


def require_optional_timeout(field: str, value: Any) -> float | None:
    """``None`` (the default applies) or a timeout that passes :func:`require_timeout`."""
    return None if value is None else require_timeout(field, value)
