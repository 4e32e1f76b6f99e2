"""A launch: one minted callback URL and what it has recorded (its run, its notices, when it finished).

:class:`Launch` owns its state: the registry changes it only through the methods at the end of
the class (record a notice, mark it finished, attach its run), which keep it consistent.
Its URL token is two parts: the launch number (8 characters, the registry's key) and a
192-bit secret (32 characters) compared in constant time, so finding a launch needs no
per-launch hash and says nothing about the secret.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import TypeAlias

import attrs

from .._constants import CALLBACK_TOKEN_BYTES, DEFAULT_WAIT_TIMEOUT, MAX_NOTICES_PER_LAUNCH
from ..errors import InvalidParameterError
from ..models.callbacks import RunCallback

__all__ = ["Launch", "LaunchHooks", "Verdict", "new_secret", "token_number"]

# The launch number takes 6 bytes of the token: 2**48 launches, ~89,000 years at 100 a second.
_NUMBER_BYTES = 6
# 6 bytes are 8 base64 characters, and 6 + 24 bytes are 40: no padding in either.
_NUMBER_CHARS = 8
_TOKEN_CHARS = (_NUMBER_BYTES + CALLBACK_TOKEN_BYTES) * 4 // 3


def new_secret() -> bytes:
    """Random bytes for the secret part of a new launch's token."""
    return secrets.token_bytes(CALLBACK_TOKEN_BYTES)


def _token(number: int, secret: bytes) -> str:
    return base64.urlsafe_b64encode(number.to_bytes(_NUMBER_BYTES, "big") + secret).decode("ascii")


def token_number(token: str) -> int | None:
    """The launch number a token names, or ``None`` if it cannot be one of ours (no secret checked)."""
    if len(token) != _TOKEN_CHARS or not token.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(token[:_NUMBER_CHARS])
    except ValueError:
        return None
    return int.from_bytes(raw, "big") if len(raw) == _NUMBER_BYTES else None


