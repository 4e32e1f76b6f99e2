"""Argument types of the command line, built on the library's own argument checks.

A value the library would refuse is refused here already, with the same words, as an
``argparse`` error (exit code 2) before any client is built.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from .._validation import require_number, require_slug
from ..errors import InvalidParameterError
from ..models.runs import RunStatus

__all__ = [
    "json_input_arg",
    "keys_arg",
    "non_negative_float",
    "positive_float",
    "positive_int",
    "slug_arg",
    "status_arg",
]

T = TypeVar("T")


def _checked(check: Callable[[], T]) -> T:
    try:
        return check()
    except InvalidParameterError as exc:
        raise argparse.ArgumentTypeError(exc.message.split(": ", 1)[-1]) from None


def status_arg(text: str) -> int:
    """``--status``: a name (``running``) or a number 0-5."""
    name = text.strip().upper()
    if name in ("ALL", "0"):
        return 0
    if name.isdigit():
        return int(name)
    try:
        member = RunStatus[name]
    except KeyError:
        choices = ", ".join(m.name.lower() for m in RunStatus if m is not RunStatus.UNKNOWN)
        raise argparse.ArgumentTypeError(f"unknown status {text!r} (use all, {choices} or 0-5)") from None
    if member is RunStatus.UNKNOWN:
        raise argparse.ArgumentTypeError("unknown is not a status to filter on")
    return int(member)


def json_input_arg(text: str) -> Any:
    """``--input``: JSON text, ``@path`` of a JSON file, or ``-`` for stdin."""
    try:
        if text == "-":
            raw = sys.stdin.read()
        elif text.startswith("@"):
            with open(text[1:], encoding="utf-8") as handle:
                raw = handle.read()
        else:
            raw = text
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read input: {exc}") from None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"input is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("input must be a JSON object")
    return value


def keys_arg(text: str) -> tuple[str, ...]:
    """``--filter-keys``: comma-separated column keys."""
    return tuple(key.strip() for key in text.split(",") if key.strip())


def positive_float(text: str) -> float:
    """A finite number of seconds (or cores) above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    return _checked(lambda: require_number("value", value, minimum=0, exclusive=True))


def non_negative_float(text: str) -> float:
    """A finite number at or above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    return _checked(lambda: require_number("value", value, minimum=0))


def positive_int(text: str) -> int:
    """An integer at or above 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def slug_arg(text: str) -> str:
    """A slug as the library accepts it (no surrounding white space, printable)."""
    return _checked(lambda: require_slug("slug", text))
