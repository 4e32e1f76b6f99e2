"""What a FakeCoreClaw observed: request, connection, fault and refusal counters, and the request log.

`FakeCounters` is the base of `FakeCoreClaw` holding its read-only observations, so that
the fake's own module stays about settings and the ledger.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ._callbacks import CallbackDispatcher, CallbackStats
from ._faults import Fault
from ._http import Dispatcher
from ._ledger import Ledger
from ._request_log import RequestRecord

__all__ = ["FakeCounters"]


class FakeCounters:
    """Counters and the request log of a fake (see `FakeCoreClaw`)."""

    _http: Dispatcher
    _ledger: Ledger
    _callbacks: CallbackDispatcher

    @property
    def requests(self) -> int:
        """HTTP requests received (every path, every outcome; ``/_fake/`` admin requests excluded)."""
        return self._http.requests

    @property
    def requests_by_path(self) -> dict[str, int]:
        """HTTP requests received per URL path."""
        return dict(self._http.by_path)

    @property
    def connections_seen(self) -> int:
        """Distinct TCP connections that sent at least one request."""
        return self._http.connections.seen

    @property
    def open_connections(self) -> int:
        """TCP connections open right now."""
        return self._http.connections.open

    @property
    def max_open_connections(self) -> int:
        """Highest number of simultaneously open TCP connections observed."""
        return self._http.connections.max_open

    @property
    def applied_faults(self) -> list[tuple[Fault, str]]:
        """Every fault applied so far, as (fault, request path), in order."""
        return list(self._http.applied)

    @property
    def rate_limited(self) -> int:
        """Requests refused by the account's rate limit (``rate_limit``; injected faults excluded)."""
        return self._http.rate_limited

    @property
    def concurrency_refusals(self) -> int:
        """Run starts refused with 30003 because of the plan limit (injected faults excluded)."""
        return self._ledger.concurrency_refusals

    @property
    def callback_stats(self) -> CallbackStats:
        """A snapshot of the callback delivery counters."""
        return dataclasses.replace(self._callbacks.stats)

    @property
    def request_log(self) -> list[RequestRecord]:
        """The requests received, oldest first, if ``record_requests`` is on (else empty).

        A new list of frozen `RequestRecord` on each access: who (``user_agent``) sent what
        (``method``, ``path``) when (``at``, monotonic) and what was answered
        (``http_status``, ``code``). Only the most recent ``max_recorded_requests`` are kept;
        admin requests (``/_fake/stats``) are not recorded.

        Example: ``accepted = [r for r in fake.request_log if r.code == 0]``.
        """
        return self._http.log.records()

    def clear_request_log(self) -> None:
        """Forget every recorded request (recording goes on)."""
        self._http.log.clear()

    def stats(self) -> dict[str, Any]:
        """The account's counters as JSON-ready data, as ``GET /_fake/stats`` answers them.

        Keys: ``requests``, ``requests_by_path``, ``rate_limited``, ``rate_limit``,
        ``concurrency_refusals``, ``concurrency_limit``, ``concurrency_counts_ready``,
        ``runs_created`` (runs in the ledger), ``faults_applied``, ``connections_seen``,
        ``open_connections``, ``max_open_connections`` and ``callbacks`` (`callback_stats`).
        """
        http = self._http
        ledger = self._ledger
        return {
            "requests": http.requests,
            "requests_by_path": dict(http.by_path),
            "rate_limited": http.rate_limited,
            "rate_limit": http.rate.limit,
            "concurrency_refusals": ledger.concurrency_refusals,
            "concurrency_limit": ledger.concurrency_limit,
            "concurrency_counts_ready": ledger.concurrency_counts_ready,
            "runs_created": len(ledger.runs),
            "faults_applied": len(http.applied),
            "connections_seen": http.connections.seen,
            "open_connections": http.connections.open,
            "max_open_connections": http.connections.max_open,
            "callbacks": dataclasses.asdict(self._callbacks.stats),
        }

    def reset_counters(self) -> None:
        """Zero the request, connection, rate-limit and plan-limit refusal counters and empty the
        request log. The ledger, the faults applied and the rate limit's window are kept."""
        self._http.reset_counters()
        self._ledger.concurrency_refusals = 0
