"""run/result/list, run/last/log and run/result/export (plus the files they point to)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from coreclaw_async.testing import FakeCoreClaw, new_ulid

from .conftest import Api

HEADER_KEYS = ["title", "url", "rating", "reviews", "address", "category"]


@pytest.fixture
async def done_fake() -> AsyncIterator[FakeCoreClaw]:
    """A fake whose runs finish immediately with 25 rows (2nd run fails)."""
    async with FakeCoreClaw(run_schedule=(0, 0), fail_every=2) as fake:
        yield fake


@pytest.fixture
def done_api(http: aiohttp.ClientSession, done_fake: FakeCoreClaw) -> Api:
    return Api(http, done_fake)


async def test_result_list_pages_rows_with_headers_and_ids(done_api: Api) -> None:
    run_slug = await done_api.start_task_run()
    first = (await done_api.post("/api/v1/run/result/list", {"run_slug": run_slug})).data
    assert set(first) == {"count", "headers", "list", "page_index", "page_size"}
    assert (first["count"], first["page_index"], first["page_size"]) == (25, 1, 10)
    assert [h["key"] for h in first["headers"]] == HEADER_KEYS
    assert all(set(h) == {"label", "key", "format"} for h in first["headers"])
    assert len(first["list"]) == 10
    for row in first["list"]:
        assert set(row) == {"__coreclaw_data_id__", *HEADER_KEYS}
        assert re.fullmatch(r"[0-9a-f]{64}", row["__coreclaw_data_id__"])
    last = (
        await done_api.post(
            "/api/v1/run/result/list", {"run_slug": run_slug, "page_index": 3, "page_size": 10}
        )
    ).data
    assert len(last["list"]) == 5
    beyond = (await done_api.post("/api/v1/run/result/list", {"run_slug": run_slug, "page_index": 4})).data
    assert (beyond["count"], beyond["list"]) == (25, [])
    again = (await done_api.post("/api/v1/run/result/list", {"run_slug": run_slug})).data
    assert again["list"] == first["list"], "rows are deterministic"


async def test_failed_runs_keep_the_rows_they_collected(done_api: Api) -> None:
    await done_api.start_task_run()
    failed = await done_api.start_task_run()
    assert (await done_api.detail(failed))["status"] == 4
    data = (await done_api.post("/api/v1/run/result/list", {"run_slug": failed, "page_size": 100})).data
    assert data["count"] == len(data["list"]) == 12


async def test_results_grow_while_the_run_is_running(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(run_schedule=(0, 1.0), rows_per_run=100) as fake:
        api = Api(http, fake)
        run_slug = await api.start_task_run()
        await asyncio.sleep(0.2)
        body = {"run_slug": run_slug, "page_size": 1000}
        early = (await api.post("/api/v1/run/result/list", body)).data["count"]
        await asyncio.sleep(0.3)
        later = (await api.post("/api/v1/run/result/list", body)).data
        assert 0 < early < later["count"] < 100
        assert len(later["list"]) == later["count"]


async def test_ready_run_has_no_rows_and_no_headers(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(run_schedule=(30, 30)) as fake:
        api = Api(http, fake)
        run_slug = await api.start_task_run()
        data = (await api.post("/api/v1/run/result/list", {"run_slug": run_slug})).data
        assert data == {"count": 0, "headers": [], "list": [], "page_index": 1, "page_size": 10}


@pytest.mark.parametrize(
    "extra", [{"page_index": 0}, {"page_size": 0}, {"page_size": "10"}, {"run_slug": ""}]
)
async def test_result_list_rejects_invalid_paging(done_api: Api, extra: dict[str, object]) -> None:
    run_slug = await done_api.start_task_run()
    reply = await done_api.post("/api/v1/run/result/list", {"run_slug": run_slug, **extra})
    assert reply.code == 4000


async def test_result_list_of_unknown_run_is_70001(done_api: Api) -> None:
    reply = await done_api.post("/api/v1/run/result/list", {"run_slug": new_ulid()})
    assert reply.code == 70001


async def test_last_log_lists_entries_and_serves_the_full_log(done_api: Api, done_fake: FakeCoreClaw) -> None:
    run_slug = await done_api.start_task_run()
    data = (await done_api.post("/api/v1/run/last/log", {"run_slug": run_slug})).data
    assert set(data) == {"all_logs_url", "list", "result_count"}
    assert data["result_count"] == 25
    assert data["all_logs_url"] == f"{done_fake.url}/files/log/{run_slug}"
    entries = data["list"]
    assert all(set(e) == {"type", "group", "content", "timestamp"} for e in entries)
    assert all(e["type"] in (1, 2, 3, 4) and e["group"].isdigit() for e in entries)
    assert all(e["timestamp"] > 1_700_000_000_000 for e in entries)
    assert "Execution completed." in entries[-2]["content"]
    assert entries[-1]["content"].startswith("All subtasks have completed execution!")
    text = await done_api.get(f"/files/log/{run_slug}")
    assert text.status == 200
    assert text.headers["Content-Type"].startswith("text/plain")
    assert "Execution completed." in text.raw.decode()


async def test_failed_run_log_carries_an_error_entry(done_api: Api) -> None:
    await done_api.start_task_run()
    failed = await done_api.start_task_run()
    entries = (await done_api.post("/api/v1/run/last/log", {"run_slug": failed})).data["list"]
    errors = [e for e in entries if e["type"] == 4]
    assert len(errors) == 1
    assert "Navigation timeout" in errors[0]["content"]
    assert "\n" in errors[0]["content"]


async def test_log_of_unknown_run(done_api: Api) -> None:
    assert (await done_api.post("/api/v1/run/last/log", {"run_slug": new_ulid()})).code == 70001
    assert (await done_api.get(f"/files/log/{new_ulid()}")).status == 404


async def export(api: Api, run_slug: str, fmt: str, keys: list[str]) -> str:
    body = {"run_slug": run_slug, "filter_keys": keys, "format": fmt}
    return str((await api.post("/api/v1/run/result/export", body)).data["download_url"])


async def test_csv_export_serves_a_real_csv_file(done_api: Api, done_fake: FakeCoreClaw) -> None:
    run_slug = await done_api.start_task_run()
    url = await export(done_api, run_slug, "CSV", [])
    assert url.startswith(f"{done_fake.url}/files/export/exported_result_")
    assert "q-sign-algorithm=sha1" in url
    assert "q-signature=" in url
    async with done_api.http.get(url) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
        text = await resp.text()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == HEADER_KEYS
    assert len(rows) == 26
    listed = (await done_api.post("/api/v1/run/result/list", {"run_slug": run_slug, "page_size": 25})).data[
        "list"
    ]
    assert [r[0] for r in rows[1:]] == [row["title"] for row in listed]
    assert [r[4] for r in rows[1:]] == [row["address"] for row in listed]


async def test_json_export_honours_filter_keys(done_api: Api) -> None:
    run_slug = await done_api.start_task_run()
    url = await export(done_api, run_slug, "json", ["rating", "title", "unknown"])
    async with done_api.http.get(url) as resp:
        assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
        rows = json.loads(await resp.read())
    assert len(rows) == 25
    assert all(list(row) == ["title", "rating"] for row in rows)


@pytest.mark.parametrize(
    "body",
    [
        {"filter_keys": [], "format": "xlsx"},
        {"filter_keys": [], "format": ""},
        {"filter_keys": []},
        {"format": "csv"},
        {"filter_keys": "title", "format": "csv"},
        {"filter_keys": [1], "format": "csv"},
        {"filter_keys": ["nothing"], "format": "csv"},
    ],
)
async def test_export_rejects_invalid_formats_and_keys(done_api: Api, body: dict[str, object]) -> None:
    run_slug = await done_api.start_task_run()
    reply = await done_api.post("/api/v1/run/result/export", {"run_slug": run_slug, **body})
    assert (reply.status, reply.code) == (400, 4000)


async def test_export_of_unknown_run_is_70001(done_api: Api) -> None:
    body = {"run_slug": new_ulid(), "filter_keys": [], "format": "csv"}
    assert (await done_api.post("/api/v1/run/result/export", body)).code == 70001


async def test_export_download_checks_the_signature_and_the_key(done_api: Api) -> None:
    run_slug = await done_api.start_task_run()
    url = await export(done_api, run_slug, "csv", [])
    forged = re.sub(r"q-signature=[0-9a-f]+", "q-signature=" + "0" * 40, url)
    async with done_api.http.get(forged) as resp:
        assert resp.status == 403
        assert b"AccessDenied" in await resp.read()
    missing = url.replace("exported_result_", "exported_result_x")
    async with done_api.http.get(missing) as resp:
        assert resp.status == 404
        assert b"NoSuchKey" in await resp.read()


async def test_big_exports_stream(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(run_schedule=(0, 0), rows_per_run=100_000) as fake:
        api = Api(http, fake)
        run_slug = await api.start_task_run()
        url = await export(api, run_slug, "csv", ["title", "url"])
        started = time.monotonic()
        lines = 0
        chunks = 0
        async with http.get(url) as resp:
            assert resp.headers.get("Transfer-Encoding") == "chunked"
            async for chunk in resp.content.iter_any():
                lines += chunk.count(b"\n")
                chunks += 1
        assert lines == 100_001
        assert chunks > 1
        assert time.monotonic() - started < 10
