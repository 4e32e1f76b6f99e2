"""The input and the ledger of the batch commands (``tasks run-many``, ``runs wait-many``).

Input is read whole and checked line by line before anything is sent. The ledger is what the
commands print on stdout: one JSON object a line, flushed as it is written, so that the output
file records every outcome even if the process dies. ``--resume`` reads ledgers back.

Ledger lines of ``tasks run-many`` name the launch by ``index`` (0-based, among the input's
launches) and ``line`` (1-based line number of the input file), with its ``task_slug`` and an
``outcome``:

* ``launching``: written just before the launch is handed to the client; an outcome follows;
* ``started`` (``run_slug``), ``not_started`` (``error``, ``message``: certainly no run),
  ``unknown`` (``error``, ``message``: a run may exist);
* with ``--wait``: ``finished`` (``status``, ``results``), ``not_finished`` (``status`` last
  seen, ``error``) or ``wait_error`` (the run could not be read).

The last line of a run that ended by itself (or by Ctrl-C) is ``{"summary": {...}}``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from .._validation import require_callback_url, require_slug
from ..errors import InvalidParameterError
from ..models.tasks import TaskRunRequest
from ._output import stdout_closed

__all__ = [
    "LAUNCHING",
    "NOT_FINISHED",
    "NOT_STARTED",
    "STARTED",
    "UNKNOWN",
    "BatchInputError",
    "Launch",
    "LedgerWriter",
    "Previous",
    "WaitItem",
    "parse_launches",
    "parse_wait_items",
    "read_lines",
    "read_run_ledgers",
    "read_wait_ledgers",
]

LAUNCHING = "launching"
STARTED = "started"
NOT_STARTED = "not_started"
UNKNOWN = "unknown"
FINISHED = "finished"
NOT_FINISHED = "not_finished"
WAIT_ERROR = "wait_error"
# Outcomes that say a run exists: such a launch is never sent again.
_RUN_EXISTS = frozenset({STARTED, FINISHED, NOT_FINISHED, WAIT_ERROR})
_OUTCOMES = frozenset({LAUNCHING, NOT_STARTED, UNKNOWN}) | _RUN_EXISTS
_REQUEST_KEYS = ("task_slug", "callback_url")
# Problems listed at most when the input is refused.
_SHOWN_PROBLEMS = 10


class BatchInputError(Exception):
    """The input or a ledger given to ``--resume`` cannot be used; nothing was sent (exit 2)."""


class _LineError(ValueError):
    """One input line is not a launch (or a run) at all."""


def _problem(number: int, exc: ValueError) -> str:
    detail = exc.message if isinstance(exc, InvalidParameterError) else str(exc)
    return f"line {number}: {detail}"


@attrs.frozen
class Launch:
    """One launch of the input: its position among the launches, its line, its request."""

    index: int
    line: int
    request: TaskRunRequest


@attrs.frozen
class WaitItem:
    """One run to wait for, with what the input line said about its launch (if a ledger)."""

    run_slug: str
    index: int | None = None
    task_slug: str | None = None


def read_lines(path: str) -> list[str]:
    """The lines of ``path`` (``-``: stdin); ``BatchInputError`` if it cannot be read."""
    try:
        if path == "-":
            return sys.stdin.read().splitlines()
        with open(path, encoding="utf-8") as handle:
            return handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchInputError(f"cannot read {path}: {exc}") from None


def _content(lines: Sequence[str]) -> Iterable[tuple[int, str]]:
    """``(line number, text)`` of the lines that are not blank nor ``#`` comments."""
    for number, raw in enumerate(lines, 1):
        text = raw.strip()
        if text and not text.startswith("#"):
            yield number, text


def _refuse(problems: list[str], what: str) -> None:
    if problems:
        shown = "\n  ".join(problems[:_SHOWN_PROBLEMS])
        hidden = len(problems) - _SHOWN_PROBLEMS
        more = f"\n  ... and {hidden} more" if hidden > 0 else ""
        raise BatchInputError(f"{len(problems)} invalid {what} line(s), nothing was sent:\n  {shown}{more}")


