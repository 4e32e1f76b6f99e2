"""The exception hierarchy and the code -> class table (spec sections 3.2 and 3.3)."""

from __future__ import annotations

import pytest

import coreclaw_async
from coreclaw_async import errors
from coreclaw_async.errors import (
    AccountUnavailableError,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ConcurrencyLimitError,
    CoreClawAPIError,
    CoreClawError,
    InsufficientBalanceError,
    InsufficientTrafficError,
    InvalidParameterError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ResponseDecodeError,
    ResponseValidationError,
    RunAbortFailedError,
    RunNotFoundError,
    RunStartUnknownError,
    ServerError,
    TaskNotFoundError,
    UnsupportedOperationError,
    WorkerNotFoundError,
    WorkerRunFailedError,
    WorkerVersionUnavailableError,
    error_class_for_code,
)

# Written out from the spec's tables, not copied from errors._CODE_TABLE, so a wrong
# entry there fails here.
V1_CODES = {
    4000: InvalidRequestError,
    4010: AuthenticationError,
    4040: NotFoundError,
    4290: RateLimitError,
    5000: ServerError,
    10001: AccountUnavailableError,
    10002: AccountUnavailableError,
    20001: AuthenticationError,
    20002: AuthenticationError,
    30001: InsufficientBalanceError,
    30002: InsufficientTrafficError,
    50001: WorkerNotFoundError,
    50002: WorkerRunFailedError,
    50003: WorkerVersionUnavailableError,
    60001: TaskNotFoundError,
    70001: RunNotFoundError,
    70002: RunAbortFailedError,
}
V2_CODES = {
    10000: ServerError,
    11000: InvalidRequestError,
    11004: NotFoundError,
    12001: AuthenticationError,
    12002: AuthenticationError,
    13000: RateLimitError,
    14000: ServerError,
    16000: UnsupportedOperationError,
    30001: InsufficientBalanceError,
    30003: ConcurrencyLimitError,
    50001: WorkerNotFoundError,
    50002: WorkerRunFailedError,
    50003: WorkerVersionUnavailableError,
    60001: TaskNotFoundError,
    70001: RunNotFoundError,
    70002: RunAbortFailedError,
}
EXPORTED_ERRORS = [name for name in errors.__all__ if name not in ("Outcome", "error_class_for_code")]


@pytest.mark.parametrize(("code", "cls"), sorted(V1_CODES.items()))
def test_every_v1_code_maps_to_its_class(code: int, cls: type[CoreClawAPIError]) -> None:
    assert error_class_for_code(code) is cls


@pytest.mark.parametrize(("code", "cls"), sorted(V2_CODES.items()))
def test_every_v2_code_maps_to_its_class(code: int, cls: type[CoreClawAPIError]) -> None:
    assert error_class_for_code(code) is cls


@pytest.mark.parametrize("code", [4000, 11000])
def test_invalid_request_codes_are_also_value_errors(code: int) -> None:
    error = error_class_for_code(code)("bad", code=code)

    assert isinstance(error, ValueError)
    assert isinstance(error, CoreClawAPIError)


def test_invalid_parameter_error_is_a_value_error_naming_the_field_but_not_a_server_answer() -> None:
    error = InvalidParameterError("task_slug", "must not be blank")

    assert isinstance(error, CoreClawError)
    assert isinstance(error, ValueError)
    assert not isinstance(error, CoreClawAPIError)  # nothing was sent, so nobody answered
    assert error.field == "task_slug"
    assert str(error) == "task_slug: must not be blank"
    assert error.attempts == 0
    assert error.outcome == "not_sent"
    assert error.sent is False


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (AccountUnavailableError, AuthenticationError),
        (TaskNotFoundError, NotFoundError),
        (WorkerNotFoundError, NotFoundError),
        (RunNotFoundError, NotFoundError),
        (InsufficientTrafficError, InsufficientBalanceError),
        (APITimeoutError, APIConnectionError),
        (ResponseDecodeError, CoreClawAPIError),
        (ResponseValidationError, CoreClawAPIError),
    ],
)
def test_specific_errors_can_be_caught_by_their_general_class(
    child: type[CoreClawError], parent: type[CoreClawError]
) -> None:
    assert issubclass(child, parent)


