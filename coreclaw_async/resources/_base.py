"""What every resource shares: the client's session manager, its dialect, and the default callback URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._dialect import Dialect, Operations
    from .._session import SessionManager


class Resource:
    """Base of ``client.tasks``, ``client.runs``, ...: thin, checks arguments, builds request
    models and calls the session manager with an operation of the client's dialect."""

    __slots__ = ("_callback_url", "_dialect", "_manager", "_ops")

    def __init__(self, manager: SessionManager, *, callback_url: str | None) -> None:
        self._manager = manager
        self._dialect: Dialect = manager.dialect
        self._ops: Operations = manager.dialect.ops
        self._callback_url = callback_url
