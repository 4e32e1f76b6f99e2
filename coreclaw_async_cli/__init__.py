"""The ``coreclaw-async`` console script's entry point.

It lives outside the ``coreclaw_async`` package on purpose: importing the library (aiohttp,
attrs, cattrs...) takes a few tenths of a second, and a Ctrl-C in that time must end the
command quietly with exit code 130, as a Ctrl-C at any later moment does. Only code that runs
before the library is imported can catch it, and a module of the package cannot.
"""

from __future__ import annotations

__all__ = ["main"]

# The exit code of a command ended by Ctrl-C (128 + SIGINT), as ``coreclaw-async`` documents.
_INTERRUPTED = 130


def main() -> int:
    """Import the command line and run it; exit code 130 if Ctrl-C comes while importing."""
    try:
        from coreclaw_async._cli import main as run
    except KeyboardInterrupt:
        return _INTERRUPTED
    return run()
