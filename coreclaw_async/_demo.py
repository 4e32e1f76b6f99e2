"""``coreclaw-async demo``: the main job on an embedded FakeCoreClaw.

Starts the fake in-process on 127.0.0.1, launches task runs concurrently through the
public API only, and prints what happened: started, errors by class, runs/s, latency
percentiles and how many TCP connections the server saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from ._client import AsyncCoreClaw
from .testing import FakeCoreClaw, Fault

__all__ = ["run_demo"]

_CALLBACK_URL = "https://hooks.example.com/coreclaw/demo"


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


class _Progress:
    """A one-line live counter on a terminal; silent otherwise."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self.done = 0
        self.failed = 0
        self._start = time.perf_counter()

    def render(self, final: bool = False) -> None:
        if not self.enabled:
            return
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        width = 30
        filled = int(width * self.done / self.total) if self.total else width
        line = (
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
            f"({self.failed} failed) {self.done / elapsed:,.0f} runs/s"
        )
        sys.stderr.write(line + ("\n" if final else ""))
        sys.stderr.flush()

    async def refresh_forever(self) -> None:
        while True:
            self.render()
            await asyncio.sleep(0.1)


async def run_demo(
    *,
    runs: int = 1000,
    max_connections: int = 50,
    latency: float = 0.005,
    chaos: bool = False,
    as_json: bool = False,
) -> int:
    """Run the demo and print its summary; returns the process exit code."""
    if runs < 1:
        raise ValueError("runs must be at least 1")
    async with FakeCoreClaw(latency=latency, tasks=5, seed=7) as fake:
        if chaos:
            fake.inject(Fault.RATE_LIMIT, times=None, probability=0.03, retry_after=0.05)
            fake.inject(Fault.HTTP_502_HTML, times=None, probability=0.01)
            fake.inject(Fault.DROP_AFTER_CREATE, times=None, probability=0.005)
        slugs = fake.task_slugs
        progress = _Progress(runs, enabled=sys.stderr.isatty() and not as_json)
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        started: list[str] = []

        async with AsyncCoreClaw(
            fake.api_key,
            base_url=fake.url,
            callback_url=_CALLBACK_URL,
            max_connections=max_connections,
        ) as client:
            taken_at: list[float] = []

            async def items() -> AsyncIterator[str]:
                # run_many pulls the next item when a worker is free: that is when its start begins.
                for i in range(runs):
                    taken_at.append(time.perf_counter())
                    yield slugs[i % len(slugs)]

            ticker = asyncio.ensure_future(progress.refresh_forever())
            t_start = time.perf_counter()
            try:
                async with client.tasks.run_many(items(), concurrency=max_connections) as batch:
                    async for outcome in batch:
                        if outcome.run is not None:
                            started.append(outcome.run.run_slug)
                            latencies.append(time.perf_counter() - taken_at[outcome.index])
                        else:
                            errors[type(outcome.error).__name__] += 1
                            progress.failed += 1
                        progress.done += 1
            finally:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            elapsed = time.perf_counter() - t_start
            progress.render(final=True)
            stats = client.stats

        latencies.sort()
        summary: dict[str, Any] = {
            "runs_requested": runs,
            "started": len(started),
            "errors": dict(errors),
            "runs_created_on_server": len(fake.runs),
            "elapsed_s": round(elapsed, 3),
            "runs_per_s": round(len(started) / elapsed, 1) if elapsed else 0.0,
            "latency_p50_ms": round(_percentile(latencies, 0.50) * 1000, 2),
            "latency_p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
            "connections_used": fake.connections_seen,
            "max_connections": max_connections,
            "retries": dict(stats.retries),
            "unknown_outcomes": stats.unknown_outcomes,
        }
    if as_json:
        print(json.dumps(summary))
    else:
        _print_summary(summary)
    return 0 if len(started) + sum(errors.values()) == runs else 1


def _print_summary(s: dict[str, Any]) -> None:
    print("coreclaw-async demo: task runs against an embedded FakeCoreClaw (127.0.0.1)")
    print(f"  started           {s['started']:>8} of {s['runs_requested']}")
    print(f"  created on server {s['runs_created_on_server']:>8}")
    errors = ", ".join(f"{k}={v}" for k, v in sorted(s["errors"].items())) or "none"
    print(f"  errors by class   {errors}")
    print(f"  throughput        {s['runs_per_s']:>8,.1f} runs/s ({s['elapsed_s']} s)")
    print(f"  latency p50       {s['latency_p50_ms']:>8.2f} ms")
    print(f"  latency p99       {s['latency_p99_ms']:>8.2f} ms")
    print(f"  connections used  {s['connections_used']:>8} (pool size {s['max_connections']})")
    retries = ", ".join(f"{k}={v}" for k, v in sorted(s["retries"].items())) or "none"
    print(f"  retries           {retries}")
    print(f"  unknown outcomes  {s['unknown_outcomes']:>8} (never re-sent)")
