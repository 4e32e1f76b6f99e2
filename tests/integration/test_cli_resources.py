"""The resource subcommands of the CLI, called against FakeCoreClaw (output checked with capsys)."""

from __future__ import annotations

import argparse
import io
import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from coreclaw_async import AsyncCoreClaw, InvalidParameterError, Run, RunStatus
from coreclaw_async._cli._main import register
from coreclaw_async._cli._output import EXIT_WAIT_TIMEOUT, plain
from coreclaw_async.testing import FakeCoreClaw

from .support import MAPS_INPUT, WORKER, serving, start_run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coreclaw-async")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


async def _run(client: AsyncCoreClaw, *argv: str) -> int:
    args = _parser().parse_args(argv)
    code: int = await args.func(args, client)
    return code


def _json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_every_leaf_command_has_a_func_and_a_json_flag() -> None:
    parser = _parser()
    commands = [
        ["runs", "get", "S"],
        ["runs", "list"],
        ["runs", "wait", "S"],
        ["runs", "results", "S"],
        ["runs", "log", "S"],
        ["runs", "export", "S"],
        ["runs", "abort", "S"],
        ["runs", "rerun", "S"],
        ["workers", "run", "W"],
        ["workers", "get", "W"],
        ["workers", "search", "q"],
        ["account"],
        ["proxy-regions"],
    ]
    for argv in commands:
        args = parser.parse_args([*argv, "--json"])
        assert callable(args.func), argv
        assert args.json is True, argv


