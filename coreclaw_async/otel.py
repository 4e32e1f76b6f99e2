"""OpenTelemetry tracing and metrics for coreclaw-async (the ``otel`` extra).

With OpenTelemetry installed (``pip install 'coreclaw-async[otel]'``) every client records a
span per API call and a few metrics through the global providers, with no code of yours;
``AsyncCoreClaw(telemetry=False)`` turns that off, and ``AsyncCoreClaw(telemetry=Telemetry(...))``
sends them to providers of your choice. Importing this module without OpenTelemetry raises
``ImportError`` naming the extra; ``import coreclaw_async`` alone never imports OpenTelemetry.
"""

from __future__ import annotations

try:
    from ._otel import Telemetry
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without the extra
    raise ImportError(
        "coreclaw_async.otel needs OpenTelemetry: install the extra: pip install 'coreclaw-async[otel]'"
    ) from exc

__all__ = ["Telemetry"]
