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
        accepted: notices recorded for launches of this receiver (first of their run and
            status), including those another process took for them (``from_store``).
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
        forwarded: notices this receiver took for a launch of another process sharing its
            store, recorded there and put in that process's inbox (answered 200).
        from_store: notices another process took for launches of this receiver, read from its
            inbox in the store and delivered here (also counted in ``accepted``).
        store_errors: store operations that failed or timed out (each outage is also logged
            once); notices to foreign tokens are answered 503 meanwhile.
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
    forwarded: int = 0
    from_store: int = 0
    store_errors: int = 0


class ReceiverCounters(Counters):
    """The receiver's counters, one per :class:`ReceiverStats` field that is a tally."""

    __slots__ = (
        "accepted",
        "duplicates",
        "evicted",
        "expired",
        "forwarded",
        "from_store",
        "handler_errors",
        "malformed",
        "mismatched",
        "over_limit",
        "received",
        "refused_closed",
        "store_errors",
        "too_large",
        "unknown_token",
    )
    accepted: int
    duplicates: int
    evicted: int
    expired: int
    forwarded: int
    from_store: int
    handler_errors: int
    malformed: int
    mismatched: int
    over_limit: int
    received: int
    refused_closed: int
    store_errors: int
    too_large: int
    unknown_token: int
