"""``client.stats``: the snapshot users read, and the counters the pipeline bumps behind it."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ._counters import Counters

__all__ = ["ClientStats", "PipelineCounters"]


@attrs.frozen
class ClientStats:
    """A snapshot of what one client has done so far (``client.stats``).

    Attributes:
        requests: HTTP attempts sent or tried, retries included.
        succeeded: calls that returned a result.
        failed: calls that raised.
        retries: retries made, by reason (``"rate_limited"``, ``"not_sent"``, ``"unknown"``, ...).
        rate_limited: answers with a rate-limit code or HTTP 429.
        unknown_outcomes: run starts whose outcome could not be known (``RunStartUnknownError``).
        in_flight: requests holding a connection slot right now.
        concurrency_limit: the current adaptive limit on requests in flight.
        connection_wait_seconds: total time calls spent in the client-wide gate (waiting for a
            free slot, for ``max_rate`` pacing or for a rate-limit cooldown), waits that timed
            out or were cancelled included.
        capacity_refusals: run starts refused with 30003 (the plan's concurrent-run limit).
        capacity_wait_seconds: total time run starts waited for plan capacity
            (``wait_for_capacity=True``).
    """

    requests: int
    succeeded: int
    failed: int
    retries: Mapping[str, int]
    rate_limited: int
    unknown_outcomes: int
    in_flight: int
    concurrency_limit: int
    connection_wait_seconds: float
    capacity_refusals: int = 0
    capacity_wait_seconds: float = 0.0


class PipelineCounters(Counters):
    """The counters of one client's pipeline (see :class:`ClientStats` for their meaning)."""

    __slots__ = ("capacity_refusals", "failed", "rate_limited", "requests", "succeeded", "unknown_outcomes")

    capacity_refusals: int
    failed: int
    rate_limited: int
    requests: int
    succeeded: int
    unknown_outcomes: int
