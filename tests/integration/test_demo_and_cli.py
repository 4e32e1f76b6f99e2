"""The demo and the `tasks run` command, end to end."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from coreclaw_async._demo import run_demo
from coreclaw_async.testing import FakeCoreClaw


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


async def test_demo_with_chaos_accounts_for_every_run(capsys: object) -> None:
    code = await run_demo(runs=300, max_connections=10, latency=0.0, chaos=True, as_json=True)

    summary = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert code == 0
    assert summary["started"] + sum(summary["errors"].values()) == 300
    # Runs the server made beyond those reported started belong to unknown outcomes.
    extra = summary["runs_created_on_server"] - summary["started"]
    assert 0 <= extra <= summary["unknown_outcomes"]


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


async def test_tasks_run_command_prints_the_run_slug(fake: FakeCoreClaw) -> None:
    code, out, _ = await _cli(
        "tasks",
        "run",
        fake.task_slugs[0],
        "--callback-url",
        "https://hooks.example.com/x",
        env={"CORECLAW_API_KEY": fake.api_key, "CORECLAW_BASE_URL": fake.url},
    )

    assert code == 0
    assert out.strip() == fake.runs[0].slug


async def test_tasks_run_command_json_and_errors(fake: FakeCoreClaw) -> None:
    env = {"CORECLAW_API_KEY": fake.api_key, "CORECLAW_BASE_URL": fake.url}
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
