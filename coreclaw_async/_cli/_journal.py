"""The write-ahead journal of ``tasks run-many --journal FILE``.

Without it, a process killed with ``kill -9`` (or a crash) loses the record of the launches it
had in flight: their outcome never reached the ledger, so a resume sends them again and may
start a second run. With it, every launch is appended to FILE as an intent line, flushed,
before the client may send it, and a ``settled`` line follows once its outcome is in the
ledger. On ``--resume`` with the same FILE, an intent with nothing settled after it is taken
as ``unknown``: listed, never sent again by default.

Lines (JSON, one object each, appended across runs)::

    {"intent": "launch", "index": 3, "line": 4, "task_slug": "01KSF..."}
    {"settled": "started", "index": 3}
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._ledger import Launch

__all__ = ["JournalError", "JournalWriter", "pending_launches"]


class JournalError(Exception):
    """A journal cannot be read or belongs to another input (the message says which line)."""


def pending_launches(
    path: str, records: Iterable[tuple[int, dict[str, Any]]], launches: Sequence[Launch]
) -> dict[int, int]:
    """The launches that the journal at ``path`` (its JSON ``records`` with their line
    numbers) shows handed to the client with nothing settled after, as
    ``{index: journal line number}``.

    Raises:
        JournalError: a record is not a journal line, or the journal is of another input.
    """
    pending: dict[int, int] = {}
    for number, record in records:
        index = record.get("index")
        if not isinstance(index, int) or not ({"intent", "settled"} & record.keys()):
            raise JournalError(f"{path} line {number}: not a --journal line")
        if not 0 <= index < len(launches) or (
            "intent" in record and record.get("task_slug") != launches[index].request.task_slug
        ):
            raise JournalError(
                f"{path} line {number}: launch {index} differs: this journal is of another input"
            )
        if "intent" in record:
            pending[index] = number
        else:
            pending.pop(index, None)
    return pending


class JournalWriter:
    """Appends intent and settled lines to the journal, each flushed to the operating system."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())

    def _append(self, record: dict[str, object]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()

    def intent(self, launch: Launch) -> None:
        """Record that ``launch`` is about to be handed to the client."""
        slug = launch.request.task_slug
        self._append({"intent": "launch", "index": launch.index, "line": launch.line, "task_slug": slug})

    def settled(self, launch: Launch, outcome: str) -> None:
        """Record that the outcome of ``launch`` is in the ledger."""
        self._append({"settled": outcome, "index": launch.index})

    def close(self) -> None:
        """Flush the journal to its disk and close it."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError:
            pass
        finally:
            self._file.close()