@pytest.mark.parametrize("code", [-1, 1, 999, 4001, 4291, 20003, 99999, 2**63])
def test_unknown_codes_map_to_the_generic_api_error(code: int) -> None:
    assert error_class_for_code(code) is CoreClawAPIError


def test_the_generic_api_error_keeps_an_unknown_code() -> None:
    error = error_class_for_code(4321)("Something new", code=4321, http_status=200)

    assert type(error) is CoreClawAPIError
    assert error.code == 4321
    assert str(error).startswith("[4321] Something new")


def test_str_shows_code_message_status_call_attempts_and_request_id() -> None:
    error = TaskNotFoundError(
        "Task does not exist",
        code=60001,
        http_status=404,
        method="POST",
        path="/api/v1/task/run",
        request_id="req-123",
        attempts=3,
    )

    text = str(error)

    assert text.startswith("[60001] Task does not exist (")
    for part in ("HTTP 404", "POST /api/v1/task/run", "after 3 attempts", "request_id=req-123"):
        assert part in text


def test_str_of_a_plain_error_is_its_message() -> None:
    assert str(CoreClawError("plain words")) == "plain words"


def test_str_does_not_mention_attempts_after_a_single_try() -> None:
    error = ServerError("boom", code=5000, method="POST", path="/api/v1/task/run", attempts=1)

    assert "attempt" not in str(error)


def test_str_of_an_api_error_without_code_has_no_code_prefix() -> None:
    error = ResponseDecodeError("Expected a CoreClaw envelope", http_status=502)

    assert str(error) == "Expected a CoreClaw envelope (HTTP 502)"


def test_repr_names_the_class_code_message_and_http_status() -> None:
    error = TaskNotFoundError("Task does not exist", code=60001, http_status=404)

    assert repr(error) == "TaskNotFoundError(code=60001, message='Task does not exist', http_status=404)"


def test_repr_of_a_plain_error_names_the_class_and_message() -> None:
    assert repr(RunStartUnknownError("lost")) == "RunStartUnknownError('lost')"


@pytest.mark.parametrize("name", EXPORTED_ERRORS)
def test_every_error_class_is_exported_from_the_package_and_derives_from_coreclaw_error(name: str) -> None:
    cls = getattr(coreclaw_async, name)

    assert cls is getattr(errors, name)
    assert name in coreclaw_async.__all__
    assert issubclass(cls, CoreClawError)


@pytest.mark.parametrize(
    ("error", "outcome", "sent"),
    [
        (CoreClawAPIError("x", code=4000), "rejected", True),
        (APIConnectionError("x"), "unknown", None),
        (APIConnectionError("x", outcome="not_sent"), "not_sent", False),
        (ResponseDecodeError("x", http_status=502), "unknown", None),
        (ResponseValidationError("x", code=0), "accepted", True),
        (RunStartUnknownError("x"), "unknown", None),
    ],
)
def test_each_error_says_what_is_known_of_the_request_outcome(
    error: CoreClawError, outcome: str, sent: bool | None
) -> None:
    assert error.outcome == outcome
    assert error.sent is sent


def test_an_outcome_given_to_one_error_does_not_change_its_class_default() -> None:
    unknown = ServerError("Network error, try again", code=5000, outcome="unknown")

    assert unknown.outcome == "unknown"
    assert ServerError("other", code=5000).outcome == "rejected"


def test_rate_limit_error_keeps_the_retry_after_hint() -> None:
    assert RateLimitError("slow down", code=4290, retry_after=2.5).retry_after == 2.5
    assert RateLimitError("slow down", code=4290).retry_after is None


def test_response_validation_error_keeps_its_problem_list() -> None:
    error = ResponseValidationError("bad data", errors=["required field missing @ $.run_slug"], code=0)

    assert error.errors == ["required field missing @ $.run_slug"]
    assert ResponseValidationError("bad data").errors == []
