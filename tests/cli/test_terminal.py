"""Progress on a real pseudo-terminal: the live display with rich, plain lines without it."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from coreclaw_async.testing import FakeCoreClaw

from ..requirements import require_module
from .support import DEADLINE, Result, cli_env, fake_slugs, run_cli, write_slugs

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")

# Runs the command line with rich made unimportable, and checks on the way out that the
# command never imported it.
WITHOUT_RICH = (
    "import sys; sys.modules['rich'] = None; "
    "from coreclaw_async._cli import main; code = main(sys.argv[1:]); "
    "assert not any(m == 'rich' or m.startswith('rich.') for m in sys.modules if sys.modules[m]), 'rich'; "
    "sys.exit(code)"
)


def drain(fd: int) -> bytes:
    """Everything written to the terminal until its last writer is gone."""
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


async def on_a_terminal(prefix: list[str], args: list[str], env: dict[str, str]) -> tuple[Result, str]:
    """Run with stderr on a pseudo-terminal and stdout on a pipe; return what each received."""
    master, slave = os.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-W",
            "error",
            *prefix,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=slave,
            env={**env, "TERM": "xterm-256color", "COLUMNS": "120"},
        )
    finally:
        os.close(slave)
    try:
        screen = asyncio.create_task(asyncio.to_thread(drain, master))
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=DEADLINE)
        shown = await asyncio.wait_for(screen, timeout=DEADLINE)
    finally:
        os.close(master)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), ""), shown.decode(errors="replace")


async def test_on_a_terminal_the_live_display_draws_while_the_ledger_goes_to_stdout(tmp_path: Path) -> None:
    require_module("rich")
    async with FakeCoreClaw(api_versions=("v2",)) as fake:
        path = write_slugs(tmp_path / "slugs.txt", [fake.task_slugs[i % 3] for i in range(300)])

        result, screen = await on_a_terminal(
            ["-m", "coreclaw_async"],
            ["tasks", "run-many", path, "--wait", "--poll-interval", "0.5"],
            cli_env(fake),
        )

        assert result.code == 0, screen
        assert {r["run_slug"] for r in result.outcomes("started")} == fake_slugs(fake)
        assert len(result.outcomes("finished")) == 300
        # Drawn in place with terminal control sequences: a bar, the counts, the client's waits.
        assert "\x1b[" in screen
        assert "━" in screen
        assert "300/300" in screen
        assert "started 300" in screen
        assert "succeeded 300" in screen
        assert "gate wait" in screen
        assert "(sum over requests)" in screen
        assert "Traceback" not in screen


def both_on_a_terminal(args: list[str], env: dict[str, str], columns: int) -> tuple[int, str]:
    """Run with stdout and stderr on one pseudo-terminal ``columns`` wide; return what it shows."""
    master, slave = os.openpty()
    try:
        # The width the terminal itself reports, as `stty cols` sets it.
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        env = {key: value for key, value in env.items() if key not in ("COLUMNS", "LINES")}
        proc = subprocess.Popen(
            [sys.executable, "-W", "error", "-m", "coreclaw_async", *args],
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=slave,
            env={**env, "TERM": "xterm-256color"},
        )
    finally:
        os.close(slave)
    try:
        shown = drain(master)
        code = proc.wait(timeout=DEADLINE)
    finally:
        os.close(master)
    return code, shown.decode(errors="replace")


async def test_with_stdout_on_the_same_narrow_terminal_ledger_lines_are_written_whole(tmp_path: Path) -> None:
    require_module("rich")
    async with FakeCoreClaw(api_versions=("v2",)) as fake:
        path = write_slugs(tmp_path / "slugs.txt", [fake.task_slugs[i % 3] for i in range(50)])

        code, screen = await asyncio.to_thread(
            both_on_a_terminal, ["tasks", "run-many", path, "--progress", "live"], cli_env(fake), 60
        )

        assert code == 0, screen
        assert "\x1b[" in screen  # the live display was drawn
        # Each ledger line reached the terminal unbroken (far wider than its 60 columns).
        ledger = [json.loads(line) for line in re.findall(r'\{"index".*?\}(?=\r?\n)', screen)]
        assert sorted(r["index"] for r in ledger) == list(range(50))
        assert {r["run_slug"] for r in ledger} == fake_slugs(fake)
        assert all(len(json.dumps(r)) > 60 for r in ledger)


async def test_without_rich_a_terminal_gets_plain_lines_and_rich_is_never_imported(tmp_path: Path) -> None:
    async with FakeCoreClaw(api_versions=("v2",)) as fake:
        path = write_slugs(tmp_path / "slugs.txt", fake.task_slugs * 10)
        env = cli_env(fake)

        result, screen = await on_a_terminal(["-c", WITHOUT_RICH], ["tasks", "run-many", path], env)
        live = await on_a_terminal(
            ["-c", WITHOUT_RICH], ["tasks", "run-many", path, "--progress", "live"], env
        )
        piped = await run_cli("tasks", "run-many", path, "--progress", "none", env=env)

        assert result.code == 0, screen
        assert "launch 30/30: started 30 |" in screen
        assert "\x1b[" not in screen
        assert live[0].code == 2
        assert "needs rich: pip install 'coreclaw-async[cli]'" in live[1]
        assert piped.code == 0
        assert piped.err == piped.summary + "\n"  # no progress, only the closing summary
        assert len(fake.runs) == 60
