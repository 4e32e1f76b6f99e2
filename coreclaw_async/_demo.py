"""``coreclaw-async demo``: the main job on an embedded FakeCoreClaw, from start to finish.

Starts the fake in-process on 127.0.0.1 and a :class:`~coreclaw_async.callbacks.CallbackReceiver`
beside it, launches task runs concurrently through the public API only (each with its own
minted callback URL), then waits for every started run to finish with ``runs.wait_many``
(woken by callbacks, confirmed with ``runs.get``, polling where a callback was lost), and
prints what happened: the launch (started, errors by class, runs/s, latency percentiles,
TCP connections) and the finish (final states, launch-to-final latency, callbacks received
and lost, polls needed).

The wait starts when the launch is over (``wait_many`` takes its slugs up front). Nothing
is missed meanwhile: the receiver keeps the notices of runs that end during the launch, and
``wait_many`` reads every run at once when it starts.
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
from ._constants import CLI_DEMO_LATENCY, CLI_DEMO_MAX_CONNECTIONS, CLI_DEMO_RUNS, DEFAULT_API_VERSION
from .callbacks import CallbackReceiver
from .errors import WaitTimeoutError
from .models.runs import Run, RunStatus
from .testing import FakeCoreClaw, Fault

__all__ = ["run_demo"]

# Runs are ready for 0.5 s, then run for 1.5 s: quick for a demo, longer than the launch of
# 1,000 runs (so they are still in flight when the wait starts and their ends are told by
# callbacks), and ending after the wait's second read (so a lost notice shows as latency).
_RUN_SCHEDULE = (0.5, 1.5)
# Every 20th run ends failed (5%), so the summary shows both final states.
_FAIL_EVERY = 20
# Some notices lost, some sent twice, none on time to the millisecond, as the platform may;
# the wait must not care.
_CALLBACKS = {
    "callback_drop": 0.05,
    "callback_duplicate": 0.05,
    "callback_delay": (0.0, 0.02),
}
_CHAOS_CALLBACKS = {
    "callback_drop": 0.2,
    "callback_duplicate": 0.15,
    "callback_delay": (0.0, 0.05),
    "callback_reorder": 0.3,
    "callback_legacy_shape": 0.1,
}
# A lost final notice is made up for by the next poll: keep the polls close for a demo.
_POLL_INTERVAL = 2.0
# Bounds the wait; with the schedule above every run ends about two seconds after its start.
_WAIT_TIMEOUT = 60.0
# Late (delayed or duplicated) notices still on their way once every run is final.
_DRAIN_TIMEOUT = 5.0


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def _ms(sorted_values: list[float], fraction: float) -> float:
    return round(_percentile(sorted_values, fraction) * 1000, 2)


class _Progress:
    """A one-line live counter on a terminal; silent otherwise."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self.started = 0
        self.errors = 0
        self.finished = 0
        self._start = time.perf_counter()

    def render(self, final: bool = False) -> None:
        if not self.enabled:
            return
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        width = 30
        filled = int(width * self.finished / self.total) if self.total else width
        line = (
            f"\r[{'#' * filled}{'.' * (width - filled)}] started {self.started}/{self.total} "
            f"({self.errors} errors), finished {self.finished}, {elapsed:.1f} s"
        )
        sys.stderr.write(line + ("\n" if final else ""))
        sys.stderr.flush()

    async def refresh_forever(self) -> None:
        while True:
            self.render()
            await asyncio.sleep(0.1)


class _Finishing:
    """What the wait saw: final runs by status, launch-to-final latencies, runs never seen final."""

    def __init__(self, receiver: CallbackReceiver, started_at: dict[str, float], progress: _Progress) -> None:
        self._receiver = receiver
        self._started_at = started_at
        self._progress = progress
        self.by_status: Counter[str] = Counter()
        self.latency: dict[str, float] = {}
        # Runs a poll saw final before their final notice came (lost, or still on its way).
        self.before_notice: set[str] = set()
        self.polls = 0
        self.unfinished = 0
        self.last_at = 0.0

    def record(self, run: Run) -> None:
        now = self.last_at = time.perf_counter()
        self.by_status[run.status.name.lower()] += 1
        self.latency[run.run_slug] = now - self._started_at[run.run_slug]
        if self._receiver.final_notice(run.run_slug) is None:
            self.before_notice.add(run.run_slug)
        self._progress.finished += 1

    async def wait(self, client: AsyncCoreClaw, slugs: list[str], *, pollers: int) -> None:
        """Wait for ``slugs`` to be final, woken by the receiver; tally what happens."""
        async with client.runs.wait_many(
            slugs,
            receiver=self._receiver,
            timeout=_WAIT_TIMEOUT,
            poll_interval=_POLL_INTERVAL,
            concurrency=pollers,
        ) as finished:
            try:
                async for run in finished:
                    self.record(run)
            except WaitTimeoutError:
                pass  # what is left is counted below
            finally:
                self.polls = finished.polls
                self.unfinished = len(finished.pending) + len(finished.errors)


