"""OpenTelemetry spans and metrics for API calls; imported only when OpenTelemetry is installed.

One span per API call (all its attempts, waits and backoffs), named after the operation
(``task.run``, ``run.get``...), kind CLIENT, made current while the call runs so that HTTP
instrumentation of aiohttp nests under it. Failed attempts that are tried again become span
events. The meter gets the call durations, starts by outcome, errors by class, retries by
reason and the waits before sending. Nothing here ever records the API key or a query string:
the path recorded is the one the operation rendered (query parameters travel apart from it),
and error messages are scrubbed of the key where they are built.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from yarl import URL

from ._operation import Kind
from ._version import __version__
from .errors import CoreClawError, InvalidParameterError

if TYPE_CHECKING:
    from ._operation import Operation
    from ._telemetry import Gate

__all__ = ["Telemetry", "default_telemetry"]

T = TypeVar("T")

SCOPE = "coreclaw_async"

# Our own attributes; the others are OpenTelemetry's semantic conventions.
API_VERSION = "coreclaw.api_version"
OPERATION = "coreclaw.operation"
ATTEMPTS = "coreclaw.attempts"
OUTCOME = "coreclaw.outcome"
CODE = "coreclaw.code"
REQUEST_ID = "coreclaw.request_id"
RUN_SLUG = "coreclaw.run_slug"
ATTEMPT = "coreclaw.attempt"
RETRY_REASON = "coreclaw.retry.reason"
RETRY_DELAY = "coreclaw.retry.delay"
GATE = "coreclaw.gate"
ERROR_TYPE = "error.type"
HTTP_METHOD = "http.request.method"
HTTP_STATUS = "http.response.status_code"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
URL_PATH = "url.path"

SUCCEEDED = "succeeded"


class _Call:
    """The span of the call in progress, and how many attempts it has made so far."""

    __slots__ = ("attempts", "span")

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        self.attempts = 1


# The recording span of the API call running in this task, for the retry hooks. Our own
# variable rather than the current OpenTelemetry span: when our span is not recorded, the
# current one may be a caller's, which must not receive our events.
_CURRENT: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("coreclaw_async_call", default=None)


class Telemetry:
    """Where a client sends its spans and metrics: ``AsyncCoreClaw(telemetry=Telemetry(...))``.

    Without arguments it uses the global providers (``opentelemetry.trace.set_tracer_provider``
    and ``opentelemetry.metrics.set_meter_provider``), as a client does by default when
    OpenTelemetry is installed. Pass providers to keep this library's telemetry apart, or in
    tests. One ``Telemetry`` may serve many clients: the instruments are created once.

    Args:
        tracer_provider: an ``opentelemetry.trace.TracerProvider``; ``None`` for the global one.
        meter_provider: an ``opentelemetry.metrics.MeterProvider``; ``None`` for the global one.

    Raises:
        InvalidParameterError: a provider is not of the OpenTelemetry type.

    Example::

        from opentelemetry.sdk.trace import TracerProvider

        telemetry = Telemetry(tracer_provider=TracerProvider())
        async with AsyncCoreClaw(telemetry=telemetry) as client:
            ...
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        if tracer_provider is not None and not isinstance(tracer_provider, trace.TracerProvider):
            raise InvalidParameterError(
                "tracer_provider",
                f"must be an opentelemetry.trace.TracerProvider, got {type(tracer_provider).__name__}",
            )
        if meter_provider is not None and not isinstance(meter_provider, metrics.MeterProvider):
            raise InvalidParameterError(
                "meter_provider",
                f"must be an opentelemetry.metrics.MeterProvider, got {type(meter_provider).__name__}",
            )
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider=meter_provider)
        self.duration = meter.create_histogram(
            "coreclaw.client.duration", unit="s", description="Duration of API calls, every attempt included"
        )
        self.starts = meter.create_counter(
            "coreclaw.client.starts", unit="{start}", description="Run starts, by outcome"
        )
        self.errors = meter.create_counter(
            "coreclaw.client.errors", unit="{error}", description="API calls that failed, by error class"
        )
        self.retries = meter.create_counter(
            "coreclaw.client.retries", unit="{retry}", description="Attempts tried again, by reason"
        )
        self.limiter_wait = meter.create_histogram(
            "coreclaw.client.limiter.wait",
            unit="s",
            description="Time requests waited before being sent: client gate, shared budget, plan capacity",
        )

    def observer(self, *, api_version: str, base_url: str) -> _Observer:
        """The hooks one client calls (not public: ``AsyncCoreClaw`` asks for them)."""
        return _Observer(self, api_version=api_version, base_url=base_url)

    def __repr__(self) -> str:
        return f"<Telemetry tracer={self.tracer!r}>"


@functools.lru_cache(maxsize=1)
def default_telemetry() -> Telemetry:
    """The ``Telemetry`` on the global providers, shared by every client that uses them."""
    return Telemetry()


def _error_attributes(error: CoreClawError) -> dict[str, Any]:
    """What an error says of the answer: class, outcome, CoreClaw code, HTTP status, request id.

    A start whose outcome is unknown wraps the answer that made it so (its ``__cause__``, e.g.
    a ``ServerError`` 10000): what the wrapper does not carry is read from there.
    """
    attributes: dict[str, Any] = {ERROR_TYPE: type(error).__name__, OUTCOME: error.outcome}
    cause = error.__cause__
    for name, field in ((CODE, "code"), (HTTP_STATUS, "http_status"), (REQUEST_ID, "request_id")):
        value = getattr(error, field, None)
        if value is None and cause is not None:
            value = getattr(cause, field, None)
        if value is not None:
            attributes[name] = value
    return attributes


