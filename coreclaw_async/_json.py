"""JSON encoding and lenient decoding; uses orjson when it is importable."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any


def _optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:  # pragma: no cover - exercised only without the extra
        return None


_orjson = _optional("orjson")  # the optional "speedups" extra

HAS_ORJSON = _orjson is not None


def _dumps_stdlib(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


# Serialise an object to compact UTF-8 JSON bytes: orjson's own function when it is installed
# (every request body goes through here, so no wrapper of ours around it), else the stdlib's.
dumps: Callable[[Any], bytes] = _dumps_stdlib if _orjson is None else _orjson.dumps


def loads(raw: bytes) -> Any:
    """Parse JSON bytes, leniently.

    CoreClaw has been seen to put raw control characters inside strings
    and ids beyond 64 bits; strict parsers reject both, so a failed fast parse falls back
    to the standard library with ``strict=False``. Raises ``ValueError`` if the body is
    not JSON at all.
    """
    # orjson turns integers beyond 64 bits into floats; such bodies (20 digits in a row, as
    # _HUGE_INT says) take the exact path. The digit test is a bytes.translate, not the regex.
    if _orjson is not None and (
        _TWENTY_ZEROS not in raw.translate(_DIGITS_TO_ZERO)
        if type(raw) is bytes
        else _HUGE_INT.search(raw) is None
    ):
        try:
            return _orjson.loads(raw)
        except _orjson.JSONDecodeError:
            pass
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text, strict=False)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def decode(raw: bytes) -> Any:
    """:func:`loads` of a response body, ``None`` when it is not JSON (the envelope check's
    first step, with the common case of orjson and plain bytes in one function call)."""
    if _orjson is not None and type(raw) is bytes and _TWENTY_ZEROS not in raw.translate(_DIGITS_TO_ZERO):
        try:
            return _orjson.loads(raw)
        except _orjson.JSONDecodeError:
            pass
    try:
        return loads(raw)
    except ValueError:
        return None


_HUGE_INT = re.compile(rb"\d{20}")
# Every ASCII digit becomes b"0" and nothing else does, so 20 digits in a row in ``raw`` are
# exactly 20 b"0" in a row in the mapped copy: _HUGE_INT's meaning, at a fraction of its cost.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"0" * 9)
_TWENTY_ZEROS = b"0" * 20
