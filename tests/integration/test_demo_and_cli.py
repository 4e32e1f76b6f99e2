"""The demo and the `tasks run` command, end to end."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import pytest

from coreclaw_async._demo import run_demo
from coreclaw_async.testing import FakeCoreClaw

# The demo starts its own fake and a client of the default version, v1: what these tests check
# is that v1 demo's output. The `tasks run` command below runs on both versions.
DEMO_SPEAKS_V1 = pytest.mark.v1_only("the demo speaks API v1 to its own fake; its v1 output is checked")


def no_pending_tasks() -> None:
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert others == [], sorted(t.get_name() for t in others)


@DEMO_SPEAKS_V1
async def test_demo_starts_every_run_over_at_most_the_pool_size(capsys: object) -> None:
    code = await run_demo(runs=300, max_connections=10, latency=0.0, as_json=True)

    out = capsys.readouterr().out  # type: ignore[attr-defined]
    summary = json.loads(out)
    assert code == 0
    assert summary["started"] == 300
    assert summary["runs_created_on_server"] == 300
    assert summary["errors"] == {}
    assert 0 < summary["connections_used"] <= 10
    assert summary["latency_p50_ms"] <= summary["latency_p99_ms"]
    no_pending_tasks()


@DEMO_SPEAKS_V1
async def test_demo_waits_for_every_started_run_to_finish_through_the_receiver(capsys: object) -> None:
    code = await run_demo(runs=300, max_connections=10, latency=0.0, as_json=True)

    s = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert code == 0
    assert s["finished"] == s["started"] == 300
    assert s["not_finished"] == 0
    # What the waits reported final is what the server's ledger holds: every 20th run failed.
    assert s["finished_by_status"] == s["ledger_by_status"] == {"succeeded": 285, "failed": 15}
    assert 0 < s["finish_latency_p50_ms"] <= s["finish_latency_p99_ms"]
    # Every run is told apart: woken by its final notice, polled before a late one, or found
    # by polling because its notice was lost (never more of those than the server dropped).
    told = (
        s["finished_woken_by_callback"]
        + s["finished_before_late_callback"]
        + s["finished_with_callback_lost"]
    )
    assert told == 300
    assert s["finished_woken_by_callback"] > 0
    assert s["finished_with_callback_lost"] <= s["callbacks_dropped_by_server"]
    # Every notice the fake sent reached the receiver; lost and repeated ones were made on purpose.
    assert s["callbacks_dropped_by_server"] > 0
    assert s["callbacks_duplicated_by_server"] > 0
    assert s["callbacks_received"] == s["callbacks_sent"]
    assert (
        s["callbacks_sent"]
        == s["callback_notices"] - s["callbacks_dropped_by_server"] + s["callbacks_duplicated_by_server"]
    )
    assert s["callbacks_accepted"] + s["callbacks_duplicates"] == s["callbacks_received"]
    assert s["callbacks_refused"] == 0
    assert s["polls"] >= 300
    no_pending_tasks()


@DEMO_SPEAKS_V1
async def test_demo_with_chaos_accounts_for_every_run(capsys: object) -> None:
    code = await run_demo(runs=300, max_connections=10, latency=0.0, chaos=True, as_json=True)

    s = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert code == 0
    assert s["started"] + sum(s["errors"].values()) == 300
    # Runs the server made beyond those reported started belong to unknown outcomes.
    extra = s["runs_created_on_server"] - s["started"]
    assert 0 <= extra <= s["unknown_outcomes"]
    # Every started run was seen final, whatever the faults did to the reads and the notices.
    assert s["finished"] == s["started"]
    assert s["not_finished"] == 0
    ledger, finished = s["ledger_by_status"], s["finished_by_status"]
    assert set(ledger) <= {"succeeded", "failed"}
    assert sum(ledger.values()) == s["runs_created_on_server"]
    assert all(finished[status] <= ledger[status] for status in finished)
    assert sum(ledger.values()) - s["finished"] == extra
    no_pending_tasks()


@DEMO_SPEAKS_V1
async def test_demo_prints_the_launch_and_the_finish(capsys: object) -> None:
    code = await run_demo(runs=40, max_connections=5, latency=0.0)

    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert code == 0
    assert "started                 40 of 40" in out
    assert "finished                40 of 40 started: failed=2, succeeded=38" in out
    assert "server ledger     failed=2, succeeded=38" in out
    assert "callback lost" in out
    assert "runs.get polls" in out
    no_pending_tasks()


async def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "coreclaw_async",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@DEMO_SPEAKS_V1
async def test_demo_command_runs_clean_under_warnings_as_errors() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-W",
        "error",
        "-m",
        "coreclaw_async",
        "demo",
        "--runs",
        "20",
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)

    assert proc.returncode == 0, err.decode()
    assert err.decode() == ""
    summary = json.loads(out)
    assert summary["finished"] == summary["started"] == 20


# The child restores Python's SIGINT handler itself: a SIGINT ignored by a parent (a
# background job) would otherwise stay ignored in it.
_INTERRUPTIBLE_DEMO = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from coreclaw_async._cli import main; sys.exit(main(sys.argv[1:]))"
)


@DEMO_SPEAKS_V1
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    "args",
    [
        # 1,000 starts, 10 at a time, 50 ms each: still launching after 1.5 s.
        ("--runs", "1000", "--max-connections", "10", "--latency", "0.05"),
        # 20 starts take no time; the runs take 2 s: waiting for them after 1.5 s.
        ("--runs", "20", "--latency", "0"),
    ],
    ids=["while-launching", "while-waiting"],
)
async def test_ctrl_c_ends_the_demo_at_once_leaving_nothing_behind(args: tuple[str, ...]) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-W",
        "error",
        "-c",
        _INTERRUPTIBLE_DEMO,
        "demo",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)

    assert proc.returncode == 130, err.decode()
    assert out == b""  # interrupted before any summary
    assert err.decode() == ""  # no traceback, no "Task was destroyed", no unclosed-resource warning


def _env(fake: FakeCoreClaw, api_version: str) -> dict[str, str]:
    return {
        "CORECLAW_API_KEY": fake.api_key,
        "CORECLAW_BASE_URL": fake.url,
        "CORECLAW_API_VERSION": api_version,
    }


async def test_tasks_run_command_prints_the_run_slug(fake: FakeCoreClaw, api_version: str) -> None:
    code, out, _ = await _cli(
        "tasks",
        "run",
        fake.task_slugs[0],
        "--callback-url",
        "https://hooks.example.com/x",
        env=_env(fake, api_version),
    )

    assert code == 0
    assert out.strip() == fake.runs[0].slug


async def test_tasks_run_command_json_and_errors(fake: FakeCoreClaw, api_version: str) -> None:
    env = _env(fake, api_version)
    code, out, _ = await _cli(
        "tasks", "run", fake.task_slugs[1], "--callback-url", "https://hooks.example.com/x", "--json", env=env
    )
    assert code == 0
    assert json.loads(out) == {"run_slug": fake.runs[0].slug, "task_slug": fake.task_slugs[1]}

    code, _, err = await _cli(
        "tasks", "run", "01KSFDXRNYGKT3NNE11EMR4W5X", "--callback-url", "https://h.example.com/x", env=env
    )
    assert code == 1
    assert "TaskNotFoundError" in err
    assert fake.api_key not in err

    code, _, err = await _cli("tasks", "run", fake.task_slugs[0], "--callback-url", "not-a-url", env=env)
    assert code == 2
    assert "callback_url" in err
    assert len(fake.runs) == 1
