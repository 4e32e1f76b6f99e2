"""Download destinations: a path (written atomically, off the event loop) or a binary file object."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import secrets
from collections.abc import Awaitable, Callable
from typing import IO, Any, Protocol, Union, runtime_checkable

from .errors import InvalidParameterError

__all__ = ["BinaryWritable", "Destination", "check_destination", "write_stream"]


@runtime_checkable
class BinaryWritable(Protocol):
    """Anything with ``write(bytes)``: an open binary file, ``io.BytesIO``, or an object whose
    ``write`` is a coroutine (it is awaited)."""

    def write(self, data: bytes, /) -> Any:
        """Store ``data``; may return an awaitable, which is then awaited."""


Destination = Union[str, "os.PathLike[str]", BinaryWritable]
"""Where a download goes: a file path or a writable binary file object."""

Writer = Callable[[bytes], Awaitable[None]]


def check_destination(dest: object) -> None:
    """Raise ``InvalidParameterError`` unless ``dest`` is a non-empty path or a binary file object."""
    if isinstance(dest, (str, os.PathLike)):
        if not os.fspath(dest):
            raise InvalidParameterError("dest", "must not be an empty path")
        return
    if not isinstance(dest, BinaryWritable):
        raise InvalidParameterError(
            "dest", f"must be a path or a binary file object, got {type(dest).__name__}"
        )


async def write_stream(dest: Destination, stream: Callable[[Writer], Awaitable[int]]) -> int:
    """Run ``stream(write)`` with a ``write`` that stores each chunk in ``dest``; return its result.

    A path is written to a temporary file next to it and renamed over ``dest`` only once
    every byte arrived, so ``dest`` is either complete or untouched; file operations run in
    a worker thread so the event loop never blocks on the disk. A file object is written as
    is (what was written before a failure stays written).

    Raises ``InvalidParameterError`` if ``dest`` is neither; ``OSError`` from the file system.
    """
    check_destination(dest)
    if isinstance(dest, (str, os.PathLike)):
        return await _write_path(os.fspath(dest), stream)
    return await stream(_object_writer(dest))


def _object_writer(dest: BinaryWritable) -> Writer:
    async def write(chunk: bytes) -> None:
        result = dest.write(chunk)
        if inspect.isawaitable(result):
            await result

    return write


async def _write_path(path: str, stream: Callable[[Writer], Awaitable[int]]) -> int:
    partial = f"{path}.{secrets.token_hex(4)}.part"
    handle: IO[bytes] = await asyncio.to_thread(open, partial, "wb")
    try:

        async def write(chunk: bytes) -> None:
            await asyncio.to_thread(handle.write, chunk)

        written = await stream(write)
        await asyncio.to_thread(handle.close)
        await asyncio.to_thread(os.replace, partial, path)
    except BaseException:
        # Cleanup is synchronous on purpose: it must also run when the task is cancelled.
        handle.close()
        with contextlib.suppress(OSError):
            os.remove(partial)
        raise
    return written