async def test_account_prints_a_table_and_exact_json(
    client: AsyncCoreClaw, fake: FakeCoreClaw, api_version: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _run(client, "account") == 0
    table = capsys.readouterr().out
    assert await _run(client, "account", "--json") == 0
    data = json.loads(capsys.readouterr().out)

    assert f"${fake.balance}" in table
    assert data["balance"] == fake.balance  # a string: exact
    # v1 dates the traffic package; v2 has no traffic and dates the balance instead.
    expires = "traffic_expiration_at" if api_version == "v1" else "balance_expiration_at"
    assert data[expires].endswith("+00:00")


async def test_proxy_regions_lists_codes(client: AsyncCoreClaw, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _run(client, "proxy-regions", "--json") == 0

    assert {"code": "US", "name": "United States"} in json.loads(capsys.readouterr().out)


async def test_workers_search_and_get(client: AsyncCoreClaw, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _run(client, "workers", "search", "amazon", "--limit", "1") == 0
    search_table = capsys.readouterr().out
    assert await _run(client, "workers", "get", WORKER) == 0
    worker_table = capsys.readouterr().out
    assert await _run(client, "workers", "get", WORKER, "--json") == 0
    worker = json.loads(capsys.readouterr().out)

    assert "Amazon Product By ASIN" in search_table
    assert "searchTerms" in worker_table
    assert "v1.0.5" in worker_table
    assert worker["version"] == "v1.0.5"
    assert next(p["name"] for p in worker["parameters"]["custom"]["properties"]) == "searchTerms"


async def test_workers_search_with_a_blank_query_is_an_invalid_parameter(client: AsyncCoreClaw) -> None:
    with pytest.raises(InvalidParameterError):
        await _run(client, "workers", "search", " ")


async def test_workers_run_starts_a_run_with_the_given_input_and_settings(
    client: AsyncCoreClaw, fake: FakeCoreClaw, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await _run(
        client, "workers", "run", WORKER, "--input", json.dumps(MAPS_INPUT), "--memory", "1024", "--json"
    )

    assert code == 0
    started = json.loads(capsys.readouterr().out)
    record = fake.get_run(started["run_slug"])
    assert record.input["parameters"]["custom"] == MAPS_INPUT
    assert record.input["parameters"]["system"]["memory"] == 1024


async def test_workers_run_reads_input_from_a_file_or_uses_the_defaults(
    client: AsyncCoreClaw, fake: FakeCoreClaw, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "input.json"
    path.write_text(json.dumps(MAPS_INPUT), encoding="utf-8")

    assert await _run(client, "workers", "run", WORKER, "--input", f"@{path}") == 0
    assert await _run(client, "workers", "run", WORKER) == 0

    first, second = capsys.readouterr().out.split()
    assert fake.get_run(first).input["parameters"]["custom"] == MAPS_INPUT
    assert fake.get_run(second).input["parameters"]["custom"]["searchTerms"] == ["coffee shop"]


def test_workers_run_rejects_input_that_is_not_a_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _parser().parse_args(["workers", "run", WORKER, "--input", "[1, 2]"])

    assert exited.value.code == 2
    assert "JSON object" in capsys.readouterr().err


async def test_workers_run_sync_prints_the_first_rows(
    api_version: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serving(api_version, run_schedule=(0.02, 0.05), rows_per_run=8) as (_, client):
        code = await _run(client, "workers", "run", WORKER, "--sync", "--page-size", "3", "--json")

    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["run_status"] == {"v1": "completed", "v2": "succeeded"}[api_version]
    assert len(result["results"]["items"]) == 3


async def test_runs_get_list_and_log(api_version: str, capsys: pytest.CaptureFixture[str]) -> None:
    async with serving(api_version, run_schedule=(0.0, 0.0), rows_per_run=3) as (_, client):
        slug = await start_run(client)
        assert await _run(client, "runs", "get", slug) == 0
        get_table = capsys.readouterr().out
        assert await _run(client, "runs", "get", slug, "--json") == 0
        run = json.loads(capsys.readouterr().out)
        assert await _run(client, "runs", "list", "--json", "--limit", "5") == 0
        listed = _json_lines(capsys.readouterr().out)
        assert await _run(client, "runs", "log", slug) == 0
        log_text = capsys.readouterr().out

    assert "succeeded (3)" in get_table
    assert (run["run_slug"], run["status"], run["status_code"], run["results"]) == (slug, "succeeded", 3, 3)
    assert [item["run_slug"] for item in listed] == [slug]
    assert "full log:" in log_text
    assert "INFO" in log_text


async def test_runs_list_filters_by_status_name(api_version: str, capsys: pytest.CaptureFixture[str]) -> None:
    async with serving(api_version, run_schedule=(0.0, 0.0), fail_every=2) as (_, client):
        slugs = [await start_run(client) for _ in range(2)]
        assert await _run(client, "runs", "list", "--status", "failed") == 0

    out = capsys.readouterr().out
    assert slugs[1] in out
    assert slugs[0] not in out


async def test_runs_wait_exits_0_for_success_and_shows_progress_on_request(
    api_version: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serving(api_version, run_schedule=(0.05, 0.1)) as (_, client):
        slug = await start_run(client)
        code = await _run(client, "runs", "wait", slug, "--poll-interval", "0.02", "--progress", "always")

    captured = capsys.readouterr()
    assert code == 0
    assert "succeeded" in captured.out
    assert f"\r{slug}: " in captured.err


async def test_runs_wait_is_quiet_on_stderr_when_not_a_terminal(
    api_version: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serving(api_version, run_schedule=(0.0, 0.05)) as (_, client):
        slug = await start_run(client)
        assert await _run(client, "runs", "wait", slug, "--poll-interval", "0.02", "--json") == 0

    captured = capsys.readouterr()
    assert captured.err == ""
    assert json.loads(captured.out)["status"] == "succeeded"


async def test_runs_wait_exits_1_for_a_failed_run(
    api_version: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serving(api_version, run_schedule=(0.0, 0.05), fail_every=1) as (_, client):
        slug = await start_run(client)
        assert await _run(client, "runs", "wait", slug, "--poll-interval", "0.02") == 1

    assert "failed (4)" in capsys.readouterr().out


async def test_runs_wait_exits_124_at_its_deadline(
    api_version: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serving(api_version, run_schedule=(0.0, 30.0)) as (_, client):
        slug = await start_run(client)
        code = await _run(
            client, "runs", "wait", slug, "--wait-timeout", "0.2", "--poll-interval", "0.05", "--json"
        )

    captured = capsys.readouterr()
    assert code == EXIT_WAIT_TIMEOUT
    assert "not final" in captured.err
    assert json.loads(captured.out)["status"] == "running"


async def test_runs_results_streams_json_lines_and_a_table(
    api_version: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serving(api_version, run_schedule=(0.0, 0.0), rows_per_run=12) as (_, client):
        slug = await start_run(client)
        assert await _run(client, "runs", "results", slug, "--json", "--page-size", "5") == 0
        rows = _json_lines(capsys.readouterr().out)
        assert await _run(client, "runs", "results", slug, "--limit", "2") == 0
        table = capsys.readouterr().out.splitlines()

    assert len(rows) == 12
    assert len({row["__coreclaw_data_id__"] for row in rows}) == 12
    assert table[0].split()[:2] == ["TITLE", "URL"]
    assert len(table) == 3
    assert table[1].startswith("Example Place 1")


async def test_runs_export_prints_the_link_or_downloads_the_file(
    api_version: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    async with serving(api_version, run_schedule=(0.0, 0.0), rows_per_run=4) as (fake, client):
        slug = await start_run(client)
        assert await _run(client, "runs", "export", slug) == 0
        url = capsys.readouterr().out.strip()
        dest = tmp_path / "out.csv"
        code = await _run(client, "runs", "export", slug, "--format", "csv", "-o", str(dest), "--json")
        summary = json.loads(capsys.readouterr().out)

    assert code == 0
    assert url.startswith(fake.url + "/files/export/")
    assert summary["bytes"] == dest.stat().st_size
    assert dest.read_text(encoding="utf-8").splitlines()[0] == "title,url,rating,reviews,address,category"


async def test_runs_export_to_stdout_writes_the_file_bytes(
    api_version: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = io.BytesIO()
    monkeypatch.setattr("sys.stdout", io.TextIOWrapper(raw, encoding="utf-8"))
    async with serving(api_version, run_schedule=(0.0, 0.0), rows_per_run=2) as (_, client):
        slug = await start_run(client)
        assert await _run(client, "runs", "export", slug, "--format", "json", "-o", "-") == 0

    assert len(json.loads(raw.getvalue())) == 2


async def test_runs_abort_and_rerun(api_version: str, capsys: pytest.CaptureFixture[str]) -> None:
    async with serving(api_version, run_schedule=(0.0, 30.0), abort_linger=None) as (fake, client):
        slug = await start_run(client)
        assert await _run(client, "runs", "abort", slug) == 0
        abort_text = capsys.readouterr().out
        assert await _run(client, "runs", "rerun", slug, "--json") == 0
        rerun = json.loads(capsys.readouterr().out)

        assert (await client.runs.get(slug)).status is RunStatus.ABORTING
        assert fake.get_run(rerun["run_slug"]).rerun_of == slug
    assert slug in abort_text
    assert rerun["rerun_of"] == slug


def test_plain_renders_models_as_json_ready_data() -> None:
    run = Run(
        run_slug="S",
        status_code=3,
        usage=Decimal("0.10"),
        started_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )

    data = plain(run)

    assert data["status"] == "succeeded"
    assert data["status_code"] == 3
    assert data["usage"] == "0.10"
    assert data["started_at"] == "2026-01-01T00:00:00+00:00"
    json.dumps(data)


async def test_runs_export_reports_a_destination_it_cannot_write(
    api_version: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    async with serving(api_version, run_schedule=(0.0, 0.0), rows_per_run=2) as (_, client):
        slug = await start_run(client)
        code = await _run(client, "runs", "export", slug, "-o", str(tmp_path / "missing" / "out.json"))

    assert code == 1
    assert "cannot write" in capsys.readouterr().err
