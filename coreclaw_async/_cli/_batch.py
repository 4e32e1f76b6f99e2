"""Batch commands: ``tasks run-many`` and ``runs wait-many``.

Both read their whole input first and refuse it (exit 2, nothing sent) if any line is bad,
then write one JSON line per outcome to stdout as it comes (the ledger, see ``_ledger``:
nothing else goes to stdout) and show progress and a closing summary on stderr. Ctrl-C
(SIGINT) or SIGTERM stops them cleanly: no new launch, the launches in flight get ``--grace``
seconds to come back, those still out are written as ``unknown``, and the exit code is 130.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import stat
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from typing import Any

from .._client import AsyncCoreClaw
from ..callbacks import CallbackReceiver
from ..errors import WaitTimeoutError
from ..fanout import TaskRunOutcome
from ..models.runs import Run
from ..models.tasks import TaskRunRequest
from ._journal import JournalWriter
from ._ledger import (
    CARRIED,
    FINISHED,
    NOT_FINISHED,
    NOT_STARTED,
    STARTED,
    UNKNOWN,
    WAIT_ERROR,
    BatchInputError,
    Launch,
    LedgerWriter,
    Previous,
    WaitItem,
    parse_launches,
    parse_wait_items,
    read_lines,
    read_run_ledgers,
    read_wait_ledgers,
)
from ._output import EXIT_BROKEN_PIPE
from ._progress import Tally, check_mode, show_progress

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_UNKNOWN",
    "EXIT_USAGE",
    "cmd_runs_wait_many",
    "cmd_tasks_run_many",
]

EXIT_FAILED = 1  # some launch not started; with --wait, some run did not succeed
EXIT_USAGE = 2  # bad arguments, bad input or a ledger of another input: nothing sent
EXIT_UNKNOWN = 3  # some launch has an unknown outcome (reconcile before launching it again)
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM (128 + SIGINT)
# Launches of unknown outcome named on stderr at most.
_SHOWN_UNKNOWN = 20


class _Stop:
    """Ctrl-C and SIGTERM while a batch runs: the first asks it to stop, the second to stop now."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.urgent = asyncio.Event()
        self.reason: str | None = None
        self._signals: list[signal.Signals] = []

    def request(self, reason: str = "interrupted") -> None:
        if self.requested.is_set():
            self.urgent.set()
            return
        self.reason = reason
        self.requested.set()

    def __enter__(self) -> _Stop:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # NotImplementedError: no signal handlers on this platform's loop (Ctrl-C then
            # ends the command abruptly, as any other).
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.request)
                self._signals.append(sig)
        return self

    def __exit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.remove_signal_handler(sig)


