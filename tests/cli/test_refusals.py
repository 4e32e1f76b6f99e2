"""What the batch commands refuse before sending anything, and a Ctrl-C before they begin."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from coreclaw_async.testing import FakeCoreClaw

from ..requirements import missing
from .support import cli_env, run_cli, write_slugs


async def test_lines_that_cannot_be_slugs_and_json_that_is_not_an_object_are_refused(
    fake: FakeCoreClaw, api_version: str
) -> None:
    lines = [
        fake.task_slugs[0],
        "not a slug!",
        "[1]",
        '"01KSFDXRNYGKT3NNE11EMR4W5X"',
        "tasks/01KSFDXRNYGKT3NNE11EMR4W5X",
        "{01KSFDXRNYGKT3NNE11EMR4W5X}",
        json.dumps({"task_slug": "a b"}),
    ]
    stdin = ("\n".join(lines) + "\n").encode()

    result = await run_cli("tasks", "run-many", "-", env=cli_env(fake, api_version), stdin=stdin)
    waited = await run_cli("runs", "wait-many", "-", env=cli_env(fake, api_version), stdin=b"[1]\nrun 1\n")

    assert result.code == 2
    assert result.out == ""
    assert "6 invalid input line(s), nothing was sent" in result.err
    assert "line 2: not a task slug: it holds ' '" in result.err
    assert "line 3: is JSON but not an object" in result.err
    assert "line 4: is JSON but not an object" in result.err
    assert "line 5: not a task slug: it holds '/'" in result.err
    assert "line 6: not valid JSON" in result.err
    assert "line 7: not a task slug" in result.err
    assert waited.code == 2
    assert "line 1: is JSON but not an object" in waited.err
    assert "line 2: not a run slug" in waited.err
    assert fake.runs == []


async def test_v2_run_request_fields_the_command_cannot_send_are_named_as_not_supported(
    fake: FakeCoreClaw, api_version: str
) -> None:
    slug = fake.task_slugs[0]
    refused = [{"task_slug": slug, "is_async": False}, {"task_slug": slug, "offset": 1, "limit": 20}]
    accepted = {"task_slug": slug, "is_async": True, "callback_url": "https://hooks.example.com/b"}
    env = cli_env(fake, api_version)

    bad = await run_cli(
        "tasks", "run-many", "-", env=env, stdin="".join(json.dumps(r) + "\n" for r in refused).encode()
    )
    good = await run_cli("tasks", "run-many", "-", env=env, stdin=(json.dumps(accepted) + "\n").encode())

    assert bad.code == 2
    assert "line 1: field(s) is_async not supported by this command" in bad.err
    assert "line 2: field(s) offset, limit not supported by this command" in bad.err
    assert good.code == 0, good.err
    (run,) = fake.runs
    assert run.callback_url == "https://hooks.example.com/b"


async def test_stdin_read_twice_and_stdout_onto_a_file_it_reads_are_refused(
    fake: FakeCoreClaw, api_version: str, tmp_path: Path
) -> None:
    env = cli_env(fake, api_version)
    path = write_slugs(tmp_path / "slugs.txt", fake.task_slugs)
    first = await run_cli("tasks", "run-many", path, env=env)
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text(first.out, encoding="utf-8")
    journal = tmp_path / "journal.jsonl"

    twice = await run_cli("tasks", "run-many", "-", "--resume", "-", env=env, stdin=b"")

    def onto(target: Path, *args: str) -> tuple[int, str]:
        # As the shell does for `... > target`: stdout opened on it, truncated.
        with open(target, "a", encoding="utf-8") as out:
            done = subprocess.run(
                [sys.executable, "-W", "error", "-m", "coreclaw_async", "tasks", "run-many", path, *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.PIPE,
                env=env,
                check=False,
            )
        return done.returncode, done.stderr.decode()

    same_ledger = await asyncio.to_thread(onto, ledger, "--resume", str(ledger))
    same_journal = await asyncio.to_thread(onto, journal, "--journal", str(journal))
    journal_is_ledger = await run_cli(
        "tasks", "run-many", path, "--resume", str(ledger), "--journal", str(ledger), env=env
    )
    nowhere = await run_cli("tasks", "run-many", path, "--journal", str(tmp_path / "no" / "j"), env=env)

    assert twice.code == 2
    assert "stdin can be read once" in twice.err
    assert same_ledger[0] == 2
    assert f"stdout is {ledger}, which this command reads" in same_ledger[1]
    assert ledger.read_text(encoding="utf-8") == first.out  # appended to: nothing was written
    assert same_journal[0] == 2
    assert "stdout is the --journal file" in same_journal[1]
    assert journal_is_ledger.code == 2
    assert "is also the input or a --resume ledger" in journal_is_ledger.err
    assert nowhere.code == 2
    assert "cannot open the journal" in nowhere.err
    assert len(fake.runs) == 3


def python(script: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -W error -c script`` to the end, stdout and stderr captured."""
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=dict(os.environ),
        check=False,
    )


def test_ctrl_c_before_the_command_has_begun_exits_130_without_a_traceback() -> None:
    # The interrupt lands while the arguments are parsed, before any handler is in place.
    done = python(
        "import sys, coreclaw_async._cli._main as m\n"
        "def interrupted(): raise KeyboardInterrupt\n"
        "m._build_parser = interrupted\n"
        "sys.exit(m.main(['tasks', 'run-many', '-']))\n"
    )

    assert done.returncode == 130
    assert done.stderr == b""


def test_ctrl_c_while_the_library_is_still_being_imported_exits_130_without_a_traceback() -> None:
    # The interrupt lands while `coreclaw_async` itself is imported, as the console script does.
    done = python(
        "import sys\n"
        "class Interrupting:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'coreclaw_async': raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupting())\n"
        "import coreclaw_async_cli\n"
        "sys.exit(coreclaw_async_cli.main())\n"
    )

    assert done.returncode == 130
    assert done.stderr == b""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_the_console_script_interrupted_at_once_ends_without_a_traceback() -> None:
    script = Path(sys.executable).with_name("coreclaw-async")
    if not script.exists():
        missing("the console script is not installed next to this interpreter")
    proc = subprocess.Popen(
        [str(script), "tasks", "run-many", "-", "--progress", "none"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "CORECLAW_API_KEY": "k", "CORECLAW_BASE_URL": "http://127.0.0.1:9"},
    )
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)

    # Before the interpreter has its own handler, SIGINT simply ends it (-SIGINT); later, 130.
    assert proc.returncode in (130, -signal.SIGINT), err.decode()
    assert b"Traceback" not in err
