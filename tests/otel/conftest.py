"""Fixtures of the OpenTelemetry tests: SDK providers of the test's own, read in memory.

The providers are passed to the client through ``Telemetry``, never set globally: the global
providers can be set once per process, and each test wants a clean record.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import attrs
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from coreclaw_async import AsyncCoreClaw, RetryPolicy
from coreclaw_async.otel import Telemetry
from coreclaw_async.testing import FakeCoreClaw

from ..conftest import CALLBACK_URL

# Millisecond backoffs: retries cost no wall time.
FAST = RetryPolicy(max_retries=2, backoff_base=0.001, backoff_max=0.01, rate_limit_base=0.002)


@attrs.define
class Recorded:
    """What the test's providers recorded: finished spans and collected metric points."""

    telemetry: Telemetry
    tracer_provider: TracerProvider
    spans_exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """Finished spans, oldest first (only those called ``name`` if given)."""
        spans = self.spans_exporter.get_finished_spans()
        return [span for span in spans if name is None or span.name == name]

    def points(self, metric: str) -> list[tuple[Mapping[str, Any], Any]]:
        """``(attributes, data point)`` of every point of ``metric`` collected now."""
        data = self.reader.get_metrics_data()
        found: list[tuple[Mapping[str, Any], Any]] = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    if item.name == metric:
                        found.extend((dict(point.attributes or {}), point) for point in item.data.data_points)
        return found

    def total(self, metric: str, **attributes: Any) -> float:
        """The sum (counters) or count (histograms) of the points of ``metric`` matching ``attributes``."""
        total = 0.0
        for attrs_, point in self.points(metric):
            if all(attrs_.get(key) == value for key, value in attributes.items()):
                total += point.count if hasattr(point, "count") else point.value
        return total


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    """Providers of this test's own, with an in-memory span exporter and metric reader."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry = Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield Recorded(telemetry, tracer_provider, exporter, reader)
    tracer_provider.shutdown()
    meter_provider.shutdown()


@pytest.fixture
async def fake_v1() -> AsyncIterator[FakeCoreClaw]:
    """A FakeCoreClaw serving API v1."""
    async with FakeCoreClaw(seed=1234, api_versions=("v1",)) as server:
        yield server


@pytest.fixture
async def traced(fake_v1: FakeCoreClaw, recorded: Recorded) -> AsyncIterator[AsyncCoreClaw]:
    """A v1 client of ``fake_v1`` whose telemetry goes to ``recorded``."""
    async with AsyncCoreClaw(
        fake_v1.api_key,
        base_url=fake_v1.url,
        callback_url=CALLBACK_URL,
        retry=FAST,
        telemetry=recorded.telemetry,
    ) as client:
        yield client
