"""The command line on API v2: ``--api-version``, the ``tasks`` commands, ``workers schema``, the demo."""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from coreclaw_async import AsyncCoreClaw, Schedule
from coreclaw_async._cli._main import _build_parser
from coreclaw_async._cli._tasks import schedule_arg
from coreclaw_async._demo import run_demo
from coreclaw_async.testing import FakeCoreClaw

WORKER = "coreclaw/google-maps-scraper"


@pytest.fixture
async def fake() -> AsyncIterator[FakeCoreClaw]:
    async with FakeCoreClaw(api_versions=("v2",), run_schedule=(0.0, 0.05)) as server:
        yield server


@pytest.fixture
async def client(fake: FakeCoreClaw) -> AsyncIterator[AsyncCoreClaw]:
    async with AsyncCoreClaw(fake.api_key, base_url=fake.url, api_version="v2") as c:
        yield c


async def _run(client: AsyncCoreClaw, *argv: str) -> int:
    args = _build_parser().parse_args(argv)
    code: int = await args.func(args, client)
    return code


def _last_json(text: str) -> Any:
    return json.loads(text.strip().splitlines()[-1])


async def test_a_task_is_managed_from_the_shell(
    client: AsyncCoreClaw, fake: FakeCoreClaw, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        await _run(
            client,
            "tasks",
            "create",
            WORKER,
            "--title",
            "Coffee",
            "--input",
            '{"searchTerms": ["coffee"]}',
            "--schedule",
            "weekly:1@07:30",
        )
        == 0
    )
    slug = capsys.readouterr().out.strip()
    assert await _run(client, "tasks", "update", slug, "--title", "Tea", "--schedule", "off:daily@06:00") == 0
    assert await _run(client, "tasks", "input", slug, "--set", '{"searchTerms": ["tea"]}') == 0
    saved = _last_json(capsys.readouterr().out)
    assert await _run(client, "tasks", "get", slug, "--json") == 0
    task = _last_json(capsys.readouterr().out)
    assert await _run(client, "tasks", "list") == 0
    listing = capsys.readouterr().out
    assert await _run(client, "tasks", "run", slug) == 0
    run_slug = capsys.readouterr().out.strip()
    assert await _run(client, "tasks", "delete", slug) == 0
    assert await _run(client, "tasks", "delete", slug, "--missing-ok") == 0

    assert saved["input"] == {"parameters": {"custom": {"searchTerms": ["tea"]}}}
    assert task["title"] == "Tea"
    assert (task["schedule_type"], task["schedule_enabled"], task["schedule_time"]) == (1, 0, "06:00")
    assert slug in listing
    assert "off:daily@06:00" in listing
    assert run_slug in {run.slug for run in fake.runs}


async def test_workers_schema_shows_the_input_fields(
    client: AsyncCoreClaw, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _run(client, "workers", "schema", WORKER) == 0
    table = capsys.readouterr().out
    assert await _run(client, "workers", "schema", WORKER, "--json") == 0
    schema = _last_json(capsys.readouterr().out)

    assert "searchTerms" in table
    assert "searchTerms" in schema["properties"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("daily@07:00", Schedule.daily("07:00")),
        ("weekly:7@23:59", Schedule.weekly(7, "23:59")),
        ("monthly:31@00:00", Schedule.monthly(31, "00:00")),
        ("once:2026-12-01@09:15", Schedule.once("2026-12-01", "09:15")),
        ("off:daily@07:00", Schedule.daily("07:00", enabled=False)),
    ],
)
def test_schedules_are_written_as_kind_and_time(text: str, expected: Schedule) -> None:
    assert schedule_arg(text) == expected


@pytest.mark.parametrize(
    "text", ["hourly@07:00", "daily@7", "weekly:8@07:00", "weekly:x@07:00", "once:2026-13-01@07:00"]
)
def test_a_bad_schedule_is_an_argument_error(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        schedule_arg(text)


def test_the_api_version_is_a_global_option_and_also_accepted_after_the_command() -> None:
    parser = _build_parser()

    before = parser.parse_args(["--api-version", "v2", "runs", "get", "S"])
    after = parser.parse_args(["runs", "get", "S", "--api-version", "v2"])
    neither = parser.parse_args(["runs", "get", "S"])

    assert (before.api_version, after.api_version, neither.api_version) == ("v2", "v2", None)
    with pytest.raises(SystemExit):
        parser.parse_args(["--api-version", "v3", "account"])


async def test_the_demo_runs_the_same_way_on_v2(capsys: pytest.CaptureFixture[str]) -> None:
    code = await run_demo(runs=200, max_connections=10, latency=0.0, as_json=True, api_version="v2")

    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert summary["api_version"] == "v2"
    assert summary["started"] == summary["runs_created_on_server"] == 200
    assert summary["finished"] == 200


async def test_account_on_v2_shows_the_balance_expiry_not_traffic(
    client: AsyncCoreClaw, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _run(client, "account") == 0

    out = capsys.readouterr().out
    assert "balance expires" in out
    assert "traffic" not in out
