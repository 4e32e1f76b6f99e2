"""The HTTP endpoint: ``POST <prefix>/{token}``, the body limit, and the answer given to the sender.

CoreClaw documents no signature, no retry, no ordering and no delivery guarantee for its
notices, so the endpoint answers at once and never waits for your handlers: a notice is
looked up by its token, read within the size limit, parsed leniently, recorded, and then
handed to the receiver to wake waiters and queue for handlers. Answers are small JSON
objects ``{"ok": ..., "result": ...}``: 200 accepted or duplicate, 400 malformed, 404
unknown token, 409 another run, 413 too large, 429 too many notices, 503 closed.

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
from ._launch import Launch, Verdict
from ._log import RateLimitedWarning, logger, shown
from ._registry import LaunchRegistry
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
        public_url: the receiver's ``public_url`` (named in the unknown-token warning).
    """

    __slots__ = ("_counters", "_deliver", "_is_closed", "_max_body", "_public_url", "_registry", "_unknown")

    def __init__(
        self,
        registry: LaunchRegistry,
        counters: ReceiverCounters,
        *,
        max_body: int,
        is_closed: Callable[[], bool],
        deliver: Callable[[Launch, RunCallback], None],
        public_url: Callable[[], str | None],
    ) -> None:
        self._registry = registry
        self._counters = counters
        self._max_body = max_body
        self._is_closed = is_closed
        self._deliver = deliver
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
        launch = self._registry.lookup(request.match_info.get("token", ""))
        if launch is None:
            return self._refuse_unknown(request)
        body = await self._read_body(request)
        if body is None:
            counters.too_large += 1
            return _answer(413, "too large")
        try:
            notice = RunCallback.parse(body)
        except InvalidCallbackError as exc:
            counters.malformed += 1
            logger.info("malformed callback refused: %s", exc.message)
            return _answer(400, exc.message)
        verdict, recorded = self._registry.record(launch, notice)
        if verdict is Verdict.ACCEPTED:
            counters.accepted += 1
            logger.debug(
                "callback: run %s is %s",
                recorded.run_slug or f"(launch {launch.number})",
                recorded.run_status,
            )
            self._deliver(launch, recorded)
        elif verdict is Verdict.DUPLICATE:
            counters.duplicates += 1
        elif verdict is Verdict.MISMATCHED:
            counters.mismatched += 1
            logger.warning(
                "callback for run %s arrived on the launch of run %s; refused",
                shown(notice.run_slug),
                launch.run_slug,
            )
        elif verdict is Verdict.OVER_LIMIT:
            counters.over_limit += 1
        else:
            # Forgotten (expired, evicted, discarded) while its body was being read.
            return self._refuse_unknown(request)
        return _answer(_STATUS[verdict], verdict.value)

    def _refuse_unknown(self, request: web.Request) -> web.Response:
        counters = self._counters
        counters.unknown_token += 1
        # The path without its last segment (the token, a secret when it is valid).
        prefix = request.path.rpartition("/")[0] + "/"
        self._unknown.note(
            "callback receiver refused %d notice(s) to unknown tokens since the last such warning "
            "(latest on %s..., from %s; public_url is %s; %d launch(es) expired and %d evicted so far). "
            "Check that notices reach the process that minted their URLs (each process needs its own "
            "public_url), that public_url matches where the receiver is mounted, and that launch_ttl "
            "and max_launches cover your runs.",
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