async def _race(work: asyncio.Task[Any], *events: asyncio.Event, timeout: float | None = None) -> None:
    """Wait until ``work`` is done, any of ``events`` is set, or ``timeout`` passes."""
    watchers = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait([work, *watchers], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for watcher in watchers:
            watcher.cancel()
        if watchers:
            await asyncio.wait(watchers)


async def _finish(work: asyncio.Task[Any]) -> None:
    """Cancel ``work`` if it is still running, wait until it has ended, raise what it raised."""
    if not work.done():
        work.cancel()
    await asyncio.wait([work])
    if not work.cancelled():
        work.result()


@contextlib.asynccontextmanager
async def _working(coro: Coroutine[Any, Any, None], name: str) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``coro`` as a task for the block; on any exit (cancellation included) it has ended."""
    work = asyncio.get_running_loop().create_task(coro, name=name)
    try:
        yield work
    finally:
        if not work.done():
            work.cancel()
        await asyncio.wait([work])


def _error_fields(error: BaseException | None) -> dict[str, Any]:
    if error is None:
        return {}
    return {"error": type(error).__name__, "message": str(error)}


def _status(run: Run | None) -> str | None:
    return None if run is None else run.status.name.lower()


async def _read_input(path: str) -> list[str]:
    # A large file or a slow pipe must not hold up the event loop (signals, the display).
    return await asyncio.to_thread(read_lines, path)


def _usage(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return EXIT_USAGE


class _Waiter:
    """Waits for started runs with ``runs.wait_many`` and writes one ledger line for each."""

    def __init__(
        self,
        client: AsyncCoreClaw,
        args: argparse.Namespace,
        ledger: LedgerWriter,
        stop: _Stop,
        receiver: CallbackReceiver | None,
    ) -> None:
        self._client = client
        self._args = args
        self._ledger = ledger
        self._stop = stop
        self._receiver = receiver
        self.failed = 0
        self.tally: Tally | None = None
        self._head: Callable[[WaitItem], dict[str, Any]] = _identity

    def _write(self, item: WaitItem, **fields: Any) -> None:
        self._ledger.write({**self._head(item), "run_slug": item.run_slug, **fields})

    async def wait(self, items: Sequence[WaitItem], head: Callable[[WaitItem], dict[str, Any]]) -> Tally:
        """Wait for ``items``; each ledger line begins with ``head(item)``."""
        args = self._args
        self._head = head
        tally = self.tally = Tally("wait", len(items), lambda: self._client.stats)
        by_slug = {item.run_slug: item for item in items}
        finished = self._client.runs.wait_many(
            list(by_slug),
            receiver=self._receiver,
            timeout=args.wait_timeout,
            poll_interval=args.poll_interval,
        )

        async def consume() -> None:
            async with finished:
                async for run in finished:
                    item = by_slug.pop(run.run_slug)
                    status = _status(run) or "unknown"
                    tally.add(status)
                    if not run.succeeded:
                        self.failed += 1
                    self._write(item, outcome=FINISHED, status=status, results=run.results)

        async with (
            show_progress(tally, args.progress, args.progress_interval, self._ledger),
            _working(consume(), "coreclaw_async.cli-wait") as work,
        ):
            await _race(work, self._stop.requested)
            timed_out: WaitTimeoutError | None = None
            try:
                await _finish(work)
            except WaitTimeoutError as exc:
                timed_out = exc
        errors = finished.errors
        pending = finished.pending
        for slug, item in by_slug.items():
            self.failed += 1
            if slug in errors:
                tally.add(WAIT_ERROR)
                self._write(item, outcome=WAIT_ERROR, **_error_fields(errors[slug]))
                continue
            tally.add(NOT_FINISHED)
            why: dict[str, Any] = (
                _error_fields(timed_out)
                if timed_out
                else {"error": "Interrupted", "message": "not waited for"}
            )
            self._write(item, outcome=NOT_FINISHED, status=_status(pending.get(slug)), **why)
        return tally


def _identity(item: WaitItem) -> dict[str, Any]:
    """What a ``runs wait-many`` input line said of the run's launch (a run-many ledger line)."""
    head: dict[str, Any] = {}
    if item.index is not None:
        head["index"] = item.index
    if item.task_slug is not None:
        head["task_slug"] = item.task_slug
    return head


def _stopped_code(ledger: LedgerWriter, stop: _Stop) -> int | None:
    if ledger.broken:
        return EXIT_BROKEN_PIPE
    if stop.requested.is_set():
        return EXIT_INTERRUPTED
    return None


@contextlib.asynccontextmanager
async def _receiver(args: argparse.Namespace) -> AsyncIterator[CallbackReceiver | None]:
    if args.callback_listen is None:
        yield None
        return
    host, port = args.callback_listen
    receiver = CallbackReceiver(args.callback_public_url)
    async with receiver.serve(host, port):
        yield receiver


class _RunMany:
    """One ``tasks run-many``: the launches, their ledger lines, the optional wait."""

    def __init__(
        self,
        client: AsyncCoreClaw,
        args: argparse.Namespace,
        launches: list[Launch],
        previous: Previous,
        journal: JournalWriter | None,
    ) -> None:
        self._client = client
        self._args = args
        self._launches = launches
        self._previous = previous
        self._stop = _Stop()
        self._ledger = LedgerWriter(on_broken=lambda: self._stop.request("stdout closed"))
        self._journal = journal
        skip = previous.started if args.relaunch_unknown else previous.started | set(previous.unknown)
        self._to_send = [launch for launch in launches if launch.index not in skip]
        self._started: list[tuple[Launch, str]] = []
        self.tally = Tally("launch", len(self._to_send), lambda: client.stats)

    def _line(self, launch: Launch, outcome: str, **fields: Any) -> None:
        record = {"index": launch.index, "line": launch.line, "task_slug": launch.request.task_slug}
        self._ledger.write({**record, "outcome": outcome, **fields})

    def _source(self) -> Iterator[TaskRunRequest]:
        for launch in self._to_send:
            if self._stop.requested.is_set():
                return
            if self._journal is not None:
                # Appended before the client may send it: if this process is killed, a resume
                # with the journal knows the launch may have happened and does not send it again.
                self._journal.intent(launch)
            yield launch.request

    def _record(self, outcome: TaskRunOutcome) -> None:
        launch = self._to_send[outcome.index]
        if outcome.started is True:
            run_slug = outcome.run.run_slug if outcome.run is not None else None
            if run_slug is not None:
                self._started.append((launch, run_slug))
            key, fields = STARTED, {"run_slug": run_slug, **_error_fields(outcome.error)}
        elif outcome.started is False:
            key, fields = NOT_STARTED, _error_fields(outcome.error)
        else:
            key, fields = UNKNOWN, _error_fields(outcome.error)
        self.tally.add(key)
        self._line(launch, key, **fields)
        if self._journal is not None and not self._ledger.broken:
            self._journal.settled(launch, key)

    def _carry(self) -> None:
        """Write again what the resumed ledgers settled, and name what they left unknown."""
        previous = self._previous
        relaunch = self._args.relaunch_unknown
        for index, lines in previous.carried.items():
            if relaunch and index in previous.unknown:
                continue
            for line in lines:
                self._ledger.write(line)
        if previous.orphans:
            sys.stderr.write(
                f"warning: the journal {self._args.journal} shows {previous.orphans} launch(es) handed "
                "to the client with no outcome written (that run was killed): taken as unknown\n"
            )
        if not previous.unknown:
            return
        if relaunch:
            sys.stderr.write(
                f"warning: launching again {len(previous.unknown)} launch(es) of unknown outcome "
                "(--relaunch-unknown)\n"
            )
            return
        shown = list(previous.unknown.values())[:_SHOWN_UNKNOWN]
        names = ", ".join(f"{launch.index} ({launch.request.task_slug})" for launch in shown)
        more = ", ..." if len(previous.unknown) > _SHOWN_UNKNOWN else ""
        sys.stderr.write(
            f"{len(previous.unknown)} launch(es) of unknown outcome were not launched again "
            f"(reconcile them with `runs list`, then use --relaunch-unknown): {names}{more}\n"
        )

    async def _launch(self, receiver: CallbackReceiver | None) -> None:
        args = self._args
        batch = self._client.tasks.run_many(
            self._source(), callback=receiver, concurrency=min(args.concurrency, max(len(self._to_send), 1))
        )

        async def consume() -> None:
            async with batch:
                async for outcome in batch:
                    self._record(outcome)

        async with (
            show_progress(self.tally, args.progress, args.progress_interval, self._ledger),
            _working(consume(), "coreclaw_async.cli-run-many") as work,
        ):
            await _race(work, self._stop.requested)
            if not work.done():
                # Asked to stop: nothing more is taken from the input; what is in flight gets
                # the grace period to come back with a known outcome.
                await _race(work, self._stop.urgent, timeout=args.grace)
            await _finish(work)
        # Decided but not yet handed over, and in flight when the batch stopped (unknown).
        for outcome in batch.undelivered + batch.unreconciled:
            self._record(outcome)

    async def _wait(self, waiter: _Waiter) -> None:
        by_slug = {slug: launch for launch, slug in self._started}

        def head(item: WaitItem) -> dict[str, Any]:
            launch = by_slug[item.run_slug]
            return {"index": launch.index, "line": launch.line, "task_slug": launch.request.task_slug}

        await waiter.wait([WaitItem(slug) for slug in by_slug], head)

    async def run(self) -> int:
        waiter: _Waiter | None = None
        with self._stop:
            # Written with the signal handlers in place and before anything is sent: a Ctrl-C
            # cannot cut this run's ledger short of what it carries over.
            self._carry()
            async with _receiver(self._args) as receiver:
                if self._to_send:
                    await self._launch(receiver)
                if self._args.wait and self._started and not self._stop.requested.is_set():
                    waiter = _Waiter(self._client, self._args, self._ledger, self._stop, receiver)
                    await self._wait(waiter)
        counts = self.tally.counts
        carried_unknown = 0 if self._args.relaunch_unknown else len(self._previous.unknown)
        unknown = counts[UNKNOWN] + carried_unknown
        code = _stopped_code(self._ledger, self._stop)
        if code is None:
            failed = counts[NOT_STARTED] + (waiter.failed if waiter else 0)
            code = EXIT_UNKNOWN if unknown else EXIT_FAILED if failed else 0
        not_launched = len(self._to_send) - self.tally.done
        waited = waiter.tally.counts_text() if waiter and waiter.tally else ""
        _summary(
            "tasks run-many",
            f"{len(self._launches):,} launches: {self.tally.done:,} sent ({counts[STARTED]:,} started, "
            f"{counts[NOT_STARTED]:,} not started, {counts[UNKNOWN]:,} unknown), "
            f"{not_launched:,} not launched, carried over {len(self._previous.started):,} started and "
            f"{carried_unknown:,} unknown" + (f"; waited: {waited}" if waited else ""),
            code,
        )
        if self._ledger.broken:
            sys.stderr.write("stdout closed: launching stopped; the ledger is incomplete\n")
        elif self._stop.reason is not None:
            sys.stderr.write(
                f"{self._stop.reason}: {counts[UNKNOWN]} launch(es) in flight written as unknown, "
                f"{not_launched} not launched; run again with --resume LEDGER "
                "(this output) to launch the rest\n"
            )
        return code


def _summary(command: str, text: str, code: int) -> None:
    """The closing line on stderr: ``tasks run-many: 3 launches: ...; exit code 3``."""
    sys.stderr.write(f"{command}: {text}; exit code {code}\n")


def _same_file(path: str, other: os.stat_result) -> bool:
    try:
        return os.path.samestat(os.stat(path), other)
    except OSError:
        return False


def _clashes(args: argparse.Namespace) -> str | None:
    """Why the input, the ``--resume`` ledgers, ``--journal`` and stdout cannot be used together
    (a few ``stat`` calls, before the event loop has anything else to do)."""
    resumed: list[str] = args.resume
    journal: str | None = getattr(args, "journal", None)
    if resumed.count("-") + (args.file == "-") > 1:
        return "stdin can be read once: give the input or one --resume ledger as '-', not both"
    if journal == "-":
        return "--journal needs a file, not '-'"
    try:
        out = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        out = None
    if out is not None and stat.S_ISREG(out.st_mode):
        for path in [*resumed, args.file]:
            if path != "-" and _same_file(path, out):
                return (
                    f"stdout is {path}, which this command reads: the shell emptied it before the "
                    "command started (restore it from a copy if you have one); write to a new file"
                )
        if journal is not None and _same_file(journal, out):
            return f"stdout is the --journal file {journal}: give each its own file"
    if journal is not None and os.path.exists(journal):
        if not resumed and os.path.getsize(journal):
            return (
                f"--journal {journal} already holds launches: resume that batch with its ledger "
                "(--resume LEDGER), or give a new journal file"
            )
        kept = os.stat(journal)
        if any(path != "-" and _same_file(path, kept) for path in [*resumed, args.file]):
            return f"--journal {journal} is also the input or a --resume ledger: give it its own file"
    return None


async def cmd_tasks_run_many(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``tasks run-many [FILE|-]``: launch every line's task run, writing the ledger to stdout."""
    problem = check_mode(args.progress) or _clashes(args)
    if problem:
        return _usage(problem)
    try:
        launches = parse_launches(await _read_input(args.file))
        previous = read_run_ledgers(args.resume, launches, args.journal) if args.resume else Previous()
    except BatchInputError as exc:
        return _usage(str(exc))
    if args.callback_listen is None and client.api_version == "v1" and client.callback_url is None:
        missing = next((launch for launch in launches if launch.request.callback_url is None), None)
        if missing is not None:
            return _usage(
                f"API v1 needs a callback URL for every run (line {missing.line} has none): "
                "give --callback-url, $CORECLAW_CALLBACK_URL, --callback-listen, or callback_url in the line"
            )
    journal: JournalWriter | None = None
    if args.journal is not None:
        try:
            journal = JournalWriter(args.journal)
        except OSError as exc:
            return _usage(f"cannot open the journal {args.journal}: {exc}")
    try:
        return await _RunMany(client, args, launches, previous, journal).run()
    finally:
        if journal is not None:
            journal.close()


async def cmd_runs_wait_many(args: argparse.Namespace, client: AsyncCoreClaw) -> int:
    """``runs wait-many [FILE|-]``: wait for every run of the input, writing the ledger to stdout."""
    problem = check_mode(args.progress) or _clashes(args)
    if problem:
        return _usage(problem)
    try:
        items = parse_wait_items(await _read_input(args.file))
        final = read_wait_ledgers(args.resume) if args.resume else {}
    except BatchInputError as exc:
        return _usage(str(exc))
    carried = [final[item.run_slug] for item in items if item.run_slug in final]
    items = [item for item in items if item.run_slug not in final]
    stop = _Stop()
    ledger = LedgerWriter(on_broken=lambda: stop.request("stdout closed"))
    waiter = _Waiter(client, args, ledger, stop, None)
    with stop:
        # The runs the resumed ledgers report final, written again: this output is complete.
        for record in carried:
            ledger.write({**record, CARRIED: True})
        if items:
            await waiter.wait(items, _identity)
    code = _stopped_code(ledger, stop)
    if code is None:
        code = EXIT_FAILED if waiter.failed else 0
    waited = waiter.tally.counts_text() if waiter.tally else ""
    _summary(
        "runs wait-many",
        f"{len(items):,} runs waited for ({waited or 'none'}), {len(carried):,} final before (carried over)",
        code,
    )
    return code
