"""The input and the ledger of the batch commands (``tasks run-many``, ``runs wait-many``).

Input is read whole and checked line by line before anything is sent. The ledger is what the
commands print on stdout: one JSON object a line, one line per outcome and nothing else,
flushed as it is written, so that the output file records every outcome even if the process
dies. ``--resume`` reads ledgers back.

Ledger lines of ``tasks run-many`` name the launch by ``index`` (0-based, among the input's
launches) and ``line`` (1-based line number of the input file), with its ``task_slug`` and an
``outcome``:

* ``started`` (``run_slug``), ``not_started`` (``error``, ``message``: certainly no run),
  ``unknown`` (``error``, ``message``: a run may exist);
* with ``--wait``: ``finished`` (``status``, ``results``), ``not_finished`` (``status`` last
  seen, ``error``) or ``wait_error`` (the run could not be read).

A resumed run first writes again the lines it carries over from the ledgers it resumes
(``"carried": true``), so that its own output is complete: the newest ledger alone is enough
to resume from.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from .._validation import require_callback_url, require_slug
from ..errors import InvalidParameterError
from ..models.tasks import TaskRunRequest
from ._journal import JournalError, pending_launches
from ._output import stdout_closed

__all__ = [
    "CARRIED",
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

STARTED = "started"
NOT_STARTED = "not_started"
UNKNOWN = "unknown"
FINISHED = "finished"
NOT_FINISHED = "not_finished"
WAIT_ERROR = "wait_error"
# Outcomes that say a run exists: such a launch is never sent again.
_RUN_EXISTS = frozenset({STARTED, FINISHED, NOT_FINISHED, WAIT_ERROR})
_OUTCOMES = frozenset({NOT_STARTED, UNKNOWN}) | _RUN_EXISTS
# The key that marks a line a resumed run wrote again from an earlier ledger.
CARRIED = "carried"
_REQUEST_KEYS = ("task_slug", "callback_url")
# Fields of a v2 Task run request that this command does not send (the client's Task run
# starts asynchronous runs only, and sends no result window).
_UNSUPPORTED_KEYS = ("is_async", "offset", "limit")
# Characters no task or run slug holds: a line with one is a mistake (a sentence, a path,
# a quoted or bracketed value), refused before anything is sent.
_NOT_SLUG = re.compile(r"[\s\"'`\[\](){}<>/\\\x00-\x1f\x7f-\x9f]")
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


def _slug(field: str, value: Any) -> str:
    """``value`` if it can be a slug: printable, and none of the characters of :data:`_NOT_SLUG`."""
    slug = require_slug(field, value)
    bad = _NOT_SLUG.search(slug)
    if bad:
        raise _LineError(f"not a {field.replace('_', ' ')}: it holds {bad.group()!r}: {slug!r:.80}")
    return slug


def _object(text: str, what: str) -> dict[str, Any] | None:
    """The JSON object of an input line, or ``None`` if the line is not JSON (a bare slug).

    A line that is JSON but not an object (``[1]``, ``"abc"``, ``42``) is refused."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        if text.startswith("{"):
            raise _LineError(f"not valid JSON ({exc})") from None
        return None
    if not isinstance(value, dict):
        raise _LineError(f"is JSON but not an object: a line is a {what} slug or a JSON object")
    return value


def _request(text: str) -> TaskRunRequest:
    value = _object(text, "task")
    if value is None:
        return TaskRunRequest(_slug("task_slug", text))
    unsupported = [key for key in _UNSUPPORTED_KEYS if key in value]
    if value.get("is_async") is True:
        unsupported.remove("is_async")  # what every run this command starts is
    if unsupported:
        raise _LineError(
            f"field(s) {', '.join(unsupported)} not supported by this command (it starts "
            f"asynchronous runs only: is_async may be true, and no offset or limit is sent)"
        )
    unknown = sorted(set(value) - set(_REQUEST_KEYS) - set(_UNSUPPORTED_KEYS))
    if unknown:
        known = ", ".join(_REQUEST_KEYS)
        raise _LineError(
            f"unknown field(s) {', '.join(unknown)}; a run request has {known} (and is_async: true)"
        )
    slug = _slug("task_slug", value.get("task_slug"))
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
            value = _object(text, "run")
            if value is None:
                slug = _slug("run_slug", text)
                items.setdefault(slug, WaitItem(slug))
                continue
            if value.get("run_slug") is None:
                if "outcome" in value:
                    continue  # a ledger line of a launch without a run
                raise _LineError("a JSON line needs a run_slug")
            slug = _slug("run_slug", value["run_slug"])
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
    """What earlier ledgers (and the journal) say of the launches of this input.

    Attributes:
        started: launches that made a run (never launched again).
        unknown: launches whose outcome is unknown, by index (not launched again by default).
        carried: by index, the lines a resumed run writes again so that its own ledger is
            complete: each started launch's ``started`` line and its final status if known,
            each unknown launch's ``unknown`` line.
        orphans: launches the journal shows handed to the client with no outcome anywhere
            (the process was killed); counted in ``unknown`` too.
    """

    started: set[int] = attrs.Factory(set)
    unknown: dict[int, Launch] = attrs.Factory(dict)
    carried: dict[int, list[dict[str, Any]]] = attrs.Factory(dict)
    orphans: int = 0


def _ledger_records(path: str) -> list[tuple[int, dict[str, Any]]]:
    """The JSON objects of a ledger (or journal) with their line numbers.

    A last line cut short (a process killed while writing it) is passed over; any other bad
    line refuses the ledger.
    """
    lines = read_lines(path)
    records: list[tuple[int, dict[str, Any]]] = []
    for number, text in _content(lines):
        try:
            value = json.loads(text)
        except ValueError:
            if number == len(lines):
                continue
            raise BatchInputError(f"{path} line {number}: not a ledger line (not JSON)") from None
        if not isinstance(value, dict):
            raise BatchInputError(f"{path} line {number}: not a ledger line (not a JSON object)")
        records.append((number, value))
    return records


def _check_record(path: str, number: int, record: dict[str, Any], launches: Sequence[Launch]) -> int:
    """The index of a ``tasks run-many`` ledger line that belongs to ``launches``."""
    index, outcome = record.get("index"), record.get("outcome")
    if not isinstance(index, int) or outcome not in _OUTCOMES:
        journal = "intent" in record or "settled" in record
        hint = " (a --journal file? give it with --journal)" if journal else ""
        raise BatchInputError(f"{path} line {number}: not a tasks run-many ledger line{hint}")
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
    return index


def _carried(records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines to write again for one launch, from its latest line of each outcome."""
    if records.keys() & _RUN_EXISTS:
        lines = [records[STARTED]] if STARTED in records else []
        final = next((records[key] for key in (FINISHED, NOT_FINISHED, WAIT_ERROR) if key in records), None)
        lines += [final] if final is not None else []
        return [{**line, CARRIED: True} for line in lines]
    if UNKNOWN in records:
        return [{**records[UNKNOWN], CARRIED: True}]
    return []


def _orphan(launch: Launch, journal: str) -> dict[str, Any]:
    return {
        "index": launch.index,
        "line": launch.line,
        "task_slug": launch.request.task_slug,
        "outcome": UNKNOWN,
        "error": "NoOutcome",
        "message": f"handed to the client (journal {journal}) but no outcome was written: a run may exist",
        CARRIED: True,
    }


def read_run_ledgers(
    paths: Sequence[str], launches: Sequence[Launch], journal: str | None = None
) -> Previous:
    """What the ``tasks run-many`` ledgers at ``paths`` (and the ``journal``) say of ``launches``.

    Raises:
        BatchInputError: a ledger or the journal cannot be read, or does not belong to this
            input (an index beyond it, or another task slug at an index).
    """
    latest: dict[int, dict[str, dict[str, Any]]] = {}
    for path in paths:
        for number, record in _ledger_records(path):
            index = _check_record(path, number, record, launches)
            # A started line with its run slug beats one without (the rare unread answer).
            kept = latest.setdefault(index, {}).get(str(record["outcome"]))
            if not (kept and kept.get("run_slug") and not record.get("run_slug")):
                latest[index][str(record["outcome"])] = record
    previous = Previous()
    for index in sorted(latest):
        outcomes = latest[index]
        if outcomes.keys() & _RUN_EXISTS:
            previous.started.add(index)
        elif UNKNOWN in outcomes:
            previous.unknown[index] = launches[index]
        previous.carried[index] = _carried(outcomes)
    if journal is not None and os.path.exists(journal):  # a first run creates it
        try:
            pending = pending_launches(journal, _ledger_records(journal), launches)
        except JournalError as exc:
            raise BatchInputError(str(exc)) from None
        for index in sorted(pending):
            if index in previous.started or index in previous.unknown:
                continue
            previous.orphans += 1
            previous.unknown[index] = launches[index]
            previous.carried[index] = [_orphan(launches[index], journal)]
    previous.unknown = dict(sorted(previous.unknown.items()))
    return previous


def read_wait_ledgers(paths: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The ``finished`` lines, by run slug, of ledgers of ``runs wait-many`` (or ``tasks
    run-many --wait``): those runs need no wait again.

    Raises:
        BatchInputError: a ledger cannot be read.
    """
    final: dict[str, dict[str, Any]] = {}
    for path in paths:
        for _, record in _ledger_records(path):
            slug = record.get("run_slug")
            if record.get("outcome") == FINISHED and isinstance(slug, str):
                final[slug] = record
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
        # Set by a live display sharing the terminal: it takes itself off the screen around
        # each write, so that the line reaches stdout exactly as written.
        self.around: Callable[[Callable[[], None]], None] | None = None

    def _put(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def write(self, record: Mapping[str, Any]) -> None:
        """Write ``record`` as one JSON line and flush it."""
        if self.broken:
            return
        text = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            if self.around is None:
                self._put(text)
            else:
                self.around(lambda: self._put(text))
        except (BrokenPipeError, ValueError):  # ValueError: stdout closed under us
            self.broken = True
            stdout_closed()
            if self._on_broken is not None:
                self._on_broken()
