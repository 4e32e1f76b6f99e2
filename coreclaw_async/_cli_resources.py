"""Resource subcommands of the ``coreclaw-async`` command line: ``runs``, ``workers``, ``account``.

:func:`register` adds them to the main parser; each subcommand sets ``func`` to an
``async (args, client) -> exit code`` function. Every command prints a readable table by
default and JSON with ``--json`` (JSON Lines for the streaming ones: ``runs list``,
``runs results``). Progress goes to stderr, and only on a terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TextIO

import attrs

from ._client import AsyncCoreClaw
from ._constants import (
    DEFAULT_ABORT_GRACE,
    DEFAULT_EXPORT_FORMAT,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_RESULT_PAGE_SIZE,
    DEFAULT_RUN_PAGE_SIZE,
    DEFAULT_STORE_LIMIT,
    DEFAULT_WAIT_TIMEOUT,
    EXPORT_FORMATS,
    MEMORY_CHOICES_MB,
    ROW_ID_KEY,
)
from .errors import WaitTimeoutError
from .models.runs import ResultHeader, Run, RunStatus
from .models.workers import StoreWorker, Worker, WorkerRunSync

__all__ = ["register"]

# Exit codes beyond 0 (success), 1 (error) and 2 (bad arguments) used by the main CLI.
EXIT_RUN_FAILED = 1
EXIT_WAIT_TIMEOUT = 124  # as timeout(1)
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell pipeline reports it

_CELL_WIDTH = 60
_RESULT_CELL_WIDTH = 30


# -- output helpers ----------------------------------------------------------------------


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: attrs models as dicts, enums by lower-case name,
    ``Decimal`` as a string (exact), datetimes in ISO 8601."""
    if attrs.has(type(value)):
        return {field.name: plain(getattr(value, field.name)) for field in attrs.fields(type(value))}
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def _write_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(plain(obj), ensure_ascii=False) + "\n")


