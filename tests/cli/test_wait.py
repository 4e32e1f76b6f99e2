"""``tasks run-many --wait`` (polling, and woken by a callback receiver) and ``runs wait-many``."""

from __future__ import annotations

from pathlib import Path

import pytest

from coreclaw_async.testing import FakeCoreClaw

from .support import cli_env, run_cli, write_slugs

STATUS = {3: "succeeded", 4: "failed"}


def final_statuses(fake: FakeCoreClaw) -> dict[str, str]:
    return {run.slug: STATUS[run.status] for run in fake.runs}


@pytest.mark.parametrize("listen", [False, True], ids=["polling", "callback-listen"])
async def test_wait_reports_every_run_final_with_the_status_the_fake_gives(
    listen: bool, api_version: str, tmp_path: Path
) -> None:
    # Every 4th run fails: the exit code says so.
    async with FakeCoreClaw(api_versions=(api_version,), fail_every=4, run_schedule=(0.05, 0.1)) as fake:
        path = write_slugs(tmp_path / "slugs.txt", [fake.task_slugs[i % 3] for i in range(24)])
        args = ["tasks", "run-many", path, "--wait", "--poll-interval", "0.5"]
        if listen:
            args += ["--callback-listen", "127.0.0.1:0"]

        result = await run_cli(*args, env=cli_env(fake, api_version))

        assert result.code == 1, result.err
        finished = result.outcomes("finished")
        assert sorted(r["index"] for r in finished) == list(range(24))
        assert {r["run_slug"]: r["status"] for r in finished} == final_statuses(fake)
        assert "waited: failed 6, succeeded 18" in result.summary
        assert "wait 24/24:" in result.err
        if listen:
            # The runs were started with the receiver's URL, and it answered the fake's notices.
            assert all(
                run.callback_url and run.callback_url.startswith("http://127.0.0.1:") for run in fake.runs
            )
            await fake.drain_callbacks()
            deliveries = fake.callback_deliveries
            assert deliveries
            assert all(d.http_status is not None and d.http_status < 500 for d in deliveries)


async def test_wait_many_reads_a_run_many_ledger_and_resumes_from_its_own_output(
    api_version: str, tmp_path: Path
) -> None:
    async with FakeCoreClaw(api_versions=(api_version,), run_schedule=(0.05, 0.1)) as fake:
        env = cli_env(fake, api_version)
        path = write_slugs(tmp_path / "slugs.txt", [fake.task_slugs[i % 3] for i in range(12)])
        launched = await run_cli("tasks", "run-many", path, env=env)
        ledger = tmp_path / "launch.jsonl"
        ledger.write_text(launched.out, encoding="utf-8")

        waited = await run_cli("runs", "wait-many", str(ledger), "--poll-interval", "0.5", env=env)

        assert waited.code == 0, waited.err
        finished = waited.outcomes("finished")
        assert {r["run_slug"] for r in finished} == {run.slug for run in fake.runs}
        # The launch's index and task come along from the ledger it read.
        by_index = {r["index"]: r for r in launched.outcomes("started")}
        assert all(by_index[r["index"]]["run_slug"] == r["run_slug"] for r in finished)
        assert "12 runs waited for (succeeded 12)" in waited.summary

        done = tmp_path / "wait.jsonl"
        done.write_text(waited.out, encoding="utf-8")
        again = await run_cli("runs", "wait-many", str(ledger), "--resume", str(done), env=env)
        assert again.code == 0, again.err
        # Nothing waited for again; the final lines are carried over, so this output is complete.
        assert "0 runs waited for (none), 12 final before" in again.summary
        assert again.outcomes("finished", carried=False) == []
        assert {r["run_slug"]: r["status"] for r in again.outcomes("finished", carried=True)} == {
            r["run_slug"]: r["status"] for r in finished
        }


async def test_wait_many_names_runs_it_cannot_read_and_refuses_bad_lines(
    fake: FakeCoreClaw, api_version: str
) -> None:
    env = cli_env(fake, api_version)
    missing = "01KSFDS8XWTJME33C08XMCR6B9"

    result = await run_cli(
        "runs", "wait-many", "-", "--poll-interval", "0.5", env=env, stdin=f"{missing}\n".encode()
    )
    bad = await run_cli("runs", "wait-many", "-", env=env, stdin=b'{"task_slug": "x"}\n')

    assert result.code == 1, result.err
    (line,) = result.ledger
    assert line["run_slug"] == missing
    assert line["outcome"] == "wait_error"
    assert line["error"] == "RunNotFoundError"
    assert bad.code == 2
    assert "line 1: a JSON line needs a run_slug" in bad.err
