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
# Generous: the machines are shared; no test expects to come near it.
DEADLINE = 120.0


@attrs.frozen
class Result:
    code: int
    out: str
    err: str

    @property
    def ledger(self) -> list[dict[str, Any]]:
        """The outcome lines of stdout (the summary line left out)."""
        return [record for record in map(json.loads, self.out.splitlines()) if "summary" not in record]

    @property
    def summary(self) -> dict[str, Any]:
        last = json.loads(self.out.splitlines()[-1])
        summary: dict[str, Any] = last["summary"]
        return summary

    def outcomes(self, outcome: str) -> list[dict[str, Any]]:
        return [record for record in self.ledger if record.get("outcome") == outcome]


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
