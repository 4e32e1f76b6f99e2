"""The seam between the request pipeline and tracing/metrics, with no OpenTelemetry import.

The pipeline holds one :class:`Observer` per client, or ``None`` when telemetry is off; every
hook sits behind a single ``is not None`` test, so a client without telemetry pays one ``if``
per call. :func:`observer_for` turns ``AsyncCoreClaw(telemetry=...)`` into an observer; only
there, and only when OpenTelemetry is installed and telemetry is wanted, is
``coreclaw_async._otel`` (which imports ``opentelemetry``) imported.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from .errors import CoreClawError, InvalidParameterError

if TYPE_CHECKING:
    from ._operation import Operation

__all__ = ["Gate", "Observer", "observer_for"]

T = TypeVar("T")

Gate = Literal["limiter", "budget", "capacity"]
"""Where a request waited before it was sent: the client's own gate (free connection slot,
``max_rate`` pacing, rate-limit cooldown), the shared budget, or the plan-capacity gate."""


class Observer(Protocol):
    """What the pipeline tells telemetry, for one client."""

    def traced(
        self,
        op: Operation[T],
        path: str,
        request: Any,
        call: Callable[[], Coroutine[Any, Any, T]],
        sending: list[bool],
    ) -> Coroutine[Any, Any, T]:
        """A coroutine that runs ``call()`` (every attempt of one API call), observed as one call.

        ``sending[0]`` tells whether an attempt is out when the call is cancelled (its outcome
        is unknown then; not sent otherwise).
        """

    def retried(self, name: str, reason: str, error: CoreClawError, attempt: int, delay: float) -> None:
        """Attempt ``attempt`` of ``name`` failed with ``error`` and is retried in ``delay`` s."""

    def capacity_refused(self, name: str, error: CoreClawError, attempt: int) -> None:
        """Attempt ``attempt`` of a start was refused for plan capacity and waits to be sent again."""

    def waited(self, gate: Gate, seconds: float) -> None:
        """A request waited ``seconds`` at ``gate`` (however the wait ended)."""


_EXTRA_HINT = "install the extra: pip install 'coreclaw-async[otel]'"


def _installed(name: str) -> bool:
    """Whether ``name`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # an import hook refusing it; a module without a spec
        return False


def observer_for(telemetry: object, *, api_version: str, base_url: str) -> Observer | None:
    """The observer for ``AsyncCoreClaw(telemetry=telemetry)``, or ``None`` for no telemetry.

    ``None`` means on when OpenTelemetry is installed (the global providers); ``True`` on,
    raising ``ImportError`` naming the extra when it is not installed; ``False`` off; a
    ``coreclaw_async.otel.Telemetry`` uses its providers. Anything else raises
    ``InvalidParameterError``.
    """
    if telemetry is False:
        return None
    if telemetry is None:
        # The API's trace module, not the bare namespace: another OpenTelemetry distribution
        # (e.g. opentelemetry-proto alone) installs the namespace without the API.
        if not _installed("opentelemetry.trace"):
            return None
        telemetry = True
    if telemetry is True:
        try:
            from ._otel import default_telemetry
        except ImportError as exc:
            raise ImportError(f"AsyncCoreClaw(telemetry=True) needs OpenTelemetry: {_EXTRA_HINT}") from exc
        return default_telemetry().observer(api_version=api_version, base_url=base_url)
    # A Telemetry object exists only if its module was imported: no need to import it here.
    module = sys.modules.get("coreclaw_async._otel")
    if module is not None and isinstance(telemetry, module.Telemetry):
        observer: Observer = telemetry.observer(api_version=api_version, base_url=base_url)
        return observer
    raise InvalidParameterError(
        "telemetry",
        f"must be None, True, False or a coreclaw_async.otel.Telemetry, got {type(telemetry).__name__}",
    )
