"""Helpers of the batch command tests: run ``python -m coreclaw_async`` against a FakeCoreClaw."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import attrs

from coreclaw_async.testing import FakeCoreClaw

CALLBACK_URL = "https://hooks.example.com/coreclaw"
SUMMARY_PREFIXES = ("tasks run-many: ", "runs wait-many: ")
# Generous: the machines are shared; no test expects to come near it.
DEADLINE = 120.0


@attrs.frozen
class Result:
    code: int
    out: str
    err: str

    @property
    def ledger(self) -> list[dict[str, Any]]:
        """The lines of stdout: each one JSON object with an outcome, and nothing else."""
        records = [json.loads(line) for line in self.out.splitlines()]
        assert all(isinstance(record, dict) and "outcome" in record for record in records)
        return records

    @property
    def summary(self) -> str:
        """The closing summary line on stderr (``tasks run-many: ...; exit code N``)."""
        lines = [line for line in self.err.splitlines() if line.startswith(SUMMARY_PREFIXES)]
        assert lines, self.err
        return lines[-1]

    @property
    def progress(self) -> list[str]:
        """The plain progress lines on stderr."""
        return [line for line in self.err.splitlines() if line.startswith(("launch ", "wait "))]

    def outcomes(self, outcome: str, *, carried: bool | None = None) -> list[dict[str, Any]]:
        """The ledger lines of ``outcome``; with ``carried``, only those carried over (or not)."""
        return [
            record
            for record in self.ledger
            if record["outcome"] == outcome and (carried is None or record.get("carried", False) is carried)
        ]


def cli_env(fake: FakeCoreClaw, api_version: str = "v2", **extra: str) -> dict[str, str]:
    """The environment of a command talking to ``fake``."""
    env = {
        **os.environ,
        "CORECLAW_API_KEY": fake.api_key,
        "CORECLAW_BASE_URL": fake.url,
        "CORECLAW_API_VERSION": api_version,
        "CORECLAW_CALLBACK_URL": CALLBACK_URL,
    }
    env.update(extra)
    return env


async def spawn(*args: str, env: dict[str, str], stdin: bool = False) -> asyncio.subprocess.Process:
    """Start ``python -W error -m coreclaw_async ARGS``, stdout and stderr piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-W",
        "error",
        "-m",
        "coreclaw_async",
        *args,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def run_cli(*args: str, env: dict[str, str], stdin: bytes | None = None) -> Result:
    """Run the command line with ``ARGS`` to the end (see :func:`spawn`)."""
    proc = await spawn(*args, env=env, stdin=stdin is not None)
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout=DEADLINE)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def write_slugs(path: Path, slugs: list[str]) -> str:
    path.write_text("".join(slug + "\n" for slug in slugs), encoding="utf-8")
    return str(path)


def fake_slugs(fake: FakeCoreClaw) -> set[str]:
    return {run.slug for run in fake.runs}
