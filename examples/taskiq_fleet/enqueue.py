"""Split N task-run launches into batches, hand them to the taskiq workers, and print the totals.

    python enqueue.py --runs 200 --batches 8              # task slugs from $CORECLAW_TASK_SLUGS
    python enqueue.py --runs 200 --batches 8 SLUG [SLUG ...]

Exits 1 when a launch's outcome is unknown (reconcile before launching again) or when a run slug
came back twice.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from typing import Any

import attrs
from app import broker, launch_batch
from taskiq import AsyncTaskiqTask
from taskiq.exceptions import TaskiqResultTimeoutError


@attrs.frozen
class Totals:
    """What became of every launch: each is counted once, in one of started, failed or unknown.

    Attributes:
        launches: launches handed to the workers.
        started: the started runs' slugs, from every batch.
        failed: by error class, launches that created nothing (safe to launch again).
        unknown: task slugs whose launch may have created a run: reconcile them, never re-send.
            A batch that returned no result in time (its worker died, or is still at it) counts
            here whole.
        workers: by worker (``host:pid``), its budget counters as of its last batch.
    """

    launches: int
    started: list[str]
    failed: dict[str, int]
    unknown: list[str]
    workers: dict[str, dict[str, Any]]

    @property
    def duplicates(self) -> list[str]:
        """Run slugs reported more than once (a correct fleet has none)."""
        return sorted(slug for slug, n in Counter(self.started).items() if n > 1)


def split(task_slugs: list[str], *, runs: int, batches: int) -> list[list[str]]:
    """``runs`` launches, cycling over ``task_slugs``, in ``batches`` batches of near-equal size."""
    if not task_slugs or runs < 1 or batches < 1:
        raise ValueError("need at least one task slug, one run and one batch")
    launches = [task_slugs[i % len(task_slugs)] for i in range(runs)]
    size = -(-runs // batches)
    return [launches[i : i + size] for i in range(0, runs, size)]


async def _result(task: AsyncTaskiqTask[dict[str, Any]], timeout: float) -> dict[str, Any] | None:
    try:
        result = await task.wait_result(timeout=timeout)
    except TaskiqResultTimeoutError:
        return None
    return None if result.is_err else result.return_value


async def launch(batches: list[list[str]], *, timeout: float = 300.0) -> Totals:
    """Kick one ``launch_batch`` per batch, wait up to ``timeout`` seconds for all, and add them up."""
    await broker.startup()
    try:
        tasks = [await launch_batch.kiq(batch) for batch in batches]
        results = await asyncio.gather(*(_result(task, timeout) for task in tasks))
    finally:
        await broker.shutdown()
    started: list[str] = []
    failed: Counter[str] = Counter()
    unknown: list[str] = []
    workers: dict[str, dict[str, Any]] = {}
    for batch, result in zip(batches, results, strict=True):
        if result is None:
            unknown.extend(batch)
            continue
        started.extend(result["started"])
        failed.update({name: len(slugs) for name, slugs in result["failed"].items()})
        unknown.extend(result["unknown"])
        previous = workers.get(result["worker"], {}).get("acquires", -1)
        if result["budget"]["acquires"] > previous:
            workers[result["worker"]] = result["budget"]
    launches = sum(map(len, batches))
    return Totals(launches=launches, started=started, failed=dict(failed), unknown=unknown, workers=workers)


def report(totals: Totals) -> bool:
    """Print the totals; ``True`` when every outcome is known and no run slug came twice."""
    failed = sum(totals.failed.values())
    print(f"launches: {totals.launches}, by {len(totals.workers)} workers")
    print(f"started:  {len(totals.started)} runs, {len(set(totals.started))} distinct run slugs")
    print(f"failed:   {failed} {dict(sorted(totals.failed.items()))} (nothing created: safe to launch again)")
    print(f"unknown:  {len(totals.unknown)} (reconcile with runs.list before launching these again)")
    for worker, stats in sorted(totals.workers.items()):
        print(f"  {worker}: budget asked {stats['acquires']} times, waited {stats['waits']} times")
    if totals.duplicates:
        print(f"ERROR: run slugs reported twice: {totals.duplicates}")
    return not totals.unknown and not totals.duplicates


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("task_slugs", nargs="*", help="saved Tasks to run (default: $CORECLAW_TASK_SLUGS)")
    parser.add_argument("--runs", type=int, default=200, help="launches in all (default 200)")
    parser.add_argument("--batches", type=int, default=8, help="batches to split them into (default 8)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the batches")
    args = parser.parse_args()
    slugs = args.task_slugs or [s for s in os.environ.get("CORECLAW_TASK_SLUGS", "").split(",") if s]
    if not slugs:
        parser.error("no task slugs: pass some, or set $CORECLAW_TASK_SLUGS")
    batches = split(slugs, runs=args.runs, batches=args.batches)
    sys.exit(0 if report(asyncio.run(launch(batches, timeout=args.timeout))) else 1)


if __name__ == "__main__":
    main()
