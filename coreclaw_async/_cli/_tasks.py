"""The ``tasks`` commands: run a saved Task, and on API v2 list, show, create, update, delete it
and read or replace its input."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._client import AsyncCoreClaw
from .._constants import CLI_RUNS_LIST_LIMIT
from ..errors import InvalidParameterError
from ..models.tasks import Schedule, Task
from ._args import json_input_arg, positive_int, slug_arg
from ._batch_args import add_run_many
from ._output import pairs, stdout_closed, table, write_json
from ._runs import add_json

__all__ = ["register_tasks", "schedule_arg"]


def schedule_arg(text: str) -> Schedule:
    """``--schedule``: ``daily@HH:MM``, ``weekly:D@HH:MM`` (D 1=Mon..7), ``monthly:N@HH:MM``,
    ``once:YYYY-MM-DD@HH:MM``; a leading ``off:`` keeps it but disabled."""
    enabled = True
    spec = text.strip()
    if spec.startswith("off:"):
        enabled, spec = False, spec[4:]
    kind, _, time = spec.partition("@")
    name, _, value = kind.partition(":")
    try:
        if name == "daily" and not value:
            return Schedule.daily(time, enabled=enabled)
        if name == "weekly":
            return Schedule.weekly(int(value), time, enabled=enabled)
        if name == "monthly":
            return Schedule.monthly(int(value), time, enabled=enabled)
        if name == "once":
            return Schedule.once(value, time, enabled=enabled)
    except ValueError as exc:  # int("x"), and InvalidParameterError (a ValueError)
        detail = exc.message if isinstance(exc, InvalidParameterError) else str(exc)
        raise argparse.ArgumentTypeError(f"bad schedule {text!r}: {detail}") from None
    raise argparse.ArgumentTypeError(
        f"bad schedule {text!r}: use daily@07:00, weekly:1@07:00, monthly:15@07:00 or once:2026-12-01@07:00"
    )


def _schedule_text(task: Task) -> str:
    schedule = task.schedule
    if schedule is None:
        return "-"
    kind = schedule.kind.name.lower()
    detail = {"weekly": schedule.weekday, "monthly": schedule.day, "once": schedule.on}.get(kind)
    text = f"{kind}:{detail}@{schedule.time}" if detail is not None else f"{kind}@{schedule.time}"
    return text if schedule.enabled else f"off:{text}"


def _task_pairs(task: Task) -> list[tuple[str, Any]]:
    return [
        ("task", task.task_slug),
        ("title", task.title),
        ("description", task.description or None),
        ("worker", f"{task.worker_title} ({task.worker_path or task.worker_slug})"),
        ("version", task.version or "latest"),
        ("schedule", _schedule_text(task)),
        ("runs", task.run_times),
        ("last run", task.last_run_id),
        ("created", task.created_at),
        ("updated", task.updated_at),
    ]


async def cmd_tasks_run(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``tasks run TASK``: start a run of a saved Task and print its run slug."""
    run = await client.tasks.run(args.task_slug, callback_url=args.callback_url)
    if args.json:
        write_json({"run_slug": run.run_slug, "task_slug": args.task_slug})
    else:
        sys.stdout.write(run.run_slug + "\n")
    return 0


