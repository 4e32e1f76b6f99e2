"""The ``coreclaw-async`` command line: ``demo``, ``tasks run`` and the resource commands."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ._client import AsyncCoreClaw
from ._constants import DEFAULT_TIMEOUT, ENV_API_KEY, ENV_BASE_URL
from ._version import __version__
from .errors import CoreClawError, InvalidParameterError

__all__ = ["main"]

Command = Callable[[argparse.Namespace, AsyncCoreClaw], Awaitable[int]]


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=str, ensure_ascii=False) + "\n")


async def _cmd_tasks_run(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    run = await client.tasks.run(args.task_slug, callback_url=args.callback_url)
    if args.json:
        _print_json({"run_slug": run.run_slug, "task_slug": args.task_slug})
    else:
        print(run.run_slug)
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coreclaw-async",
        description="Command line for the CoreClaw OpenAPI (asyncio client).",
    )
    parser.add_argument("--version", action="version", version=f"coreclaw-async {__version__}")
    parser.add_argument("--api-key", help=f"API key (default: ${ENV_API_KEY})")
    parser.add_argument("--base-url", help=f"API host (default: ${ENV_BASE_URL} or production)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="deadline per call in seconds")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="launch task runs against an embedded FakeCoreClaw, wait for them to finish "
        "through a callback receiver, and print a summary",
    )
    demo.add_argument("--runs", type=int, default=1000, help="task runs to start (default 1000)")
    demo.add_argument(
        "--max-connections", type=int, default=50, help="client connection pool size (default 50)"
    )
    demo.add_argument(
        "--latency", type=float, default=0.005, help="fake server latency in seconds (default 0.005)"
    )
    demo.add_argument(
        "--chaos",
        action="store_true",
        help="inject rate limits, 502s and dropped connections to show retries and unknown outcomes, "
        "and lose, repeat, reorder and delay more callbacks",
    )
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.set_defaults(func=None)

    tasks = commands.add_parser("tasks", help="saved Tasks").add_subparsers(
        dest="tasks_command", metavar="ACTION", required=True
    )
    run = tasks.add_parser("run", help="start a run of a saved Task and print its run slug")
    run.add_argument("task_slug")
    run.add_argument("--callback-url", help="webhook URL CoreClaw posts run updates to")
    run.add_argument("--json", action="store_true", help="print JSON")
    run.set_defaults(func=_cmd_tasks_run)

    from ._cli_resources import register

    register(commands)
    return parser


async def _run_command(args: argparse.Namespace) -> int:
    func: Command = args.func
    client = AsyncCoreClaw(
        args.api_key,
        base_url=args.base_url,
        callback_url=getattr(args, "callback_url", None) or os.environ.get("CORECLAW_CALLBACK_URL"),
        timeout=args.timeout,
    )
    async with client:
        return await func(args, client)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``coreclaw-async`` console script; returns the exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from ._demo import run_demo

            return asyncio.run(
                run_demo(
                    runs=args.runs,
                    max_connections=args.max_connections,
                    latency=args.latency,
                    chaos=args.chaos,
                    as_json=args.json,
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
