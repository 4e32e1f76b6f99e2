"""Ctrl-C, kill -9 and ``--resume``: every input line is launched once in total, or named unknown."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from coreclaw_async.testing import FakeCoreClaw

from .support import DEADLINE, Result, cli_env, fake_slugs, run_cli, spawn, write_slugs

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


async def interrupted(
    args: list[str], env: dict[str, str], *, after: int, sig: signal.Signals, stderr_mark: bytes | None = None
) -> Result:
    """Run the command, send ``sig`` once ``after`` runs are reported started on stdout (or, with
    ``stderr_mark``, once a stderr line starts with it), then read it to the end."""
    proc = await spawn(*args, env=env)
    assert proc.stdout is not None
    assert proc.stderr is not None

    async def read_until_started(stream: asyncio.StreamReader) -> list[bytes]:
        lines: list[bytes] = []
        started = 0
        while started < after:
            line = await stream.readline()
            assert line, "the batch ended before it was interrupted"
            lines.append(line)
            started += b'"outcome": "started"' in line
        return lines

    async def read_until_marked(stream: asyncio.StreamReader, mark: bytes) -> list[bytes]:
        lines: list[bytes] = []
        while not (lines and lines[-1].startswith(mark)):
            line = await stream.readline()
            assert line, "the command ended before it was interrupted"
            lines.append(line)
        return lines

    if stderr_mark is None:
        head = await asyncio.wait_for(read_until_started(proc.stdout), timeout=DEADLINE)
        err_head: list[bytes] = []
    else:
        head = []
        err_head = await asyncio.wait_for(read_until_marked(proc.stderr, stderr_mark), timeout=DEADLINE)
    proc.send_signal(sig)
    rest, err = await asyncio.wait_for(proc.communicate(), timeout=DEADLINE)
    assert proc.returncode is not None
    return Result(
        proc.returncode, b"".join(head).decode() + rest.decode(), b"".join(err_head).decode() + err.decode()
    )


def save(result: Result, path: Path) -> str:
    path.write_text(result.out, encoding="utf-8")
    return str(path)


def by_outcome(*ledgers: Result) -> dict[str, Counter[int]]:
    counts: dict[str, Counter[int]] = {}
    for result in ledgers:
        for record in result.ledger:
            counts.setdefault(record["outcome"], Counter())[record["index"]] += 1
    return counts


def started_slugs(*ledgers: Result) -> list[Any]:
    return [r["run_slug"] for result in ledgers for r in result.outcomes("started")]


async def test_ten_thousand_slugs_interrupted_once_and_resumed_launch_every_line_exactly_once(
    tmp_path: Path,
) -> None:
    async with FakeCoreClaw(api_versions=("v2",), tasks=5) as fake:
        slugs = [fake.task_slugs[i % 5] for i in range(10_000)]
        path = write_slugs(tmp_path / "slugs.txt", slugs)
        env = cli_env(fake)
        # A long grace: the launches in flight all come back, so none is left unknown.
        args = ["tasks", "run-many", path, "--concurrency", "200", "--grace", "60"]

        first = await interrupted(args, env, after=3_000, sig=signal.SIGINT)

        assert first.code == 130, first.err
        assert "interrupted: 0 launch(es) in flight written as unknown" in first.err
        assert first.summary.endswith("exit code 130")
        first_started = {r["index"] for r in first.outcomes("started")}
        assert 3_000 <= len(first_started) < 10_000
        assert set(by_outcome(first)) == {"started"}

        second = await run_cli(*args, "--resume", save(first, tmp_path / "first.jsonl"), env=env)

        assert second.code == 0, second.err
        assert f"carried over {len(first_started):,} started" in second.summary
        # The resumed run's output is complete: every line started once, those of the first
        # run carried over with their run slugs, the rest launched now.
        assert by_outcome(second) == {"started": Counter(range(10_000))}
        carried = second.outcomes("started", carried=True)
        assert {r["index"] for r in carried} == first_started
        assert started_slugs(first) == [r["run_slug"] for r in carried]
        slugs_started = started_slugs(second)
        assert len(slugs_started) == len(set(slugs_started)) == len(fake.runs) == 10_000
        assert set(slugs_started) == fake_slugs(fake)
        assert Counter(run.task_slug for run in fake.runs) == Counter(slugs)


async def test_resuming_each_time_from_the_newest_ledger_alone_starts_no_duplicate_run(
    tmp_path: Path,
) -> None:
    async with FakeCoreClaw(api_versions=("v2",), tasks=5, latency=0.01) as fake:
        path = write_slugs(tmp_path / "slugs.txt", [fake.task_slugs[i % 5] for i in range(1_500)])
        env = cli_env(fake)
        args = ["tasks", "run-many", path, "--concurrency", "50", "--grace", "60"]

        first = await interrupted(args, env, after=300, sig=signal.SIGINT)
        l1 = save(first, tmp_path / "l1.jsonl")
        second = await interrupted([*args, "--resume", l1], env, after=700, sig=signal.SIGINT)
        l2 = save(second, tmp_path / "l2.jsonl")
        third = await run_cli(*args, "--resume", l2, env=env)

        assert (first.code, second.code, third.code) == (130, 130, 0), third.err
        assert len(fake.runs) == 1_500
        assert by_outcome(third) == {"started": Counter(range(1_500))}
        assert set(started_slugs(third)) == fake_slugs(fake)
        # Several ledgers still work as a union.
        again = await run_cli(
            *args, "--resume", l1, "--resume", l2, "--resume", save(third, tmp_path / "l3"), env=env
        )
        assert again.code == 0, again.err
        assert "0 sent" in again.summary
        assert len(fake.runs) == 1_500


async def test_launches_cut_off_in_flight_are_unknown_listed_and_never_sent_again_by_default(
    tmp_path: Path,
) -> None:
    # 50 ms per request: at Ctrl-C dozens of starts are out; no grace, so they stay unknown.
    async with FakeCoreClaw(api_versions=("v2",), latency=0.05) as fake:
        path = write_slugs(tmp_path / "slugs.txt", [fake.task_slugs[i % 3] for i in range(1_000)])
        env = cli_env(fake)
        args = ["tasks", "run-many", path, "--concurrency", "50"]

        first = await interrupted([*args, "--grace", "0"], env, after=200, sig=signal.SIGINT)

        assert first.code == 130, first.err
        unknown = set(by_outcome(first)["unknown"])
        assert unknown
        assert f"interrupted: {len(unknown)} launch(es) in flight written as unknown" in first.err

        second = await run_cli(*args, "--resume", save(first, tmp_path / "first.jsonl"), env=env)

        assert second.code == 3, second.err
        assert f"{len(unknown)} launch(es) of unknown outcome were not launched again" in second.err
        # Written again, with the error of the first run, so the new ledger says it too.
        assert {r["index"] for r in second.outcomes("unknown", carried=True)} == unknown
        counts = by_outcome(second)
        assert set(counts["unknown"]) == unknown
        assert not unknown & set(counts["started"])
        assert set(counts["started"]) | unknown == set(range(1_000))
        # The server has a run for each started line, plus one for some of the unknown ones.
        started = len(started_slugs(second))
        assert started <= len(fake.runs) <= started + len(unknown)

        # After reconciling, the user asks for them explicitly, from the newest ledger alone.
        third = await run_cli(
            *args, "--resume", save(second, tmp_path / "2.jsonl"), "--relaunch-unknown", env=env
        )

        assert third.code == 0, third.err
        assert {r["index"] for r in third.outcomes("started", carried=False)} == unknown
        assert by_outcome(third) == {"started": Counter(range(1_000))}


async def test_after_kill_9_the_journal_names_the_launches_without_an_outcome_as_unknown(
    tmp_path: Path,
) -> None:
    async with FakeCoreClaw(api_versions=("v2",), latency=0.05) as fake:
        path = write_slugs(tmp_path / "slugs.txt", [fake.task_slugs[i % 3] for i in range(600)])
        env = cli_env(fake)
        journal = str(tmp_path / "journal.jsonl")
        args = ["tasks", "run-many", path, "--concurrency", "40", "--journal", journal]

        first = await interrupted(args, env, after=100, sig=signal.SIGKILL)

        assert first.code == -signal.SIGKILL
        records = [json.loads(line) for line in first.out.splitlines() if line.endswith("}")]
        settled = {r["index"] for r in records}
        written = await asyncio.to_thread(Path(journal).read_text, encoding="utf-8")
        intents = {
            json.loads(line)["index"]
            for line in written.splitlines()
            if line.endswith("}") and '"intent"' in line
        }
        orphans = intents - settled
        assert orphans  # handed to the client, outcome never written

        second = await run_cli(*args, "--resume", save(first, tmp_path / "first.jsonl"), env=env)

        assert second.code == 3, second.err
        assert f"shows {len(orphans)} launch(es) handed to the client with no outcome" in second.err
        assert {r["index"] for r in second.outcomes("unknown")} == orphans
        sent_again = {r["index"] for r in second.outcomes("started", carried=False)}
        assert not sent_again & (orphans | settled)
        assert sent_again | orphans | settled == set(range(600))
        # No line was started twice: the server has at most one run per line.
        assert len(fake.runs) <= 600


async def test_a_ledger_of_another_input_is_refused_and_nothing_is_sent(tmp_path: Path) -> None:
    async with FakeCoreClaw(api_versions=("v2",)) as fake:
        env = cli_env(fake)
        a, b, c = fake.task_slugs
        first = await run_cli("tasks", "run-many", write_slugs(tmp_path / "one.txt", [a, b, c]), env=env)
        ledger = save(first, tmp_path / "one.jsonl")
        other = write_slugs(tmp_path / "other.txt", [a, c, b])
        shorter = write_slugs(tmp_path / "short.txt", [a])

        swapped = await run_cli("tasks", "run-many", other, "--resume", ledger, env=env)
        cut = await run_cli("tasks", "run-many", shorter, "--resume", ledger, env=env)

        assert (swapped.code, cut.code) == (2, 2)
        assert f"launch 1 is task '{b}' there but '{c}' in the input" in swapped.err
        assert "launch 1 is not in the input (1 launches)" in cut.err
        assert "this ledger is of another input" in swapped.err
        assert len(fake.runs) == 3


async def test_ctrl_c_while_waiting_writes_each_unfinished_run_and_exits_130(tmp_path: Path) -> None:
    # The runs stay running for a minute: the wait is surely under way when Ctrl-C comes.
    async with FakeCoreClaw(api_versions=("v2",), run_schedule=(0.0, 60.0)) as fake:
        path = write_slugs(tmp_path / "slugs.txt", fake.task_slugs * 4)
        args = ["tasks", "run-many", path, "--wait", "--poll-interval", "0.5", "--progress-interval", "0.1"]

        # Interrupted once a progress line says the wait has begun.
        result = await interrupted(args, cli_env(fake), after=0, sig=signal.SIGINT, stderr_mark=b"wait ")

        assert result.code == 130, result.err
        unfinished = result.outcomes("not_finished")
        assert sorted(r["index"] for r in unfinished) == list(range(12))
        assert {r["status"] for r in unfinished} <= {"running", None}
        assert {r["error"] for r in unfinished} == {"Interrupted"}
        assert result.summary.endswith("exit code 130")
        assert "interrupted: 0 launch(es) in flight written as unknown, 0 not launched" in result.err
