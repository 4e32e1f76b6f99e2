"""``RetryPolicy``: what may be tried again for each kind of call, and how long to wait."""

from __future__ import annotations

import random

import pytest

from coreclaw_async._operation import Kind
from coreclaw_async._retry import RetryPolicy
from coreclaw_async.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ConcurrencyLimitError,
    CoreClawError,
    InvalidRequestError,
    RateLimitError,
    ResponseDecodeError,
    ResponseValidationError,
    ServerError,
    TaskNotFoundError,
)

READ, RUN_START, ACTION = Kind.READ, Kind.RUN_START, Kind.ACTION
ALL_KINDS = [READ, RUN_START, ACTION]


def _retryable_kinds(error: CoreClawError, policy: RetryPolicy | None = None) -> set[Kind]:
    policy = policy or RetryPolicy()
    return {kind for kind in ALL_KINDS if policy.is_retryable(kind, error)}


# -- what is retried ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        APIConnectionError("could not connect", outcome="not_sent"),
        APITimeoutError("no free connection", outcome="not_sent"),
    ],
)
def test_a_request_that_was_never_sent_is_retried_for_every_kind_even_a_run_start(
    error: CoreClawError,
) -> None:
    assert _retryable_kinds(error) == {READ, RUN_START, ACTION}


@pytest.mark.parametrize(
    "error",
    [
        APIConnectionError("connection failed mid-request"),
        APITimeoutError("timed out waiting for the answer"),
    ],
)
def test_a_connection_failure_after_sending_is_retried_only_for_reads(error: CoreClawError) -> None:
    assert error.outcome == "unknown"
    assert _retryable_kinds(error) == {READ}


@pytest.mark.parametrize(
    "error",
    [
        RateLimitError("Too many requests", code=4290, http_status=429),
        RateLimitError("too many requests", code=13000, http_status=429),
        RateLimitError("Too many requests", http_status=429, retry_after=1.0),
    ],
)
def test_a_rate_limit_answer_is_retried_for_every_kind(error: RateLimitError) -> None:
    assert _retryable_kinds(error) == {READ, RUN_START, ACTION}


def test_plan_concurrency_30003_is_not_retried_by_default() -> None:
    error = ConcurrencyLimitError("plan limit", code=30003)

    assert _retryable_kinds(error) == set()
    assert {RetryPolicy().verdict(kind, error) for kind in ALL_KINDS} == {"fail"}


def test_plan_concurrency_30003_waits_for_capacity_only_on_run_starts_and_not_as_a_retry() -> None:
    error = ConcurrencyLimitError("plan limit", code=30003)
    policy = RetryPolicy(wait_for_capacity=True)

    assert _retryable_kinds(error, policy) == set()  # never spends max_retries
    assert {kind: policy.verdict(kind, error) for kind in ALL_KINDS} == {
        READ: "fail",
        RUN_START: "capacity",
        ACTION: "fail",
    }


@pytest.mark.parametrize("code", [5000, 10000, 14000])
def test_an_internal_server_error_is_retried_only_for_reads(code: int) -> None:
    error = ServerError("Network error, try again", code=code, http_status=500, outcome="unknown")

    assert _retryable_kinds(error) == {READ}


@pytest.mark.parametrize("status", [500, 502, 503, 504, 200])
def test_a_decode_error_after_a_5xx_or_a_2xx_is_retried_only_for_reads(status: int) -> None:
    error = ResponseDecodeError("Expected a CoreClaw envelope", http_status=status)

    assert _retryable_kinds(error) == {READ}


@pytest.mark.parametrize("status", [400, 404, 409])
def test_a_decode_error_after_a_4xx_is_never_retried(status: int) -> None:
    error = ResponseDecodeError("Expected a CoreClaw envelope", http_status=status)

    assert _retryable_kinds(error) == set()


@pytest.mark.parametrize(
    "error",
    [
        InvalidRequestError("Invalid request parameters", code=4000, http_status=400),
        InvalidRequestError("invalid argument", code=11000, http_status=422),
        AuthenticationError("Invalid API key", code=20001, http_status=401),
        TaskNotFoundError("Task does not exist", code=60001, http_status=404),
        ResponseValidationError("data does not fit", code=0, http_status=200),
    ],
)
def test_refusals_and_accepted_but_unreadable_answers_are_never_retried(error: CoreClawError) -> None:
    assert _retryable_kinds(error) == set()


def test_a_negative_retry_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)


# -- how long to wait --------------------------------------------------------------------

SAMPLES = 300


def _delays(policy: RetryPolicy, retry: int, error: CoreClawError, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return [policy.delay(retry, error, rng) for _ in range(SAMPLES)]


@pytest.mark.parametrize("retry", [1, 2, 3, 4, 5, 6, 7, 10, 40])
def test_backoff_uses_full_jitter_within_a_doubling_capped_ceiling(retry: int) -> None:
    policy = RetryPolicy()
    ceiling = min(policy.backoff_max, policy.backoff_base * 2 ** (retry - 1))

    delays = _delays(policy, retry, APIConnectionError("x", outcome="not_sent"))

    assert all(0.0 <= d <= ceiling for d in delays)
    # Full jitter: the whole range is used, not a fixed or half-range value.
    assert min(delays) < ceiling * 0.1
    assert max(delays) > ceiling * 0.9


@pytest.mark.parametrize("retry", [1, 2, 3, 4, 5, 10])
def test_after_a_slow_down_answer_the_backoff_is_at_least_half_the_ceiling(retry: int) -> None:
    error = RateLimitError("Too many requests", code=4290)
    policy = RetryPolicy()
    ceiling = min(policy.backoff_max, policy.rate_limit_base * 2 ** (retry - 1))

    delays = _delays(policy, retry, error)

    assert all(ceiling / 2 <= d <= ceiling for d in delays)


@pytest.mark.parametrize("retry_after", [0.0, 0.5, 3.0, 29.5])
@pytest.mark.parametrize("retry", [1, 4])
def test_retry_after_is_honoured_exactly(retry_after: float, retry: int) -> None:
    error = RateLimitError("Too many requests", code=4290, retry_after=retry_after)

    assert RetryPolicy().delay(retry, error, random.Random(1)) == retry_after


def test_retry_after_is_capped() -> None:
    error = RateLimitError("Too many requests", code=4290, retry_after=3600.0)

    assert RetryPolicy().delay(1, error, random.Random(1)) == RetryPolicy().retry_after_max
    assert RetryPolicy(retry_after_max=5.0).delay(1, error, random.Random(1)) == 5.0


def test_delays_are_reproducible_from_the_random_source() -> None:
    error = APIConnectionError("x", outcome="not_sent")

    assert _delays(RetryPolicy(), 3, error, seed=42) == _delays(RetryPolicy(), 3, error, seed=42)
