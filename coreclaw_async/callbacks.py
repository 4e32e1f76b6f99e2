"""Webhook receiver for run callbacks (spec section 4): per-launch URLs, dedupe, waiters, handlers.

CoreClaw POSTs a small JSON notice to a run's ``callback_url`` when the run changes state.
The platform documents no signature, no retry, no ordering and no delivery guarantee, so
:class:`CallbackReceiver` treats notices as hints:

* every run start gets its own URL with an unguessable token (:meth:`CallbackReceiver.mint`),
  so a notice is tied to the launch that asked for it, even when it arrives before the
  start's response (then it is kept until :meth:`Launch.bind`), and forged notices (unknown
  tokens) are answered 404;
* bodies are parsed leniently into :class:`~coreclaw_async.models.callbacks.RunCallback`
  (current ``run_slug`` shape and legacy ``run_id`` shape), limited in size (413) and
  answered at once; your handlers run in the receiver's own tracked tasks;
* a repeated notice for the same run and status is answered 2xx and dropped;
* ``await receiver.wait(run_slug)`` waits for a final notice, and
  ``client.runs.wait(run_slug, receiver=receiver)`` wakes on one, then confirms with
  ``runs.get``, and keeps polling with backoff if notices never come: a lost callback costs
  latency, never correctness.

The receiver is an ``aiohttp.web`` component: mount :attr:`CallbackReceiver.app` into your
own application (``app.add_subapp("/coreclaw", receiver.app)``), add its
:meth:`~CallbackReceiver.routes`, or serve it standalone (``async with receiver.serve(...)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import inspect
import itertools
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, TypeAlias, TypeVar
from urllib.parse import urlsplit

import attrs
from aiohttp import web

from ._constants import (
    CALLBACK_PRUNE_INTERVAL,
    CALLBACK_TOKEN_BYTES,
    DEFAULT_CALLBACK_HANDLER_TASKS,
    DEFAULT_CALLBACK_MAX_BODY,
    DEFAULT_FINISHED_LAUNCH_RETENTION,
    DEFAULT_LAUNCH_TTL,
    DEFAULT_RECEIVER_CLOSE_TIMEOUT,
    DEFAULT_WAIT_TIMEOUT,
    LOGGER_NAME,
)
from ._validation import require_callback_url, require_int, require_number, require_slug
from .errors import (
    CoreClawError,
    InvalidCallbackError,
    InvalidParameterError,
    ReceiverClosedError,
    WaitTimeoutError,
)
from .models.callbacks import RunCallback

__all__ = ["CallbackHandler", "CallbackReceiver", "Launch", "ReceiverStats"]

logger = logging.getLogger(LOGGER_NAME)

CallbackHandler: TypeAlias = Callable[[RunCallback], Awaitable[Any]]
"""An async function called with every accepted (non-duplicate) notice whose run is known."""

_H = TypeVar("_H", bound=CallbackHandler)

# Body chunks read at a time while enforcing the size limit.
_READ_CHUNK = 16 * 1024

# Distinct statuses one launch may record. A run sends a handful (running, aborting, a final
# one); past this, notices to the token are refused (429) so a leaked token cannot make the
# receiver store or queue without limit.
MAX_NOTICES_PER_LAUNCH = 16

# Longest sender-supplied text copied into a log line.
_LOGGED_CHARS = 64


def _shown(value: object) -> str:
    """A sender-supplied value made safe for a log line: escaped and cut short."""
    return repr(value)[:_LOGGED_CHARS]


def _answer(status: int, result: str) -> web.Response:
    return web.json_response({"ok": 200 <= status < 300, "result": result}, status=status)


@attrs.frozen
class ReceiverStats:
    """A snapshot of what a :class:`CallbackReceiver` has seen (``receiver.stats``).

    Attributes:
        received: POSTs that reached the receiver's route.
        accepted: notices recorded (first of their run and status).
        duplicates: notices dropped because their run and status were already seen (answered 2xx).
        unknown_token: POSTs to a token no live launch has (forged, or expired; answered 404).
        too_large: bodies above ``max_body_size`` (413).
        malformed: bodies that are not a JSON object with a status (400).
        mismatched: notices naming another run than the one their launch was bound to (409,
            or dropped at bind time when they came first).
        refused_closed: POSTs after ``close()`` (503).
        over_limit: notices refused because their launch already recorded
            ``MAX_NOTICES_PER_LAUNCH`` statuses (429).
        handler_errors: exceptions raised by your handlers (logged, never answered to the sender).
        launches: launches currently known.
        queued_for_handlers: notices waiting for a handler task.
    """

    received: int
    accepted: int
    duplicates: int
    unknown_token: int
    too_large: int
    malformed: int
    mismatched: int
    refused_closed: int
    over_limit: int
    handler_errors: int
    launches: int
    queued_for_handlers: int


class Launch:
    """One minted callback URL, for one run start (made by :meth:`CallbackReceiver.mint`).

    Pass :attr:`callback_url` as the start's ``callback_url``, then :meth:`bind` the run slug
    the start returned. Notices that arrive before the bind are kept and matched then.
    ``client.tasks.run(..., callback=receiver)`` does all of this for you.

    Attributes:
        callback_url: the URL to give CoreClaw; its last path segment is the secret token.
        label: your label from ``mint(label=...)``, copied onto every notice.
        minted_at: ``time.monotonic()`` when it was minted.
    """

    __slots__ = (
        "_finished_at",
        "_key",
        "_notices",
        "_receiver",
        "_run_slug",
        "_statuses",
        "_token",
        "_waiters",
        "callback_url",
        "label",
        "minted_at",
        "number",
    )

    def __init__(
        self, receiver: CallbackReceiver, token: str, key: bytes, url: str, label: str | None, number: int
    ) -> None:
        self._receiver = receiver
        self._token = token
        self._key = key
        self.callback_url = url
        self.label = label
        self.number = number
        self.minted_at = time.monotonic()
        self._run_slug: str | None = None
        self._statuses: set[str] = set()
        self._notices: list[RunCallback] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._finished_at: float | None = None

    @property
    def token(self) -> str:
        """The secret token in :attr:`callback_url` (never shown in ``repr``)."""
        return self._token

    @property
    def run_slug(self) -> str | None:
        """The run this launch was bound to, or ``None`` before :meth:`bind`."""
        return self._run_slug

    @property
    def notices(self) -> tuple[RunCallback, ...]:
        """Every accepted notice of this launch, in arrival order (duplicates excluded)."""
        return tuple(self._notices)

    @property
    def final(self) -> RunCallback | None:
        """The first final notice received (``succeeded``, ``failed``, ...), if any."""
        return next((notice for notice in self._notices if notice.is_final), None)

    def bind(self, run_slug: str) -> None:
        """Tie this launch to the run its start created; notices received so far are matched now.

        Binding again to the same slug does nothing.

        Raises:
            InvalidParameterError: blank slug, or the launch is already bound to another run.
        """
        self._receiver._bind(self, run_slug)

    def discard(self) -> None:
        """Forget this launch (e.g. its start was refused): later notices to its URL get 404."""
        self._receiver._forget(self)

    async def wait(self, *, timeout: float = DEFAULT_WAIT_TIMEOUT) -> RunCallback:
        """Wait for this launch's first final notice; see :meth:`CallbackReceiver.wait`."""
        return await self._receiver.wait(self, timeout=timeout)

    def __repr__(self) -> str:
        return f"<Launch run_slug={self._run_slug!r} label={self.label!r} notices={len(self._notices)}>"


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

    Raises:
        InvalidParameterError: a bad argument (e.g. ``public_url`` not an absolute http(s) URL).

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
    ) -> None:
        if public_url is not None:
            public_url = _check_public_url(public_url)
        self._public_url = public_url
        self._max_body = require_int("max_body_size", max_body_size, minimum=1)
        self._handler_task_count = require_int("handler_tasks", handler_tasks, minimum=1)
        self._launch_ttl = require_number("launch_ttl", launch_ttl, minimum=0, exclusive=True)
        self._retention = require_number("finished_retention", finished_retention, minimum=0)
        self._secret = secrets.token_bytes(32)
        self._numbers = itertools.count()
        self._launches: dict[bytes, Launch] = {}
        self._by_slug: dict[str, Launch] = {}
        self._listeners: dict[str, list[Callable[[str], None]]] = {}
        self._handlers: list[CallbackHandler] = []
        self._queues: list[asyncio.Queue[RunCallback]] = []
        self._workers: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._closed = False
        self._closing = False
        self._last_prune = time.monotonic()
        self._received = 0
        self._accepted = 0
        self._duplicates = 0
        self._unknown = 0
        self._too_large = 0
        self._malformed = 0
        self._mismatched = 0
        self._refused_closed = 0
        self._over_limit = 0
        self._handler_errors = 0
        # Every pending wait (by slug or launch), so that close() can end them all.
        self._all_waiters: set[asyncio.Future[None]] = set()
        self._close_task: asyncio.Task[None] | None = None
        self._stopping_workers = False
        self._app = web.Application()
        self._app.router.add_routes(self.routes())
        self._app.on_cleanup.append(self._on_app_cleanup)

    # -- mounting and serving ----------------------------------------------------------

    @property
    def app(self) -> web.Application:
        """The ``aiohttp.web`` application to mount: ``parent.add_subapp(prefix, receiver.app)``.

        Its cleanup closes the receiver. Mount it once, or serve it with :meth:`start`, not both.
        """
        return self._app

    def routes(self, prefix: str = "") -> list[web.RouteDef]:
        """The receiver's route (``POST <prefix>/{token}``), to add to your own application.

        ``public_url`` must then point at ``<your origin><prefix>``. Close the receiver on
        shutdown yourself, e.g. ``app.cleanup_ctx.append(receiver.cleanup_ctx)``.

        Example::

            app.add_routes(receiver.routes("/hooks/coreclaw"))
        """
        return [web.post(prefix.rstrip("/") + "/{token}", self._handle)]

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
        """Serve :attr:`app` standalone on ``host:port`` (0 = any free port); return the bound URL.

        Without a ``public_url`` the bound ``http://host:port`` becomes it.

        Raises:
            ReceiverClosedError: the receiver was closed. CoreClawError: already serving.
            OSError: the address cannot be bound.
        """
        if self._closed:
            raise ReceiverClosedError()
        if self._runner is not None:
            raise CoreClawError("The callback receiver is already serving", attempts=0, outcome="not_sent")
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound = runner.addresses[0][1]
        # A wildcard bind has no address to give out; loopback is the one that surely works.
        local = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
        shown = f"[{local}]" if ":" in local else local
        url = f"http://{shown}:{bound}"
        if self._public_url is None:
            self._public_url = url
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
        """
        if self._close_task is None:
            self._closing = True
            self._closed = True
            self._wake_everyone()
            self._close_task = asyncio.get_running_loop().create_task(
                self._shutdown(timeout), name="coreclaw_async.callback-receiver-close"
            )
        current = asyncio.current_task()
        if current is self._close_task or current in self._workers:
            # From the shutdown itself (the app's cleanup hook) or from a handler.
            return
        await asyncio.shield(self._close_task)

    async def _shutdown(self, timeout: float) -> None:
        runner, self._runner = self._runner, None
        workers = self._workers
        try:
            if runner is not None:
                await runner.cleanup()
            if workers:
                pending = sum(queue.qsize() for queue in self._queues)
                joins = [asyncio.ensure_future(queue.join()) for queue in self._queues]
                try:
                    _, late = await asyncio.wait(joins, timeout=timeout)
                finally:
                    for join in joins:
                        join.cancel()
                if late:
                    logger.warning(
                        "callback receiver closed with handlers still busy (%d notice(s) were queued); "
                        "cancelled",
                        pending,
                    )
        finally:
            self._stopping_workers = True
            for task in workers:
                task.cancel()
            if workers:
                await asyncio.wait(workers)
            self._workers = []
            self._queues = []

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

        Raises:
            ReceiverClosedError: the receiver was closed.
            InvalidParameterError: no ``public_url`` yet (pass one, or :meth:`start` first).

        Example::

            launch = receiver.mint(label="nightly")
            started = await client.workers.run(worker, input=..., callback_url=launch.callback_url)
            launch.bind(started.run_slug)
        """
        if self._closed:
            raise ReceiverClosedError()
        if self._public_url is None:
            raise InvalidParameterError(
                "public_url", "is not known yet: pass public_url= to CallbackReceiver, or start() it first"
            )
        token = secrets.token_urlsafe(CALLBACK_TOKEN_BYTES)
        key = self._digest(token)
        launch = Launch(self, token, key, f"{self._public_url}/{token}", label, next(self._numbers))
        self._launches[key] = launch
        self._maybe_prune()
        return launch

    def launch_for(self, run_slug: str) -> Launch | None:
        """The launch bound to (or notified about) ``run_slug``, if the receiver knows one."""
        return self._by_slug.get(run_slug)

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
        return self._lookup(token)

    def subscribe(self, run_slugs: Iterable[str], on_final: Callable[[str], None]) -> Callable[[], None]:
        """Call ``on_final(run_slug)`` for each final notice of these runs; return the unsubscribe function.

        Runs that already have a final notice are reported at once, before this returns.
        ``on_final`` runs synchronously in the receiving task and must not block; it is never
        called on close (check :attr:`closed`). Unsubscribing twice is harmless. The pollers
        of ``runs.wait`` and ``runs.wait_many`` use this to read a run as soon as it reports in.
        """
        slugs = [require_slug("run_slugs", slug) for slug in run_slugs]

        def only_notices(slug: str) -> None:
            if not self._closed:
                on_final(slug)

        return self._subscribe(slugs, only_notices)

    def confirm_final(self, run_slug: str) -> None:
        """Record that ``runs.get`` showed ``run_slug`` final: its launch is kept only for the
        finished-launch retention from now on (late duplicates still get 2xx)."""
        self._confirmed(run_slug)

    def _confirmed(self, run_slug: str) -> None:
        """``runs.get`` showed ``run_slug`` final: its launch needs keeping only for retention."""
        launch = self._by_slug.get(run_slug)
        if launch is not None and launch._finished_at is None:
            launch._finished_at = time.monotonic()

    def final_notice(self, run_slug: str) -> RunCallback | None:
        """The first final notice received for ``run_slug``, if any (no waiting)."""
        launch = self._by_slug.get(run_slug)
        if launch is None:
            return None
        return next((n for n in launch._notices if n.is_final and n.run_slug == run_slug), None)

    def _digest(self, token: str) -> bytes:
        # Launches are found by a keyed hash of the token, so the lookup's timing says
        # nothing about how close a guess was; the token itself is then compared in
        # constant time.
        return hmac.new(self._secret, token.encode("utf-8", "surrogateescape"), hashlib.sha256).digest()

    def _lookup(self, token: str) -> Launch | None:
        launch = self._launches.get(self._digest(token))
        if launch is None:
            return None
        if not hmac.compare_digest(launch._token.encode(), token.encode("utf-8", "surrogateescape")):
            return None
        return launch

    def _bind(self, launch: Launch, run_slug: str) -> None:
        require_slug("run_slug", run_slug)
        if launch._run_slug is not None:
            if launch._run_slug == run_slug:
                return
            raise InvalidParameterError("run_slug", f"this launch is already bound to run {launch._run_slug}")
        launch._run_slug = run_slug
        if launch._key not in self._launches:
            return
        self._by_slug[run_slug] = launch
        kept: list[RunCallback] = []
        late: list[RunCallback] = []
        for notice in launch._notices:
            if notice.run_slug is None:
                notice = attrs.evolve(notice, run_slug=run_slug)
                late.append(notice)
            elif notice.run_slug != run_slug:
                # Someone with the token named another run before we knew ours: drop it so it
                # cannot shadow the real notice of the same status.
                self._mismatched += 1
                logger.warning(
                    "callback for run %s arrived on the launch of run %s; dropped",
                    _shown(notice.run_slug),
                    run_slug,
                )
                if self._by_slug.get(notice.run_slug) is launch:
                    del self._by_slug[notice.run_slug]
                continue
            kept.append(notice)
        launch._notices = kept
        launch._statuses = {notice.run_status for notice in kept}
        for notice in late:
            self._dispatch(launch, notice)

    def _forget(self, launch: Launch) -> None:
        self._launches.pop(launch._key, None)
        for notice_slug in {launch._run_slug, *(n.run_slug for n in launch._notices)}:
            if notice_slug is not None and self._by_slug.get(notice_slug) is launch:
                del self._by_slug[notice_slug]

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._last_prune < CALLBACK_PRUNE_INTERVAL:
            return
        self._last_prune = now
        finished_before = now - self._retention
        minted_before = now - self._launch_ttl
        expired = [
            launch
            for launch in self._launches.values()
            if (launch._finished_at is not None and launch._finished_at < finished_before)
            or (launch._finished_at is None and launch.minted_at < minted_before)
        ]
        for launch in expired:
            self._forget(launch)
        if expired:
            logger.debug("callback receiver forgot %d expired launch(es)", len(expired))

    # -- receiving ----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        self._received += 1
        if self._closed:
            self._refused_closed += 1
            return _answer(503, "closed")
        launch = self._lookup(request.match_info.get("token", ""))
        if launch is None:
            self._unknown += 1
            logger.debug("callback to an unknown token refused (from %s)", request.remote)
            return _answer(404, "unknown")
        body = await self._read_body(request)
        if body is None:
            self._too_large += 1
            return _answer(413, "too large")
        try:
            notice = RunCallback.parse(body)
        except InvalidCallbackError as exc:
            self._malformed += 1
            logger.info("malformed callback refused: %s", exc.message)
            return _answer(400, exc.message)
        status, result = self._accept(launch, notice)
        return _answer(status, result)

    async def _read_body(self, request: web.Request) -> bytes | None:
        """The body, or ``None`` if it is larger than the limit (checked before and while reading)."""
        limit = self._max_body
        declared = request.content_length
        if declared is not None and declared > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_chunked(_READ_CHUNK):
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _accept(self, launch: Launch, notice: RunCallback) -> tuple[int, str]:
        bound = launch._run_slug
        if notice.run_slug is not None and bound is not None and notice.run_slug != bound:
            self._mismatched += 1
            logger.warning(
                "callback for run %s arrived on the launch of run %s; refused", _shown(notice.run_slug), bound
            )
            return 409, "another run"
        notice = attrs.evolve(notice, run_slug=notice.run_slug or bound, label=launch.label)
        if notice.run_status in launch._statuses:
            self._duplicates += 1
            return 200, "duplicate"
        if len(launch._statuses) >= MAX_NOTICES_PER_LAUNCH:
            self._over_limit += 1
            return 429, "too many notices"
        launch._statuses.add(notice.run_status)
        launch._notices.append(notice)
        self._accepted += 1
        logger.debug(
            "callback: run %s is %s", notice.run_slug or f"(launch {launch.number})", notice.run_status
        )
        if notice.is_final and launch._finished_at is None:
            launch._finished_at = time.monotonic()
        if notice.run_slug is not None:
            self._dispatch(launch, notice)
        elif notice.is_final:
            # A legacy notice before the bind: the run is not known yet, but the launch is.
            self._wake_launch(launch)
        self._maybe_prune()
        return 200, "accepted"

    def _dispatch(self, launch: Launch, notice: RunCallback) -> None:
        """A notice whose run is known: index it, wake waiters, queue it for the handlers."""
        slug = notice.run_slug
        assert slug is not None
        self._by_slug.setdefault(slug, launch)
        if notice.is_final:
            self._wake_launch(launch)
            for listener in tuple(self._listeners.get(slug, ())):
                listener(slug)
        if self._handlers and not self._closed:
            self._queue_for(launch).put_nowait(notice)

    # -- handlers -----------------------------------------------------------------------

    def on_callback(self, handler: _H) -> _H:
        """Register an async ``handler(notice)`` for every accepted notice; usable as a decorator.

        Handlers run in the receiver's tasks after the sender got its answer, one notice
        after another per run. A handler that raises is logged and counted
        (``stats.handler_errors``); the others still run. Notices of the legacy shape reach
        handlers once their launch is bound (their ``run_slug`` is known then).

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
        self._handlers.append(handler)
        return handler

    def _queue_for(self, launch: Launch) -> asyncio.Queue[RunCallback]:
        if not self._workers:
            loop = asyncio.get_running_loop()
            self._queues = [asyncio.Queue() for _ in range(self._handler_task_count)]
            self._workers = [
                loop.create_task(self._run_handlers(queue), name=f"coreclaw_async.callback-handlers-{number}")
                for number, queue in enumerate(self._queues)
            ]
        return self._queues[launch.number % len(self._queues)]

    async def _run_handlers(self, queue: asyncio.Queue[RunCallback]) -> None:
        while True:
            notice = await queue.get()
            try:
                for handler in tuple(self._handlers):
                    try:
                        await handler(notice)
                    except asyncio.CancelledError:
                        if self._worker_cancelled():
                            raise
                        # The handler awaited something that was cancelled: its failure,
                        # not a reason for this task to stop serving the others.
                        self._handler_errors += 1
                        logger.error(
                            "callback handler %s was cancelled on run %s (%s)",
                            getattr(handler, "__qualname__", handler),
                            notice.run_slug,
                            notice.run_status,
                        )
                    except Exception:
                        self._handler_errors += 1
                        logger.exception(
                            "callback handler %s failed on run %s (%s)",
                            getattr(handler, "__qualname__", handler),
                            notice.run_slug,
                            notice.run_status,
                        )
            finally:
                queue.task_done()

    def _worker_cancelled(self) -> bool:
        """Whether the running handler task itself is being cancelled (by close or loop shutdown)."""
        if self._stopping_workers:
            return True
        task = asyncio.current_task()
        cancelling = getattr(task, "cancelling", None)  # Python 3.11+
        return bool(cancelling is not None and cancelling())

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
        require_number("timeout", timeout, minimum=0, exclusive=True)
        if isinstance(run, str):
            require_slug("run", run)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # Bounded by the deadline: each pass returns, raises or waits until woken or past it.
        while True:
            if self._closed:
                raise ReceiverClosedError()
            notice = run.final if isinstance(run, Launch) else self.final_notice(run)
            if notice is not None:
                return notice
            remaining = deadline - loop.time()
            if remaining <= 0:
                name = run if isinstance(run, str) else run.run_slug or f"launch {run.number}"
                raise WaitTimeoutError(f"No final callback for run {name} within {timeout:g} s")
            await self._until_woken(run, remaining)

    def _final_count(self, run_slug: str) -> int:
        launch = self._by_slug.get(run_slug)
        if launch is None:
            return 0
        return sum(1 for n in launch._notices if n.is_final and n.run_slug == run_slug)

    async def _next_final(self, run_slug: str, seen: int, timeout: float) -> int:
        """Sleep up to ``timeout`` seconds, less if a final notice beyond the ``seen`` first ones
        arrives for ``run_slug``; return how many have arrived. For ``runs.wait``'s polling loop:
        a closed receiver just sleeps, so polling carries on at its own pace.
        """
        count = self._final_count(run_slug)
        if count > seen:
            return count
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout
        if not self._closed:
            await self._until_woken(run_slug, timeout)
            count = self._final_count(run_slug)
            if count > seen or not self._closed:
                return count
        # Closed (before or while sleeping): no notice will come, sleep the gap out.
        await asyncio.sleep(max(0.0, until - loop.time()))
        return count

    def _subscribe(self, run_slugs: Iterable[str], listener: Callable[[str], None]) -> Callable[[], None]:
        """Call ``listener(slug)`` on each final notice of these runs (at once for those that
        already have one) and on close; return the function that unsubscribes."""
        slugs = list(dict.fromkeys(run_slugs))
        for slug in slugs:
            self._listeners.setdefault(slug, []).append(listener)
        for slug in slugs:
            if self._final_count(slug):
                listener(slug)

        def unsubscribe() -> None:
            for slug in slugs:
                listeners = self._listeners.get(slug)
                if listeners is None:
                    continue
                with contextlib.suppress(ValueError):
                    listeners.remove(listener)
                if not listeners:
                    del self._listeners[slug]

        return unsubscribe

    async def _until_woken(self, run: str | Launch, timeout: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake(_: str = "") -> None:
            if not future.done():
                future.set_result(None)

        self._all_waiters.add(future)
        if isinstance(run, Launch):
            run._waiters.append(future)
            unsubscribe: Callable[[], None] = lambda: None  # noqa: E731
            if run._run_slug is not None:
                unsubscribe = self._subscribe((run._run_slug,), wake)
        else:
            unsubscribe = self._subscribe((run,), wake)
        try:
            await asyncio.wait((future,), timeout=timeout)
        finally:
            unsubscribe()
            self._all_waiters.discard(future)
            if isinstance(run, Launch):
                with contextlib.suppress(ValueError):
                    run._waiters.remove(future)
            future.cancel()

    def _wake_launch(self, launch: Launch) -> None:
        for future in launch._waiters:
            if not future.done():
                future.set_result(None)

    def _wake_everyone(self) -> None:
        for slug, listeners in list(self._listeners.items()):
            for listener in tuple(listeners):
                listener(slug)
        for launch in self._launches.values():
            self._wake_launch(launch)
        for future in tuple(self._all_waiters):
            if not future.done():
                future.set_result(None)

    # -- introspection ------------------------------------------------------------------

    @property
    def stats(self) -> ReceiverStats:
        """A snapshot of the receiver's counters."""
        return ReceiverStats(
            received=self._received,
            accepted=self._accepted,
            duplicates=self._duplicates,
            unknown_token=self._unknown,
            too_large=self._too_large,
            malformed=self._malformed,
            mismatched=self._mismatched,
            refused_closed=self._refused_closed,
            over_limit=self._over_limit,
            handler_errors=self._handler_errors,
            launches=len(self._launches),
            queued_for_handlers=sum(queue.qsize() for queue in self._queues),
        )

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("serving" if self._runner is not None else "open")
        return f"<CallbackReceiver {state} public_url={self._public_url!r} launches={len(self._launches)}>"


def _check_public_url(url: str) -> str:
    url = require_callback_url("public_url", url)
    parts = urlsplit(url)
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise InvalidParameterError("public_url", f"must not have a query or fragment: {url!r}")
    return url.rstrip("/")
