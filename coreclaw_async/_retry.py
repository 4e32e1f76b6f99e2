"""Retries: the policy as data, and the one retry loop every call goes through (downloads included).

A failed attempt is one of three things (see ``errors.Outcome``): *not sent* (always safe to
retry, a run start included), *rejected* (the server answered; only rate-limit codes, and
30003 on request, are worth another try) or *unknown* (sent, no verdict: reads retry, run
starts never do, because CoreClaw has no idempotency key and a second start is a second bill).
All attempts and waits of a call fit in its one deadline.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import attrs

from ._constants import (
    DEFAULT_BACKOFF_BASE,
    DEFAULT_BACKOFF_MAX,
    DEFAULT_CAPACITY_BACKOFF_BASE,
    DEFAULT_CAPACITY_BACKOFF_MAX,
    DEFAULT_MAX_RETRIES,
    DEFAULT_RATE_LIMIT_BASE,
    DEFAULT_RETRY_AFTER_MAX,
    LOGGER_NAME,
)
from ._limits import CapacityGate, GateTimeout, Limiter
from ._operation import Kind
from ._stats import PipelineCounters
from ._validation import require_bool, require_int, require_number

if TYPE_CHECKING:
    from ._budget import SharedBudget
    from ._telemetry import Observer
from .errors import (
    APIConnectionError,
    ConcurrencyLimitError,
    CoreClawAPIError,
    CoreClawError,
    RateLimitError,
    ResponseDecodeError,
    RunStartUnknownError,
    ServerError,
)

__all__ = ["Retrier", "RetryPolicy"]

logger = logging.getLogger(LOGGER_NAME)

T = TypeVar("T")

Verdict = Literal["retry", "capacity", "fail"]


def _finite_positive(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    require_number(attribute.name, value, minimum=0, exclusive=True)


def _count(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    require_int(attribute.name, value, minimum=0)


def _flag(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    require_bool(attribute.name, value)


@attrs.frozen
class RetryPolicy:
    """How a client retries. Every field is checked: ``InvalidParameterError`` names a bad one.

    Attributes:
        max_retries: extra attempts after the first (0 disables retries).
        backoff_base: first backoff ceiling in seconds; doubles per retry (full jitter).
        backoff_max: largest backoff ceiling.
        rate_limit_base: first client-wide cooldown after a rate-limit answer without ``Retry-After``.
        retry_after_max: a server's ``Retry-After`` is honoured up to this many seconds.
        wait_for_capacity: run starts refused with 30003 (the plan's concurrent-run limit;
            nothing was created) wait for capacity until the call's deadline instead of
            failing. Such waits do not count against ``max_retries``; every start of the
            client queues behind one probe while the limit is full.
        capacity_backoff_base, capacity_backoff_max: the wait before the next probe after a
            30003, doubling per refusal in a row up to the max (jittered).
    """

    max_retries: int = attrs.field(default=DEFAULT_MAX_RETRIES, validator=_count)
    backoff_base: float = attrs.field(default=DEFAULT_BACKOFF_BASE, validator=_finite_positive)
    backoff_max: float = attrs.field(default=DEFAULT_BACKOFF_MAX, validator=_finite_positive)
    rate_limit_base: float = attrs.field(default=DEFAULT_RATE_LIMIT_BASE, validator=_finite_positive)
    retry_after_max: float = attrs.field(default=DEFAULT_RETRY_AFTER_MAX, validator=_finite_positive)
    wait_for_capacity: bool = attrs.field(default=False, validator=_flag)
    capacity_backoff_base: float = attrs.field(
        default=DEFAULT_CAPACITY_BACKOFF_BASE, validator=_finite_positive
    )
    capacity_backoff_max: float = attrs.field(
        default=DEFAULT_CAPACITY_BACKOFF_MAX, validator=_finite_positive
    )

    def verdict(self, kind: Kind, error: CoreClawError) -> Verdict:
        """What to do after an attempt of a ``kind`` operation failed with ``error``."""
        if isinstance(error, ConcurrencyLimitError):
            return "capacity" if kind is Kind.RUN_START and self.wait_for_capacity else "fail"
        return "retry" if self.is_retryable(kind, error) else "fail"

    def is_retryable(self, kind: Kind, error: CoreClawError) -> bool:
        """Whether an attempt of an operation of ``kind`` that failed with ``error`` may be repeated
        (counted against ``max_retries``)."""
        if isinstance(error, RateLimitError):
            return True
        if isinstance(error, APIConnectionError):
            return error.outcome == "not_sent" or kind is Kind.READ
        if error.outcome == "not_sent" and not isinstance(error, CoreClawAPIError):
            return False  # a request we could not build or send from this state: it would fail again
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
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            return min(float(error.retry_after), self.retry_after_max)
        slow_down = isinstance(error, RateLimitError)
        base = self.rate_limit_base if slow_down else self.backoff_base
        # Doubling stops at 60: past every ceiling already, and far from a float overflow.
        ceiling = min(self.backoff_max, base * 2.0 ** min(max(retry - 1, 0), 60))
        if slow_down:
            # Keep at least half the ceiling after "slow down" answers, so retries spread out.
            return ceiling * (0.5 + rng.random() / 2)
        return rng.uniform(0.0, ceiling)  # full jitter


def _retry_reason(error: CoreClawError) -> str:
    if isinstance(error, RateLimitError):
        return "rate_limited"
    if isinstance(error, CoreClawAPIError) and error.code is not None:
        return f"code_{error.code}"
    if isinstance(error, CoreClawAPIError):
        return f"http_{error.http_status}"
    return error.outcome


Attempt = Callable[[float, int], Awaitable[T]]
"""One try of a call: given the call's deadline (a ``loop.time()`` value) and which try this is
counting retries only (1 for the first; capacity waits do not count), return the result or
raise a ``CoreClawError``."""


class Retrier:
    """The retry loop of one client, with the state it shares across calls: the policy, the
    limiter's cooldown, the plan-capacity gate, the counters and the jitter source."""

    def __init__(
        self,
        policy: RetryPolicy,
        limiter: Limiter,
        counters: PipelineCounters,
        rng: random.Random,
        budget: SharedBudget | None = None,
    ) -> None:
        self.policy = policy
        self.limiter = limiter
        self.counters = counters
        self.rng = rng
        self.budget = budget
        self.capacity = CapacityGate(
            base=policy.capacity_backoff_base, ceiling=policy.capacity_backoff_max, rng=rng
        )
        self.observer: Observer | None = None

    async def run(
        self,
        attempt: Attempt[T],
        *,
        name: str,
        kind: Kind,
        method: str,
        path: str,
        deadline: float,
        max_retries: int | None,
        request: Any = None,
        gated: bool = True,
        hold_probe: bool = True,
        may_retry: Callable[[CoreClawError], bool] | None = None,
        reconcile_with: str = "runs.list",
    ) -> T:
        """Make attempts until one succeeds, a failure may not be retried, or the deadline passes.

        ``gated`` calls went through the client-wide gate, so a rate-limit answer's wait is
        the shared cooldown that the next attempt serves there. ``hold_probe=False`` lets a run
        start wait for its turn at the plan-capacity gate without holding the others back
        while it is answered (a synchronous run is answered only when it ends). ``may_retry``
        can veto a retry the policy allows (a download that already wrote bytes). A run start
        whose outcome stays unknown raises ``RunStartUnknownError`` (from
        ``RunStartUnknownError.build``, like every such error), naming ``reconcile_with`` as
        the place to check.
        """
        policy = self.policy
        counters = self.counters
        capacity = self.capacity if kind is Kind.RUN_START and policy.wait_for_capacity else None
        retries_allowed = policy.max_retries if max_retries is None else max_retries
        retries = 0
        attempt_no = 0
        last_refusal: ConcurrencyLimitError | None = None
        # Bounded: each pass makes one attempt; retries are capped by retries_allowed and
        # capacity waits by the deadline (the gate refuses a turn that would come after it).
        while True:
            attempt_no += 1
            held = False
            started: bool | None = None
            failure: CoreClawError | None = None
            try:
                if capacity is not None:
                    held = await capacity.enter(deadline)
                    if held and not hold_probe:
                        capacity.leave(held, started=None)  # its turn came; let the next one go
                        held = False
                result = await attempt(deadline, retries + 1)
                started = True
            except GateTimeout:
                counters.failed += 1
                raise self._capacity_timeout(last_refusal, method, path, attempt_no - 1) from None
            except CoreClawError as exc:
                failure = exc
                if isinstance(exc, ConcurrencyLimitError):
                    started = False
            finally:
                # Before any backoff sleep: a probe is never held while its caller sleeps.
                if capacity is not None:
                    capacity.leave(held, started=started)
                    if started is False and self.budget is not None:
                        # Other clients of the account hold their waiting starts off as long.
                        now = asyncio.get_running_loop().time()
                        self.budget.capacity_full(max(capacity.probe_at - now, 0.0))
            if failure is None:
                counters.succeeded += 1
                return result
            error = failure
            error.attempts = attempt_no
            if isinstance(error, ConcurrencyLimitError):
                last_refusal = error
                counters.capacity_refusals += 1
            if isinstance(error, RateLimitError):
                counters.rate_limited += 1
            verdict = policy.verdict(kind, error)
            if verdict == "capacity":
                logger.debug("%s %s: plan capacity full (30003); waiting for a free slot", method, path)
                if self.observer is not None:
                    self.observer.capacity_refused(name, error, attempt_no)
                continue
            if verdict == "retry" and retries < retries_allowed and (may_retry is None or may_retry(error)):
                now = asyncio.get_running_loop().time()
                # After a rate limit on a gated call the wait is the client-wide cooldown,
                # served in the gate; other failures back off on their own.
                delay = 0.0
                if not (gated and isinstance(error, RateLimitError)):
                    delay = policy.delay(retries + 1, error, self.rng)
                resume = max(now + delay, self.limiter.cooldown_until if gated else 0.0)
                if resume < deadline:
                    retries += 1
                    self._note_retry(name, method, path, error, attempt_no, resume - now)
                    if delay > 0:
                        await asyncio.sleep(delay)
                    continue
            counters.failed += 1
            if (
                last_refusal is not None
                and error.outcome == "not_sent"
                and isinstance(error, APIConnectionError)
            ):
                # The deadline ran out while waiting for capacity: that is the answer to give.
                last_refusal.attempts = attempt_no
                raise last_refusal from None
            final = self._final_error(kind, method, path, request, error, reconcile_with)
            raise final from final.__cause__

    def _capacity_timeout(
        self, last: ConcurrencyLimitError | None, method: str, path: str, attempts: int
    ) -> ConcurrencyLimitError:
        if last is not None:
            return last  # refused by the server (nothing created); the wait for capacity ran out
        return ConcurrencyLimitError(
            "The plan's concurrent-run limit did not free up before this call's deadline "
            "(wait_for_capacity; the start was not sent)",
            code=30003,
            method=method,
            path=path,
            attempts=attempts,
            outcome="not_sent",
        )

    def _final_error(
        self,
        kind: Kind,
        method: str,
        path: str,
        request: Any,
        error: CoreClawError,
        reconcile_with: str,
    ) -> CoreClawError:
        if kind is not Kind.RUN_START or error.outcome != "unknown":
            return error
        self.counters.unknown_outcomes += 1
        logger.warning(
            "%s %s: outcome unknown after %d attempt(s), not re-sent (request_id=%s): %s",
            method,
            error.path or path,
            error.attempts,
            getattr(error, "request_id", None),
            error,
        )
        return RunStartUnknownError.build(
            method=error.method or method,
            path=error.path or path,
            request=request,
            attempts=error.attempts,
            cause=error,
            reconcile_with=reconcile_with,
        )

    def _note_retry(
        self, name: str, method: str, path: str, error: CoreClawError, attempt: int, delay: float
    ) -> None:
        reason = _retry_reason(error)
        self.counters.tally("retries", reason)
        if self.observer is not None:
            self.observer.retried(name, reason, error, attempt, delay)
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "retrying %s (%s %s) in %.2fs (attempt %d failed: %s, request_id=%s)",
                name,
                method,
                path,
                delay,
                attempt,
                reason,
                getattr(error, "request_id", None),
            )
