"""aiohttp at the edge: the pooled session, whether it can be used, and the one failure mapper.

Every exception an HTTP exchange can raise (aiohttp's, the OS's, asyncio's timeout, or a
request aiohttp refuses to build) becomes a ``CoreClawError`` in :func:`failure`, which
also decides what is known of the request's fate: *not sent* (safe to send again, even a
run start) or *unknown* (it may have reached the server). API calls and downloads both
use it. ``CancelledError`` is never caught here.
"""

from __future__ import annotations

import asyncio
from typing import Literal

import aiohttp

from ._constants import KEEPALIVE_TIMEOUT
from ._envelope import redact
from .errors import (
    APIConnectionError,
    APITimeoutError,
    ClientStateError,
    CoreClawError,
    InvalidParameterError,
    RequestRejectedError,
)

__all__ = ["Stage", "check_usable", "failure", "new_session"]


class _NeverRaised(Exception):
    """Stands in for an aiohttp exception class this aiohttp release does not have."""


Stage = Literal["request", "read"]
"""Where an exchange failed: ``"request"`` (building, connecting, writing, waiting for the
status line) or ``"read"`` (reading the body of an answer that had begun)."""

# Raised by aiohttp while it builds the request, before any byte is written: a header value
# with CR/LF (ValueError), a timeout it cannot convert (OverflowError), a closed session or
# a session whose event loop has ended (RuntimeError), a body it cannot send (TypeError).
_BUILD_ERRORS = (ValueError, TypeError, OverflowError, RuntimeError)

# A redirect to an address aiohttp cannot use; raised after the server answered. (aiohttp 3.10
# has the class; the fallback keeps older releases working, where nothing else raises it.)
_REDIRECT_ERRORS: tuple[type[BaseException], ...] = (getattr(aiohttp, "RedirectClientError", _NeverRaised),)


def new_session(
    *,
    max_connections: int,
    headers: dict[str, str],
    trace_configs: list[aiohttp.TraceConfig] | None = None,
) -> aiohttp.ClientSession:
    """Our own pooled session: one connector, keep-alive below common idle cut-offs, no
    session-wide timeout (each call brings its own deadline), statuses never raised; a
    caller's ``trace_configs`` (aiohttp request tracing) are passed on."""
    connector = aiohttp.TCPConnector(
        limit=max_connections, limit_per_host=0, keepalive_timeout=KEEPALIVE_TIMEOUT
    )
    session = aiohttp.ClientSession(
        connector=connector,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=None),
        raise_for_status=False,
        trace_configs=trace_configs,
    )
    # aiohttp sends a GET, PUT or DELETE a second time, silently, when a reused keep-alive
    # connection drops: outside our retry loop, uncounted, and for a DELETE wrong (the second
    # one answers "not found"). Every attempt must be ours to decide and count; aiohttp has no
    # public switch, so the flag is set where it exists.
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False
    return session


def check_usable(
    session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop, *, method: str, path: str
) -> None:
    """Raise ``ClientStateError`` (not sent) if a caller's ``session`` cannot send from ``loop``."""
    if session.closed:
        raise ClientStateError(
            "The aiohttp.ClientSession given to AsyncCoreClaw is closed (the request was not sent)",
            method=method,
            path=path,
        )
    # aiohttp keeps the loop it was created in and cannot move: a session made under an
    # earlier asyncio.run() fails deep inside with "Event loop is closed".
    owner = getattr(session, "_loop", None)
    if owner is not None and owner is not loop:
        raise ClientStateError(
            "The aiohttp.ClientSession given to AsyncCoreClaw belongs to another event loop "
            "(one that has ended?); create it inside the loop that uses the client "
            "(the request was not sent)",
            method=method,
            path=path,
        )


def failure(
    exc: BaseException,
    *,
    stage: Stage,
    method: str,
    path: str,
    secret: str | None,
    url_field: str = "base_url",
) -> CoreClawError:
    """The ``CoreClawError`` for ``exc``, raised during an exchange at ``stage``; ``__cause__`` is ``exc``.

    * a redirect to an unusable address (downloads follow redirects): rejected;
    * connect failures and timeouts (``ClientConnectorError``, ``ConnectionTimeoutError``):
      not sent;
    * an invalid URL: ``InvalidParameterError`` naming ``url_field``;
    * a request aiohttp refused to build (``ValueError``, ``TypeError``, ``OverflowError``,
      ``RuntimeError`` before anything was written): not sent;
    * any other failure after the request may have been written (a timeout waiting for the
      answer, a dropped connection, a body cut short): outcome unknown.
    """
    detail = redact(str(exc) or type(exc).__name__, secret)
    error: CoreClawError
    if isinstance(exc, _REDIRECT_ERRORS):
        # The server answered with a redirect we cannot follow: it did nothing with the request.
        error = RequestRejectedError(
            f"The server redirected to an unusable address: {detail}", method=method, path=path
        )
    elif isinstance(exc, aiohttp.InvalidURL):
        error = InvalidParameterError(url_field, f"not a valid URL ({detail})")
    elif isinstance(exc, aiohttp.ConnectionTimeoutError):
        error = APITimeoutError(
            f"timed out connecting: {detail}", method=method, path=path, outcome="not_sent"
        )
    elif isinstance(exc, aiohttp.ClientConnectorError):
        error = APIConnectionError(
            f"could not connect: {detail}", method=method, path=path, outcome="not_sent"
        )
    elif isinstance(exc, asyncio.TimeoutError):
        error = APITimeoutError(
            f"timed out waiting for the answer: {detail}", method=method, path=path, outcome="unknown"
        )
    elif isinstance(exc, (aiohttp.ClientError, OSError)):
        what = (
            "connection failed mid-request" if stage == "request" else "connection failed reading the answer"
        )
        error = APIConnectionError(f"{what}: {detail}", method=method, path=path, outcome="unknown")
    elif stage == "request" and isinstance(exc, RuntimeError):
        error = ClientStateError(
            f"The HTTP session cannot send: {detail} (the request was not sent)", method=method, path=path
        )
    elif stage == "request" and isinstance(exc, _BUILD_ERRORS):
        error = CoreClawError(
            f"The request could not be built: {type(exc).__name__}: {detail} (it was not sent)",
            method=method,
            path=path,
            attempts=0,
            outcome="not_sent",
        )
    else:
        error = CoreClawError(
            f"Unexpected error during the request: {type(exc).__name__}: {detail}",
            method=method,
            path=path,
            outcome="unknown",
        )
    error.__cause__ = exc
    return error