async def run_demo(
    *,
    runs: int = CLI_DEMO_RUNS,
    max_connections: int = CLI_DEMO_MAX_CONNECTIONS,
    latency: float = CLI_DEMO_LATENCY,
    chaos: bool = False,
    as_json: bool = False,
    api_version: str = DEFAULT_API_VERSION,
) -> int:
    """Run the demo and print its summary, speaking ``api_version`` (the fake serves only that one).

    Returns the process exit code: 0 when every run is accounted for (started or failed
    with an error) and every started run was seen final.
    """
    if runs < 1:
        raise ValueError("runs must be at least 1")
    knobs: dict[str, Any] = _CHAOS_CALLBACKS if chaos else _CALLBACKS
    async with FakeCoreClaw(
        latency=latency,
        tasks=5,
        seed=7,
        run_schedule=_RUN_SCHEDULE,
        fail_every=_FAIL_EVERY,
        api_versions=(api_version,),
        **knobs,
    ) as fake:
        if chaos:
            fake.inject(Fault.RATE_LIMIT, times=None, probability=0.03, retry_after=0.05)
            fake.inject(Fault.HTTP_502_HTML, times=None, probability=0.01)
            fake.inject(Fault.DROP_AFTER_CREATE, times=None, probability=0.005)
        slugs = fake.task_slugs
        progress = _Progress(runs, enabled=sys.stderr.isatty() and not as_json)
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        started: list[str] = []
        started_at: dict[str, float] = {}

        async with CallbackReceiver().serve() as receiver:
            finishing = _Finishing(receiver, started_at, progress)
            async with AsyncCoreClaw(
                fake.api_key, base_url=fake.url, max_connections=max_connections, api_version=api_version
            ) as client:
                taken_at: list[float] = []

                async def items() -> AsyncIterator[str]:
                    # run_many pulls the next item when a launcher task is free: its start begins then.
                    for i in range(runs):
                        taken_at.append(time.perf_counter())
                        yield slugs[i % len(slugs)]

                ticker = asyncio.ensure_future(progress.refresh_forever())
                t_start = time.perf_counter()
                try:
                    async with client.tasks.run_many(
                        items(), callback=receiver, concurrency=max_connections
                    ) as batch:
                        async for outcome in batch:
                            if outcome.run is not None:
                                slug = outcome.run.run_slug
                                started.append(slug)
                                started_at[slug] = taken_at[outcome.index]
                                latencies.append(time.perf_counter() - taken_at[outcome.index])
                                progress.started += 1
                            else:
                                errors[type(outcome.error).__name__] += 1
                                progress.errors += 1
                    elapsed = time.perf_counter() - t_start
                    # One poller per pooled connection: confirmations keep up with the notices.
                    await finishing.wait(client, started, pollers=max_connections)
                finally:
                    ticker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await ticker
                progress.render(final=True)
                stats = client.stats
            # Let late (delayed, duplicated) notices land so the callback counters add up.
            with contextlib.suppress(TimeoutError):
                await fake.drain_callbacks(timeout=_DRAIN_TIMEOUT)
            received = receiver.stats
            # Asked once every notice has landed: a final notice still missing now was lost.
            lost = {slug for slug in finishing.before_notice if receiver.final_notice(slug) is None}
        delivery = fake.callback_stats
        ledger = Counter(RunStatus.from_code(run.status).name.lower() for run in fake.runs)

        latencies.sort()
        every = sorted(finishing.latency.values())
        woken = sorted(t for slug, t in finishing.latency.items() if slug not in finishing.before_notice)
        polled = sorted(finishing.latency[slug] for slug in lost)
        finished = sum(finishing.by_status.values())
        summary: dict[str, Any] = {
            "api_version": api_version,
            "runs_requested": runs,
            "started": len(started),
            "errors": dict(errors),
            "runs_created_on_server": len(fake.runs),
            "elapsed_s": round(elapsed, 3),
            "runs_per_s": round(len(started) / elapsed, 1) if elapsed else 0.0,
            "latency_p50_ms": _ms(latencies, 0.50),
            "latency_p99_ms": _ms(latencies, 0.99),
            "connections_used": fake.connections_seen,
            "max_connections": max_connections,
            "retries": dict(stats.retries),
            "unknown_outcomes": stats.unknown_outcomes,
            "finished": finished,
            "finished_by_status": dict(finishing.by_status),
            "not_finished": finishing.unfinished,
            "ledger_by_status": dict(ledger),
            "finish_elapsed_s": round(max(finishing.last_at - t_start, 0.0), 3),
            "finish_latency_p50_ms": _ms(every, 0.50),
            "finish_latency_p99_ms": _ms(every, 0.99),
            "finished_woken_by_callback": len(woken),
            "finish_latency_woken_p50_ms": _ms(woken, 0.50),
            "finished_before_late_callback": len(finishing.before_notice) - len(lost),
            "finished_with_callback_lost": len(lost),
            "finish_latency_lost_p50_ms": _ms(polled, 0.50),
            "polls": finishing.polls,
            "callbacks_received": received.received,
            "callbacks_accepted": received.accepted,
            "callbacks_duplicates": received.duplicates,
            "callbacks_refused": received.received - received.accepted - received.duplicates,
            "callback_notices": delivery.notices,
            "callbacks_dropped_by_server": delivery.dropped,
            "callbacks_duplicated_by_server": delivery.duplicated,
            "callbacks_sent": delivery.sent,
        }
    if as_json:
        print(json.dumps(summary))
    else:
        _print_summary(summary)
    accounted = len(started) + sum(errors.values()) == runs
    return 0 if accounted and finished == len(started) else 1


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "none"


