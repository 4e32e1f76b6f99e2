"""``CallbackReceiver``: the registry, the endpoint, handler dispatch and waiting, put together.

The receiver owns the lifecycle (mount, serve, close) and routes each accepted notice: to
the waiting side when it is final, and to the handlers once its run is known. With a store
shared by several processes, it also shares its launches and reads its inbox (``_sharing``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterable
from types import TracebackType
from typing import TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from .._constants import (
    CALLBACK_STORE_TIMEOUT,
    DEFAULT_CALLBACK_HANDLER_TASKS,
    DEFAULT_CALLBACK_MAX_BODY,
    DEFAULT_FINISHED_LAUNCH_RETENTION,
    DEFAULT_LAUNCH_TTL,
    DEFAULT_MAX_LAUNCHES,
    DEFAULT_RECEIVER_CLOSE_TIMEOUT,
    DEFAULT_WAIT_TIMEOUT,
    MAX_CALLBACK_HANDLER_TASKS,
)
from .._validation import require_callback_url, require_int, require_number, require_slug, require_text
from ..errors import InvalidParameterError, ReceiverAddressError, ReceiverClosedError
from ..models.callbacks import RunCallback
from ._dispatch import CallbackHandler, HandlerDispatch
from ._endpoint import CallbackEndpoint
from ._launch import Launch, LaunchHooks
from ._registry import LaunchRegistry
from ._server import StandaloneServer
from ._shared import CallbackStore, InboxNotice
from ._sharing import SharedIndex
from ._stats import ReceiverCounters, ReceiverStats
from ._waiting import Waiting

__all__ = ["CallbackReceiver"]

_H = TypeVar("_H", bound=CallbackHandler)


class CallbackReceiver:
    """Receives CoreClaw run callbacks over HTTP and wakes whoever waits for them.

    Args:
        public_url: the URL at which :attr:`app`'s root is reachable from CoreClaw, e.g.
            ``"https://example.com/coreclaw"`` when mounted with
            ``app.add_subapp("/coreclaw", receiver.app)``. Launch URLs are
            ``<public_url>/<token>``. May be left out when serving standalone: the bound
            ``http://host:port`` is used then (only useful on a reachable host or in tests).
        max_body_size: larger notices are answered 413 without being parsed.
        handler_tasks: number of tasks running your handlers; all notices of one run go to
            the same task, in arrival order.
        launch_ttl: seconds after which a launch without a final notice is forgotten.
        finished_retention: seconds a launch is kept after its final notice (so late
            duplicates still get 2xx rather than 404).
        max_launches: launches kept at most. When full, minting forgets the launch that
            finished first, or if none has, the oldest one (counted in ``stats.evicted``,
            with a warning, since its notices will get 404). A launch takes about 0.3 KB,
            1.2 KB with a notice.
        store: a :class:`CallbackStore` shared with the receivers of your other processes
            (``coreclaw_async.redis.RedisCallbackStore``), for several worker processes behind
            one ``public_url``: a notice reaching any of them is checked against the launches
            of all, recorded once, and delivered in the process that minted its launch. See
            :meth:`Launch.registered`. Without one, each receiver knows its own launches only.

    Raises:
        InvalidParameterError: a bad argument (e.g. ``public_url`` not an absolute http(s) URL,
            or ``store`` not a :class:`CallbackStore`).

    The receiver may be used from one event loop after another (``asyncio.run`` per
    command, a loop per test): its handler tasks are made again in the loop in use, and
    notices still queued when a loop ended are handled there. A standalone server stops
    with its loop; call :meth:`start` again in the next one.

    Example::

        receiver = CallbackReceiver(public_url="https://example.com/coreclaw")
        app.add_subapp("/coreclaw", receiver.app)

        @receiver.on_callback
        async def log_it(notice: RunCallback) -> None:
            print(notice.run_slug, notice.run_status)

        run = await client.tasks.run(task_slug, callback=receiver)
        final = await client.runs.wait(run.run_slug, receiver=receiver)
    """

    def __init__(
        self,
        public_url: str | None = None,
        *,
        max_body_size: int = DEFAULT_CALLBACK_MAX_BODY,
        handler_tasks: int = DEFAULT_CALLBACK_HANDLER_TASKS,
        launch_ttl: float = DEFAULT_LAUNCH_TTL,
        finished_retention: float = DEFAULT_FINISHED_LAUNCH_RETENTION,
        max_launches: int = DEFAULT_MAX_LAUNCHES,
        store: CallbackStore | None = None,
    ) -> None:
        if store is not None and not isinstance(store, CallbackStore):
            raise InvalidParameterError(
                "store",
                "must be a CallbackStore such as coreclaw_async.redis.RedisCallbackStore, "
                f"got {type(store).__name__}",
            )
        if public_url is not None:
            public_url = _check_public_url(public_url)
        self._public_url = public_url
        # Whether public_url is the address start() bound (then a later start keeps its port).
        self._public_url_is_bound = False
        max_body = require_int("max_body_size", max_body_size, minimum=1)
        task_count = require_int(
            "handler_tasks", handler_tasks, minimum=1, maximum=MAX_CALLBACK_HANDLER_TASKS
        )
        ttl = require_number("launch_ttl", launch_ttl, minimum=0, exclusive=True)
        retention = require_number("finished_retention", finished_retention, minimum=0)
        most = require_int("max_launches", max_launches, minimum=1)
        self._closed = False
        self._close_task: asyncio.Task[None] | None = None
        self._counters = ReceiverCounters()
        hooks = LaunchHooks(
            base_url=self._launch_base,
            bind=self._bind_launch,
            discard=self._discard_launch,
            wait=self._wait_launch,
            registered=self._launch_registered,
        )
        self._registry = LaunchRegistry(
            hooks, self._counters, launch_ttl=ttl, finished_retention=retention, max_launches=most
        )
        self._waiting = Waiting(self._registry)
        self._dispatch = HandlerDispatch(self._counters, task_count)
        self._shared = None if store is None else SharedIndex(store, self._counters, self._take_forwarded)
        self._endpoint = CallbackEndpoint(
            self._registry,
            self._counters,
            max_body=max_body,
            is_closed=lambda: self._closed,
            deliver=self._deliver,
            deliver_foreign=self._deliver_foreign,
            public_url=lambda: self._public_url,
            shared=self._shared,
        )
        self._server = StandaloneServer(self.routes)
        self._app = web.Application()
        self._app.router.add_routes(self.routes())
        self._app.on_cleanup.append(self._on_app_cleanup)

    # -- mounting and serving ----------------------------------------------------------

    @property
    def app(self) -> web.Application:
        """The ``aiohttp.web`` application to mount: ``parent.add_subapp(prefix, receiver.app)``.

        Its cleanup closes the receiver. aiohttp ties an application to one event loop: to
        serve the receiver from a later loop, use :meth:`routes` in that loop's application
        or :meth:`start`.
        """
        return self._app

    def routes(self, prefix: str = "") -> list[web.RouteDef]:
        """The receiver's route (``POST <prefix>/{token}``), to add to your own application.

        ``public_url`` must then point at ``<your origin><prefix>``. Close the receiver on
        shutdown yourself, e.g. ``app.cleanup_ctx.append(receiver.cleanup_ctx)``.

        Example::

            app.add_routes(receiver.routes("/hooks/coreclaw"))

        Raises:
            InvalidParameterError: ``prefix`` is not empty or a path starting with ``/`` (no
                white space, no ``{`` or ``}``).
        """
        require_text("prefix", prefix, allow_empty=True)
        if prefix and (
            not prefix.startswith("/") or any(c in prefix for c in " {}") or prefix != prefix.strip()
        ):
            raise InvalidParameterError("prefix", f"must be a path starting with '/', got {prefix!r:.80}")
        return self._endpoint.routes(prefix)

    async def cleanup_ctx(self, app: web.Application) -> AsyncIterator[None]:
        """For ``app.cleanup_ctx.append(receiver.cleanup_ctx)``: closes the receiver on app cleanup."""
        yield
        await self.close()

    @property
    def public_url(self) -> str | None:
        """The base of every minted URL (``None`` until known)."""
        return self._public_url

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the receiver's route standalone on ``host:port`` (0 = any free port); return the bound URL.

        Without a ``public_url`` the bound ``http://host:port`` becomes it. The server stops
        when :meth:`close` is called or when its event loop ends; starting again in a later
        loop binds the same port when ``public_url`` came from it, so URLs minted before stay
        valid.

        Raises:
            ReceiverClosedError: the receiver was closed. CoreClawError: already serving.
            InvalidParameterError: ``host`` is not text or ``port`` not an int in 0-65535.
            ReceiverAddressError (also an ``OSError``): the address cannot be bound.
        """
        require_text("host", host, allow_empty=True)
        require_int("port", port, minimum=0, maximum=65535)
        if self._closed:
            raise ReceiverClosedError()
        if port == 0 and self._public_url_is_bound and self._server.port is not None:
            port = self._server.port
        try:
            bound = await self._server.start(host, port)
        except (OSError, UnicodeError, ValueError) as exc:
            # OSError: in use, not local, not resolvable; UnicodeError/ValueError: a host name
            # that cannot even be encoded for the resolver.
            raise ReceiverAddressError(f"Cannot serve callbacks on {host!r} port {port}: {exc}") from exc
        self._resume()
        # A wildcard bind has no address to give out; loopback is the one that surely works.
        local = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
        shown = f"[{local}]" if ":" in local else local
        url = f"http://{shown}:{bound}"
        if self._public_url is None:
            self._public_url = url
            self._public_url_is_bound = True
        return url

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[CallbackReceiver]:
        """``async with receiver.serve(host, port):`` :meth:`start`, then :meth:`close` on exit."""
        await self.start(host, port)
        try:
            yield self
        finally:
            await self.close()

    async def close(self, *, timeout: float = DEFAULT_RECEIVER_CLOSE_TIMEOUT) -> None:
        """Stop receiving: new notices get 503, waits end, queued handlers get ``timeout`` seconds
        to finish and are then cancelled; every task of the receiver has ended on return. Idempotent.

        Concurrent calls all wait for the same shutdown. If the caller is cancelled, the
        shutdown still completes in the background. Called from one of your handlers, it
        returns at once and the shutdown proceeds without waiting for that handler.

        Raises:
            InvalidParameterError: ``timeout`` is not a finite number of seconds at or above 0.
        """
        require_number("timeout", timeout, minimum=0)
        loop = asyncio.get_running_loop()
        task = self._close_task
        if task is None or (task.get_loop() is not loop and (not task.done() or task.cancelled())):
            # The first close, or one whose event loop ended before it finished.
            self._closed = True
            self._waiting.close()
            task = self._close_task = loop.create_task(
                self._shutdown(timeout), name="coreclaw_async.callback-receiver-close"
            )
        current = asyncio.current_task()
        if current is task or self._dispatch.is_handler_task(current):
            # From the shutdown itself (the app's cleanup hook) or from a handler.
            return
        await asyncio.shield(task)

    async def _shutdown(self, timeout: float) -> None:
        try:
            await self._server.stop()
            if self._shared is not None:
                # Before the handlers stop: the reader may still be delivering to them.
                await self._shared.close(min(timeout, CALLBACK_STORE_TIMEOUT * 2))
        finally:
            await self._dispatch.shutdown(timeout)

    async def _on_app_cleanup(self, app: web.Application) -> None:
        await self.close()

    async def __aenter__(self) -> CallbackReceiver:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- launches ------------------------------------------------------------------------

    def mint(self, label: str | None = None) -> Launch:
        """Make a new callback URL for one run start.

        When ``max_launches`` are kept, the oldest is forgotten first (see the class docs).

        Raises:
            ReceiverClosedError: the receiver was closed.
            InvalidParameterError: no ``public_url`` yet (pass one, or :meth:`start` first), or
                ``label`` is not text.

        With a ``store``, the launch is shared with the other processes in the background:
        await :meth:`Launch.registered` before sending the start (``tasks.run(...,
        callback=receiver)`` does), so that a notice reaching another process finds it.

        Example::

            launch = receiver.mint(label="nightly")
            await launch.registered()  # with a store only
            started = await client.workers.run(worker, input=..., callback_url=launch.callback_url)
            launch.bind(started.run_slug)
        """
        if label is not None:
            require_text("label", label, allow_empty=True)
        if self._closed:
            raise ReceiverClosedError()
        if self._public_url is None:
            raise InvalidParameterError(
                "public_url", "is not known yet: pass public_url= to CallbackReceiver, or start() it first"
            )
        self._resume()
        launch = self._registry.mint(label)
        if self._shared is not None:
            self._shared.register(launch)
        return launch

    def launch_for(self, run_slug: str) -> Launch | None:
        """The launch bound to (or notified about) ``run_slug``, if the receiver knows one."""
        return self._registry.for_run(require_slug("run_slug", run_slug))

    def launch_for_url(self, callback_url: str) -> Launch | None:
        """The live launch that minted ``callback_url``, if any.

        For reconciling a start whose outcome is unknown (``RunStartUnknownError``, or a
        ``run_many`` outcome with ``started=None``): its ``request.callback_url`` leads to the
        launch, whose :attr:`Launch.notices` show whether a run reported in (legacy notices
        carry only ``run_id``), and whose :meth:`Launch.wait` waits for its final notice.
        """
        if not isinstance(callback_url, str) or self._public_url is None:
            return None
        base, _, token = callback_url.rpartition("/")
        if base != self._public_url or not token:
            return None
        return self._registry.lookup(token)

    def subscribe(self, run_slugs: Iterable[str], on_final: Callable[[str], None]) -> Callable[[], None]:
        """Call ``on_final(run_slug)`` for each final notice of these runs; return the unsubscribe function.

        Runs that already have a final notice are reported at once, before this returns.
        ``on_final`` runs synchronously in the receiving task and must not block; it is never
        called on close (check :attr:`closed`). Unsubscribing twice is harmless. The pollers
        of ``runs.wait`` and ``runs.wait_many`` use this to read a run as soon as it reports in.

        Raises:
            InvalidParameterError: a blank slug, a lone string instead of an iterable of slugs,
                or ``on_final`` not callable.
        """
        if isinstance(run_slugs, (str, bytes)) or not isinstance(run_slugs, Iterable):
            raise InvalidParameterError(
                "run_slugs", f"must be an iterable of run slugs, got {type(run_slugs).__name__}"
            )
        if not callable(on_final):
            raise InvalidParameterError("on_final", f"must be callable, got {type(on_final).__name__}")
        slugs = [require_slug("run_slugs", slug) for slug in run_slugs]

        def only_notices(slug: str) -> None:
            if not self._closed:
                on_final(slug)

        self._resume()
        return self._waiting.subscribe(slugs, only_notices)

    def confirm_final(self, run_slug: str) -> None:
        """Record that ``runs.get`` showed ``run_slug`` final: its launch is kept only for the
        finished-launch retention from now on (late duplicates still get 2xx)."""
        self._registry.confirm_final(require_slug("run_slug", run_slug))

    def final_notice(self, run_slug: str) -> RunCallback | None:
        """The first final notice received for ``run_slug``, if any (no waiting).

        This receiver's launches are searched, and with a shared store the final notices it
        accepted for other processes' launches. The final notice of any launch of the store,
        whichever process took it, is ``await store.final_notice(run_slug)``.
        """
        return self._registry.final_notice(require_slug("run_slug", run_slug))

    # -- handlers -----------------------------------------------------------------------

    def on_callback(self, handler: _H) -> _H:
        """Register an async ``handler(notice)`` for every accepted notice; usable as a decorator.

        Handlers run in the receiver's handler tasks after the sender got its answer, one
        notice after another per run. A handler that raises is logged and counted
        (``stats.handler_errors``); the others still run. Notices of the legacy shape reach
        handlers once their launch is bound (their ``run_slug`` is known then).

        Raises:
            InvalidParameterError: ``handler`` is not an async function.

        Example::

            @receiver.on_callback
            async def on_final(notice: RunCallback) -> None:
                if notice.is_final:
                    await queue.put(notice.run_slug)
        """
        if not callable(handler) or not (
            inspect.iscoroutinefunction(handler)
            or inspect.iscoroutinefunction(getattr(handler, "__call__", None))  # noqa: B004
        ):
            raise InvalidParameterError(
                "handler", f"must be an async function (async def), got {type(handler).__name__}"
            )
        self._dispatch.add(handler)
        return handler

    # -- waiting ------------------------------------------------------------------------

    async def wait(self, run: str | Launch, *, timeout: float = DEFAULT_WAIT_TIMEOUT) -> RunCallback:
        """Wait for the first final notice (``succeeded``, ``failed``, ``aborted``...) of a run.

        ``run`` is a run slug or a :class:`Launch`. Returns at once if the notice already came.
        Remember that a notice is a hint: ``client.runs.wait(slug, receiver=receiver)`` also
        confirms the state with ``runs.get`` and falls back to polling.

        Raises:
            WaitTimeoutError: no final notice within ``timeout`` seconds (``last_run`` is ``None``).
            ReceiverClosedError: the receiver was closed before one came.
        """
        self._resume()
        return await self._waiting.wait(run, timeout)

    # -- routing notices ------------------------------------------------------------------

    def _deliver(self, launch: Launch, notice: RunCallback) -> None:
        """An accepted notice: wake waiters if final, and queue it for handlers once its run is known."""
        slug = notice.run_slug
        if slug is None:
            if notice.is_final:
                # A legacy notice before the bind: the run is not known yet, but the launch is.
                self._waiting.launch_final(launch)
            return
        # Handlers first: a notice recorded is a notice handed to them, whatever waking does.
        if not self._closed and self._dispatch.has_handlers:
            self._dispatch.submit(notice, launch.number)
        if notice.is_final:
            self._waiting.final_known(launch, slug)

    def _deliver_foreign(self, run_slug: str, notice: RunCallback) -> None:
        """A final notice this receiver accepted for another process's launch: its own
        ``final_notice()`` and ``wait()`` see it too (that process may be gone)."""
        if self._registry.foreign_final(run_slug, notice):
            self._waiting.run_final(run_slug)

    def _launch_base(self) -> str:
        # Launches exist only once public_url is known (mint refuses before).
        return self._public_url or ""

    def _bind_launch(self, launch: Launch, run_slug: str) -> None:
        for notice in self._registry.bind(launch, run_slug):
            self._deliver(launch, notice)
        if self._shared is not None:
            self._shared.bind(launch, run_slug)

    def _discard_launch(self, launch: Launch) -> None:
        self._registry.forget(launch)
        if self._shared is not None:
            self._shared.discard(launch)

    async def _wait_launch(self, launch: Launch, timeout: float) -> RunCallback:
        return await self.wait(launch, timeout=timeout)

    async def _launch_registered(self, launch: Launch) -> bool:
        if self._shared is None:
            return True
        self._resume()
        return await self._shared.registered(launch)

    def _take_forwarded(self, message: InboxNotice) -> None:
        self._endpoint.take_forwarded(message)

    def _resume(self) -> None:
        """Make sure the receiver's tasks (handlers, inbox reader) run in the running loop."""
        self._dispatch.resume()
        if self._shared is not None:
            self._shared.ensure_reader()

    # -- introspection ------------------------------------------------------------------

    @property
    def stats(self) -> ReceiverStats:
        """A snapshot of the receiver's counters."""
        return self._counters.snapshot(
            ReceiverStats, launches=len(self._registry), queued_for_handlers=self._dispatch.queued
        )

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("serving" if self._server.serving else "open")
        return f"<CallbackReceiver {state} public_url={self._public_url!r} launches={len(self._registry)}>"


def _check_public_url(url: str) -> str:
    url = require_callback_url("public_url", url)
    parts = urlsplit(url)
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise InvalidParameterError("public_url", f"must not have a query or fragment: {url!r}")
    return url.rstrip("/")