class Verdict(enum.Enum):
    """What became of a notice offered to a launch."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    MISMATCHED = "another run"
    OVER_LIMIT = "too many notices"
    GONE = "unknown"


@attrs.frozen
class LaunchHooks:
    """What a :class:`Launch` asks of the receiver that minted it (one instance per receiver).

    Attributes:
        base_url: the receiver's ``public_url`` (known whenever a launch exists).
        bind: ties a launch to a run slug and delivers the notices that become known by it.
        discard: forgets a launch.
        wait: waits for a launch's first final notice.
        registered: waits until the receiver's shared store knows the launch; whether it does.
    """

    base_url: Callable[[], str]
    bind: Callable[[Launch, str], None]
    discard: Callable[[Launch], None]
    wait: Callable[[Launch, float], Awaitable[RunCallback]]
    registered: Callable[[Launch], Awaitable[bool]]


SharedState: TypeAlias = "asyncio.Task[bool] | bool | None"
"""Where a launch stands with the receiver's shared store: ``None`` without a store (or not
yet sent), the task sharing it (registration, then each bind) while one runs, then whether
the store knows it."""


class Launch:
    """One minted callback URL, for one run start (made by :meth:`CallbackReceiver.mint`).

    Pass :attr:`callback_url` as the start's ``callback_url``, then :meth:`bind` the run slug
    the start returned. Notices that arrive before the bind are kept and matched then.
    ``client.tasks.run(..., callback=receiver)`` does all of this for you.

    Attributes:
        label: your label from ``mint(label=...)``, copied onto every notice.
        minted_at: ``time.monotonic()`` when it was minted.
        number: its place in the receiver's mint order (also the first part of its token).
    """

    # Kept small on purpose (a receiver may hold 100,000 of these): no dict, no per-launch
    # containers until a notice arrives, the URL and token built on demand.
    __slots__ = (
        "_finished_at",
        "_hooks",
        "_notices",
        "_run_slug",
        "_secret",
        "_shared",
        "label",
        "minted_at",
        "number",
    )

    def __init__(
        self, hooks: LaunchHooks, number: int, secret: bytes, label: str | None, minted_at: float
    ) -> None:
        self._hooks = hooks
        self.number = number
        self._secret = secret
        self.label = label
        self.minted_at = minted_at
        self._run_slug: str | None = None
        self._notices: tuple[RunCallback, ...] = ()
        self._finished_at: float | None = None
        # Kept by the receiver's shared store (see SharedState); None without one.
        self._shared: SharedState = None

    @property
    def token(self) -> str:
        """The secret token in :attr:`callback_url` (never shown in ``repr``)."""
        return _token(self.number, self._secret)

    @property
    def callback_url(self) -> str:
        """The URL to give CoreClaw: ``<public_url>/<token>``."""
        return f"{self._hooks.base_url()}/{self.token}"

    @property
    def run_slug(self) -> str | None:
        """The run this launch was bound to, or ``None`` before :meth:`bind`."""
        return self._run_slug

    @property
    def notices(self) -> tuple[RunCallback, ...]:
        """Every accepted notice of this launch, in arrival order (duplicates excluded)."""
        return self._notices

    @property
    def final(self) -> RunCallback | None:
        """The first final notice received (``succeeded``, ``failed``, ...), if any."""
        return next((notice for notice in self._notices if notice.is_final), None)

    @property
    def finished_at(self) -> float | None:
        """``time.monotonic()`` when a final notice came or ``runs.get`` confirmed the run final."""
        return self._finished_at

    def matches(self, token: str) -> bool:
        """Whether ``token`` is this launch's token (compared in constant time)."""
        return token.isascii() and hmac.compare_digest(self.token.encode(), token.encode())

    def bind(self, run_slug: str) -> None:
        """Tie this launch to the run its start created; notices received so far are matched now.

        Binding again to the same slug does nothing.

        Raises:
            InvalidParameterError: blank slug, or the launch is already bound to another run.
        """
        self._hooks.bind(self, run_slug)

    def discard(self) -> None:
        """Forget this launch (e.g. its start was refused): later notices to its URL get 404."""
        self._hooks.discard(self)

    async def wait(self, *, timeout: float = DEFAULT_WAIT_TIMEOUT) -> RunCallback:
        """Wait for this launch's first final notice; see :meth:`CallbackReceiver.wait`."""
        return await self._hooks.wait(self, timeout)

    async def registered(self) -> bool:
        """Wait until every process sharing the receiver's store knows this launch; whether they do.

        With ``CallbackReceiver(store=...)``, :meth:`CallbackReceiver.mint` and :meth:`bind`
        share the launch in the background. ``client.tasks.run(..., callback=receiver)`` awaits
        this before it sends the start; when you mint yourself, await it before you send the
        start with :attr:`callback_url`, so that a notice reaching another process finds the
        launch there. ``False`` when the store could not be reached in time (a warning is logged
        once per outage): the launch still works for notices that reach this process. Without
        a store it is ``True`` at once. Never raises; the sharing goes on if the caller is
        cancelled, and each store operation is bounded in time.

        Example::

            launch = receiver.mint(label="nightly")
            await launch.registered()
            started = await client.workers.run(worker, input=..., callback_url=launch.callback_url)
            launch.bind(started.run_slug)
        """
        return await self._hooks.registered(self)

    def __repr__(self) -> str:
        return f"<Launch run_slug={self._run_slug!r} label={self.label!r} notices={len(self._notices)}>"

    # -- changed by the registry only --------------------------------------------------

    def _record(self, notice: RunCallback) -> tuple[Verdict, RunCallback]:
        """Offer a parsed notice: the verdict, and the notice as recorded (run and label filled in)."""
        bound = self._run_slug
        if notice.run_slug is not None and bound is not None and notice.run_slug != bound:
            return Verdict.MISMATCHED, notice
        notice = attrs.evolve(notice, run_slug=notice.run_slug or bound, label=self.label)
        # At most MAX_NOTICES_PER_LAUNCH notices: a scan is cheaper than a set per launch.
        if any(seen.run_status == notice.run_status for seen in self._notices):
            return Verdict.DUPLICATE, notice
        if len(self._notices) >= MAX_NOTICES_PER_LAUNCH:
            return Verdict.OVER_LIMIT, notice
        self._notices = (*self._notices, notice)
        return Verdict.ACCEPTED, notice

    def _finish(self, at: float) -> bool:
        """Mark the run final at ``at``; ``False`` if it already was."""
        if self._finished_at is not None:
            return False
        self._finished_at = at
        return True

    def _attach(self, run_slug: str) -> tuple[list[RunCallback], list[RunCallback]] | None:
        """Bind to ``run_slug``: ``None`` if already bound to it, else the notices that only now
        name their run (legacy ones) and those dropped for naming another run.

        Raises:
            InvalidParameterError: already bound to another run.
        """
        if self._run_slug is not None:
            if self._run_slug == run_slug:
                return None
            raise InvalidParameterError("run_slug", f"this launch is already bound to run {self._run_slug}")
        self._run_slug = run_slug
        kept: list[RunCallback] = []
        late: list[RunCallback] = []
        dropped: list[RunCallback] = []
        for notice in self._notices:
            if notice.run_slug is None:
                notice = attrs.evolve(notice, run_slug=run_slug)
                late.append(notice)
            elif notice.run_slug != run_slug:
                # Someone with the token named another run before we knew ours: drop it so it
                # cannot shadow the real notice of the same status.
                dropped.append(notice)
                continue
            kept.append(notice)
        self._notices = tuple(kept)
        return late, dropped