def _print_summary(s: dict[str, Any]) -> None:
    print(
        f"coreclaw-async demo: task runs against an embedded FakeCoreClaw (127.0.0.1), API {s['api_version']}"
    )
    print(f"  started           {s['started']:>8} of {s['runs_requested']}")
    print(f"  created on server {s['runs_created_on_server']:>8}")
    print(f"  errors by class   {_counts(s['errors']):>8}")
    print(f"  throughput        {s['runs_per_s']:>8,.1f} runs/s ({s['elapsed_s']} s)")
    print(f"  latency p50       {s['latency_p50_ms']:>8.2f} ms")
    print(f"  latency p99       {s['latency_p99_ms']:>8.2f} ms")
    print(f"  connections used  {s['connections_used']:>8} (pool size {s['max_connections']})")
    print(f"  retries           {_counts(s['retries']):>8}")
    print(f"  unknown outcomes  {s['unknown_outcomes']:>8} (never re-sent)")
    print()
    print(
        "runs finishing: notices to a CallbackReceiver on 127.0.0.1, each final state confirmed by runs.get"
    )
    finished, started = s["finished"], s["started"]
    print(f"  finished          {finished:>8} of {started} started: {_counts(s['finished_by_status'])}")
    print(f"  server ledger     {_counts(s['ledger_by_status']):>8}")
    print(f"  not finished      {s['not_finished']:>8}")
    print(f"  launch->final p50 {s['finish_latency_p50_ms']:>8.2f} ms")
    p99, total = s["finish_latency_p99_ms"], s["finish_elapsed_s"]
    print(f"  launch->final p99 {p99:>8.2f} ms (all final after {total} s)")
    print(
        f"  callbacks         {s['callbacks_received']:>8} received: {s['callbacks_accepted']} accepted, "
        f"{s['callbacks_duplicates']} duplicates dropped, {s['callbacks_refused']} refused"
    )
    print(
        f"  lost on the way   {s['callbacks_dropped_by_server']:>8} of {s['callback_notices']} notices "
        f"dropped by the server, {s['callbacks_duplicated_by_server']} sent twice"
    )
    woken, woken_p50 = s["finished_woken_by_callback"], s["finish_latency_woken_p50_ms"]
    print(f"  woken by callback {woken:>8} runs, p50 {woken_p50:.2f} ms")
    print(f"  poll came first   {s['finished_before_late_callback']:>8} runs (their final notice came later)")
    lost, lost_p50 = s["finished_with_callback_lost"], s["finish_latency_lost_p50_ms"]
    print(
        f"  callback lost     {lost:>8} runs, found by polling, p50 {lost_p50:.2f} ms "
        "(a lost callback costs latency, never the result)"
    )
    per_run = s["polls"] / finished if finished else 0.0
    print(f"  runs.get polls    {s['polls']:>8} ({per_run:.2f} per finished run)")
