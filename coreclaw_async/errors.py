"""The exception hierarchy of coreclaw-async and the CoreClaw code -> class table.

Everything the public API raises derives from :class:`CoreClawError`; no aiohttp, json,
orjson or cattrs exception escapes. Each error says what the server answered (``code``,
``message``, ``http_status``, ``request_id``), which call it was (``method``, ``path``),
how many attempts were made and what is known of the request's outcome:

* ``"not_sent"``: the request never left this process (safe to retry, even a run start);
* ``"rejected"``: the server answered with an error code, nothing was done;
* ``"unknown"``: it was sent and no verdict came back (a run may have been started);
* ``"accepted"``: the server said success but the answer could not be read.
"""

from __future__ import annotations

from typing import Any, Literal

Outcome = Literal["not_sent", "rejected", "unknown", "accepted"]

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AccountUnavailableError",
    "AuthenticationError",
    "BudgetUnavailableError",
    "CallbackStoreError",
    "ClientStateError",
    "ConcurrencyLimitError",
    "CoreClawAPIError",
    "CoreClawError",
    "InsufficientBalanceError",
    "InsufficientTrafficError",
    "InvalidCallbackError",
    "InvalidParameterError",
    "InvalidRequestError",
    "NotFoundError",
    "Outcome",
    "RateLimitError",
    "ReceiverAddressError",
    "ReceiverClosedError",
    "RequestRejectedError",
    "ResponseDecodeError",
    "ResponseValidationError",
    "RunAbortFailedError",
    "RunNotFoundError",
    "RunStartUnknownError",
    "ServerError",
    "TaskNotFoundError",
    "UnsupportedOperationError",
    "WaitTimeoutError",
    "WorkerNotFoundError",
    "WorkerRunFailedError",
    "WorkerVersionUnavailableError",
    "error_class_for_code",
]


class CoreClawError(Exception):
    """Base class of every error raised by coreclaw-async.

    Attributes:
        message: human-readable description.
        method, path: the HTTP call this error belongs to, when there was one.
        attempts: how many times the request was tried (0 when it was never tried).
        outcome: what is known of the request's effect (see the module docstring).
    """

    outcome: Outcome = "rejected"

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        attempts: int = 1,
        outcome: Outcome | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.attempts = attempts
        if outcome is not None:
            self.outcome = outcome

    @property
    def sent(self) -> bool | None:
        """``False`` if the request was never sent, ``True`` if the server answered, ``None`` if unknown."""
        if self.outcome == "not_sent":
            return False
        if self.outcome == "unknown":
            return None
        return True

    def _context(self) -> list[str]:
        parts: list[str] = []
        if self.method and self.path:
            parts.append(f"{self.method} {self.path}")
        if self.attempts > 1:
            parts.append(f"after {self.attempts} attempts")
        return parts

    def __str__(self) -> str:
        context = self._context()
        return f"{self.message} ({', '.join(context)})" if context else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class InvalidParameterError(CoreClawError, ValueError):
    """An argument failed validation before anything was sent; ``field`` names it.

    Not a ``CoreClawAPIError``: the server never saw the call. Answer it as bad input
    (HTTP 400 in a web backend), not as a server failure.
    """

    outcome: Outcome = "not_sent"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", attempts=0)
        self.field = field


class ClientStateError(CoreClawError):
    """The client cannot send in its current state: it was closed, the ``aiohttp.ClientSession``
    it was given is closed or belongs to an event loop that has ended, or it is used from
    another event loop than the one it first ran in. Nothing was sent."""

    outcome: Outcome = "not_sent"

    def __init__(self, message: str, *, method: str | None = None, path: str | None = None) -> None:
        super().__init__(message, method=method, path=path, attempts=0)


class BudgetUnavailableError(CoreClawError):
    """The shared budget (``AsyncCoreClaw(budget=...)``) could not be reached, and it is set to
    say so (``on_unavailable="raise"``) rather than carry on with the client's own limits.
    Nothing was sent."""

    outcome: Outcome = "not_sent"

    def __init__(self, message: str, *, method: str | None = None, path: str | None = None) -> None:
        super().__init__(message, method=method, path=path, attempts=0)


