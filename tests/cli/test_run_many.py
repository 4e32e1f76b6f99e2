"""``tasks run-many`` piped: the ledger on stdout, plain progress on stderr, refusals, bad input."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from pathlib import Path

from coreclaw_async.testing import FakeCoreClaw, Fault

from .support import CALLBACK_URL, DEADLINE, cli_env, fake_slugs, run_cli, write_slugs


async def test_a_piped_run_writes_one_started_line_per_input_line_matching_the_fake(
    fake: FakeCoreClaw, api_version: str, tmp_path: Path
) -> None:
    # The same task on several lines: each line is a launch of its own.
    slugs = [fake.task_slugs[i % 3] for i in range(60)]
    path = write_slugs(tmp_path / "slugs.txt", ["# three tasks, twenty times", "", *slugs])

    result = await run_cli("tasks", "run-many", path, "--concurrency", "8", env=cli_env(fake, api_version))

    assert result.code == 0, result.err
    started = result.outcomes("started")
    assert sorted(r["index"] for r in started) == list(range(60))
    assert all(r["task_slug"] == slugs[r["index"]] and r["line"] == r["index"] + 3 for r in started)
    # stdout holds one line per outcome and nothing else; every run exists on the server.
    assert len(result.out.splitlines()) == 60
    assert {r["run_slug"] for r in started} == fake_slugs(fake)
    assert len(fake.runs) == 60
    assert Counter(run.task_slug for run in fake.runs) == Counter(slugs)
    assert "60 launches: 60 sent (60 started, 0 not started, 0 unknown)" in result.summary
    assert result.summary.endswith("exit code 0")
    # stderr is not a terminal: plain progress lines, the last one complete.
    last = result.progress[-1]
    assert last.startswith("launch 60/60: started 60 |")
    assert "rate limited 0" in last
    assert "gate wait" in last
    assert "(sum over requests)" in last


async def test_json_lines_carry_their_own_callback_url_and_stdin_is_read(
    fake: FakeCoreClaw, api_version: str
) -> None:
    lines = [
        json.dumps({"task_slug": fake.task_slugs[0], "callback_url": "https://hooks.example.com/a"}),
        fake.task_slugs[1],
    ]
    stdin = ("\n".join(lines) + "\n").encode()

    result = await run_cli("tasks", "run-many", "-", env=cli_env(fake, api_version), stdin=stdin)

    assert result.code == 0, result.err
    by_slug = {run.slug: run for run in fake.runs}
    callback = {r["index"]: by_slug[r["run_slug"]].callback_url for r in result.outcomes("started")}
    assert callback == {0: "https://hooks.example.com/a", 1: CALLBACK_URL}


async def test_a_refused_launch_is_not_started_and_the_exit_code_is_1(
    fake: FakeCoreClaw, api_version: str, tmp_path: Path
) -> None:
    missing = "01KSFDXRNYGKT3NNE11EMR4W5X"
    path = write_slugs(tmp_path / "slugs.txt", [fake.task_slugs[0], missing, fake.task_slugs[1]])

    result = await run_cli("tasks", "run-many", path, env=cli_env(fake, api_version))

    assert result.code == 1, result.err
    (refused,) = result.outcomes("not_started")
    assert refused["index"] == 1
    assert refused["task_slug"] == missing
    assert refused["error"] == "TaskNotFoundError"
    assert len(result.outcomes("started")) == len(fake.runs) == 2
    assert "1 not started" in result.summary


async def test_invalid_lines_are_all_named_and_nothing_is_launched(
    fake: FakeCoreClaw, api_version: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(
        f"{fake.task_slugs[0]}\n"
        '{"task_slug": 12}\n'
        f'{{"task_slug": "{fake.task_slugs[1]}", "input": {{}}}}\n'
        '{"task_slug": "x", "callback_url": "not a url"}\n'
        "{not json\n"
        "bad\x01slug\n",
        encoding="utf-8",
    )

    result = await run_cli("tasks", "run-many", str(path), env=cli_env(fake, api_version))

    assert result.code == 2
    assert result.out == ""
    assert "5 invalid input line(s), nothing was sent" in result.err
    for number in (2, 3, 4, 5, 6):
        assert f"line {number}:" in result.err
    assert "unknown field(s) input" in result.err
    assert "line 1:" not in result.err
    assert fake.runs == []


async def test_an_empty_input_and_a_missing_file_are_usage_errors(
    fake: FakeCoreClaw, api_version: str, tmp_path: Path
) -> None:
    env = cli_env(fake, api_version)
    empty = await run_cli("tasks", "run-many", "-", env=env, stdin=b"\n# nothing\n")
    missing = await run_cli("tasks", "run-many", str(tmp_path / "nope.txt"), env=env)

    assert (empty.code, missing.code) == (2, 2)
    assert "holds no task slug" in empty.err
    assert "cannot read" in missing.err
    assert fake.runs == []


async def test_v1_without_any_callback_url_is_refused_before_sending(tmp_path: Path) -> None:
    async with FakeCoreClaw(api_versions=("v1",)) as fake:
        env = cli_env(fake, "v1")
        del env["CORECLAW_CALLBACK_URL"]
        path = write_slugs(tmp_path / "slugs.txt", fake.task_slugs)

        result = await run_cli("tasks", "run-many", path, env=env)

        assert result.code == 2
        assert "API v1 needs a callback URL" in result.err
        assert "line 1" in result.err
        assert fake.runs == []


async def test_the_progress_line_counts_the_rate_limited_answers_the_client_retried(
    fake: FakeCoreClaw, api_version: str, tmp_path: Path
) -> None:
    fake.inject(Fault.RATE_LIMIT, times=2, retry_after=0.05)
    path = write_slugs(tmp_path / "slugs.txt", fake.task_slugs * 4)

    result = await run_cli("tasks", "run-many", path, "--concurrency", "1", env=cli_env(fake, api_version))

    assert result.code == 0, result.err
    assert len(fake.runs) == 12
    assert "rate limited 2 (2 retried)" in result.progress[-1]


async def test_when_stdout_goes_away_launching_stops_with_exit_code_141(tmp_path: Path) -> None:
    async with FakeCoreClaw(api_versions=("v2",), latency=0.01) as fake:
        path = write_slugs(tmp_path / "slugs.txt", [fake.task_slugs[i % 3] for i in range(2_000)])
        read_end, write_end = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-W", "error", "-m", "coreclaw_async", "tasks", "run-many", path,
                stdin=asyncio.subprocess.DEVNULL, stdout=write_end, stderr=asyncio.subprocess.PIPE,
                env=cli_env(fake),
            )  # fmt: skip
        finally:
            os.close(write_end)
        # As `run-many ... | head -c 1000` does: read a little, then go away.
        first = await asyncio.to_thread(os.read, read_end, 1000)
        os.close(read_end)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=DEADLINE)

        assert first.startswith(b'{"index": ')
        assert proc.returncode == 141, err.decode()
        assert "stdout closed: launching stopped; the ledger is incomplete" in err.decode()
        assert "Traceback" not in err.decode()
        assert len(fake.runs) < 2_000


async def test_the_help_of_both_commands_documents_their_exit_codes() -> None:
    env = dict(os.environ)
    launch = await run_cli("tasks", "run-many", "--help", env=env)
    wait = await run_cli("runs", "wait-many", "--help", env=env)

    assert launch.code == wait.code == 0
    for code in ("0    every launch started", "1    some launch was not started", "2    bad arguments"):
        assert code in launch.out
    assert "3    some launch has an unknown outcome" in launch.out
    assert "130  interrupted (Ctrl-C or SIGTERM)" in launch.out
    # The kill -9 hazard, and the option that removes it.
    description = " ".join(launch.out.split())
    assert "without --journal, the launches in flight at that moment have no line" in description
    assert "--journal FILE" in launch.out
    assert "130  interrupted" in wait.out
    assert "1    some run failed" in wait.out
