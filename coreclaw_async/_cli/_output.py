"""What the command line prints: tables and key/value pairs for people, JSON for programs.

Every command prints a readable table by default and JSON with ``--json`` (JSON Lines for the
streaming ones). Progress goes to stderr, and only on a terminal unless asked.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TextIO

import attrs

from .._constants import CLI_CELL_WIDTH, CLI_RESULT_CELL_WIDTH, ROW_ID_KEY
from ..models.runs import ResultHeader, Run

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_RUN_FAILED",
    "EXIT_WAIT_TIMEOUT",
    "Progress",
    "cell",
    "columns",
    "pairs",
    "plain",
    "progress_enabled",
    "result_line",
    "run_exit_code",
    "run_pairs",
    "size",
    "stdout_closed",
    "table",
    "write_json",
]

# Exit codes beyond 0 (success), 1 (error) and 2 (bad arguments).
EXIT_RUN_FAILED = 1
EXIT_WAIT_TIMEOUT = 124  # as timeout(1)
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell pipeline reports it

CELL_WIDTH = CLI_CELL_WIDTH
RESULT_CELL_WIDTH = CLI_RESULT_CELL_WIDTH


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: attrs models as dicts, enums by lower-case name,
    ``Decimal`` as a string (exact), datetimes in ISO 8601."""
    if attrs.has(type(value)):
        return {field.name: plain(getattr(value, field.name)) for field in attrs.fields(type(value))}
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def write_json(obj: Any) -> None:
    """Print ``obj`` as one line of JSON (see :func:`plain`)."""
    sys.stdout.write(json.dumps(plain(obj), ensure_ascii=False) + "\n")


def cell(value: Any, width: int = CELL_WIDTH) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, enum.Enum):
        text = value.name.lower()
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    text = " ".join(text.split()) if "\n" in text or "\t" in text else text
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[cell(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        widths = [max(width, len(text)) for width, text in zip(widths, row, strict=True)]
    lines = [
        "  ".join(header.upper().ljust(width) for header, width in zip(headers, widths, strict=True)).rstrip()
    ]
    lines += [
        "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    sys.stdout.write("\n".join(lines) + "\n")


def pairs(pairs: Sequence[tuple[str, Any]]) -> None:
    width = max(len(name) for name, _ in pairs)
    sys.stdout.write("".join(f"{name.ljust(width)}  {cell(value, 200)}\n" for name, value in pairs))


def size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"  # pragma: no cover - the loop always returns


def run_pairs(run: Run) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [
        ("slug", run.run_slug),
        ("status", f"{run.status.name.lower()} ({run.status_code})"),
        ("worker", f"{run.scraper_title} ({run.scraper_slug})" if run.scraper_title else run.scraper_slug),
        ("version", run.version),
        ("results", run.results),
        ("usage", f"${run.usage}"),
        ("traffic", size(run.traffic)),
        ("started", run.started_at),
        ("finished", run.finished_at),
        ("duration", f"{run.duration} s"),
        ("origin", run.origin),
    ]
    if run.err_msg:
        pairs.append(("error", run.err_msg))
    return pairs


def run_exit_code(run: Run) -> int:
    return 0 if run.succeeded else EXIT_RUN_FAILED


def stdout_closed() -> int:
    """The reader of stdout went away (``... | head``): stop quietly with the shell's SIGPIPE code."""
    # Point stdout at /dev/null so the interpreter's final flush does not fail again.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


class Progress:
    """A one-line status display on stderr while waiting; silent unless enabled."""

    def __init__(self, slug: str, enabled: bool, stream: TextIO) -> None:
        self._slug = slug
        self._enabled = enabled
        self._stream = stream
        self._start = time.monotonic()
        self._shown = False

    def __call__(self, run: Run) -> None:
        if not self._enabled:
            return
        elapsed = time.monotonic() - self._start
        line = f"\r{self._slug}: {run.status.name.lower():<9} {run.results:>7} results  {elapsed:6.1f} s"
        self._stream.write(line)
        self._stream.flush()
        self._shown = True

    def done(self) -> None:
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()


def progress_enabled(choice: str) -> bool:
    if choice == "always":
        return True
    if choice == "never":
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def columns(headers: Sequence[ResultHeader] | None, row: Mapping[str, Any]) -> list[str]:
    """Column keys from the headers, or from the first row (without the internal id) if none."""
    keys = [header.key for header in headers or ()]
    return keys or [key for key in row if key != ROW_ID_KEY]


def result_line(values: Sequence[Any]) -> str:
    cells = [cell(value, RESULT_CELL_WIDTH).ljust(RESULT_CELL_WIDTH) for value in values]
    return "  ".join(cells).rstrip() + "\n"