class CallbackStoreError(CoreClawError):
    """The callback store could not be reached, or did not answer within its time.

    Raised by a store's own reading methods (``await store.final_notice(run_slug)``); a
    receiver never raises it: it logs the outage once, answers notices it cannot place with
    503, and goes on with the launches it minted itself.
    """

    outcome: Outcome = "unknown"

    def __init__(self, message: str) -> None:
        super().__init__(message, attempts=1)


class APIConnectionError(CoreClawError):
    """The server could not be reached, or the connection failed before a full answer came.

    ``outcome`` tells whether the request may have been acted upon: ``"not_sent"`` for
    connect failures and a full connection pool, ``"unknown"`` once the request was written.
    """

    outcome: Outcome = "unknown"


class APITimeoutError(APIConnectionError):
    """The call's deadline (or the wait for a pooled connection) passed without an answer."""


class CoreClawAPIError(CoreClawError):
    """The server answered, and the answer is an error.

    Attributes:
        code: the envelope ``code`` (``None`` when the body was not an envelope).
        http_status: the HTTP status of the answer.
        request_id: the server's request id, when it sent one (v2 envelopes, headers).
        body: the start of the raw response body, for diagnostics.
        details: v2 ``details`` list, when present.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        request_id: str | None = None,
        body: str | None = None,
        details: Any = None,
        attempts: int = 1,
        outcome: Outcome | None = None,
    ) -> None:
        super().__init__(message, method=method, path=path, attempts=attempts, outcome=outcome)
        self.code = code
        self.http_status = http_status
        self.request_id = request_id
        self.body = body
        self.details = details

    def _context(self) -> list[str]:
        parts = []
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        parts.extend(super()._context())
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return parts

    def __str__(self) -> str:
        text = super().__str__()
        return f"[{self.code}] {text}" if self.code is not None else text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"http_status={self.http_status!r})"
        )


class InvalidRequestError(CoreClawAPIError, ValueError):
    """The request was malformed (codes 4000, 11000); fix it, do not retry."""


class RequestRejectedError(CoreClawAPIError):
    """The HTTP layer in front of the API refused the request before it reached CoreClaw: a
    4xx answer without a CoreClaw envelope (400, 404, 405, 413 body too large, 414 URI too
    long, 431 headers too large, ...). Nothing was created; ``http_status`` says which."""


class AuthenticationError(CoreClawAPIError):
    """The API key is missing, invalid or expired, or the resource is not yours
    (4010, 20001, 20002, 12001, 12002)."""


class AccountUnavailableError(AuthenticationError):
    """The account behind the key does not exist or is disabled (10001, 10002)."""


class NotFoundError(CoreClawAPIError):
    """The resource does not exist (4040, 11004, and the specific subclasses)."""


class TaskNotFoundError(NotFoundError):
    """No saved Task has this slug (60001)."""


class WorkerNotFoundError(NotFoundError):
    """No Worker has this slug (50001)."""


class RunNotFoundError(NotFoundError):
    """No run has this slug (70001)."""


class RateLimitError(CoreClawAPIError):
    """Too many requests (4290, 13000, or HTTP 429); ``retry_after`` is the server's hint in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InsufficientBalanceError(CoreClawAPIError):
    """The account cannot pay for the run (30001 balance, 30002 traffic)."""


class InsufficientTrafficError(InsufficientBalanceError):
    """The account's traffic quota is used up (30002)."""


class ConcurrencyLimitError(CoreClawAPIError):
    """The plan's limit of concurrently running runs is reached (30003); no run was created."""


class ServerError(CoreClawAPIError):
    """CoreClaw reported an internal error (5000, 10000, 14000)."""


class UnsupportedOperationError(CoreClawAPIError):
    """The server does not implement this operation (16000)."""


class WorkerRunFailedError(CoreClawAPIError):
    """The Worker failed to execute (50002)."""


class WorkerVersionUnavailableError(CoreClawAPIError):
    """The requested Worker version cannot be run (50003)."""


class RunAbortFailedError(CoreClawAPIError):
    """The run could not be aborted, usually because it already finished (70002)."""


class ResponseDecodeError(CoreClawAPIError):
    """The body was not a CoreClaw envelope: not JSON (an HTML proxy page), truncated,
    or JSON of another shape. The outcome of the request is unknown."""

    outcome: Outcome = "unknown"


