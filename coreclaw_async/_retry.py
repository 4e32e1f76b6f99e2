"""Retry policy as data: which failed attempts may be tried again, and how long to wait.

A failed attempt is one of three things (see ``errors.Outcome``): *not sent* (always safe to
retry, a run start included), *rejected* (the server answered; only rate-limit codes, and
30003 on request, are worth another try) or *unknown* (sent, no verdict: reads retry, run
starts never do, because CoreClaw has no idempotency key and a second start is a second bill).
"""

from __future__ import annotations

import random

import attrs

from ._operation import Kind
from .errors import (
    APIConnectionError,
    ConcurrencyLimitError,
    CoreClawAPIError,
    CoreClawError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
)

__all__ = ["RetryPolicy"]


@attrs.frozen
class RetryPolicy:
    """How a client retries.

    Attributes:
        max_retries: extra attempts after the first (0 disables retries).
        backoff_base: first backoff ceiling in seconds; doubles per attempt (full jitter).
        backoff_max: largest backoff ceiling.
        rate_limit_base: first backoff ceiling after a rate-limit answer without ``Retry-After``.
        retry_after_max: a server's ``Retry-After`` is honoured up to this many seconds.
        wait_for_capacity: also retry run starts refused with 30003 (plan concurrency);
            nothing was created, so this is safe, but it can wait a long time.
    """

    max_retries: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    backoff_base: float = 0.25
    backoff_max: float = 8.0
    rate_limit_base: float = 1.0
    retry_after_max: float = 30.0
    wait_for_capacity: bool = False

    def is_retryable(self, kind: Kind, error: CoreClawError) -> bool:
        """Whether an attempt of an operation of ``kind`` that failed with ``error`` may be repeated."""
        if isinstance(error, RateLimitError):
            return True
        if isinstance(error, APIConnectionError):
            return error.outcome == "not_sent" or kind is Kind.READ
        if isinstance(error, ConcurrencyLimitError):
            return kind is Kind.RUN_START and self.wait_for_capacity
        if isinstance(error, ServerError) or (
            isinstance(error, ResponseDecodeError)
            and (error.http_status is None or error.http_status >= 500 or error.http_status < 300)
        ):
            return kind is Kind.READ
        # An envelope with a code we do not know, under an HTTP 5xx: a server-side failure.
        if type(error) is CoreClawAPIError and (error.http_status or 0) >= 500:
            return kind is Kind.READ
        return False

    def delay(self, retry: int, error: CoreClawError, rng: random.Random) -> float:
        """Seconds to sleep before retry number ``retry`` (1-based) after ``error``."""
        slow_down = isinstance(error, (RateLimitError, ConcurrencyLimitError))
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            return min(float(error.retry_after), self.retry_after_max)
        base = self.rate_limit_base if slow_down else self.backoff_base
        ceiling = min(self.backoff_max, base * 2.0 ** (retry - 1))
        if slow_down:
            # Keep at least half the ceiling after "slow down" answers, so retries spread out.
            return ceiling * (0.5 + rng.random() / 2)
        return rng.uniform(0.0, ceiling)  # full jitter
