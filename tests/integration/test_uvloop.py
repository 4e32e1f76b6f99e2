"""The client works unchanged on uvloop: fan-outs against FakeCoreClaw over real loopback HTTP.

Each test runs its own uvloop event loop (``uvloop.run``), both API versions. The package itself
never imports uvloop; the last test checks that in a fresh interpreter.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from coreclaw_async import StartedRun

from ..requirements import require_module
from .support import serving

uvloop = require_module("uvloop")


def _on_uvloop(api_version: str, scenario: str) -> None:
    async def main() -> None:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        async with serving(api_version) as (fake, client):
            slugs = [fake.add_task() for _ in range(5)]
            if scenario == "run_all":
                items = [slugs[n % 5] for n in range(120)]
                outcomes = await client.tasks.run_all(items, concurrency=16)
                assert [o.index for o in outcomes] == list(range(120))
                assert all(o.started is True and isinstance(o.run, StartedRun) for o in outcomes)
                assert [o.request.task_slug for o in outcomes] == items
                ledger = {run.slug: run.task_slug for run in fake.runs}
                assert {o.run.run_slug: o.request.task_slug for o in outcomes if o.run} == ledger
                assert client.stats.succeeded == 120
            else:
                # Stopped early: every item taken is accounted for exactly once.
                fake.latency = 0.02
                delivered = []
                batch = client.tasks.run_many((slugs[n % 5] for n in range(400)), concurrency=10)
                async with batch:
                    async for outcome in batch:
                        delivered.append(outcome)
                        if len(delivered) == 25:
                            break
                accounted = delivered + batch.undelivered + batch.unreconciled
                assert sorted(o.index for o in accounted) == list(range(batch.taken))
                assert all(o.started is None for o in batch.unreconciled)
                assert batch.in_flight == 0
                pending = [t for t in asyncio.all_tasks() if t.get_name().startswith("coreclaw_async.")]
                assert pending == []

    uvloop.run(main())


@pytest.mark.parametrize("api_version", ["v1", "v2"])
def test_run_all_on_uvloop(api_version: str) -> None:
    _on_uvloop(api_version, "run_all")


@pytest.mark.parametrize("api_version", ["v1", "v2"])
def test_a_batch_stopped_early_on_uvloop_accounts_for_every_item(api_version: str) -> None:
    _on_uvloop(api_version, "stopped")


def test_the_package_does_not_import_uvloop() -> None:
    code = "import sys, coreclaw_async, coreclaw_async.testing; assert 'uvloop' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
