"""Serving the receiver standalone: one aiohttp runner per event loop, stopped when that loop ends.

aiohttp ties an ``Application`` to the first loop that runs it, so each :meth:`start` builds
a fresh application holding only the receiver's route. The runner is held by a suspended
async generator whose ``finally`` cleans it up. :meth:`stop` closes that generator; if the
loop ends first, the loop closes it (``asyncio.run`` and ``asyncio.Runner`` close every open
async generator before closing the loop), so no socket or connection outlives the loop that
served it, ``start`` may be called again in a later loop, and serving runs no task of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable

from aiohttp import web

from .._constants import CALLBACK_SERVER_SHUTDOWN_TIMEOUT
from ..errors import CoreClawError

__all__ = ["StandaloneServer"]


async def _holding(runner: web.AppRunner) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await runner.cleanup()


class StandaloneServer:
    """Serves ``routes()`` on ``host:port`` in the running loop, until stopped or the loop ends."""

    __slots__ = ("_holder", "_loop", "_routes", "_runner", "port")

    def __init__(self, routes: Callable[[], list[web.RouteDef]]) -> None:
        self._routes = routes
        self._holder: AsyncGenerator[None, None] | None = None
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.port: int | None = None
        """The port last bound, or ``None`` before the first start."""

    @property
    def serving(self) -> bool:
        """Whether a runner is up (in whichever loop started it)."""
        return not self._ended()

    def _ended(self) -> bool:
        runner, loop = self._runner, self._loop
        # A runner has no server once cleaned up (by stop, or by the loop at its end).
        return runner is None or runner.server is None or loop is None or loop.is_closed()

    async def start(self, host: str, port: int) -> int:
        """Start serving; return the bound port.

        Raises:
            CoreClawError: already serving (in this loop, or in another one that is still open).
            OSError: the address cannot be bound.
        """
        loop = asyncio.get_running_loop()
        if not self._ended():
            where = "" if self._loop is loop else " in another event loop that has not ended"
            raise CoreClawError(
                f"The callback receiver is already serving{where}", attempts=0, outcome="not_sent"
            )
        self._holder = self._runner = self._loop = None
        app = web.Application()
        app.router.add_routes(self._routes())
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=CALLBACK_SERVER_SHUTDOWN_TIMEOUT)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        holder = _holding(runner)
        # Runs straight to the yield (nothing to await before it); from now on the loop knows
        # the generator and closes it at its end.
        await holder.__anext__()
        self._holder, self._runner, self._loop = holder, runner, loop
        self.port = runner.addresses[0][1]
        return self.port

    async def stop(self) -> None:
        """Stop serving, if serving in this loop; the runner is cleaned up on return."""
        if self._ended():
            return
        holder, self._holder = self._holder, None
        if holder is None:
            return
        if self._loop is not asyncio.get_running_loop():
            # Another loop's runner: only that loop can clean it up (it does at its end).
            return
        await holder.aclose()
