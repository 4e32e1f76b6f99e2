"""The ``runs`` commands: get, list, wait, results, log, export, abort, rerun."""

from __future__ import annotations

import argparse
import json
import sys

from .._client import AsyncCoreClaw
from .._constants import (
    API_VERSIONS,
    CLI_RUNS_LIST_LIMIT,
    DEFAULT_ABORT_GRACE,
    DEFAULT_EXPORT_FORMAT,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_RESULT_PAGE_SIZE,
    DEFAULT_RUN_PAGE_SIZE,
    DEFAULT_WAIT_TIMEOUT,
    EXPORT_FORMATS,
)
from ..errors import WaitTimeoutError
from ..models.runs import Run
from ._args import keys_arg, non_negative_float, positive_float, positive_int, slug_arg, status_arg
from ._batch_args import add_wait_many
from ._output import (
    EXIT_WAIT_TIMEOUT,
    Progress,
    columns,
    pairs,
    progress_enabled,
    result_line,
    run_exit_code,
    run_pairs,
    size,
    stdout_closed,
    table,
    write_json,
)

__all__ = ["add_json", "register_runs"]


async def cmd_runs_get(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``runs get SLUG``: print one run."""
    run = await client.runs.get(args.run_slug)
    if args.json:
        write_json(run)
    else:
        pairs(run_pairs(run))
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
                write_json(run)
            else:
                collected.append(run)
            shown += 1
            if shown >= args.limit:
                break
    except BrokenPipeError:
        return stdout_closed()
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
        table(("slug", "status", "worker", "results", "usage", "started"), rows)
    return 0


async def cmd_runs_wait(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``runs wait SLUG``: poll until the run is final; exit 0 if it succeeded, 1 if not, 124 on timeout."""
    progress = Progress(args.run_slug, progress_enabled(args.progress), sys.stderr)
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
            write_json(exc.last_run)
        return EXIT_WAIT_TIMEOUT
    progress.done()
    if args.json:
        write_json(run)
    else:
        pairs(run_pairs(run))
    return run_exit_code(run)


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
                    keys = columns(rows.headers, row)
                    labels = {header.key: header.label or header.key for header in rows.headers or ()}
                    sys.stdout.write(result_line([labels.get(key, key).upper() for key in keys]))
                sys.stdout.write(result_line([row.get(key) for key in keys]))
            written += 1
    except BrokenPipeError:
        return stdout_closed()
    if not args.json and written == 0:
        sys.stderr.write("(no results)\n")
    return 0


async def cmd_runs_log(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``runs log SLUG``: the log summary and the URL of the full log."""
    log = await client.runs.log(args.run_slug)
    if args.json:
        write_json(log)
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
            write_json(link)
        else:
            sys.stdout.write(link.download_url + "\n")
        return 0
    try:
        if args.output == "-":
            await client.runs.download(link, sys.stdout.buffer)
            sys.stdout.flush()
            return 0
        written = await client.runs.download(link, args.output)
    except OSError as exc:
        sys.stderr.write(f"error: cannot write {args.output}: {exc}\n")
        return 1
    if args.json:
        write_json({"download_url": link.download_url, "path": args.output, "bytes": written})
    else:
        sys.stdout.write(f"wrote {written} bytes ({size(written)}) to {args.output}\n")
    return 0


async def cmd_runs_abort(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``runs abort SLUG``: ask the server to stop a run."""
    await client.runs.abort(args.run_slug)
    if args.json:
        write_json({"run_slug": args.run_slug, "abort_requested": True})
    else:
        sys.stdout.write(f"abort requested for {args.run_slug}\n")
    return 0


async def cmd_runs_rerun(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``runs rerun SLUG``: start the run again with the same input; print the new run slug."""
    started = await client.runs.rerun(args.run_slug, callback_url=args.callback_url)
    if args.json:
        write_json({"run_slug": started.run_slug, "rerun_of": args.run_slug})
    else:
        sys.stdout.write(started.run_slug + "\n")
    return 0


def add_json(parser: argparse.ArgumentParser, what: str = "print JSON") -> None:
    """Give ``parser`` the options every command has: ``--json``, and ``--api-version`` (also
    accepted after the command; the global one before it is its default)."""
    parser.add_argument("--json", action="store_true", help=what)
    parser.add_argument(
        "--api-version", choices=API_VERSIONS, default=argparse.SUPPRESS, help="CoreClaw API version"
    )


def register_runs(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``runs`` commands; every leaf parser sets ``func`` to an ``async (args, client) -> int``."""
    runs = subparsers.add_parser("runs", help="read, wait for, export, rerun and abort runs")
    run_actions = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)

    get = run_actions.add_parser("get", help="show one run")
    get.add_argument("run_slug", type=slug_arg)
    add_json(get)
    get.set_defaults(func=cmd_runs_get)

    listing = run_actions.add_parser("list", help="list recent runs, newest first")
    listing.add_argument("--status", type=status_arg, help="all, ready, running, succeeded, failed, aborting")
    listing.add_argument("--scraper-slug", help="only runs of this Worker")
    listing.add_argument(
        "--limit",
        type=positive_int,
        default=CLI_RUNS_LIST_LIMIT,
        help=f"runs to show (default {CLI_RUNS_LIST_LIMIT})",
    )
    listing.add_argument(
        "--page-size", type=positive_int, default=DEFAULT_RUN_PAGE_SIZE, help=argparse.SUPPRESS
    )
    add_json(listing, "print JSON Lines, one run per line")
    listing.set_defaults(func=cmd_runs_list)

    wait = run_actions.add_parser(
        "wait", help="wait until a run is final (exit 0 succeeded, 1 failed/aborted, 124 timeout)"
    )
    wait.add_argument("run_slug", type=slug_arg)
    wait.add_argument(
        "--wait-timeout",
        type=positive_float,
        default=DEFAULT_WAIT_TIMEOUT,
        help=f"give up after this many seconds (default {DEFAULT_WAIT_TIMEOUT:g})",
    )
    wait.add_argument(
        "--poll-interval",
        type=positive_float,
        default=DEFAULT_POLL_INTERVAL,
        help=f"longest gap between checks in seconds (default {DEFAULT_POLL_INTERVAL:g})",
    )
    wait.add_argument(
        "--abort-grace",
        type=non_negative_float,
        default=DEFAULT_ABORT_GRACE,
        help=f"seconds to keep polling a run stuck in 'aborting' (default {DEFAULT_ABORT_GRACE:g})",
    )
    wait.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="show progress on stderr (auto: only on a terminal)",
    )
    add_json(wait)
    wait.set_defaults(func=cmd_runs_wait)
    add_wait_many(run_actions)

    results = run_actions.add_parser("results", help="stream the result rows of a run")
    results.add_argument("run_slug", type=slug_arg)
    results.add_argument(
        "--page-size",
        type=positive_int,
        default=DEFAULT_RESULT_PAGE_SIZE,
        help=f"rows per request (default {DEFAULT_RESULT_PAGE_SIZE})",
    )
    results.add_argument("--limit", type=positive_int, help="stop after this many rows")
    add_json(results, "print JSON Lines, one row per line")
    results.set_defaults(func=cmd_runs_results)

    log = run_actions.add_parser("log", help="show the log summary of a run")
    log.add_argument("run_slug", type=slug_arg)
    add_json(log)
    log.set_defaults(func=cmd_runs_log)

    export = run_actions.add_parser(
        "export", help="export the results to a file (print its URL or download it)"
    )
    export.add_argument("run_slug", type=slug_arg)
    export.add_argument(
        "--format", choices=EXPORT_FORMATS, default=DEFAULT_EXPORT_FORMAT, help="csv or json (v1)"
    )
    export.add_argument(
        "--filter-keys", type=keys_arg, default=(), help="comma-separated column keys to keep (default all)"
    )
    export.add_argument("-o", "--output", help="download the file to this path ('-' for stdout)")
    add_json(export)
    export.set_defaults(func=cmd_runs_export)

    abort = run_actions.add_parser("abort", help="ask the server to stop a run")
    abort.add_argument("run_slug", type=slug_arg)
    add_json(abort)
    abort.set_defaults(func=cmd_runs_abort)

    rerun = run_actions.add_parser("rerun", help="start a run again with the same input")
    rerun.add_argument("run_slug", type=slug_arg)
    rerun.add_argument(
        "--callback-url", help="webhook URL (required by CoreClaw; default $CORECLAW_CALLBACK_URL)"
    )
    add_json(rerun)
    rerun.set_defaults(func=cmd_runs_rerun)
