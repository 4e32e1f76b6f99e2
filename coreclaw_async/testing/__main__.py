"""Run FakeCoreClaw standalone: ``python -m coreclaw_async.testing --port 8080``.

On start it prints three ``KEY=value`` lines (flushed) for a parent process to read::

    CORECLAW_BASE_URL=http://127.0.0.1:8080
    CORECLAW_API_KEY=scraper_api_fake_...
    CORECLAW_TASK_SLUGS=01J...,01J...,01J...

and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from ._fake import FakeCoreClaw
from ._v1 import HTTP_STATUS_MODES
from ._versions import API_VERSIONS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m coreclaw_async.testing",
        description="Serve a fake CoreClaw API (v1 and v2) until interrupted.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to bind; 0 = any free port")
    parser.add_argument("--api-key", default=None, help="accepted API key (default: generated)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to responses")
    parser.add_argument("--tasks", type=int, default=3, help="number of saved tasks to create")
    parser.add_argument("--rows-per-run", type=int, default=25, help="result rows per run")
    parser.add_argument("--fail-every", type=int, default=0, help="every Nth run fails; 0 = none")
    parser.add_argument(
        "--run-schedule",
        type=float,
        nargs=2,
        default=(0.05, 0.2),
        metavar=("READY", "RUNNING"),
        help="seconds a run stays ready, then running",
    )
    parser.add_argument("--http-status-mode", choices=HTTP_STATUS_MODES, default="mapped")
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault RNG")
    parser.add_argument(
        "--api-versions",
        nargs="+",
        choices=API_VERSIONS,
        default=list(API_VERSIONS),
        metavar="VERSION",
        help="API versions to serve (v1, v2; default both); the others answer a plain 404",
    )
    return parser


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeCoreClaw(
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        tasks=args.tasks,
        latency=args.latency,
        rows_per_run=args.rows_per_run,
        fail_every=args.fail_every,
        run_schedule=tuple(args.run_schedule),
        http_status_mode=args.http_status_mode,
        seed=args.seed,
        api_versions=args.api_versions,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not available on Windows; Ctrl-C then ends the process through KeyboardInterrupt.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    async with fake:
        print(f"CORECLAW_BASE_URL={fake.url}", flush=True)
        print(f"CORECLAW_API_KEY={fake.api_key}", flush=True)
        print(f"CORECLAW_TASK_SLUGS={','.join(fake.task_slugs)}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and serve until interrupted; returns the exit status."""
    args = _parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
