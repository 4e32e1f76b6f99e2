"""The root of the command line: global options, ``demo``, the resource commands, and ``main``.

Each command is an ``async (args, client) -> exit code`` function; ``main`` builds one client
for it (closed on every path) and turns errors into exit codes: 2 for bad arguments (nothing
sent), 1 for any other ``CoreClawError``, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence

from .._client import AsyncCoreClaw
from .._constants import (
    API_VERSIONS,
    CLI_DEMO_LATENCY,
    CLI_DEMO_MAX_CONNECTIONS,
    CLI_DEMO_RUNS,
    DEFAULT_API_VERSION,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_TIMEOUT,
    ENV_API_KEY,
    ENV_API_VERSION,
    ENV_BASE_URL,
    ENV_CALLBACK_URL,
)
from .._version import __version__
from ..errors import CoreClawError, InvalidParameterError
from ._args import non_negative_float, positive_float, positive_int
from ._runs import add_json, register_runs
from ._tasks import register_tasks
from ._workers import register_workers

__all__ = ["main", "register"]

Command = Callable[[argparse.Namespace, AsyncCoreClaw], Awaitable[int]]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the resource commands (``tasks``, ``runs``, ``workers``, ``account``, ``proxy-regions``)."""
    register_tasks(subparsers)
    register_runs(subparsers)
    register_workers(subparsers)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coreclaw-async",
        description="Command line for the CoreClaw OpenAPI (asyncio client).",
    )
    parser.add_argument("--version", action="version", version=f"coreclaw-async {__version__}")
    parser.add_argument("--api-key", help=f"API key (default: ${ENV_API_KEY})")
    parser.add_argument("--base-url", help=f"API host (default: ${ENV_BASE_URL} or production)")
    parser.add_argument(
        "--timeout", type=positive_float, default=DEFAULT_TIMEOUT, help="deadline per call in seconds"
    )
    parser.add_argument(
        "--api-version",
        choices=API_VERSIONS,
        default=None,
        help=f"CoreClaw API version (default: ${ENV_API_VERSION} or {DEFAULT_API_VERSION})",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="launch task runs against an embedded FakeCoreClaw, wait for them to finish "
        "through a callback receiver, and print a summary",
    )
    demo.add_argument(
        "--runs",
        type=positive_int,
        default=CLI_DEMO_RUNS,
        help=f"task runs to start (default {CLI_DEMO_RUNS})",
    )
    demo.add_argument(
        "--max-connections",
        type=positive_int,
        default=CLI_DEMO_MAX_CONNECTIONS,
        help=f"client connection pool size (default {CLI_DEMO_MAX_CONNECTIONS})",
    )
    demo.add_argument(
        "--latency",
        type=non_negative_float,
        default=CLI_DEMO_LATENCY,
        help=f"fake server latency in seconds (default {CLI_DEMO_LATENCY:g})",
    )
    demo.add_argument(
        "--chaos",
        action="store_true",
        help="inject rate limits, 502s and dropped connections to show retries and unknown outcomes, "
        "and lose, repeat, reorder and delay more callbacks",
    )
    add_json(demo, "print the summary as JSON")
    demo.set_defaults(func=None)

    register(commands)
    return parser


async def _run_command(args: argparse.Namespace) -> int:
    func: Command = args.func
    client = AsyncCoreClaw(
        args.api_key,
        base_url=args.base_url,
        callback_url=getattr(args, "callback_url", None) or os.environ.get(ENV_CALLBACK_URL),
        timeout=args.timeout,
        api_version=args.api_version,
        # `tasks run-many`: a connection per launch in flight, and its --max-rate.
        max_connections=getattr(args, "concurrency", None) or DEFAULT_MAX_CONNECTIONS,
        max_rate=getattr(args, "max_rate", None),
    )
    async with client:
        return await func(args, client)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``coreclaw-async`` console script; returns the exit code."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        # Ctrl-C before a command's own handling is in place (or after it): no traceback.
        return 130


def _main(argv: Sequence[str] | None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from .._demo import run_demo

            return asyncio.run(
                run_demo(
                    runs=args.runs,
                    max_connections=args.max_connections,
                    latency=args.latency,
                    chaos=args.chaos,
                    as_json=args.json,
                    api_version=args.api_version or os.environ.get(ENV_API_VERSION) or DEFAULT_API_VERSION,
                )
            )
        return asyncio.run(_run_command(args))
    except InvalidParameterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CoreClawError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
