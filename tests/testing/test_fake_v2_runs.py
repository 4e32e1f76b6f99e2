"""v2 runs: records, abort, log, rerun, results, exports, the last-run shortcuts and missing runs."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import zipfile
from collections.abc import AsyncIterator
from xml.etree import ElementTree

import aiohttp
import pytest

from coreclaw_async.testing import FakeCoreClaw, new_ulid

from .conftest import MAPS, MAPS_V2, V2, Api

RECORD_KEYS = {
    "duration",
    "finished_at",
    "origin",
    "results",
    "scraper_slug",
    "scraper_title",
    "slug",
    "started_at",
    "status",
    "traffic",
    "usage",
    "version",
}
NEWS = "01KJXYJ7KCHXM0PDZHQD5293XE"
NEWS_INPUT = {"parameters": {"custom": {"startURLs": [{"url": "https://example.com"}]}}}


@pytest.fixture
async def slow(http: aiohttp.ClientSession) -> AsyncIterator[V2]:
    """A fake whose runs stay running for the whole test."""
    async with FakeCoreClaw(run_schedule=(0.0, 30.0), abort_linger=None) as fake:
        yield V2(http, fake)


async def test_run_detail_has_a_string_status_and_no_err_msg(slow: V2) -> None:
    run_slug = await slow.start()
    record = (await slow.get(f"worker-runs/{run_slug}")).data
    assert set(record) == RECORD_KEYS
    assert (record["slug"], record["status"], record["scraper_slug"]) == (run_slug, "running", MAPS)
    assert (record["origin"], record["version"], record["finished_at"]) == ("openapi", "v1.0.5", 0)
    assert isinstance(record["usage"], str)


async def test_the_run_list_shows_err_msg_and_status_strings_through_the_lifecycle(v2: V2) -> None:
    v2.fake.fail_every = 2
    ok, failing = await v2.start(), await v2.start()
    first = (await v2.get("worker-runs")).data
    assert set(first) == {"count", "list"}
    assert all(set(record) == RECORD_KEYS | {"err_msg"} for record in first["list"])
    assert {record["status"] for record in first["list"]} <= {"ready", "running"}
    await asyncio.sleep(0.2)
    done = {record["slug"]: record for record in (await v2.get("worker-runs")).data["list"]}
    assert (done[ok]["status"], done[ok]["err_msg"]) == ("succeeded", "")
    assert (done[failing]["status"], done[failing]["err_msg"]) == (
        "failed",
        "Navigation timeout of 30000 ms exceeded",
    )
    assert (await v2.get(f"worker-runs/{failing}")).data["status"] == "failed"


async def test_the_run_list_filters_by_worker_and_status_and_pages_newest_first(slow: V2) -> None:
    maps = [await slow.start() for _ in range(3)]
    news = (await slow.post(f"workers/{NEWS}/runs", {"input": NEWS_INPUT})).data["run_slug"]
    all_runs = (await slow.get("worker-runs")).data
    assert [record["slug"] for record in all_runs["list"]] == [news, *reversed(maps)]
    by_path = (await slow.get("worker-runs", {"worker_id": MAPS_V2})).data
    by_slug = (await slow.get("worker-runs", {"worker_id": NEWS})).data
    assert (by_path["count"], [r["slug"] for r in by_slug["list"]]) == (3, [news])
    assert (await slow.get("worker-runs", {"worker_id": "nobody~x"})).data == {"count": 0, "list": []}
    await slow.post(f"worker-runs/{maps[0]}/abort")
    aborting = (await slow.get("worker-runs", {"status": "aborting"})).data
    assert [record["slug"] for record in aborting["list"]] == [maps[0]]
    assert (await slow.get("worker-runs", {"status": "running"})).data["count"] == 3
    page = (await slow.get("worker-runs", {"offset": "2", "limit": "3"})).data
    assert (page["count"], [r["slug"] for r in page["list"]]) == (4, [maps[0]])
    assert (await slow.get("worker-runs", {"offset": "3", "limit": "3"})).data["list"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"status": "3"},
        {"status": "aborted"},
        {"limit": "0"},
        {"limit": "101"},
        {"offset": "-1"},
        {"limit": "x"},
    ],
)
async def test_the_run_list_refuses_bad_filters_and_pages_with_11000(v2: V2, params: dict[str, str]) -> None:
    reply = await v2.get("worker-runs", params)
    assert (reply.status, reply.code) == (422, 11000)


async def test_abort_answers_no_data_and_a_final_run_cannot_be_aborted(v2: V2) -> None:
    v2.fake.run_schedule = (0.0, 30.0)
    run_slug = await v2.start()
    reply = await v2.post(f"worker-runs/{run_slug}/abort")
    assert reply.code == 0
    assert set(reply.body) == {"code", "message", "request_id"}
    assert (await v2.get(f"worker-runs/{run_slug}")).data["status"] == "aborting"
    assert (await v2.post(f"worker-runs/{run_slug}/abort")).code == 0
    await asyncio.sleep(0.15)
    assert (await v2.get(f"worker-runs/{run_slug}")).data["status"] == "failed"
    refused = await v2.post(f"worker-runs/{run_slug}/abort")
    assert (refused.status, refused.code, refused.body["message"]) == (409, 70002, "run operation failed")


async def test_the_log_lists_entries_and_links_the_whole_log(v2: V2, http: aiohttp.ClientSession) -> None:
    run_slug = await v2.start(is_async=False)
    data = (await v2.get(f"worker-runs/{run_slug}/log")).data
    assert set(data) == {"all_logs_url", "list", "result_count"}
    assert data["result_count"] == 25
    assert all(set(entry) == {"type", "group", "content", "timestamp"} for entry in data["list"])
    async with http.get(data["all_logs_url"]) as resp:
        assert resp.status == 200
        assert "Execution completed" in await resp.text()


async def test_rerun_starts_a_new_run_with_the_same_input_and_no_body_needed(v2: V2) -> None:
    original = await v2.start()
    reply = await v2.post(f"worker-runs/{original}/rerun")
    assert set(reply.data) == {"run_slug"}
    again = v2.fake.get_run(reply.data["run_slug"])
    assert (again.rerun_of, again.input, again.callback_url) == (
        original,
        v2.fake.get_run(original).input,
        None,
    )


async def test_a_sync_rerun_adds_is_finished_and_leaves_out_the_messages(v2: V2) -> None:
    original = await v2.start()
    data = (await v2.post(f"worker-runs/{original}/rerun", {"is_async": False, "offset": 1, "limit": 2})).data
    assert set(data) == {
        "run_slug",
        "run_status",
        "execution_start_timestamp",
        "execution_end_timestamp",
        "running_duration",
        "is_finished",
        "results",
    }
    assert (data["run_status"], data["is_finished"]) == ("succeeded", True)
    assert (data["results"]["page_size"], len(data["results"]["list"])) == (2, 2)


async def test_results_page_by_offset_as_page_number_and_echo_it(v2: V2) -> None:
    run_slug = await v2.start(is_async=False)
    first = (await v2.get(f"worker-runs/{run_slug}/result")).data
    assert (first["count"], first["page_index"], first["page_size"], len(first["list"])) == (25, 1, 20, 20)
    assert first["headers"] == [
        {"key": key, "label": key} for key in ("title", "url", "rating", "reviews", "address", "category")
    ]
    zero = (await v2.get(f"worker-runs/{run_slug}/result", {"offset": "0", "limit": "10"})).data
    second = (await v2.get(f"worker-runs/{run_slug}/result", {"offset": "2", "limit": "10"})).data
    third = (await v2.get(f"worker-runs/{run_slug}/result", {"offset": "3", "limit": "10"})).data
    past = (await v2.get(f"worker-runs/{run_slug}/result", {"offset": "4", "limit": "10"})).data
    assert (zero["page_index"], zero["list"]) == (1, first["list"][:10])
    assert second["list"] == first["list"][10:20]
    assert len(third["list"]) == 5
    assert (past["list"], past["count"], past["page_index"]) == ([], 25, 4)
    assert (await v2.get(f"worker-runs/{run_slug}/result", {"limit": "101"})).code == 11000


async def test_an_export_defaults_to_csv_of_every_column(v2: V2, http: aiohttp.ClientSession) -> None:
    run_slug = await v2.start(is_async=False)
    data = (await v2.get(f"worker-runs/{run_slug}/result/export")).data
    assert set(data) == {"download_url"}
    async with http.get(data["download_url"]) as resp:
        assert resp.content_type == "text/csv"
        rows = list(csv.reader(io.StringIO(await resp.text())))
    assert rows[0] == ["title", "url", "rating", "reviews", "address", "category"]
    assert len(rows) == 26


async def test_an_export_keeps_the_comma_separated_filter_keys(v2: V2, http: aiohttp.ClientSession) -> None:
    run_slug = await v2.start(is_async=False)
    params = {"format": "JSON", "filter_keys": " url , title,unknown"}
    url = (await v2.get(f"worker-runs/{run_slug}/result/export", params)).data["download_url"]
    async with http.get(url) as resp:
        rows = json.loads(await resp.read())
    assert len(rows) == 25
    assert all(list(row) == ["title", "url"] for row in rows)
    refused = await v2.get(f"worker-runs/{run_slug}/result/export", {"filter_keys": "nothing,known"})
    assert (refused.status, refused.code) == (422, 11000)


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("jsonl", "application/x-ndjson"),
        ("xml", "application/xml"),
        ("html", "text/html"),
        ("rss", "application/rss+xml"),
        ("xls", "application/vnd.ms-excel"),
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ],
)
async def test_every_export_format_downloads_every_row(
    v2: V2, http: aiohttp.ClientSession, fmt: str, content_type: str
) -> None:
    run_slug = await v2.start(is_async=False)
    params = {"format": fmt.upper(), "filter_keys": "title,url"}
    url = (await v2.get(f"worker-runs/{run_slug}/result/export", params)).data["download_url"]
    assert url.split("?")[0].endswith(f".{fmt}")
    async with http.get(url) as resp:
        assert resp.content_type == content_type
        body = await resp.read()
    if fmt == "jsonl":
        rows = [json.loads(line) for line in body.decode().splitlines()]
        assert len(rows) == 25
        assert set(rows[0]) == {"title", "url"}
    elif fmt == "xlsx":
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            sheet = ElementTree.fromstring(archive.read("xl/worksheets/sheet1.xml"))
            ElementTree.fromstring(archive.read("[Content_Types].xml"))
        rows = [el for el in sheet.iter() if el.tag.endswith("}row")]
        assert len(rows) == 26
    elif fmt == "html":
        text = body.decode()
        assert text.count("<tr>") == 26
        assert "&quot;The Best&quot; Diner 11" in text
    else:
        root = ElementTree.fromstring(body)
        tag = {"xml": "item", "rss": "item", "xls": "{urn:schemas-microsoft-com:office:spreadsheet}Row"}[fmt]
        assert len(list(root.iter(tag))) == (26 if fmt == "xls" else 25)


async def test_an_unknown_export_format_is_11000(v2: V2) -> None:
    run_slug = await v2.start()
    assert (await v2.get(f"worker-runs/{run_slug}/result/export", {"format": "pdf"})).code == 11000


async def test_the_account_s_last_run_shortcuts_act_on_the_newest_run(slow: V2) -> None:
    await slow.start()
    newest = await slow.start()
    assert (await slow.get("worker-runs/last")).data["slug"] == newest
    assert (await slow.get("worker-runs/last/result")).data["page_index"] == 1
    assert "download_url" in (await slow.get("worker-runs/last/export", {"format": "json"})).data
    assert "all_logs_url" in (await slow.get("worker-runs/last/log")).data
    rerun = (await slow.post("worker-runs/last/rerun")).data["run_slug"]
    assert slow.fake.get_run(rerun).rerun_of == newest
    assert (await slow.post("worker-runs/last/abort")).code == 0
    assert slow.fake.get_run(rerun).aborted_at is not None


async def test_a_worker_s_last_run_shortcuts_act_on_that_worker_s_newest_run(slow: V2) -> None:
    maps = await slow.start()
    news = (await slow.post(f"workers/{NEWS}/runs", {"input": NEWS_INPUT})).data["run_slug"]
    assert (await slow.get(f"workers/{MAPS_V2}/runs/last")).data["slug"] == maps
    assert (await slow.get(f"workers/{NEWS}/runs/last")).data["slug"] == news
    assert (await slow.get(f"workers/{MAPS_V2}/runs/last/result")).code == 0
    assert (await slow.get(f"workers/{MAPS_V2}/runs/last/log")).code == 0
    assert (await slow.get(f"workers/{MAPS_V2}/runs/last/export")).code == 0
    assert (await slow.post(f"workers/{MAPS_V2}/runs/last/abort")).code == 0
    assert slow.fake.get_run(maps).aborted_at is not None
    assert slow.fake.get_run(news).aborted_at is None
    rerun = (await slow.post(f"workers/{NEWS}/runs/last/rerun", {"callback_url": "https://cb.test/"})).data
    assert slow.fake.get_run(rerun["run_slug"]).rerun_of == news
    assert (await slow.get("workers/nobody~x/runs/last")).code == 50001


async def test_the_last_run_is_the_one_that_started_last(v2: V2) -> None:
    live = await v2.start()
    v2.fake.add_run(started_at=1_700_000_000)
    assert (await v2.get("worker-runs/last")).data["slug"] == live


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "worker-runs/{run}"),
        ("POST", "worker-runs/{run}/abort"),
        ("GET", "worker-runs/{run}/log"),
        ("POST", "worker-runs/{run}/rerun"),
        ("GET", "worker-runs/{run}/result"),
        ("GET", "worker-runs/{run}/result/export"),
        ("GET", "worker-runs/last"),
        ("GET", "worker-runs/last/result"),
        ("GET", f"workers/{MAPS_V2}/runs/last"),
        ("POST", f"workers/{MAPS_V2}/runs/last/rerun"),
    ],
)
async def test_a_missing_run_is_70001_by_default_and_11004_when_switched(
    v2: V2, method: str, path: str
) -> None:
    url = path.format(run=new_ulid())
    default = await v2.request(method, url)
    assert (default.status, default.code, default.body["message"]) == (
        404,
        70001,
        "run record does not exist",
    )
    v2.fake.v2_missing_run_code = 11004
    switched = await v2.request(method, url)
    assert (switched.status, switched.code, switched.body["message"]) == (404, 11004, "not found")


async def test_the_missing_run_code_is_a_constructor_argument_and_is_checked(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeCoreClaw(v2_missing_run_code=11004) as fake:
        assert fake.v2_missing_run_code == 11004
        assert (await V2(http, fake).get(f"worker-runs/{new_ulid()}")).code == 11004
    with pytest.raises(ValueError, match="v2_missing_run_code"):
        FakeCoreClaw(v2_missing_run_code=4040)


async def test_a_run_started_on_v1_shows_on_v2_in_v2_terms(v2: V2, api: Api) -> None:
    run_slug = await api.start_task_run()
    v1 = await api.detail(run_slug)
    record = (await v2.get(f"worker-runs/{run_slug}")).data
    assert (v1["origin"], record["origin"]) == ("api", "openapi")
    assert isinstance(v1["status"], int)
    assert record["status"] in ("ready", "running")
    assert {key: record[key] for key in ("slug", "scraper_slug", "version", "started_at")} == {
        key: v1[key] for key in ("slug", "scraper_slug", "version", "started_at")
    }
