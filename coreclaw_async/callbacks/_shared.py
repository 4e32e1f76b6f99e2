"""The seam for launches shared by many processes: what a receiver asks of a :class:`CallbackStore`.

Behind one public URL a web backend runs several worker processes, each with its own
receiver, and the load balancer hands a notice to any of them. With a store
(``CallbackReceiver(store=...)``) every receiver registers the launches it mints there, so
the process a notice reaches can check it against every launch, record it once for all of
them and hand it to the process that minted the launch, through that process's inbox.
``coreclaw_async.redis.RedisCallbackStore`` implements it on Redis; this module names what a
receiver needs and nothing more, so the core never imports a Redis client.

A launch is known to the store by its key, the SHA-256 of its URL token (:func:`launch_key`),
never by the token itself: reading the store does not give out URLs that would be accepted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs

from ..errors import CallbackStoreError
from ..models.callbacks import RunCallback
from ._launch import Verdict

__all__ = ["CallbackStore", "CallbackStoreError", "InboxNotice", "SharedLaunch", "launch_key"]


def launch_key(token: str) -> str:
    """The key a store knows a launch by: the SHA-256 (hex) of its URL token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@attrs.frozen
class SharedLaunch:
    """What a store knows of a launch: the receiver that minted it, its number there, its run.

    Attributes:
        owner: the instance id of the receiver that minted the launch.
        number: the launch's number in that receiver (the first part of its token).
        run_slug: the run the launch was bound to, if it was.
    """

    owner: str
    number: int
    run_slug: str | None = None


@attrs.frozen
class InboxNotice:
    """A notice another process took for a launch of this receiver, read from its inbox.

    Attributes:
        message_id: the position of the message in the inbox (pass it back as ``after``).
        launch_key: the key of the launch the notice was sent to.
        number: the launch's number in this receiver.
        notice: the notice as its sender wrote it, with ``received_at`` from where it arrived;
            ``None`` for a message the store could not read (skipped, but read past).
    """

    message_id: str
    launch_key: str
    number: int
    notice: RunCallback | None


@runtime_checkable
class CallbackStore(Protocol):
    """What a :class:`CallbackReceiver` asks of a store of launches shared by many processes.

    Every receiver given the same store (the same Redis and prefix, for the Redis store) sees
    the launches of the others. A receiver calls :meth:`register` for each launch it mints,
    :meth:`bind` when the launch learns its run and :meth:`discard` when it is dropped; for a
    notice to a token it does not know, :meth:`lookup` then :meth:`record`; for a notice to one
    of its own, :meth:`record` first, so that a duplicate that reached another process is
    recognised; and one reader task per receiver takes what others recorded for it with
    :meth:`read_inbox`. Every method may raise any exception when the store cannot be reached
    (the receiver bounds each call in time, logs the outage once and carries on without it).
    Entries expire on their own; a store never needs a receiver to clean up after it.
    """

    async def register(self, launch_key: str, *, owner: str, number: int, label: str | None) -> None:
        """Make a new launch known to every receiver of the store."""

    async def bind(self, launch_key: str, run_slug: str) -> bool:
        """Tie a launch to its run; ``False`` if the store has no such launch or it is bound to another run.

        Notices recorded before that named another run are dropped, as the receiver does.
        """

    async def discard(self, launch_key: str) -> None:
        """Forget a launch: notices to it are unknown (404) from now on, in every process."""

    async def lookup(self, launch_key: str) -> SharedLaunch | None:
        """The launch a key names, or ``None`` if the store has none (never minted, expired, discarded)."""

    async def record(self, launch_key: str, notice: RunCallback, *, owner: str, recorder: str) -> Verdict:
        """Offer a parsed notice to a launch of ``owner``, taken by the receiver ``recorder``; atomically.

        The verdict follows the rules of a receiver's own launches: ``GONE`` if the launch is
        not there (or not ``owner``'s), ``MISMATCHED`` if it is bound to another run than the
        one the notice names, ``DUPLICATE`` if a notice of the same status was recorded
        (by any receiver), ``OVER_LIMIT`` past ``MAX_NOTICES_PER_LAUNCH`` statuses, else
        ``ACCEPTED``: the notice is kept with the launch (readable until the entry expires)
        and, when ``recorder`` is not ``owner``, put in ``owner``'s inbox.
        """

    async def read_inbox(self, owner: str, *, after: str, block: float) -> Sequence[InboxNotice]:
        """The notices in ``owner``'s inbox after position ``after`` (``"0"``: from the start),
        waiting up to ``block`` seconds for one; an empty sequence if none came.

        Messages before ``after`` have been taken and may be deleted. Each call also keeps the
        inbox alive: an inbox nobody reads expires, so a process that is gone leaves nothing.
        """
