"""Many processes, one account: how much of the account's rate limit a ``RedisBudget`` fleet uses.

``python benchmarks/shared_budget.py`` (also the ``budget`` scenario of ``run_all.py``) starts a
``redis-server`` and a FakeCoreClaw with an account-wide rate limit, each in a child process on
127.0.0.1, then:

* **fleet**: P processes, each with its own client and a ``RedisBudget`` of one name paced at
  ``share`` of the account limit, launch N runs each through ``run_many``, all starting at the
  same wall-clock moment. Reported: total starts/s as a share of the account limit (aim: at
  least 90 %), the rate-limited answers the fake gave (aim: at most 1 % of the starts), and the
  budget's Redis round trips per start (aim: at most 1);
* **alone**: the same launches without the budget, for comparison (the storm);
* **cost**: in this process, the budget's own cost per start: an ask and a release with no
  pacing to wait for, against a bare Redis ``PING`` round trip.

Nothing is asserted; the aims are printed beside the measurements.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _harness import BENCH_DIR, server

AIM_SHARE = 0.90
AIM_LIMITED = 0.01
AIM_ROUND_TRIPS = 1.0


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway ``redis-server`` on 127.0.0.1 (no persistence), stopped by its PID after."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as directory:
        proc = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--dir",
                directory,
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            # Bounded by the deadline: a connection attempt every 20 ms until Redis listens.
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                    break
                time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _fake_stats(base_url: str, api_key: str) -> dict[str, Any]:
    request = urllib.request.Request(base_url + "/_fake/stats", headers={"api-key": api_key})
    with urllib.request.urlopen(request, timeout=10) as answer:
        stats: dict[str, Any] = json.loads(answer.read())
        return stats


def _fleet(
    target: Any, redis_url: str | None, *, processes: int, runs: int, max_rate: float
) -> dict[str, Any]:
    before = _fake_stats(target.base_url, target.api_key)
    start_at = time.time() + 2.0 + 0.3 * processes  # every child imports and connects first
    config = {
        "base_url": target.base_url,
        "api_key": target.api_key,
        "redis_url": redis_url,
        "name": f"bench-{os.getpid()}-{time.monotonic_ns()}",
        "max_rate": max_rate,
        "task_slug": target.task_slugs[0],
        "runs": runs,
        "concurrency": 50,
        "start_at": start_at,
    }
    children = [
        subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "_budget_child.py"), json.dumps(config)],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        for _ in range(processes)
    ]
    results = []
    try:
        for child in children:
            out, _ = child.communicate(timeout=600)
            if child.returncode != 0:
                raise RuntimeError(f"a benchmark child failed with status {child.returncode}")
            results.append(json.loads(out.decode().strip().splitlines()[-1]))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    after = _fake_stats(target.base_url, target.api_key)
    started = sum(result["started"] for result in results)
    wall = max(r["ended"] for r in results) - min(r["began"] for r in results)
    limited = after.get("rate_limited", 0) - before.get("rate_limited", 0)
    summary: dict[str, Any] = {
        "processes": processes,
        "starts": started,
        "errors": sum(sum(r["errors"].values()) for r in results),
        "wall_seconds": wall,
        "starts_per_second": started / wall if wall > 0 else float("nan"),
        "rate_limited_answers": limited,
        "rate_limited_share": limited / max(started, 1),
    }
    if redis_url is not None:
        acquires = sum(r["budget"]["acquires"] for r in results)
        trips = sum(r["budget"]["round_trips"] for r in results)
        summary["round_trips_per_start"] = trips / max(acquires, 1)
    return summary


async def _cost(redis_url: str, count: int) -> dict[str, float]:
    import redis.asyncio as aioredis

    from coreclaw_async.redis import RedisBudget

    redis = aioredis.Redis.from_url(redis_url)
    budget = RedisBudget(redis, name=f"cost-{os.getpid()}", max_in_flight=1_000_000)
    loop = asyncio.get_running_loop()
    try:
        await redis.ping()
        await budget.acquire(loop.time() + 10)  # loads the script, subscribes
        begin = time.perf_counter()
        for _ in range(count):
            await redis.ping()
        ping = (time.perf_counter() - begin) / count
        begin = time.perf_counter()
        for _ in range(count):
            lease = await budget.acquire(loop.time() + 10)
            budget.release(lease)
        ask = (time.perf_counter() - begin) / count
        stats = budget.stats
    finally:
        await budget.aclose()
        await redis.aclose()
    return {
        "ask_us": ask * 1e6,
        "ping_us": ping * 1e6,
        "budget_us": (ask - ping) * 1e6,
        "round_trips_per_ask": stats.round_trips / max(stats.acquires, 1),
    }


def run(*, processes: int = 4, runs: int = 1500, limit: float = 500.0, share: float = 0.95) -> dict[str, Any]:
    """Run the three parts; return their results (JSON-ready)."""
    with (
        redis_server() as redis_url,
        server(
            "fake", extra=("--rate-limit", repr(limit), "--run-schedule", "0", "0.01", "--api-versions", "v1")
        ) as target,
    ):
        fleet = _fleet(target, redis_url, processes=processes, runs=runs, max_rate=limit * share)
        alone = _fleet(target, None, processes=processes, runs=runs, max_rate=limit * share)
        cost = asyncio.run(_cost(redis_url, 2000))
    fleet["share_of_limit"] = fleet["starts_per_second"] / limit
    alone["share_of_limit"] = alone["starts_per_second"] / limit
    return {"limit": limit, "budget_share": share, "fleet": fleet, "alone": alone, "cost": cost}


def render(result: dict[str, Any]) -> str:
    """A Markdown table of :func:`run`'s result, with the aims."""
    fleet, alone, cost = result["fleet"], result["alone"], result["cost"]
    limit = result["limit"]
    lines = [
        f"**Many processes, one account**: {fleet['processes']} processes x "
        f"{fleet['starts'] // fleet['processes']:,} starts against an account limit of {limit:g} req/s "
        f"(budget paced at {result['budget_share']:.0%} of it).",
        "",
        "| | starts/s | share of the limit | rate-limited answers | round trips per start |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| shared `RedisBudget` | {fleet['starts_per_second']:,.0f} | {fleet['share_of_limit']:.1%} "
        f"(aim >= {AIM_SHARE:.0%}) | {fleet['rate_limited_answers']} ({fleet['rate_limited_share']:.2%}; "
        f"aim <= {AIM_LIMITED:.0%}) | {fleet['round_trips_per_start']:.3f} (aim <= {AIM_ROUND_TRIPS:g}) |",
        f"| each process alone | {alone['starts_per_second']:,.0f} | {alone['share_of_limit']:.1%} | "
        f"{alone['rate_limited_answers']} ({alone['rate_limited_share']:.2%}) | - |",
        "",
        f"Budget cost per start: {cost['ask_us']:.0f} µs for an ask and a release (one Redis round trip), "
        f"against {cost['ping_us']:.0f} µs for a bare PING: {cost['budget_us']:.0f} µs of its own.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--runs", type=int, default=1500, help="starts per process")
    parser.add_argument("--limit", type=float, default=500.0, help="the account's requests per second")
    parser.add_argument(
        "--share", type=float, default=0.95, help="the budget's pace, as a share of the limit"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = run(processes=args.processes, runs=args.runs, limit=args.limit, share=args.share)
    print(render(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
