"""``python -m coreclaw_async.testing`` in a child process, as another process would use it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator

# Bounds, not expectations: the fake prints its settings and stops in well under a second.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


@contextlib.asynccontextmanager
async def served_fake(*args: str) -> AsyncIterator[dict[str, str]]:
    """Serve a fake with ``args`` on a free port; yield the ``CORECLAW_*`` settings it prints.

    On the way out it is stopped with SIGTERM, and must exit with status 0 (a clean shutdown).
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "coreclaw_async.testing",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout = proc.stdout
    assert stdout is not None

    async def settings() -> dict[str, str]:
        found: dict[str, str] = {}
        while len(found) < 3:  # base URL, API key, task slugs
            line = (await stdout.readline()).decode().strip()
            assert line, "the fake exited before it printed its settings"
            key, _, value = line.partition("=")
            found[key] = value
        return found

    try:
        yield await asyncio.wait_for(settings(), START_TIMEOUT)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), STOP_TIMEOUT)
    assert proc.returncode == 0, stderr.decode()
