"""Downloads of exported result files from their pre-signed URLs, streamed chunk by chunk.

A download reuses the client's aiohttp session and connection pool but not its gate (the
file host is not the API), goes through the same retry loop as every call (a failure is
retried only while no byte has been written: the destination cannot be rewound), maps its
failures with the same ``_transport.failure`` and bare HTTP statuses with the same
``_envelope.error_for_status``. The API key is sent only to the API's own origin, never
to the file host (checked on every redirect hop), and the signed query of the URL, itself a
credential, never appears in an error message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiohttp
from yarl import URL

from ._constants import API_KEY_HEADER, BODY_EXCERPT_LIMIT, DOWNLOAD_CHUNK_SIZE, DOWNLOAD_READ_TIMEOUT
from ._envelope import error_for_status
from ._operation import Kind
from ._transport import Stage, failure
from ._validation import require_url
from .errors import APITimeoutError, CoreClawError

if TYPE_CHECKING:
    from ._session import SessionManager

__all__ = ["download"]

# Per-request client middlewares arrived in aiohttp 3.12; they let a download drop the
# credential header (a session default) before each hop to a foreign host, redirects included.
_HAS_MIDDLEWARES = hasattr(aiohttp, "ClientMiddlewareType")

_NAME = "run.download"


class _SinkError(Exception):
    """The destination of a download failed; carries the original exception to re-raise."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


async def download(
    manager: SessionManager,
    url: str,
    write: Callable[[bytes], Awaitable[None]],
    *,
    timeout: float,
    max_retries: int | None = None,
    chunk_size: int = DOWNLOAD_CHUNK_SIZE,
    read_timeout: float = DOWNLOAD_READ_TIMEOUT,
) -> int:
    """GET the absolute ``url`` and pass its body to ``write`` chunk by chunk; return the bytes written.

    ``timeout`` bounds the whole download; no byte for ``read_timeout`` seconds also fails it.

    Raises:
        InvalidParameterError: ``url`` is not an absolute http(s) URL.
        NotFoundError, RateLimitError, ServerError, RequestRejectedError: the host answered
            with an error status (``http_status`` says which; 403 usually means expired).
        APIConnectionError, APITimeoutError: the transfer failed or took too long.
        Whatever ``write`` raises (e.g. ``OSError`` for a full disk) propagates unchanged.
    """
    require_url("download_url", url)
    target = URL(url)
    # Errors name the path only: the query of a pre-signed URL is a credential.
    path = target.path
    manager.http_session(method="GET", path=path)  # closed client, wrong loop: fail before anything
    loop = asyncio.get_running_loop()
    written = 0

    async def counting_write(chunk: bytes) -> None:
        nonlocal written
        try:
            await write(chunk)
        except Exception as exc:
            raise _SinkError(exc) from exc
        written += len(chunk)

    async def attempt(deadline: float, attempt_no: int) -> None:
        try:
            await _download_once(
                manager, target, path, counting_write, deadline, loop, chunk_size, read_timeout
            )
        except CoreClawError as error:
            _scrub(error, target)
            raise

    try:
        await manager.retrier.run(
            attempt,
            name=_NAME,
            kind=Kind.READ,
            method="GET",
            path=path,
            deadline=loop.time() + timeout,
            max_retries=max_retries,
            gated=False,
            may_retry=lambda _: written == 0,
        )
    except _SinkError as failed:
        manager.counters.failed += 1
        raise failed.error from None
    return written


def _scrub(error: CoreClawError, target: URL) -> None:
    # aiohttp puts the URL in some messages; its signed query is a credential.
    if target.query_string:
        error.message = error.message.replace(target.query_string, "…").replace(target.raw_query_string, "…")
        error.args = (error.message,)


def _credential_headers(manager: SessionManager) -> tuple[str, ...]:
    names = {API_KEY_HEADER, "Authorization"}
    if manager.auth_header_name:
        names.add(manager.auth_header_name)
    return tuple(sorted(names))


def _drop_foreign_credentials(manager: SessionManager) -> Any:
    api_origin = URL(manager.base_url).origin()
    credentials = _credential_headers(manager)

    async def middleware(req: Any, handler: Any) -> Any:
        if req.url.origin() != api_origin:
            for name in credentials:
                req.headers.popall(name, None)
        # A GET carries no body: the session's JSON content type means nothing here.
        req.headers.popall("Content-Type", None)
        return await handler(req)

    return middleware


async def _download_once(
    manager: SessionManager,
    target: URL,
    path: str,
    write: Callable[[bytes], Awaitable[None]],
    deadline: float,
    loop: asyncio.AbstractEventLoop,
    chunk_size: int,
    read_timeout: float,
) -> None:
    remaining = deadline - loop.time()
    if remaining <= 0:
        raise APITimeoutError(
            "The download's deadline passed before it could start",
            method="GET",
            path=path,
            outcome="not_sent",
        )
    session = manager.http_session(method="GET", path=path)
    timeout = aiohttp.ClientTimeout(
        total=remaining, connect=min(manager.pool_timeout, remaining * 0.95), sock_read=read_timeout
    )
    headers = {"Accept": "*/*", "User-Agent": manager.user_agent}
    temporary: aiohttp.ClientSession | None = None
    extra: dict[str, Any] = {}
    if _HAS_MIDDLEWARES:
        extra["middlewares"] = (_drop_foreign_credentials(manager),)
    else:
        # Same pool, but a session without our default (credential) headers.
        temporary = aiohttp.ClientSession(
            connector=session.connector, connector_owner=False, timeout=aiohttp.ClientTimeout(total=None)
        )
        session = temporary
    manager.counters.requests += 1
    stage: Stage = "request"
    try:
        async with session.get(
            target, headers=headers, timeout=timeout, raise_for_status=False, **extra
        ) as resp:
            stage = "read"
            if not 200 <= resp.status < 300:
                raw = await resp.content.read(BODY_EXCERPT_LIMIT)
                raise error_for_status(
                    resp.status,
                    raw,
                    method="GET",
                    path=path,
                    headers=resp.headers,
                    secret=manager.api_key,
                    file_host=True,
                )
            # Bounded by the file's size: each pass reads one chunk; the empty chunk ends it.
            while True:
                chunk = await resp.content.read(chunk_size)
                if not chunk:
                    break
                await write(chunk)
    except (CoreClawError, _SinkError):
        raise
    except Exception as exc:
        raise failure(
            exc, stage=stage, method="GET", path=path, secret=manager.api_key, url_field="download_url"
        ) from exc
    finally:
        if temporary is not None:
            await temporary.close()
