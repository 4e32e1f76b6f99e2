"""Run FakeCoreClaw standalone: ``python -m coreclaw_async.testing --port 8080``.

On start it prints three ``KEY=value`` lines (flushed) for a parent process to read::

    CORECLAW_BASE_URL=http://127.0.0.1:8080
    CORECLAW_API_KEY=scraper_api_fake_...
    CORECLAW_TASK_SLUGS=01J...,01J...,01J...

and serves until SIGINT/SIGTERM. Every process given those coordinates shares one account:
``--rate-limit`` and ``--concurrency-limit`` apply to all of them together.

The account's knobs have flags (``--help`` lists them): ``--rate-limit 30`` (requests per
sliding second), ``--concurrency-limit 10`` (ready and running runs count;
``--no-concurrency-counts-ready`` counts running runs only), ``--balance 0``,
``--no-callbacks`` and the callback knobs, ``--keepalive-timeout``. ``--inject
FAULT[:key=value,...]`` (repeatable) schedules a fault as `FakeCoreClaw.inject` does, e.g.
``--inject rate_limit:times=inf,probability=0.1`` or ``--inject slow:delay=2,user_agent=proc-3``;
keys are ``times`` (default 1, ``inf`` = unlimited), ``probability``, ``path``,
``retry_after``, ``delay`` and ``user_agent``; values cannot contain commas.

A parent process reads the account's counters with ``GET /_fake/stats`` (send the API key
as ``api-key`` or ``Authorization: Bearer``): JSON with ``requests``, ``rate_limited``,
``concurrency_refusals``, ``runs_created``, ``requests_by_path``, ... (see
`FakeCoreClaw.stats`). It is not an API request: it is never counted nor rate limited.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

from ._fake import DEFAULT_BALANCE, FakeCoreClaw
from ._faults import Fault, FaultRule
from ._v1 import HTTP_STATUS_MODES
from ._v2_base import MISSING_RUN_CODES
from ._versions import API_VERSIONS

__all__ = ["FaultSpec", "build_fake", "build_parser", "main", "parse_fault"]

_UNLIMITED = ("inf", "unlimited")
_FLOAT_KEYS = ("probability", "retry_after", "delay")
_TEXT_KEYS = ("path", "user_agent")
_KEYS = ", ".join(("times", *_FLOAT_KEYS, *_TEXT_KEYS))


class FaultSpec(NamedTuple):
    """One ``--inject`` flag: the fault and the keyword arguments of `FakeCoreClaw.inject`."""

    fault: Fault
    options: dict[str, Any]


def _fault_of(name: str) -> Fault:
    try:
        return Fault(name.strip().lower().replace("-", "_"))
    except ValueError:
        known = ", ".join(fault.value for fault in Fault)
        raise argparse.ArgumentTypeError(f"unknown fault {name!r}; one of: {known}") from None


def parse_fault(text: str) -> FaultSpec:
    """Parse ``FAULT[:key=value,...]`` (an ``--inject`` value); ``ArgumentTypeError`` if invalid.

    Example: ``parse_fault("rate_limit:times=inf,retry_after=1")``.
    """
    name, _, rest = text.partition(":")
    fault = _fault_of(name)
    options: dict[str, Any] = {}
    try:
        for item in filter(None, (part.strip() for part in rest.split(","))):
            key, equals, value = item.partition("=")
            key = key.strip().replace("-", "_")
            value = value.strip()
            if not equals or key in options:
                raise ValueError(f"expected distinct key=value items, got {item!r}")
            if key == "times":
                options[key] = None if value.lower() in _UNLIMITED else int(value)
            elif key in _FLOAT_KEYS:
                options[key] = float(value)
            elif key in _TEXT_KEYS:
                options[key] = value
            else:
                raise ValueError(
                    f"unknown key {key!r}; one of: {', '.join(('times', *_FLOAT_KEYS, *_TEXT_KEYS))}"
                )
        # The checks of `inject` itself, so that a bad flag fails before anything is served.
        FaultRule.build(fault, **options)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None
    return FaultSpec(fault, options)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (every flag maps to a `FakeCoreClaw` keyword or ``--inject``)."""
    parser = argparse.ArgumentParser(
        prog="python -m coreclaw_async.testing",
        description="Serve a fake CoreClaw API (v1 and v2) until interrupted.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    add("--port", type=int, default=8080, help="port to bind; 0 = any free port")
    add("--api-key", default=None, help="accepted API key (default: generated)")
    add("--latency", type=float, default=0.0, help="seconds added to responses")
    add("--tasks", type=int, default=3, help="number of saved tasks to create")
    add("--rows-per-run", type=int, default=25, help="result rows per run")
    add("--fail-every", type=int, default=0, help="every Nth run fails; 0 = none")
    add(
        "--run-schedule",
        type=float,
        nargs=2,
        default=(0.05, 0.2),
        metavar=("READY", "RUNNING"),
        help="seconds a run stays ready, then running",
    )
    add("--http-status-mode", choices=HTTP_STATUS_MODES, default="mapped")
    add("--seed", type=int, default=None, help="seed of the fault and callback RNGs")
    add(
        "--api-versions",
        nargs="+",
        choices=API_VERSIONS,
        default=list(API_VERSIONS),
        metavar="VERSION",
        help="API versions to serve (v1, v2; default both); the others answer a plain 404",
    )
    add("--v2-missing-run-code", type=int, choices=MISSING_RUN_CODES, default=MISSING_RUN_CODES[0])
    account = parser.add_argument_group("account limits (shared by every client of the fake)")
    account.add_argument(
        "--rate-limit", type=float, default=None, help="API requests accepted per sliding second"
    )
    account.add_argument(
        "--concurrency-limit", type=int, default=None, help="plan limit of concurrent runs (30003 beyond)"
    )
    account.add_argument(
        "--concurrency-counts-ready",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="count ready runs as well as running ones against the plan limit (default: yes)",
    )
    account.add_argument("--balance", default=DEFAULT_BALANCE, help="account balance; 0 refuses starts")
    account.add_argument("--keepalive-timeout", type=_seconds, default=75.0, help="idle keep-alive seconds")
    callbacks = parser.add_argument_group("run callbacks (delivered to loopback URLs only)")
    callbacks.add_argument("--no-callbacks", action="store_true", help="deliver no run callbacks")
    callbacks.add_argument("--callback-drop", type=float, default=0.0, help="probability a notice is lost")
    callbacks.add_argument(
        "--callback-duplicate", type=float, default=0.0, help="probability a notice is sent twice"
    )
    callbacks.add_argument(
        "--callback-delay",
        type=_seconds,
        nargs="+",
        default=[0.0],
        metavar="SECONDS",
        help="delay of each notice: SECONDS, or LOW HIGH for a random delay in that range",
    )
    callbacks.add_argument(
        "--callback-reorder", type=float, default=0.0, help="probability 'running' arrives after the end"
    )
    callbacks.add_argument(
        "--callback-legacy-shape", type=float, default=0.0, help="probability of the legacy body"
    )
    parser.add_argument(
        "--inject",
        type=parse_fault,
        action="append",
        default=[],
        metavar="FAULT[:key=value,...]",
        help="inject a fault (repeatable); keys: times (default 1, inf = unlimited), probability, "
        "path, retry_after, delay, user_agent",
    )
    return parser


def build_fake(args: argparse.Namespace) -> FakeCoreClaw:
    """The fake the parsed ``args`` describe, faults injected; ``ValueError`` for invalid settings."""
    delay = args.callback_delay
    if len(delay) > 2:
        raise ValueError("--callback-delay takes SECONDS or LOW HIGH")
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
        v2_missing_run_code=args.v2_missing_run_code,
        rate_limit=args.rate_limit,
        concurrency_limit=args.concurrency_limit,
        concurrency_counts_ready=args.concurrency_counts_ready,
        balance=args.balance,
        keepalive_timeout=args.keepalive_timeout,
        callbacks=not args.no_callbacks,
        callback_drop=args.callback_drop,
        callback_duplicate=args.callback_duplicate,
        callback_delay=delay[0] if len(delay) == 1 else (delay[0], delay[1]),
        callback_reorder=args.callback_reorder,
        callback_legacy_shape=args.callback_legacy_shape,
    )
    for spec in args.inject:
        fake.inject(spec.fault, **spec.options)
    return fake


async def _serve(fake: FakeCoreClaw) -> None:
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
    """Parse ``argv`` and serve until interrupted; returns the exit status (2 for invalid settings)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        fake = build_fake(args)
    except ValueError as error:
        parser.error(str(error))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(fake))
    return 0


if __name__ == "__main__":
    sys.exit(main())