def _object(text: str, what: str) -> dict[str, Any]:
    """The JSON object of an input line that is not a bare ``what`` slug."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise _LineError(f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise _LineError(f"must be a {what} slug or a JSON object")
    return value


def _request(text: str) -> TaskRunRequest:
    if not text.startswith("{"):
        return TaskRunRequest(require_slug("task_slug", text))
    value = _object(text, "task")
    unknown = sorted(set(value) - set(_REQUEST_KEYS))
    if unknown:
        known = ", ".join(_REQUEST_KEYS)
        raise _LineError(f"unknown field(s) {', '.join(unknown)}; a run request has {known}")
    slug = require_slug("task_slug", value.get("task_slug"))
    callback_url = value.get("callback_url")
    if callback_url is not None:
        callback_url = require_callback_url("callback_url", callback_url)
    return TaskRunRequest(slug, callback_url)


def parse_launches(lines: Sequence[str]) -> list[Launch]:
    """Every launch of the input: a task slug a line, or a JSON object with ``task_slug`` and
    optionally ``callback_url``. Blank lines and ``#`` comments are skipped.

    Raises:
        BatchInputError: any line is invalid (each bad line is named), or there is no launch.
    """
    launches: list[Launch] = []
    problems: list[str] = []
    for number, text in _content(lines):
        try:
            launches.append(Launch(len(launches), number, _request(text)))
        except ValueError as exc:  # InvalidParameterError, _LineError
            problems.append(_problem(number, exc))
    _refuse(problems, "input")
    if not launches:
        raise BatchInputError("the input holds no task slug")
    return launches


def parse_wait_items(lines: Sequence[str]) -> list[WaitItem]:
    """The runs to wait for, each once: a run slug a line, or a JSON object with ``run_slug``
    (a ``tasks run-many`` ledger works as it is: its lines without a run are skipped).

    Raises:
        BatchInputError: any line is invalid (each bad line is named), or there is no run.
    """
    items: dict[str, WaitItem] = {}
    problems: list[str] = []
    for number, text in _content(lines):
        try:
            if not text.startswith("{"):
                slug = require_slug("run_slug", text)
                items.setdefault(slug, WaitItem(slug))
                continue
            value = _object(text, "run")
            if value.get("run_slug") is None:
                if "outcome" in value or "summary" in value:
                    continue  # a ledger line of a launch without a run
                raise _LineError("a JSON line needs a run_slug")
            slug = require_slug("run_slug", value["run_slug"])
            index = value.get("index")
            task = value.get("task_slug")
            items.setdefault(
                slug,
                WaitItem(
                    slug,
                    index if isinstance(index, int) else None,
                    task if isinstance(task, str) else None,
                ),
            )
        except ValueError as exc:  # InvalidParameterError, _LineError
            problems.append(_problem(number, exc))
    _refuse(problems, "input")
    if not items:
        raise BatchInputError("the input holds no run slug")
    return list(items.values())


@attrs.define
class Previous:
    """What earlier ledgers say of the launches of this input.

    Attributes:
        started: launches that made a run (never launched again).
        unknown: launches whose outcome is unknown, by index (not launched again by default).
        orphans: launches with a ``launching`` line and no outcome (the process was killed);
            counted in ``unknown`` too.
        unfinished: ledgers without a summary line (a killed run), by path.
    """

    started: set[int] = attrs.Factory(set)
    unknown: dict[int, Launch] = attrs.Factory(dict)
    orphans: int = 0
    unfinished: list[str] = attrs.Factory(list)


def _ledger_records(path: str) -> tuple[list[tuple[int, dict[str, Any]]], bool]:
    """The JSON objects of a ledger with their line numbers, and whether it has a summary.

    A last line cut short (a process killed while writing it) is passed over; any other bad
    line refuses the ledger.
    """
    lines = read_lines(path)
    records: list[tuple[int, dict[str, Any]]] = []
    summary = False
    for number, text in _content(lines):
        try:
            value = json.loads(text)
        except ValueError:
            if number == len(lines):
                continue
            raise BatchInputError(f"{path} line {number}: not a ledger line (not JSON)") from None
        if not isinstance(value, dict):
            raise BatchInputError(f"{path} line {number}: not a ledger line (not a JSON object)")
        if "summary" in value:
            summary = True
            continue
        records.append((number, value))
    return records, summary


def read_run_ledgers(paths: Sequence[str], launches: Sequence[Launch]) -> Previous:
    """What the ``tasks run-many`` ledgers at ``paths`` say of ``launches``.

    Raises:
        BatchInputError: a ledger cannot be read, or does not belong to this input (an index
            beyond it, or another task slug at an index).
    """
    previous = Previous()
    unknown: set[int] = set()
    for path in paths:
        records, complete = _ledger_records(path)
        if not complete:
            previous.unfinished.append(path)
        verdicts: dict[int, set[str]] = {}
        for number, record in records:
            index, outcome = record.get("index"), record.get("outcome")
            if not isinstance(index, int) or outcome not in _OUTCOMES:
                raise BatchInputError(f"{path} line {number}: not a tasks run-many ledger line")
            if not 0 <= index < len(launches):
                raise BatchInputError(
                    f"{path} line {number}: launch {index} is not in the input "
                    f"({len(launches)} launches): this ledger is of another input"
                )
            expected = launches[index].request.task_slug
            if record.get("task_slug") != expected:
                raise BatchInputError(
                    f"{path} line {number}: launch {index} is task {record.get('task_slug')!r} there "
                    f"but {expected!r} in the input (line {launches[index].line}): "
                    "this ledger is of another input"
                )
            verdicts.setdefault(index, set()).add(str(outcome))
        for index, outcomes in verdicts.items():
            if outcomes & _RUN_EXISTS:
                previous.started.add(index)
            elif UNKNOWN in outcomes:
                unknown.add(index)
            elif NOT_STARTED not in outcomes:  # "launching" alone
                unknown.add(index)
                previous.orphans += 1
    previous.unknown = {index: launches[index] for index in sorted(unknown - previous.started)}
    return previous


def read_wait_ledgers(paths: Sequence[str]) -> set[str]:
    """The run slugs that ledgers of ``runs wait-many`` (or ``tasks run-many --wait``) report
    final: those need no wait again.

    Raises:
        BatchInputError: a ledger cannot be read.
    """
    final: set[str] = set()
    for path in paths:
        records, _ = _ledger_records(path)
        for _, record in records:
            slug = record.get("run_slug")
            if record.get("outcome") == FINISHED and isinstance(slug, str):
                final.add(slug)
    return final


class LedgerWriter:
    """Writes ledger lines to stdout, each flushed at once.

    If the reader of stdout goes away, the writer stops writing (``broken`` turns true) and
    calls ``on_broken`` once, so that the command can stop launching: what it does next would
    go unrecorded.
    """

    def __init__(self, on_broken: Callable[[], None] | None = None) -> None:
        self.broken = False
        self._on_broken = on_broken

    def write(self, record: Mapping[str, Any]) -> None:
        """Write ``record`` as one JSON line and flush it."""
        if self.broken:
            return
        try:
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):  # ValueError: stdout closed under us
            self.broken = True
            stdout_closed()
            if self._on_broken is not None:
                self._on_broken()
