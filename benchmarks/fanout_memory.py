"""Benchmark: one million Task run starts through ``tasks.run_many`` with flat memory.

Usage::

    python benchmarks/fanout_memory.py                 # 1,000,000 items, concurrency 100
    python benchmarks/fanout_memory.py -n 200000 -c 50
    python benchmarks/fanout_memory.py --fake          # against FakeCoreClaw instead of the stub

The server runs in a child process so that only the client is measured. By default it is
a minimal stub answering every ``task/run`` with a fresh run slug: FakeCoreClaw keeps a
ledger of every run (a million of them would dominate its memory and CPU), so ``--fake``
is better kept for smaller ``-n``. The input is a generator, so nothing is stored per item.

Prints the resident set size (RSS) every 10% of the way, the peak RSS growth over the
baseline taken after a warm-up, and the throughput in launches per second.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import resource
import signal
import sys
import time
from collections.abc import Iterator

CALLBACK_URL = "https://hooks.example.com/coreclaw"
STUB_KEY = "scraper_api_benchmark_stub_key"
STUB_TASKS = ("01KSFDXRNYGKT3NNE11EMR4W5X", "01KSFDXRNYGKT3NNE11EMR4W5Y", "01KSFDXRNYGKT3NNE11EMR4W5Z")


# -- the server (child process) ------------------------------------------------------------


async def _serve_stub() -> None:
    from aiohttp import web

    counter = itertools.count()

    async def task_run(request: web.Request) -> web.Response:
        await request.read()
        if request.headers.get("api-key") != STUB_KEY:
            return web.json_response({"code": 20001, "message": "Invalid API key", "data": None}, status=401)
        body = b'{"code":0,"message":"success","data":{"run_slug":"01KSFDS8XWTJME33C%09d"}}' % next(counter)
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/api/v1/task/run", task_run)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    print(f"CORECLAW_BASE_URL=http://127.0.0.1:{port}", flush=True)
    print(f"CORECLAW_API_KEY={STUB_KEY}", flush=True)
    print(f"CORECLAW_TASK_SLUGS={','.join(STUB_TASKS)}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


async def _start_server(use_fake: bool) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    if use_fake:
        command = [sys.executable, "-m", "coreclaw_async.testing", "--port", "0"]
    else:
        command = [sys.executable, __file__, "--serve"]
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    settings: dict[str, str] = {}
    while len(settings) < 3:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        if not line:
            raise RuntimeError("the server exited before it printed its settings")
        key, _, value = line.partition("=")
        settings[key] = value
    return proc, settings


# -- the client (this process) -------------------------------------------------------------


def _peak_rss_mib() -> float:
    """Highest RSS of this process so far (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _rss_mib() -> float:
    """Current RSS of this process (Linux ``/proc``); the peak so far elsewhere."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except OSError:
        return _peak_rss_mib()
    return pages * resource.getpagesize() / 2**20


async def _run(count: int, concurrency: int, use_fake: bool) -> None:
    from coreclaw_async import AsyncCoreClaw

    proc, settings = await _start_server(use_fake)
    try:
        slugs = settings["CORECLAW_TASK_SLUGS"].split(",")
        async with AsyncCoreClaw(
            settings["CORECLAW_API_KEY"],
            base_url=settings["CORECLAW_BASE_URL"],
            callback_url=CALLBACK_URL,
            max_connections=concurrency,
        ) as client:

            def items(total: int) -> Iterator[str]:
                for number in range(total):
                    yield slugs[number % len(slugs)]

            async for _ in client.tasks.run_many(items(2_000), concurrency=concurrency):
                pass  # warm-up: session, connections, caches
            baseline = _rss_mib()
            peak_before = _peak_rss_mib()
            print(f"items={count:,} concurrency={concurrency} server={'fake' if use_fake else 'stub'}")
            print(f"baseline RSS {baseline:.1f} MiB")

            started = failed = 0
            highest = baseline
            step = max(count // 10, 1)
            began = time.perf_counter()
            async with client.tasks.run_many(items(count), concurrency=concurrency) as batch:
                async for outcome in batch:
                    if outcome.started:
                        started += 1
                    else:
                        failed += 1
                    done = started + failed
                    if done % step == 0:
                        rate = done / (time.perf_counter() - began)
                        now = _rss_mib()
                        highest = max(highest, now)
                        print(
                            f"  {done:>9,} done  RSS {now:7.1f} MiB  {rate:8,.0f} launches/s",
                            flush=True,
                        )
            elapsed = time.perf_counter() - began
            # ru_maxrss (peak) and /proc (samples) count slightly differently: take the larger.
            peak = max(_peak_rss_mib(), peak_before, highest)
            print(
                f"started={started:,} failed={failed:,} in {elapsed:.1f} s: {count / elapsed:,.0f} launches/s"
            )
            print(f"peak RSS {peak:.1f} MiB, growth over baseline {peak - baseline:+.1f} MiB")
            print(f"final RSS {_rss_mib():.1f} MiB; {client.stats}")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--items", type=int, default=1_000_000, help="run starts to make")
    parser.add_argument("-c", "--concurrency", type=int, default=100, help="run starts in flight at once")
    parser.add_argument("--fake", action="store_true", help="serve with FakeCoreClaw instead of the stub")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve_stub())
        return
    asyncio.run(_run(args.items, args.concurrency, args.fake))


if __name__ == "__main__":
    main()
