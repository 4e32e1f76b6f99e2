"""Client CPU per request as a count of machine instructions (valgrind), ours next to the floor.

Usage::

    python benchmarks/instructions.py                  # coreclaw, coreclaw-pool, floor; 10,000 starts
    python benchmarks/instructions.py --contender coreclaw -n 20000

On a shared machine, CPU seconds per request move by 10-30% from round to round; a count of
executed instructions does not (repeat runs agree within about 0.5%), so it is how we
compared small changes to the hot path. For each contender, two fresh client processes run
under ``valgrind --tool=cachegrind --cache-sim=no`` against the stub server (which is not
under valgrind): one does only the warm-up (500 starts), one the warm-up plus ``N`` starts.
The difference divided by ``N`` is the instruction count per request, start-up, imports and
warm-up excluded. It includes the garbage collector and the event loop, like CPU time does,
but not waiting. Instructions are not time (a cache miss costs more than an add), yet their
ratio to the floor tracked the CPU-time ratio of ``run_all.py`` within a few percent here.

Needs ``valgrind`` on PATH. Each contender takes about half a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path

from _contenders import CONTENDERS, items
from _harness import Target, server

WARMUP = 500
CHILD_TIMEOUT = 600.0  # seconds per valgrind child
_REFS = re.compile(rb"I\s+refs:\s+([\d,]+)")


async def _child(name: str, target: Target, count: int, concurrency: int) -> None:
    contender = CONTENDERS[name]()
    await contender.open(target, concurrency)
    try:
        await contender.run(items(target.task_slugs, WARMUP), concurrency)
        if count:
            tally = await contender.run(items(target.task_slugs, count), concurrency)
            if tally.ok != count:
                raise SystemExit(f"{name}: {tally.failed} of {count} starts failed ({tally.first_error})")
    finally:
        await contender.close()


def _instructions(name: str, target: Target, count: int, concurrency: int) -> int:
    """Instructions executed by one client process doing the warm-up and ``count`` starts."""
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        name,
        "--base-url",
        target.base_url,
        "--api-key",
        target.api_key,
        "--slugs",
        ",".join(target.task_slugs),
        "-n",
        str(count),
        "-c",
        str(concurrency),
    ]
    done = subprocess.run(command, capture_output=True, timeout=CHILD_TIMEOUT, check=False)
    found = _REFS.search(done.stderr)
    if done.returncode != 0 or found is None:
        tail = done.stderr.decode(errors="replace")[-2000:]
        raise SystemExit(f"valgrind run of {name} failed (exit {done.returncode}):\n{tail}")
    return int(found.group(1).replace(b",", b""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contender", choices=sorted(CONTENDERS), action="append", default=None)
    parser.add_argument("-n", "--count", type=int, default=10_000)
    parser.add_argument("-c", "--concurrency", type=int, default=100)
    parser.add_argument("--child", metavar="NAME", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--api-key", help=argparse.SUPPRESS)
    parser.add_argument("--slugs", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        target = Target(
            base_url=args.base_url,
            api_key=args.api_key,
            task_slugs=tuple(args.slugs.split(",")),
            pid=0,
            kind="stub",
            latency=0.0,
        )
        asyncio.run(_child(args.child, target, args.count, args.concurrency))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not on PATH; install it (apt-get install valgrind) to count instructions")
        return 2
    names = args.contender or ["coreclaw", "coreclaw-pool", "floor"]
    if "floor" not in names:
        names.append("floor")
    per_request: dict[str, float] = {}
    with server("stub") as target:
        for name in names:
            print(f"{name}: counting ({args.count:,} starts under valgrind)...", file=sys.stderr)
            base = _instructions(name, target, 0, args.concurrency)
            full = _instructions(name, target, args.count, args.concurrency)
            per_request[name] = (full - base) / args.count
    floor = per_request["floor"]
    print(
        f"Instructions per request: {args.count:,} starts, concurrency {args.concurrency}, stub server "
        "(valgrind cachegrind; warm-up and start-up subtracted)"
    )
    print(f"  {'contender':20} {'instr/req':>10} {'x floor':>8}")
    for name in names:
        print(f"  {name:20} {per_request[name]:10,.0f} {per_request[name] / floor:7.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
