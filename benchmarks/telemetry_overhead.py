"""Per-call cost of the OpenTelemetry instrumentation, in microseconds.

Usage::

    python benchmarks/telemetry_overhead.py            # ~15 s
    python benchmarks/telemetry_overhead.py --quick    # ~3 s

No I/O: each variant awaits a stand-in for one API call (a coroutine that returns a
``StartedRun``) N times in one event loop, in interleaved rounds (A B C D A B C D ...), and
the median per call is reported with the difference from "off". The variants:

* off: the coroutine awaited as it is, which is what a client does with ``telemetry=False``
  or without OpenTelemetry installed (its pipeline adds one ``is not None`` test and one method
  call per call, about 0.04 µs, not measured here);
* on, no SDK: the wrapper of ``telemetry=None`` with OpenTelemetry installed and no provider
  set, the API's no-op tracer and meter (nothing is recorded);
* on, SDK, not sampled: an SDK TracerProvider whose sampler drops every span (metrics are
  still recorded into an SDK MeterProvider);
* on, SDK: spans recorded and handed to a batch span processor whose exporter drops them,
  metrics recorded into an SDK MeterProvider read in memory.

Needs the ``dev`` extra (``opentelemetry-sdk``). Nothing asserts on timings.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from coreclaw_async._otel import Telemetry, default_telemetry
from coreclaw_async._v1 import V1
from coreclaw_async.models import StartedRun, TaskRunRequest

TASK_SLUG = "01KSFDXRNYGKT3NNE11EMR4W5X"
RUN = StartedRun(run_slug="01KSFDS8XWTJME33C000000042")
REQUEST = TaskRunRequest(task_slug=TASK_SLUG, callback_url="https://hooks.example.com/coreclaw")
OP = V1.ops.task_run
PATH = OP.path


class _DropExporter(SpanExporter):
    """Accepts every batch and keeps nothing: the cost of export itself is not ours."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


async def _answer() -> StartedRun:
    return RUN


Call = Callable[[], Coroutine[Any, Any, StartedRun]]


def variants() -> tuple[list[tuple[str, Call]], Callable[[], None]]:
    """``(name, make one call)`` per variant, and a function that shuts the SDK providers down."""
    noop = default_telemetry().observer(api_version="v1", base_url="http://127.0.0.1:1")
    unsampled_traces = TracerProvider(sampler=ALWAYS_OFF)
    traces = TracerProvider()
    traces.add_span_processor(BatchSpanProcessor(_DropExporter(), max_queue_size=65536))
    meters = [MeterProvider(metric_readers=[InMemoryMetricReader()]) for _ in range(2)]
    unsampled = Telemetry(tracer_provider=unsampled_traces, meter_provider=meters[0]).observer(
        api_version="v1", base_url="http://127.0.0.1:1"
    )
    sdk = Telemetry(tracer_provider=traces, meter_provider=meters[1]).observer(
        api_version="v1", base_url="http://127.0.0.1:1"
    )

    def shutdown() -> None:
        for provider in (unsampled_traces, traces, *meters):
            provider.shutdown()

    return [
        ("off (telemetry=False / no OpenTelemetry)", _answer),
        ("on, no SDK (the API's no-op providers)", lambda: noop.traced(OP, PATH, REQUEST, _answer)),
        ("on, SDK, span not sampled", lambda: unsampled.traced(OP, PATH, REQUEST, _answer)),
        ("on, SDK (span + metrics)", lambda: sdk.traced(OP, PATH, REQUEST, _answer)),
    ], shutdown


async def _time(make: Call, number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        await make()
    return (time.perf_counter() - start) / number * 1e6


async def measure(*, rounds: int, number: int) -> list[tuple[str, float, list[float]]]:
    """``(name, median µs per call, every round)`` per variant."""
    timed, shutdown = variants()
    try:
        for _, make in timed:
            await _time(make, max(number // 10, 1))  # warm up
        per_call: list[list[float]] = [[] for _ in timed]
        for _ in range(rounds):
            for index, (_, make) in enumerate(timed):
                per_call[index].append(await _time(make, number))
    finally:
        shutdown()
    names = [name for name, _ in timed]
    return [(name, statistics.median(values), values) for name, values in zip(names, per_call, strict=True)]


def render(rows: list[tuple[str, float, list[float]]]) -> str:
    """A Markdown table: µs per call, and the cost added to "off"."""
    base = rows[0][1]
    lines = ["| variant | µs per call | added µs |", "| --- | ---: | ---: |"]
    for name, value, _ in rows:
        lines.append(f"| {name} | {value:.2f} | {value - base:+.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and calls (~3 s)")
    args = parser.parse_args(argv)
    rounds, number = (3, 5_000) if args.quick else (7, 20_000)
    rows = asyncio.run(measure(rounds=rounds, number=number))
    print(f"{rounds} interleaved rounds of {number:,} calls per variant; median per call")
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