def _outcome(error: BaseException, sending: list[bool]) -> str:
    if isinstance(error, CoreClawError):
        return error.outcome
    if isinstance(error, asyncio.CancelledError):
        # Cancelled with an attempt out: it may have been acted on. Else nothing was sent.
        return "unknown" if sending[0] else "not_sent"
    return "unknown"


class _Observer:
    """The telemetry of one client: its fixed attributes and the hooks of the pipeline."""

    def __init__(self, telemetry: Telemetry, *, api_version: str, base_url: str) -> None:
        self._telemetry = telemetry
        self._api_version = api_version
        url = URL(base_url)
        self._span_base: dict[str, Any] = {API_VERSION: api_version}
        if url.host:
            self._span_base[SERVER_ADDRESS] = url.host
        if url.port is not None:
            self._span_base[SERVER_PORT] = url.port
        # Metric attribute sets are few (operations x outcomes x codes): build each once.
        self._metric_attrs: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._gate_attrs = {
            gate: {API_VERSION: api_version, GATE: gate} for gate in ("limiter", "budget", "capacity")
        }

    def _attrs(self, key: tuple[Any, ...], values: dict[str, Any]) -> dict[str, Any]:
        found = self._metric_attrs.get(key)
        if found is None:
            found = {API_VERSION: self._api_version}
            found.update((name, value) for name, value in values.items() if value is not None)
            self._metric_attrs[key] = found
        return found

    async def traced(
        self,
        op: Operation[T],
        path: str,
        request: Any,
        call: Callable[[], Coroutine[Any, Any, T]],
        sending: list[bool],
    ) -> T:
        """Run ``call()`` inside the span of ``op`` and record its metrics."""
        telemetry = self._telemetry
        attributes = {**self._span_base, OPERATION: op.name, HTTP_METHOD: op.method, URL_PATH: path}
        run_slug = getattr(request, "run_slug", None)
        if type(run_slug) is str:
            attributes[RUN_SLUG] = run_slug
        span = telemetry.tracer.start_span(
            op.name,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
        state: _Call | None = None
        if span.is_recording():
            state = _Call(span)
            context_token = otel_context.attach(trace.set_span_in_context(span))
            state_token = _CURRENT.set(state)
        start = time.perf_counter()
        try:
            result = await call()
        except BaseException as exc:
            elapsed = time.perf_counter() - start
            if state is not None:
                _CURRENT.reset(state_token)
                otel_context.detach(context_token)
                self._failed_span(span, exc, sending)
            span.end()
            self._record(op, _outcome(exc, sending), elapsed, exc)
            raise
        elapsed = time.perf_counter() - start
        if state is not None:
            _CURRENT.reset(state_token)
            otel_context.detach(context_token)
            finished: dict[str, Any] = {OUTCOME: SUCCEEDED, ATTEMPTS: state.attempts}
            for name, value in (
                (RUN_SLUG, getattr(result, "run_slug", None)),
                (REQUEST_ID, getattr(result, "request_id", None)),
            ):
                if type(value) is str:
                    finished[name] = value
            span.set_attributes(finished)
        span.end()
        self._record(op, SUCCEEDED, elapsed, None)
        return result

    def _failed_span(self, span: trace.Span, exc: BaseException, sending: list[bool]) -> None:
        if isinstance(exc, CoreClawError):
            attributes = _error_attributes(exc)
            attributes[ATTEMPTS] = exc.attempts
            span.set_attributes(attributes)
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
        else:
            # Cancelled (or a bug of ours): no answer to describe.
            outcome = _outcome(exc, sending)
            span.set_attributes({OUTCOME: outcome, ERROR_TYPE: type(exc).__name__})
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {outcome}"))

    def _record(self, op: Operation[Any], outcome: str, elapsed: float, exc: BaseException | None) -> None:
        telemetry = self._telemetry
        key = (op.name, outcome)
        attrs = self._metric_attrs.get(key) or self._attrs(key, {OPERATION: op.name, OUTCOME: outcome})
        telemetry.duration.record(elapsed, attrs)
        if op.kind is Kind.RUN_START:
            telemetry.starts.add(1, attrs)
        if exc is not None:
            error_type = type(exc).__name__
            code = getattr(exc, "code", None)
            error_key = (op.name, outcome, error_type, code)
            values = {OPERATION: op.name, OUTCOME: outcome, ERROR_TYPE: error_type, CODE: code}
            telemetry.errors.add(1, self._attrs(error_key, values))

    def retried(self, name: str, reason: str, error: CoreClawError, attempt: int, delay: float) -> None:
        """Count a retry; on the call's span, an event for the attempt that failed."""
        self._telemetry.retries.add(
            1, self._attrs(("retry", name, reason), {OPERATION: name, RETRY_REASON: reason})
        )
        state = _CURRENT.get()
        if state is not None:
            state.attempts = attempt + 1
            event = _error_attributes(error)
            event.update({ATTEMPT: attempt, RETRY_REASON: reason, RETRY_DELAY: delay})
            state.span.add_event("coreclaw.retry", event)

    def capacity_refused(self, name: str, error: CoreClawError, attempt: int) -> None:
        """On the call's span, an event for a start refused for plan capacity that waits to go again."""
        state = _CURRENT.get()
        if state is not None:
            state.attempts = attempt + 1
            event = _error_attributes(error)
            event[ATTEMPT] = attempt
            state.span.add_event("coreclaw.capacity_refused", event)

    def waited(self, gate: Gate, seconds: float) -> None:
        """Record a wait before sending."""
        self._telemetry.limiter_wait.record(seconds, self._gate_attrs[gate])
