"""The HTTP endpoint: ``POST <prefix>/{token}``, the body limit, and the answer given to the sender.

CoreClaw documents no signature, no retry, no ordering and no delivery guarantee for its
notices, so the endpoint answers at once and never waits for your handlers: a notice is
looked up by its token, read within the size limit, parsed leniently, recorded, and then
handed to the receiver to wake waiters and queue for handlers. Answers are small JSON
objects ``{"ok": ..., "result": ...}``: 200 accepted or duplicate, 400 malformed, 404
unknown token, 409 another run, 413 too large, 429 too many notices, 503 closed (or, with a
shared store, ``"store unavailable"`` for a notice that only the store could place).

With a store shared by several processes (``_sharing``), the same rules hold across them. A
notice to one of this receiver's launches is recorded in the store first, so that a
duplicate another process already took is answered 200 "duplicate" and not delivered twice
(when the store cannot be reached, it is handled here alone). A token this receiver does not
know is looked up in the store: unknown there too, it is answered 404 as always; known, its
notice is read and parsed with the same limits, recorded in the store with the launch's
other notices, and put in the inbox of the process that minted the launch, which delivers
it (:meth:`CallbackEndpoint.take_forwarded`).

A notice to an unknown token is answered 404 and counted, and a WARNING (at most one per
``CALLBACK_WARNING_INTERVAL``, with the count since the last one) says what to check:
notices sent to the wrong process are otherwise invisible. The token is never logged.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from .._constants import CALLBACK_READ_CHUNK, CALLBACK_WARNING_INTERVAL
from ..errors import InvalidCallbackError
from ..models.callbacks import RunCallback
from ._launch import Launch, Verdict, token_number
from ._log import RateLimitedWarning, logger, shown
from ._registry import LaunchRegistry
from ._shared import InboxNotice, launch_key
from ._sharing import SharedIndex, StoreUnavailable
from ._stats import ReceiverCounters

__all__ = ["CallbackEndpoint"]

_STATUS = {
    Verdict.ACCEPTED: 200,
    Verdict.DUPLICATE: 200,
    Verdict.MISMATCHED: 409,
    Verdict.OVER_LIMIT: 429,
    Verdict.GONE: 404,
}


def _answer(status: int, result: str) -> web.Response:
    return web.json_response({"ok": 200 <= status < 300, "result": result}, status=status)


class CallbackEndpoint:
    """Serves ``POST <prefix>/{token}`` for one receiver.

    Args:
        registry: where launches are looked up and notices recorded.
        counters: the receiver's counters.
        max_body: larger bodies are answered 413 without being parsed.
        is_closed: whether the receiver is closed (answer 503).
        deliver: called with each accepted notice and its launch, after recording.
        deliver_foreign: called with each accepted final notice of another process's launch
            and its run slug (that process gets it through the store as well).
        public_url: the receiver's ``public_url`` (named in the unknown-token warning).
        shared: the receiver's side of its shared store, if it has one.
    """

    __slots__ = (
        "_counters",
        "_deliver",
        "_deliver_foreign",
        "_is_closed",
        "_max_body",
        "_public_url",
        "_registry",
        "_shared",
        "_unknown",
    )

    def __init__(
        self,
        registry: LaunchRegistry,
        counters: ReceiverCounters,
        *,
        max_body: int,
        is_closed: Callable[[], bool],
        deliver: Callable[[Launch, RunCallback], None],
        deliver_foreign: Callable[[str, RunCallback], None],
        public_url: Callable[[], str | None],
        shared: SharedIndex | None = None,
    ) -> None:
        self._registry = registry
        self._shared = shared
        self._counters = counters
        self._max_body = max_body
        self._is_closed = is_closed
        self._deliver = deliver
        self._deliver_foreign = deliver_foreign
        self._public_url = public_url
        self._unknown = RateLimitedWarning(CALLBACK_WARNING_INTERVAL)

    def routes(self, prefix: str = "") -> list[web.RouteDef]:
        """The route, ``POST <prefix>/{token}``."""
        return [web.post(prefix.rstrip("/") + "/{token}", self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one notice."""
        counters = self._counters
        counters.received += 1
        if self._is_closed():
            counters.refused_closed += 1
            return _answer(503, "closed")
        shared = self._shared
        if shared is not None:
            shared.ensure_reader()
        token = request.match_info.get("token", "")
        launch = self._registry.lookup(token)
        if launch is None:
            if shared is None or token_number(token) is None:
                return self._refuse_unknown(request)
            return await self._handle_foreign(request, shared, token)
        notice = await self._read_notice(request)
        if isinstance(notice, web.Response):
            return notice
        if shared is not None:
            decided = await shared.record_own(launch, notice)
            if decided is not None and decided is not Verdict.ACCEPTED:
                # Another process took it first (it is in our inbox), or the store refused it.
                return self._settle(decided, notice, launch.run_slug, request)
        verdict = self.record(launch, notice)
        return self._settle(verdict, notice, launch.run_slug, request)

    def record(self, launch: Launch, notice: RunCallback) -> Verdict:
        """Record a notice to one of this receiver's launches and deliver it if accepted; the verdict."""
        verdict, recorded = self._registry.record(launch, notice)
        if verdict is Verdict.ACCEPTED:
            self._counters.accepted += 1
            logger.debug(
                "callback: run %s is %s",
                recorded.run_slug or f"(launch {launch.number})",
                recorded.run_status,
            )
            self._deliver(launch, recorded)
        return verdict

    def take_forwarded(self, message: InboxNotice) -> None:
        """A notice another process took for a launch of this receiver: deliver it as if it came here."""
        if self._is_closed() or message.notice is None:
            return
        launch = self._registry.by_number(message.number)
        if launch is None or launch_key(launch.token) != message.launch_key:
            # Forgotten here (expired, evicted, discarded); the store keeps the notice.
            logger.debug("a notice from the callback store names a launch this receiver no longer has")
            return
        notice = message.notice
        verdict = self.record(launch, notice)
        if verdict is Verdict.ACCEPTED:
            self._counters.from_store += 1
        elif verdict is not Verdict.GONE:
            self._count(verdict, notice, launch.run_slug)

    async def _handle_foreign(self, request: web.Request, shared: SharedIndex, token: str) -> web.Response:
        """A token this receiver does not know: another process's launch, if the store knows it."""
        try:
            found = await shared.lookup(token)
        except StoreUnavailable:
            return _answer(503, "store unavailable")
        if found is None:
            return self._refuse_unknown(request)
        key, entry = found
        notice = await self._read_notice(request)
        if isinstance(notice, web.Response):
            return notice
        try:
            verdict = await shared.record_foreign(key, entry, notice)
        except StoreUnavailable:
            return _answer(503, "store unavailable")
        if verdict is Verdict.ACCEPTED:
            self._counters.forwarded += 1
            slug = notice.run_slug or entry.run_slug
            if notice.is_final and slug is not None:
                self._deliver_foreign(slug, notice)
            logger.debug(
                "callback: run %s is %s (forwarded to the process that minted its launch)",
                shown(notice.run_slug),
                shown(notice.run_status),
            )
        return self._settle(verdict, notice, entry.run_slug, request)

    async def _read_notice(self, request: web.Request) -> RunCallback | web.Response:
        """The parsed notice, or the answer refusing it (413 too large, 400 malformed)."""
        body = await self._read_body(request)
        if body is None:
            self._counters.too_large += 1
            return _answer(413, "too large")
        try:
            return RunCallback.parse(body)
        except InvalidCallbackError as exc:
            self._counters.malformed += 1
            logger.info("malformed callback refused: %s", exc.message)
            return _answer(400, exc.message)

    def _settle(
        self, verdict: Verdict, notice: RunCallback, bound: str | None, request: web.Request
    ) -> web.Response:
        """Count a verdict that is not an acceptance here, and answer it."""
        if verdict is Verdict.GONE:
            # Forgotten (expired, evicted, discarded) while its body was being read.
            return self._refuse_unknown(request)
        if verdict is not Verdict.ACCEPTED:
            self._count(verdict, notice, bound)
        return _answer(_STATUS[verdict], verdict.value)

    def _count(self, verdict: Verdict, notice: RunCallback, bound: str | None) -> None:
        counters = self._counters
        if verdict is Verdict.DUPLICATE:
            counters.duplicates += 1
        elif verdict is Verdict.MISMATCHED:
            counters.mismatched += 1
            logger.warning(
                "callback for run %s arrived on the launch of run %s; refused",
                shown(notice.run_slug),
                bound,
            )
        elif verdict is Verdict.OVER_LIMIT:
            counters.over_limit += 1

    def _refuse_unknown(self, request: web.Request) -> web.Response:
        counters = self._counters
        counters.unknown_token += 1
        # The path without its last segment (the token, a secret when it is valid).
        prefix = request.path.rpartition("/")[0] + "/"
        self._unknown.note(
            "callback receiver refused %d notice(s) to unknown tokens since the last such warning "
            "(latest on %s..., from %s; public_url is %s; %d launch(es) expired and %d evicted so far). "
            "Check that notices reach the process that minted their URLs (each process needs its own "
            "public_url, unless the receivers of every process share one store=), that public_url "
            "matches where the receiver is mounted, and that launch_ttl and max_launches cover your runs.",
            shown(prefix),
            request.remote,
            self._public_url(),
            counters.expired,
            counters.evicted,
        )
        return _answer(404, "unknown")

    async def _read_body(self, request: web.Request) -> bytes | None:
        """The body, or ``None`` if it is larger than the limit (checked before and while reading)."""
        limit = self._max_body
        declared = request.content_length
        if declared is not None and declared > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        # Bounded: at most limit / chunk reads before the limit is exceeded.
        async for chunk in request.content.iter_chunked(CALLBACK_READ_CHUNK):
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)
