"""The ``workers``, ``account`` and ``proxy-regions`` commands."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._client import AsyncCoreClaw
from .._constants import DEFAULT_STORE_LIMIT, MEMORY_CHOICES_MB
from ..models.workers import StoreWorker, Worker, WorkerRunSync
from ._args import json_input_arg, non_negative_float, positive_float, positive_int, slug_arg
from ._output import EXIT_RUN_FAILED, columns, pairs, size, table, write_json
from ._runs import add_json

__all__ = ["register_workers"]


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
        write_json({"run_slug": started.run_slug, "scraper_slug": args.scraper_slug})
    else:
        sys.stdout.write(started.run_slug + "\n")
    return 0


def _print_sync(result: WorkerRunSync, as_json: bool) -> int:
    if as_json:
        write_json(result)
    else:
        count = result.results.count if result.results is not None else None
        pairs(
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
            keys = columns(result.results.headers, result.results.items[0])
            sys.stdout.write("\n")
            table(keys, [[row.get(key) for key in keys] for row in result.results.items])
    if not result.is_finished:
        sys.stderr.write(f"the run is still going: coreclaw-async runs wait {result.run_slug}\n")
    return 0 if not result.error_message else EXIT_RUN_FAILED


async def cmd_workers_get(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``workers get SLUG``: a Worker's version, container defaults and input fields."""
    worker = await client.workers.get(args.scraper_slug)
    if args.json:
        write_json(worker)
        return 0
    _print_worker(args.scraper_slug, worker)
    return 0


def _print_worker(slug: str, worker: Worker) -> None:
    system = worker.system
    pairs(
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
    table(("input", "type", "required", "default", "title"), rows)


async def cmd_workers_schema(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``workers schema WORKER``: the Worker's input schema (API v2), JSON-schema-like."""
    schema = await client.workers.input_schema(args.scraper_slug)
    if args.json:
        write_json(schema.input_schema)
        return 0
    required = set(schema.required)
    rows = [
        (
            name,
            spec.get("type", "") if isinstance(spec, dict) else "",
            "yes" if name in required else "",
            (spec.get("title") or spec.get("description") or "") if isinstance(spec, dict) else "",
        )
        for name, spec in schema.properties.items()
    ]
    table(("input", "type", "required", "title"), rows)
    return 0


async def cmd_workers_search(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``workers search QUERY``: find Workers in the store."""
    found: list[StoreWorker] = await client.workers.search(args.query, limit=args.limit)
    if args.json:
        write_json(found)
    elif not found:
        sys.stderr.write("no Workers found\n")
    else:
        table(("slug", "title", "description"), [(w.slug, w.title, w.description) for w in found])
    return 0


# -- account and platform ----------------------------------------------------------------


async def cmd_account(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``account``: the balance (and its expiry on v2, traffic on v1) of the account behind the key."""
    info = await client.account.info()
    if args.json:
        write_json(info)
    elif client.api_version == "v2":
        # v2 reports no traffic; it says when the balance expires instead.
        pairs([("balance", f"${info.balance}"), ("balance expires", info.balance_expiration_at)])
    else:
        pairs(
            [
                ("balance", f"${info.balance}"),
                ("traffic", f"{size(info.traffic)} ({info.traffic} bytes)"),
                ("traffic expires", info.traffic_expiration_at),
            ]
        )
    return 0


async def cmd_proxy_regions(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``proxy-regions``: the exit regions a run can use."""
    regions = await client.proxy_regions()
    if args.json:
        write_json(regions)
    else:
        table(("code", "name"), [(region.code, region.name) for region in regions])
    return 0


def register_workers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``workers``, ``account`` and ``proxy-regions`` commands."""
    workers = subparsers.add_parser("workers", help="run, inspect and find Workers")
    worker_actions = workers.add_subparsers(dest="workers_command", metavar="ACTION", required=True)

    start = worker_actions.add_parser("run", help="start a Worker run and print its run slug")
    start.add_argument("scraper_slug", type=slug_arg)
    start.add_argument(
        "--input",
        type=json_input_arg,
        help="the Worker's input as JSON, @file.json or - for stdin (default: the Worker's defaults)",
    )
    start.add_argument("--version", help="Worker version (default: latest)")
    start.add_argument(
        "--sync", action="store_true", help="let the server wait for the run (up to 5 minutes)"
    )
    start.add_argument(
        "--page-size", type=positive_int, help="rows returned by a --sync run (default 10, max 1000)"
    )
    start.add_argument("--cpus", type=positive_float, help="CPU cores (e.g. 0.125, 0.5, 1)")
    start.add_argument("--memory", type=int, choices=MEMORY_CHOICES_MB, help="memory in MB")
    start.add_argument("--execute-limit", type=positive_int, help="container time limit in seconds")
    start.add_argument("--max-charge", type=non_negative_float, help="USD cap (0 = none)")
    start.add_argument("--max-traffic", type=non_negative_float, help="traffic cap in MB (0 = none)")
    start.add_argument("--proxy-region", help="exit region code, e.g. US (see proxy-regions)")
    start.add_argument("--callback-url", help="webhook URL CoreClaw posts run updates to")
    add_json(start)
    start.set_defaults(func=cmd_workers_run)

    show = worker_actions.add_parser("get", help="show a Worker's version and input fields")
    show.add_argument("scraper_slug", type=slug_arg)
    add_json(show)
    show.set_defaults(func=cmd_workers_get)

    schema = worker_actions.add_parser("schema", help="show a Worker's input schema (API v2; no key needed)")
    schema.add_argument("scraper_slug", type=slug_arg)
    add_json(schema)
    schema.set_defaults(func=cmd_workers_schema)

    search = worker_actions.add_parser("search", help="search the Worker store")
    search.add_argument("query")
    search.add_argument(
        "--limit",
        type=positive_int,
        default=DEFAULT_STORE_LIMIT,
        help=f"at most (default {DEFAULT_STORE_LIMIT})",
    )
    add_json(search)
    search.set_defaults(func=cmd_workers_search)

    account = subparsers.add_parser("account", help="show the balance and traffic of the account")
    add_json(account)
    account.set_defaults(func=cmd_account)

    regions = subparsers.add_parser("proxy-regions", help="list the proxy exit regions")
    add_json(regions)
    regions.set_defaults(func=cmd_proxy_regions)
