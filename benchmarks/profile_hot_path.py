"""Profile the client's hot path in the throughput scenario, ours next to the raw floor.

Usage::

    python benchmarks/profile_hot_path.py                      # coreclaw and floor, 5,000 starts
    python benchmarks/profile_hot_path.py --contender coreclaw -n 20000 --pyinstrument

For each contender it runs the throughput job (after a warm-up) against the stub server
under ``cProfile`` and writes to ``benchmarks/results/``:

* ``profile-<name>-cprofile.txt``: the top functions by own time, then own time grouped by
  where the code lives (``coreclaw_async/_session.py``, aiohttp, asyncio, ...) in
  microseconds per request, which is what the comparison with the floor needs.
* with ``--pyinstrument`` (installed by the bench extra): ``profile-<name>-pyinstrument.txt``
  and ``.html``, a sampled call tree with much lower overhead than cProfile.

cProfile's own overhead inflates every function call, so read its microseconds as relative
weights, not as the cost without the profiler.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import pstats
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from _contenders import CONTENDERS, Contender, items
from _harness import BENCH_DIR, Target, server

RESULTS = BENCH_DIR / "results"


def _where(filename: str) -> str:
    """A short bucket for a code location: our modules one by one, libraries by package."""
    path = filename.replace("\\", "/")
    if "/coreclaw_async/" in path:
        return "coreclaw_async/" + path.split("/coreclaw_async/", 1)[1]
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0]
    if path.startswith("<") or path == "~":
        return "builtins/C"
    if "/benchmarks/" in path:
        return "benchmarks (harness)"
    if "/asyncio/" in path:
        return "asyncio"
    return "stdlib"


def by_location(stats: pstats.Stats, requests: int) -> list[tuple[str, float]]:
    """Own time per location bucket, in microseconds per request, largest first."""
    totals: dict[str, float] = defaultdict(float)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        totals[_where(filename)] += tottime
    return sorted(((k, v / requests * 1e6) for k, v in totals.items()), key=lambda kv: -kv[1])


async def _profiled(
    contender: Contender, target: Target, count: int, concurrency: int, use_pyinstrument: bool
) -> tuple[cProfile.Profile | None, Any]:
    await contender.open(target, concurrency)
    try:
        await contender.run(items(target.task_slugs, 1_000), concurrency)
        gc.collect()
        if use_pyinstrument:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
            await contender.run(items(target.task_slugs, count), concurrency)
            profiler.stop()
            return None, profiler
        profile = cProfile.Profile()
        profile.enable()
        tally = await contender.run(items(target.task_slugs, count), concurrency)
        profile.disable()
        if tally.failed:
            print(f"warning: {tally.failed} failed items ({tally.first_error})", file=sys.stderr)
        return profile, None
    finally:
        await contender.close()


def profile_one(name: str, target: Target, count: int, concurrency: int, use_pyinstrument: bool) -> Path:
    """Profile contender ``name``; write its report(s) and return the cProfile report's path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    contender = CONTENDERS[name]()
    profile, _ = asyncio.run(_profiled(contender, target, count, concurrency, False))
    assert profile is not None
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    out.write(
        f"{contender.label}: {count:,} starts, concurrency {concurrency}, under cProfile\n"
        f"own time {total:.3f} s = {total / count * 1e6:.1f} us per request (profiler overhead included)\n\n"
        "Own time by location, us per request:\n"
    )
    for where, micros in by_location(stats, count):
        if micros >= 0.05:
            out.write(f"  {micros:8.2f}  {where}\n")
    out.write("\nTop functions by own time:\n")
    stats.sort_stats("tottime").print_stats(40)
    out.write("\nTop functions by cumulative time:\n")
    stats.sort_stats("cumulative").print_stats(40)
    suffix = "" if concurrency == 100 else f"-c{concurrency}"
    report = RESULTS / f"profile-{name}{suffix}-cprofile.txt"
    report.write_text(out.getvalue())
    if use_pyinstrument:
        _, profiler = asyncio.run(_profiled(CONTENDERS[name](), target, count, concurrency, True))
        (RESULTS / f"profile-{name}{suffix}-pyinstrument.txt").write_text(
            profiler.output_text(unicode=False, color=False, show_all=False)
        )
        (RESULTS / f"profile-{name}{suffix}-pyinstrument.html").write_text(profiler.output_html())
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contender", choices=sorted(CONTENDERS), action="append", default=None)
    parser.add_argument("-n", "--count", type=int, default=5_000)
    parser.add_argument("-c", "--concurrency", type=int, default=100)
    parser.add_argument("--pyinstrument", action="store_true", help="also write a pyinstrument profile")
    args = parser.parse_args()
    names = args.contender or ["coreclaw", "floor"]
    with server("stub") as target:
        for name in names:
            report = profile_one(name, target, args.count, args.concurrency, args.pyinstrument)
            head = report.read_text().split("\nTop functions", 1)[0]
            print(head)
            print(f"(full report: {report})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
