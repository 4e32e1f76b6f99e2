"""One scale measurement in a fresh process: throughput and peak RSS growth of one contender.

Started by ``run_all.py`` (one child per repetition, so every run starts from a clean heap
and ``ru_maxrss`` belongs to it alone); prints a single JSON object on stdout.

RSS is sampled every ``SAMPLE_INTERVAL`` s from inside the event loop. The baseline is taken
after a warm-up that opens every pooled connection and a ``gc.collect()``, so the growth is
what the run itself adds, including what the contender keeps of it until the end (the floor
one run slug per start, ``run_all`` its list of outcomes); ``rss_before_client`` (after
imports, before any client exists) is reported as well. ``--loop uvloop`` runs it on uvloop.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time

from _contenders import CONTENDERS, Contender, items
from _harness import LOOPS, Stopwatch, Target, peak_rss_bytes, rss_bytes, run_on

SAMPLE_INTERVAL = 0.02


class _Sampler:
    """Highest RSS seen by a background task that wakes every ``SAMPLE_INTERVAL`` seconds."""

    def __init__(self) -> None:
        self.peak = rss_bytes()
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sample())

    async def _sample(self) -> None:
        # Runs until stopped: stop() cancels it right after the measured run.
        while True:
            self.peak = max(self.peak, rss_bytes())
            self.samples += 1
            await asyncio.sleep(SAMPLE_INTERVAL)

    async def stop(self) -> None:
        self.peak = max(self.peak, rss_bytes())
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def _measure(contender: Contender, target: Target, count: int, concurrency: int, warmup: int) -> dict:
    before_client = rss_bytes()
    await contender.open(target, concurrency)
    try:
        await contender.run(items(target.task_slugs, warmup), concurrency)
        gc.collect()
        baseline = rss_bytes()
        sampler = _Sampler()
        sampler.start()
        watch = Stopwatch(target.pid)
        tally = await contender.run(items(target.task_slugs, count), concurrency)
        window = watch.stop()
        await sampler.stop()
        final = rss_bytes()
    finally:
        await contender.close()
    return {
        "contender": contender.name,
        "label": contender.label,
        "count": count,
        "concurrency": concurrency,
        "ok": tally.ok,
        "failed": tally.failed,
        "first_error": tally.first_error,
        "wall": window.wall,
        "client_cpu": window.client_cpu,
        "server_cpu": window.server_cpu,
        "rss_before_client": before_client,
        "rss_baseline": baseline,
        "rss_peak_sampled": sampler.peak,
        "rss_samples": sampler.samples,
        "rss_final": final,
        "ru_maxrss": peak_rss_bytes(),
        "peak_growth": sampler.peak - baseline,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contender", choices=sorted(CONTENDERS), required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--slugs", required=True, help="comma-separated task slugs")
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--loop", choices=LOOPS, default="asyncio")
    args = parser.parse_args()
    target = Target(
        base_url=args.base_url,
        api_key=args.api_key,
        task_slugs=tuple(args.slugs.split(",")),
        pid=args.server_pid,
        kind="stub",
        latency=0.0,
    )
    began = time.perf_counter()
    result = run_on(
        args.loop, _measure(CONTENDERS[args.contender](), target, args.count, args.concurrency, args.warmup)
    )
    result["loop"] = args.loop
    result["child_seconds"] = time.perf_counter() - began
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
