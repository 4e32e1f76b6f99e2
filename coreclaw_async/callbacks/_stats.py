"""What a receiver has seen: the public :class:`ReceiverStats` snapshot and the counters behind it."""

from __future__ import annotations

import attrs

from .._counters import Counters

__all__ = ["ReceiverCounters", "ReceiverStats"]


@attrs.frozen
class ReceiverStats:
    """A snapshot of what a :class:`CallbackReceiver` has seen (``receiver.stats``).

    Attributes:
        received: POSTs that reached the receiver's route.
        accepted: notices recorded (first of their run and status).
        duplicates: notices dropped because their run and status were already seen (answered 2xx).
        unknown_token: POSTs to a token no live launch has (forged, expired, evicted, or minted
            by another process; answered 404).
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
        expired: launches forgotten because their ``launch_ttl`` or ``finished_retention`` ran out.
        evicted: launches forgotten early because ``max_launches`` were kept (finished ones
            first, then the oldest still waiting for a final notice).
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
    expired: int
    evicted: int


class ReceiverCounters(Counters):
    """The receiver's counters, one per :class:`ReceiverStats` field that is a tally."""

    __slots__ = (
        "accepted",
        "duplicates",
        "evicted",
        "expired",
        "handler_errors",
        "malformed",
        "mismatched",
        "over_limit",
        "received",
        "refused_closed",
        "too_large",
        "unknown_token",
    )
    accepted: int
    duplicates: int
    evicted: int
    expired: int
    handler_errors: int
    malformed: int
    mismatched: int
    over_limit: int
    received: int
    refused_closed: int
    too_large: int
    unknown_token: int
