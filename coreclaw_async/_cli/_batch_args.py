"""The arguments of the batch commands ``tasks run-many`` and ``runs wait-many``, and their help."""

from __future__ import annotations

import argparse
import textwrap

from .._constants import (
    API_VERSIONS,
    CLI_BATCH_GRACE,
    CLI_PROGRESS_INTERVAL,
    CLI_RUN_MANY_CONCURRENCY,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
)
from ._args import non_negative_float, positive_float, positive_int
from ._batch import cmd_runs_wait_many, cmd_tasks_run_many
from ._progress import PROGRESS_MODES

__all__ = ["add_run_many", "add_wait_many", "listen_arg"]


_EXIT_CODES = """\
exit codes:
  0    every launch started{wait_ok}
  1    some launch was not started (refused; nothing created){wait_failed}
  2    bad arguments, an invalid input line or a ledger of another input: nothing was sent
  3    some launch has an unknown outcome: a run may exist; reconcile before launching it again
  130  interrupted (Ctrl-C or SIGTERM); the ledger names what was in flight as unknown
  141  stdout was closed: launching stopped, the ledger is incomplete
"""


def _wrapped(text: str) -> str:
    # The raw formatter keeps the exit code table as written; the description is wrapped here.
    return textwrap.fill(text, width=88)


def listen_arg(text: str) -> tuple[str, int]:
    """``--callback-listen``: ``HOST:PORT`` (port 0: any free port)."""
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _add_common(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("file", nargs="?", default="-", metavar="FILE", help=f"{what} (default '-': stdin)")
    parser.add_argument(
        "--resume",
        action="append",
        default=[],
        metavar="LEDGER",
        help="the output of an earlier run of this input (repeat for several): skip what it settled",
    )
    parser.add_argument(
        "--wait-timeout",
        type=positive_float,
        default=DEFAULT_WAIT_TIMEOUT,
        help=f"give up waiting after this many seconds (default {DEFAULT_WAIT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--poll-interval",
        type=positive_float,
        default=DEFAULT_POLL_INTERVAL,
        help=f"longest gap between two reads of a run, in seconds (default {DEFAULT_POLL_INTERVAL:g})",
    )
    parser.add_argument(
        "--progress",
        choices=PROGRESS_MODES,
        default="auto",
        help="progress on stderr: live (needs rich: the 'cli' extra), plain lines, or none; "
        "auto: live on a terminal when rich is installed, plain lines otherwise",
    )
    parser.add_argument(
        "--progress-interval",
        type=positive_float,
        default=CLI_PROGRESS_INTERVAL,
        help=f"seconds between two plain progress lines (default {CLI_PROGRESS_INTERVAL:g})",
    )
    parser.add_argument(
        "--api-version", choices=API_VERSIONS, default=argparse.SUPPRESS, help="CoreClaw API version"
    )


def add_run_many(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tasks run-many``."""
    parser = actions.add_parser(
        "run-many",
        help="launch many task runs from a file of task slugs; one JSON line per outcome on stdout",
        description=_wrapped(
            "Launch a run for every line of FILE: a task slug, or a JSON object with "
            "task_slug and optionally callback_url (blank lines and # comments are skipped). Every "
            "line is checked before anything is sent. Each outcome is written to stdout as one JSON "
            "line as it comes (the ledger; the summary goes to stderr); --resume LEDGER launches only "
            "what that ledger did not, and the new output carries the settled lines over, so the newest "
            "ledger alone is enough to resume from. Ctrl-C writes the launches in flight as unknown. "
            "A kill -9 or a crash cannot: without --journal, the launches in flight at that moment "
            "have no line, and a resume sends them again (a second run each). Use --journal FILE for "
            "batches that must never launch twice."
        ),
        epilog=_EXIT_CODES.format(
            wait_ok=" (with --wait: and every run succeeded)",
            wait_failed="\n       with --wait: or some run failed, was aborted or did not finish in time",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(parser, "task slugs or JSON run requests, one a line")
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=CLI_RUN_MANY_CONCURRENCY,
        help=f"launches in flight at most, and connections (default {CLI_RUN_MANY_CONCURRENCY})",
    )
    parser.add_argument(
        "--max-rate", type=positive_float, help="requests per second at most (default: unlimited)"
    )
    parser.add_argument(
        "--callback-url", help="webhook URL for runs without their own (default $CORECLAW_CALLBACK_URL)"
    )
    parser.add_argument("--wait", action="store_true", help="then wait until every started run is final")
    parser.add_argument(
        "--callback-listen",
        type=listen_arg,
        metavar="HOST:PORT",
        help="receive run callbacks on HOST:PORT and wake the waits with them; a line without its own "
        "callback_url is then started with the receiver's URL (--callback-url and $CORECLAW_CALLBACK_URL "
        "are not used)",
    )
    parser.add_argument(
        "--callback-public-url",
        help="the URL CoreClaw reaches the --callback-listen address at (default: that address)",
    )
    parser.add_argument(
        "--grace",
        type=non_negative_float,
        default=CLI_BATCH_GRACE,
        help=f"on Ctrl-C, seconds to let launches in flight come back (default {CLI_BATCH_GRACE:g})",
    )
    parser.add_argument(
        "--journal",
        metavar="FILE",
        help="append each launch to FILE (flushed) before it is sent; with --resume and the same "
        "FILE, a launch with no outcome in the ledgers (a killed run) is taken as unknown, not sent again",
    )
    parser.add_argument(
        "--relaunch-unknown",
        action="store_true",
        help="with --resume: launch again what the ledgers left unknown (after reconciling it!)",
    )
    parser.set_defaults(func=cmd_tasks_run_many)


def add_wait_many(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``runs wait-many``."""
    parser = actions.add_parser(
        "wait-many",
        help="wait for many runs from a file of run slugs (or a run-many ledger); one JSON line each",
        description=_wrapped(
            "Wait until every run of FILE is final: a run slug a line, or JSON objects with "
            "run_slug (the ledger of tasks run-many works as it is). Each final run is written to "
            "stdout as one JSON line as it comes; --resume LEDGER skips the runs it reported final."
        ),
        epilog=(
            "exit codes:\n  0    every run succeeded\n"
            "  1    some run failed, was aborted, did not finish in time or could not be read\n"
            "  2    bad arguments or an invalid input line: nothing was read\n"
            "  130  interrupted (Ctrl-C or SIGTERM)\n  141  stdout was closed\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(parser, "run slugs or JSON lines with run_slug")
    parser.set_defaults(func=cmd_runs_wait_many, callback_listen=None, callback_public_url=None)