class ResponseValidationError(CoreClawAPIError):
    """The envelope said success but ``data`` does not fit the expected model.

    ``errors`` lists each problem with its path inside ``data`` (from cattrs
    ``transform_error``), e.g. ``"invalid value for type, expected str @ $.run_slug"``.
    """

    outcome: Outcome = "accepted"

    def __init__(self, message: str, *, errors: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.errors = errors or []


class RunStartUnknownError(CoreClawError):
    """A run-starting call was sent but no verdict came back, so a run may or may not
    have been created (and billed). It is never re-sent automatically: reconcile with
    ``runs.list`` before starting it again. ``request`` is what was sent; ``__cause__``
    is the underlying error."""

    outcome: Outcome = "unknown"

    def __init__(self, message: str, *, request: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.request = request

    @classmethod
    def build(
        cls,
        *,
        method: str,
        path: str,
        request: Any,
        attempts: int,
        cause: BaseException | None = None,
        reason: str | None = None,
        reconcile_with: str = "runs.list",
    ) -> RunStartUnknownError:
        """The one way to make this error, for a start sent as ``method path`` with ``request``.

        ``cause`` is the failure that left the outcome open (kept as ``__cause__``);
        ``reason`` says what happened when there is no such failure (e.g. a batch closed
        while the start was in flight); ``reconcile_with`` names where to check.
        """
        if reason is None:
            reason = (
                f"no verdict came back ({type(cause).__name__}: {getattr(cause, 'message', cause)})"
                if cause is not None
                else "no verdict came back"
            )
        error = cls(
            f"The run start was sent but {reason}, so a run may have been created; it was not "
            f"re-sent. Check {reconcile_with} before starting it again.",
            request=request,
            method=method,
            path=path,
            attempts=attempts,
        )
        error.__cause__ = cause
        return error


class WaitTimeoutError(CoreClawError):
    """Waiting for a run to finish passed its own deadline; ``last_run`` is the last state seen."""

    def __init__(self, message: str, *, last_run: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.last_run = last_run


class InvalidCallbackError(CoreClawError, ValueError):
    """A run callback body could not be read: not a JSON object, or no usable ``run_status``.

    Raised by ``RunCallback.parse``; the callback receiver answers such notices with HTTP 400.
    """

    outcome: Outcome = "not_sent"

    def __init__(self, message: str) -> None:
        super().__init__(message, attempts=0)


class ReceiverAddressError(CoreClawError, OSError):
    """``CallbackReceiver.start`` could not listen on the address (in use, not local, not
    resolvable). Also an ``OSError``; ``__cause__`` is the socket's own error."""

    outcome: Outcome = "not_sent"

    def __init__(self, message: str) -> None:
        super().__init__(message, attempts=0)


class ReceiverClosedError(CoreClawError):
    """The ``CallbackReceiver`` was closed: it takes no new launches and its waits end."""

    outcome: Outcome = "not_sent"

    def __init__(self, message: str = "The callback receiver is closed") -> None:
        super().__init__(message, attempts=0)


# Every documented v1 code and the codes CoreClaw documents for v2. Codes not listed
# here raise CoreClawAPIError itself, with the code kept.
_CODE_TABLE: dict[int, type[CoreClawAPIError]] = {
    4000: InvalidRequestError,
    11000: InvalidRequestError,
    4010: AuthenticationError,
    20001: AuthenticationError,
    20002: AuthenticationError,
    12001: AuthenticationError,
    12002: AuthenticationError,
    10001: AccountUnavailableError,
    10002: AccountUnavailableError,
    4040: NotFoundError,
    11004: NotFoundError,
    60001: TaskNotFoundError,
    50001: WorkerNotFoundError,
    70001: RunNotFoundError,
    4290: RateLimitError,
    13000: RateLimitError,
    30001: InsufficientBalanceError,
    30002: InsufficientTrafficError,
    30003: ConcurrencyLimitError,
    5000: ServerError,
    10000: ServerError,
    14000: ServerError,
    16000: UnsupportedOperationError,
    50002: WorkerRunFailedError,
    50003: WorkerVersionUnavailableError,
    70002: RunAbortFailedError,
}

# Codes after which the server may have acted anyway: an internal error can strike after
# the run was created, so for a run start the outcome is unknown, not rejected.
UNKNOWN_OUTCOME_CODES = frozenset({5000, 10000, 14000})


def error_class_for_code(code: int) -> type[CoreClawAPIError]:
    """Return the exception class for an envelope ``code`` (``CoreClawAPIError`` if unknown)."""
    return _CODE_TABLE.get(code, CoreClawAPIError)
