"""What every resource shares: a handle on the client's session manager and defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._session import SessionManager


class Resource:
    """Base of ``client.tasks``, ``client.runs``, ...: thin, builds models and calls the session."""

    __slots__ = ("_callback_url", "_session")

    def __init__(self, session: SessionManager, *, callback_url: str | None) -> None:
        self._session = session
        self._callback_url = callback_url
