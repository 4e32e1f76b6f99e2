"""Log lines of the callback receiver: the logger, and sender-supplied text made safe to show."""

from __future__ import annotations

import logging

from .._constants import CALLBACK_LOGGED_CHARS, LOGGER_NAME

__all__ = ["logger", "shown"]

logger = logging.getLogger(LOGGER_NAME)


def shown(value: object) -> str:
    """A sender-supplied value made safe for a log line: escaped and cut short."""
    return repr(value)[:CALLBACK_LOGGED_CHARS]
