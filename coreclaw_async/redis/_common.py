"""What ``RedisBudget`` and ``RedisCallbackStore`` share: argument checks, the failures that
mean "Redis cannot be reached", and a bounded wait for one Redis command."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import Any, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from .._validation import require_text
from ..errors import InvalidParameterError

__all__ = ["FAILURES", "bounded", "check_key_part", "check_redis", "database", "pool_busy", "stop_task"]

T = TypeVar("T")

# Redis unreachable: connection refused or reset, timeouts, a server that answers garbage.
FAILURES = (RedisError, OSError, asyncio.TimeoutError)
# Stopping a task that reads from Redis: cancel it up to this many times, this many seconds apart.
_STOP_ATTEMPTS = 40
_STOP_PAUSE = 0.05


if sys.version_info >= (3, 11):

    async def bounded(awaitable: Awaitable[T], seconds: float) -> T:
        """``await awaitable``, or ``TimeoutError`` after ``seconds``."""
        async with asyncio.timeout(seconds):
            return await awaitable

else:  # pragma: no cover - Python 3.10

    async def bounded(awaitable: Awaitable[T], seconds: float) -> T:
        """``await awaitable``, or ``TimeoutError`` after ``seconds``."""
        return await asyncio.wait_for(awaitable, seconds)


def check_redis(redis: Any, *needs: str) -> Any:
    """``redis`` if it has the methods of a ``redis.asyncio.Redis`` client named in ``needs``."""
    if not all(callable(getattr(redis, name, None)) for name in ("register_script", *needs)):
        raise InvalidParameterError(
            "redis", f"must be a redis.asyncio.Redis client, got {type(redis).__name__}"
        )
    return redis


def check_key_part(field: str, value: object, *, longest: int = 200) -> str:
    """A name that goes into Redis keys: non-blank, at most ``longest`` characters, no spaces
    or braces (a brace would break the keys' Redis Cluster hash tag)."""
    text = require_text(field, value)
    if not text.strip() or len(text) > longest or any(c in text for c in "{} \t\r\n"):
        raise InvalidParameterError(
            field,
            f"must be non-blank text of {longest} characters at most, without spaces or braces: {text!r:.60}",
        )
    return text


def pool_busy(exc: BaseException) -> bool:
    """A capped connection pool with every connection in use (redis-py's MaxConnectionsError,
    a ConnectionError "Too many connections" in the versions before it had a name)."""
    return isinstance(exc, RedisConnectionError) and (
        type(exc).__name__ == "MaxConnectionsError" or "Too many connections" in str(exc)
    )


def database(redis: Any) -> int:
    """The database number a client talks to (0 when it cannot tell, e.g. a cluster)."""
    kwargs = getattr(getattr(redis, "connection_pool", None), "connection_kwargs", None)
    db = kwargs.get("db", 0) if isinstance(kwargs, dict) else 0
    return db if isinstance(db, int) else 0


async def stop_task(task: asyncio.Task[Any]) -> bool:
    """Cancel ``task`` until it ends (at most about 2 s); whether it did.

    redis-py's ``get_message()`` can swallow a cancellation that lands inside its own timeout
    handling, so one ``cancel()`` may not be enough. ``wait()`` raises only the caller's own
    cancellation.
    """
    for _ in range(_STOP_ATTEMPTS):
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=_STOP_PAUSE)
        if done:
            return True
    return False