def _cell(value: Any, width: int = _CELL_WIDTH) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, enum.Enum):
        text = value.name.lower()
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    text = " ".join(text.split()) if "\n" in text or "\t" in text else text
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        widths = [max(width, len(text)) for width, text in zip(widths, row, strict=True)]
    lines = [
        "  ".join(header.upper().ljust(width) for header, width in zip(headers, widths, strict=True)).rstrip()
    ]
    lines += [
        "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    sys.stdout.write("\n".join(lines) + "\n")


def _pairs(pairs: Sequence[tuple[str, Any]]) -> None:
    width = max(len(name) for name, _ in pairs)
    sys.stdout.write("".join(f"{name.ljust(width)}  {_cell(value, 200)}\n" for name, value in pairs))


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"  # pragma: no cover - the loop always returns


def _run_pairs(run: Run) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [
        ("slug", run.run_slug),
        ("status", f"{run.status.name.lower()} ({run.status_code})"),
        ("worker", f"{run.scraper_title} ({run.scraper_slug})" if run.scraper_title else run.scraper_slug),
        ("version", run.version),
        ("results", run.results),
        ("usage", f"${run.usage}"),
        ("traffic", _size(run.traffic)),
        ("started", run.started_at),
        ("finished", run.finished_at),
        ("duration", f"{run.duration} s"),
        ("origin", run.origin),
    ]
    if run.err_msg:
        pairs.append(("error", run.err_msg))
    return pairs


def _run_exit_code(run: Run) -> int:
    return 0 if run.succeeded else EXIT_RUN_FAILED


def _stdout_closed() -> int:
    """The reader of stdout went away (``... | head``): stop quietly with the shell's SIGPIPE code."""
    # Point stdout at /dev/null so the interpreter's final flush does not fail again.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


class _Progress:
    """A one-line status display on stderr while waiting; silent unless enabled."""

    def __init__(self, slug: str, enabled: bool, stream: TextIO) -> None:
        self._slug = slug
        self._enabled = enabled
        self._stream = stream
        self._start = time.monotonic()
        self._shown = False

    def __call__(self, run: Run) -> None:
        if not self._enabled:
            return
        elapsed = time.monotonic() - self._start
        line = f"\r{self._slug}: {run.status.name.lower():<9} {run.results:>7} results  {elapsed:6.1f} s"
        self._stream.write(line)
        self._stream.flush()
        self._shown = True

    def done(self) -> None:
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()


def _progress_enabled(choice: str) -> bool:
    if choice == "always":
        return True
    if choice == "never":
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


# -- argument types ----------------------------------------------------------------------


def _status_arg(text: str) -> int:
    """``--status``: a name (``running``) or a number 0-5."""
    name = text.strip().upper()
    if name in ("ALL", "0"):
        return 0
    if name.isdigit():
        return int(name)
    try:
        member = RunStatus[name]
    except KeyError:
        choices = ", ".join(m.name.lower() for m in RunStatus if m is not RunStatus.UNKNOWN)
        raise argparse.ArgumentTypeError(f"unknown status {text!r} (use all, {choices} or 0-5)") from None
    if member is RunStatus.UNKNOWN:
        raise argparse.ArgumentTypeError("unknown is not a status to filter on")
    return int(member)


def _json_input_arg(text: str) -> Any:
    """``--input``: JSON text, ``@path`` of a JSON file, or ``-`` for stdin."""
    try:
        if text == "-":
            raw = sys.stdin.read()
        elif text.startswith("@"):
            with open(text[1:], encoding="utf-8") as handle:
                raw = handle.read()
        else:
            raw = text
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read input: {exc}") from None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"input is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("input must be a JSON object")
    return value


def _keys_arg(text: str) -> tuple[str, ...]:
    return tuple(key.strip() for key in text.split(",") if key.strip())


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


# -- runs --------------------------------------------------------------------------------


async def cmd_runs_get(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``runs get SLUG``: print one run."""
    run = await client.runs.get(args.run_slug)
    if args.json:
        _write_json(run)
    else:
        _pairs(_run_pairs(run))
    return 0


async def cmd_runs_list(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``runs list``: the run history, newest first (JSON Lines with ``--json``)."""
    page_size = min(args.page_size, args.limit)
    runs = client.runs.list(status=args.status, scraper_slug=args.scraper_slug, page_size=page_size)
    collected: list[Run] = []
    shown = 0
    try:
        async for run in runs:
            if args.json:
                _write_json(run)
            else:
                collected.append(run)
            shown += 1
            if shown >= args.limit:
                break
    except BrokenPipeError:
        return _stdout_closed()
    if not args.json:
        rows = [
            (
                run.run_slug,
                run.status,
                run.scraper_title or run.scraper_slug,
                run.results,
                run.usage,
                run.started_at,
            )
            for run in collected
        ]
        _table(("slug", "status", "worker", "results", "usage", "started"), rows)
    return 0


async def cmd_runs_wait(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``runs wait SLUG``: poll until the run is final; exit 0 if it succeeded, 1 if not, 124 on timeout."""
    progress = _Progress(args.run_slug, _progress_enabled(args.progress), sys.stderr)
    try:
        run = await client.runs.wait(
            args.run_slug,
            timeout=args.wait_timeout,
            poll_interval=args.poll_interval,
            abort_grace=args.abort_grace,
            on_poll=progress,
        )
    except WaitTimeoutError as exc:
        progress.done()
        sys.stderr.write(f"error: {exc}\n")
        if args.json and exc.last_run is not None:
            _write_json(exc.last_run)
        return EXIT_WAIT_TIMEOUT
    progress.done()
    if args.json:
        _write_json(run)
    else:
        _pairs(_run_pairs(run))
    return _run_exit_code(run)


async def cmd_runs_results(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``runs results SLUG``: stream every row (JSON Lines with ``--json``, a table otherwise)."""
    rows = client.runs.results(args.run_slug, page_size=args.page_size)
    written = 0
    keys: list[str] = []
    try:
        async for row in rows:
            if args.limit is not None and written >= args.limit:
                break
            if args.json:
                sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                if not keys:
                    keys = _columns(rows.headers, row)
                    labels = {header.key: header.label or header.key for header in rows.headers or ()}
                    sys.stdout.write(_result_line([labels.get(key, key).upper() for key in keys]))
                sys.stdout.write(_result_line([row.get(key) for key in keys]))
            written += 1
    except BrokenPipeError:
        return _stdout_closed()
    if not args.json and written == 0:
        sys.stderr.write("(no results)\n")
    return 0


def _columns(headers: Sequence[ResultHeader] | None, row: Mapping[str, Any]) -> list[str]:
    """Column keys from the headers, or from the first row (without the internal id) if none."""
    keys = [header.key for header in headers or ()]
    return keys or [key for key in row if key != ROW_ID_KEY]


def _result_line(values: Sequence[Any]) -> str:
    cells = [_cell(value, _RESULT_CELL_WIDTH).ljust(_RESULT_CELL_WIDTH) for value in values]
    return "  ".join(cells).rstrip() + "\n"


async def cmd_runs_log(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``runs log SLUG``: the log summary and the URL of the full log."""
    log = await client.runs.log(args.run_slug)
    if args.json:
        _write_json(log)
        return 0
    for entry in log.items:
        stamp = entry.timestamp.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if entry.timestamp else "-"
        first, *rest = entry.content.splitlines() or [""]
        sys.stdout.write(f"{stamp}  {entry.level.name:<7}  {first}\n")
        sys.stdout.writelines(f"{'':<23}  {'':<7}  {line}\n" for line in rest)
    sys.stdout.write(f"full log: {log.all_logs_url}\nresults:  {log.result_count}\n")
    return 0


async def cmd_runs_export(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``runs export SLUG``: export the results; print the link, or download it with ``-o``."""
    link = await client.runs.export(args.run_slug, format=args.format, filter_keys=args.filter_keys)
    if args.output is None:
        if args.json:
            _write_json(link)
        else:
            sys.stdout.write(link.download_url + "\n")
        return 0
    try:
        if args.output == "-":
            await client.runs.download(link, sys.stdout.buffer)
            sys.stdout.flush()
            return 0
        size = await client.runs.download(link, args.output)
    except OSError as exc:
        sys.stderr.write(f"error: cannot write {args.output}: {exc}\n")
        return 1
    if args.json:
        _write_json({"download_url": link.download_url, "path": args.output, "bytes": size})
    else:
        sys.stdout.write(f"wrote {size} bytes ({_size(size)}) to {args.output}\n")
    return 0


async def cmd_runs_abort(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``runs abort SLUG``: ask the server to stop a run."""
    await client.runs.abort(args.run_slug)
    if args.json:
        _write_json({"run_slug": args.run_slug, "abort_requested": True})
    else:
        sys.stdout.write(f"abort requested for {args.run_slug}\n")
    return 0


async def cmd_runs_rerun(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``runs rerun SLUG``: start the run again with the same input; print the new run slug."""
    started = await client.runs.rerun(args.run_slug, callback_url=args.callback_url)
    if args.json:
        _write_json({"run_slug": started.run_slug, "rerun_of": args.run_slug})
    else:
        sys.stdout.write(started.run_slug + "\n")
    return 0


# -- workers -----------------------------------------------------------------------------


async def cmd_workers_run(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``workers run SLUG``: start a run (``--sync`` waits on the server up to 5 minutes)."""
    custom = args.input
    if custom is None:
        worker = await client.workers.get(args.scraper_slug)
        custom = worker.default_input()
    common: dict[str, Any] = {
        "input": custom,
        "version": args.version,
        "callback_url": args.callback_url,
        "cpus": args.cpus,
        "memory": args.memory,
        "execute_limit_time_seconds": args.execute_limit,
        "max_total_charge": args.max_charge,
        "max_total_traffic": args.max_traffic,
        "proxy_region": args.proxy_region,
    }
    if args.sync:
        result = await client.workers.run(
            args.scraper_slug, is_async=False, page_size=args.page_size, **common
        )
        return _print_sync(result, args.json)
    started = await client.workers.run(args.scraper_slug, **common)
    if args.json:
        _write_json({"run_slug": started.run_slug, "scraper_slug": args.scraper_slug})
    else:
        sys.stdout.write(started.run_slug + "\n")
    return 0


def _print_sync(result: WorkerRunSync, as_json: bool) -> int:
    if as_json:
        _write_json(result)
    else:
        count = result.results.count if result.results is not None else None
        _pairs(
            [
                ("run_slug", result.run_slug),
                ("run_status", result.run_status),
                ("started", result.execution_start_timestamp),
                ("finished", result.execution_end_timestamp),
                ("duration", f"{result.running_duration} s"),
                ("results", count),
                ("error", result.error_message or None),
            ]
        )
        if result.results is not None and result.results.items:
            keys = _columns(result.results.headers, result.results.items[0])
            sys.stdout.write("\n")
            _table(keys, [[row.get(key) for key in keys] for row in result.results.items])
    if not result.is_finished:
        sys.stderr.write(f"the run is still going: coreclaw-async runs wait {result.run_slug}\n")
    return 0 if not result.error_message else EXIT_RUN_FAILED


async def cmd_workers_get(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``workers get SLUG``: a Worker's version, container defaults and input fields."""
    worker = await client.workers.get(args.scraper_slug)
    if args.json:
        _write_json(worker)
        return 0
    _print_worker(args.scraper_slug, worker)
    return 0


def _print_worker(slug: str, worker: Worker) -> None:
    system = worker.system
    _pairs(
        [
            ("worker", slug),
            ("version", worker.version),
            ("cpus", system.cpus),
            ("memory", f"{system.memory} MB"),
            ("time limit", f"{system.execute_limit_time_seconds} s"),
            ("max charge", system.max_total_charge or "none"),
            ("max traffic", system.max_total_traffic or "none"),
        ]
    )
    sys.stdout.write("\n")
    rows = [
        (prop.name, prop.type, "yes" if prop.required else "", prop.default, prop.title)
        for prop in worker.properties
    ]
    _table(("input", "type", "required", "default", "title"), rows)


async def cmd_workers_search(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``workers search QUERY``: find Workers in the store."""
    found: list[StoreWorker] = await client.workers.search(args.query, limit=args.limit)
    if args.json:
        _write_json(found)
    elif not found:
        sys.stderr.write("no Workers found\n")
    else:
        _table(("slug", "title", "description"), [(w.slug, w.title, w.description) for w in found])
    return 0


# -- account and platform ----------------------------------------------------------------


async def cmd_account(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``account``: balance and traffic of the account behind the key."""
    info = await client.account.info()
    if args.json:
        _write_json(info)
    else:
        _pairs(
            [
                ("balance", f"${info.balance}"),
                ("traffic", f"{_size(info.traffic)} ({info.traffic} bytes)"),
                ("traffic expires", info.traffic_expiration_at),
            ]
        )
    return 0


async def cmd_proxy_regions(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``proxy-regions``: the exit regions a run can use."""
    regions = await client.proxy_regions()
    if args.json:
        _write_json(regions)
    else:
        _table(("code", "name"), [(region.code, region.name) for region in regions])
    return 0


# -- the parser --------------------------------------------------------------------------


def _add_json(parser: argparse.ArgumentParser, what: str = "print JSON") -> None:
    parser.add_argument("--json", action="store_true", help=what)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``runs``, ``workers``, ``account`` and ``proxy-regions`` commands to the main CLI.

    Every leaf parser sets ``func`` to an ``async (args, client) -> int`` function.
    """
    runs = subparsers.add_parser("runs", help="read, wait for, export, rerun and abort runs")
    run_actions = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)

    get = run_actions.add_parser("get", help="show one run")
    get.add_argument("run_slug")
    _add_json(get)
    get.set_defaults(func=cmd_runs_get)

    listing = run_actions.add_parser("list", help="list recent runs, newest first")
    listing.add_argument(
        "--status", type=_status_arg, help="all, ready, running, succeeded, failed, aborting"
    )
    listing.add_argument("--scraper-slug", help="only runs of this Worker")
    listing.add_argument("--limit", type=_positive_int, default=20, help="runs to show (default 20)")
    listing.add_argument(
        "--page-size", type=_positive_int, default=DEFAULT_RUN_PAGE_SIZE, help=argparse.SUPPRESS
    )
    _add_json(listing, "print JSON Lines, one run per line")
    listing.set_defaults(func=cmd_runs_list)

    wait = run_actions.add_parser(
        "wait", help="wait until a run is final (exit 0 succeeded, 1 failed/aborted, 124 timeout)"
    )
    wait.add_argument("run_slug")
    wait.add_argument(
        "--wait-timeout",
        type=_positive_float,
        default=DEFAULT_WAIT_TIMEOUT,
        help=f"give up after this many seconds (default {DEFAULT_WAIT_TIMEOUT:g})",
    )
    wait.add_argument(
        "--poll-interval",
        type=_positive_float,
        default=DEFAULT_POLL_INTERVAL,
        help=f"longest gap between checks in seconds (default {DEFAULT_POLL_INTERVAL:g})",
    )
    wait.add_argument(
        "--abort-grace",
        type=float,
        default=DEFAULT_ABORT_GRACE,
        help=f"seconds to keep polling a run stuck in 'aborting' (default {DEFAULT_ABORT_GRACE:g})",
    )
    wait.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="show progress on stderr (auto: only on a terminal)",
    )
    _add_json(wait)
    wait.set_defaults(func=cmd_runs_wait)

    results = run_actions.add_parser("results", help="stream the result rows of a run")
    results.add_argument("run_slug")
    results.add_argument(
        "--page-size",
        type=_positive_int,
        default=DEFAULT_RESULT_PAGE_SIZE,
        help=f"rows per request (default {DEFAULT_RESULT_PAGE_SIZE})",
    )
    results.add_argument("--limit", type=_positive_int, help="stop after this many rows")
    _add_json(results, "print JSON Lines, one row per line")
    results.set_defaults(func=cmd_runs_results)

    log = run_actions.add_parser("log", help="show the log summary of a run")
    log.add_argument("run_slug")
    _add_json(log)
    log.set_defaults(func=cmd_runs_log)

    export = run_actions.add_parser(
        "export", help="export the results to a file (print its URL or download it)"
    )
    export.add_argument("run_slug")
    export.add_argument(
        "--format", choices=EXPORT_FORMATS, default=DEFAULT_EXPORT_FORMAT, help="csv or json (v1)"
    )
    export.add_argument(
        "--filter-keys", type=_keys_arg, default=(), help="comma-separated column keys to keep (default all)"
    )
    export.add_argument("-o", "--output", help="download the file to this path ('-' for stdout)")
    _add_json(export)
    export.set_defaults(func=cmd_runs_export)

    abort = run_actions.add_parser("abort", help="ask the server to stop a run")
    abort.add_argument("run_slug")
    _add_json(abort)
    abort.set_defaults(func=cmd_runs_abort)

    rerun = run_actions.add_parser("rerun", help="start a run again with the same input")
    rerun.add_argument("run_slug")
    rerun.add_argument(
        "--callback-url", help="webhook URL (required by CoreClaw; default $CORECLAW_CALLBACK_URL)"
    )
    _add_json(rerun)
    rerun.set_defaults(func=cmd_runs_rerun)

    workers = subparsers.add_parser("workers", help="run, inspect and find Workers")
    worker_actions = workers.add_subparsers(dest="workers_command", metavar="ACTION", required=True)

    start = worker_actions.add_parser("run", help="start a Worker run and print its run slug")
    start.add_argument("scraper_slug")
    start.add_argument(
        "--input",
        type=_json_input_arg,
        help="the Worker's input as JSON, @file.json or - for stdin (default: the Worker's defaults)",
    )
    start.add_argument("--version", help="Worker version (default: latest)")
    start.add_argument(
        "--sync", action="store_true", help="let the server wait for the run (up to 5 minutes)"
    )
    start.add_argument(
        "--page-size", type=_positive_int, help="rows returned by a --sync run (default 10, max 1000)"
    )
    start.add_argument("--cpus", type=_positive_float, help="CPU cores (e.g. 0.125, 0.5, 1)")
    start.add_argument("--memory", type=int, choices=MEMORY_CHOICES_MB, help="memory in MB")
    start.add_argument("--execute-limit", type=_positive_int, help="container time limit in seconds")
    start.add_argument("--max-charge", type=float, help="USD cap (0 = none)")
    start.add_argument("--max-traffic", type=float, help="traffic cap in MB (0 = none)")
    start.add_argument("--proxy-region", help="exit region code, e.g. US (see proxy-regions)")
    start.add_argument("--callback-url", help="webhook URL CoreClaw posts run updates to")
    _add_json(start)
    start.set_defaults(func=cmd_workers_run)

    show = worker_actions.add_parser("get", help="show a Worker's version and input fields")
    show.add_argument("scraper_slug")
    _add_json(show)
    show.set_defaults(func=cmd_workers_get)

    search = worker_actions.add_parser("search", help="search the Worker store")
    search.add_argument("query")
    search.add_argument(
        "--limit",
        type=_positive_int,
        default=DEFAULT_STORE_LIMIT,
        help=f"at most (default {DEFAULT_STORE_LIMIT})",
    )
    _add_json(search)
    search.set_defaults(func=cmd_workers_search)

    account = subparsers.add_parser("account", help="show the balance and traffic of the account")
    _add_json(account)
    account.set_defaults(func=cmd_account)

    regions = subparsers.add_parser("proxy-regions", help="list the proxy exit regions")
    _add_json(regions)
    regions.set_defaults(func=cmd_proxy_regions)