async def cmd_tasks_list(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``tasks list``: your saved Tasks (JSON Lines with ``--json``)."""
    found: list[Task] = []
    try:
        async for task in client.tasks.list(worker=args.worker, keyword=args.keyword):
            if args.json:
                write_json(task)
            else:
                found.append(task)
            if len(found) >= args.limit:
                break
    except BrokenPipeError:
        return stdout_closed()
    if not args.json:
        rows = [
            (t.task_slug, t.title, t.worker_path or t.worker_slug, _schedule_text(t), t.run_times)
            for t in found
        ]
        table(("task", "title", "worker", "schedule", "runs"), rows)
    return 0


async def cmd_tasks_get(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``tasks get TASK``: one saved Task."""
    task = await client.tasks.get(args.task_slug)
    if args.json:
        write_json(task)
    else:
        pairs(_task_pairs(task))
    return 0


async def cmd_tasks_create(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``tasks create WORKER --title T --input JSON``: save a Task; print its slug."""
    task = await client.tasks.create(
        args.worker,
        title=args.title,
        input=args.input,
        description=args.description,
        version=args.version,
        schedule=args.schedule,
    )
    if args.json:
        write_json(task)
    else:
        sys.stdout.write(task.task_slug + "\n")
    return 0


async def cmd_tasks_update(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``tasks update TASK``: change a Task's title, description or schedule."""
    await client.tasks.update(
        args.task_slug, title=args.title, description=args.description, schedule=args.schedule
    )
    if args.json:
        write_json({"task_slug": args.task_slug, "updated": True})
    else:
        sys.stdout.write(f"updated {args.task_slug}\n")
    return 0


async def cmd_tasks_delete(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``tasks delete TASK``: delete a saved Task."""
    await client.tasks.delete(args.task_slug, missing_ok=args.missing_ok)
    if args.json:
        write_json({"task_slug": args.task_slug, "deleted": True})
    else:
        sys.stdout.write(f"deleted {args.task_slug}\n")
    return 0


async def cmd_tasks_input(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``tasks input TASK [--set JSON]``: print a Task's input, or replace it."""
    if args.set is not None:
        await client.tasks.update_input(args.task_slug, args.set, version=args.version)
    saved = await client.tasks.get_input(args.task_slug)
    write_json({"task_slug": args.task_slug, "input": saved.input, "version": saved.version})
    return 0


def register_tasks(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``tasks`` commands."""
    tasks = subparsers.add_parser("tasks", help="saved Tasks (run on both versions; manage on API v2)")
    actions = tasks.add_subparsers(dest="tasks_command", metavar="ACTION", required=True)

    run = actions.add_parser("run", help="start a run of a saved Task and print its run slug")
    run.add_argument("task_slug", type=slug_arg)
    run.add_argument("--callback-url", help="webhook URL CoreClaw posts run updates to (required on v1)")
    add_json(run)
    run.set_defaults(func=cmd_tasks_run)
    add_run_many(actions)

    listing = actions.add_parser("list", help="list your saved Tasks (API v2)")
    listing.add_argument("--worker", type=slug_arg, help="only Tasks of this Worker")
    listing.add_argument("--keyword", help="only Tasks matching this text")
    listing.add_argument(
        "--limit",
        type=positive_int,
        default=CLI_RUNS_LIST_LIMIT,
        help=f"Tasks to show (default {CLI_RUNS_LIST_LIMIT})",
    )
    add_json(listing, "print JSON Lines, one Task per line")
    listing.set_defaults(func=cmd_tasks_list)

    get = actions.add_parser("get", help="show a saved Task (API v2)")
    get.add_argument("task_slug", type=slug_arg)
    add_json(get)
    get.set_defaults(func=cmd_tasks_get)

    schedule_help = (
        "daily@07:00, weekly:1@07:00 (1 = Monday), monthly:15@07:00, once:2026-12-01@07:00; off: disables"
    )
    create = actions.add_parser("create", help="save a new Task of a Worker and print its slug (API v2)")
    create.add_argument("worker", type=slug_arg)
    create.add_argument("--title", required=True)
    create.add_argument(
        "--input", type=json_input_arg, required=True, help="the Worker's input: JSON, @file or -"
    )
    create.add_argument("--description")
    create.add_argument("--version", help="Worker version (default: latest)")
    create.add_argument("--schedule", type=schedule_arg, help=schedule_help)
    add_json(create)
    create.set_defaults(func=cmd_tasks_create)

    update = actions.add_parser("update", help="change a Task's title, description or schedule (API v2)")
    update.add_argument("task_slug", type=slug_arg)
    update.add_argument("--title")
    update.add_argument("--description")
    update.add_argument("--schedule", type=schedule_arg, help=schedule_help)
    add_json(update)
    update.set_defaults(func=cmd_tasks_update)

    delete = actions.add_parser("delete", help="delete a saved Task (API v2)")
    delete.add_argument("task_slug", type=slug_arg)
    delete.add_argument("--missing-ok", action="store_true", help="succeed if it is already gone")
    add_json(delete)
    delete.set_defaults(func=cmd_tasks_delete)

    task_input = actions.add_parser("input", help="print a Task's input, or replace it with --set (API v2)")
    task_input.add_argument("task_slug", type=slug_arg)
    task_input.add_argument("--set", type=json_input_arg, help="the new input: JSON, @file or -")
    task_input.add_argument("--version", help="Worker version to pin with --set")
    add_json(task_input, "print JSON (the default: the input is JSON)")
    task_input.set_defaults(func=cmd_tasks_input)
