"""What ``client.runs`` puts on the wire (aioresponses): paths, bodies, validation before sending."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from aioresponses import aioresponses

from coreclaw_async import (
    AsyncCoreClaw,
    ExportLink,
    InvalidParameterError,
    ResultPage,
    Run,
    RunPage,
    RunStatus,
    StartedRun,
)

from .conftest import BASE, CALLBACK, KEY, RUN_SLUG, ok, only, sent

RUN = {
    "status": 3,
    "err_msg": "",
    "slug": RUN_SLUG,
    "scraper_title": "News",
    "scraper_slug": "01KJXYJ7KCHXM0PDZHQD5293XE",
    "results": 4,
    "usage": "0.0542",
    "started_at": 1773383784,
    "finished_at": 1773383790,
    "duration": 6,
    "origin": "api",
    "traffic": 23109,
    "version": "v1.0.1",
}


def _run(slug: str) -> dict[str, Any]:
    return dict(RUN, slug=slug)


def _rows(start: int, stop: int) -> list[dict[str, Any]]:
    return [{"__coreclaw_data_id__": f"id{i}", "title": f"t{i}"} for i in range(start, stop)]


async def test_get_posts_the_run_slug_to_run_detail(client: AsyncCoreClaw, mocked: aioresponses) -> None:
    mocked.post(BASE + "/api/v1/run/detail", body=ok(RUN))

    run = await client.runs.get(RUN_SLUG)

    request = only(mocked)
    assert (request.method, request.path) == ("POST", "/api/v1/run/detail")
    assert request.body == {"run_slug": RUN_SLUG}
    assert request.headers["api-key"] == KEY
    assert isinstance(run, Run)
    assert run.status is RunStatus.SUCCEEDED


async def test_list_page_sends_page_and_size_and_only_the_filters_given(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(BASE + "/api/v1/run/list", body=ok({"count": 0, "list": []}), repeat=True)

    page = await client.runs.list_page()
    await client.runs.list_page(page_index=3, page_size=20, status=RunStatus.FAILED, scraper_slug="a/b")
    await client.runs.list_page(status=0)

    assert isinstance(page, RunPage)
    assert page.count == 0
    assert [r.body for r in sent(mocked)] == [
        {"page_index": 1, "page_size": 100},
        {"page_index": 3, "page_size": 20, "status": 4, "scraper_slug": "a/b"},
        {"page_index": 1, "page_size": 100, "status": 0},
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"page_index": 0}, "page_index"),
        ({"page_size": 0}, "page_size"),
        ({"status": 6}, "status"),
        ({"status": RunStatus.UNKNOWN}, "status"),
        ({"scraper_slug": " "}, "scraper_slug"),
    ],
)
async def test_list_page_rejects_bad_arguments_before_sending(
    client: AsyncCoreClaw, mocked: aioresponses, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        await client.runs.list_page(**kwargs)

    assert caught.value.field == field
    assert sent(mocked) == []


async def test_list_iterates_pages_until_a_short_page(client: AsyncCoreClaw, mocked: aioresponses) -> None:
    url = BASE + "/api/v1/run/list"
    mocked.post(url, body=ok({"count": 5, "list": [_run("A"), _run("B")]}))
    mocked.post(url, body=ok({"count": 5, "list": [_run("C"), _run("D")]}))
    mocked.post(url, body=ok({"count": 5, "list": [_run("E")]}))

    slugs = [run.run_slug async for run in client.runs.list(page_size=2, status=RunStatus.SUCCEEDED)]

    assert slugs == ["A", "B", "C", "D", "E"]
    assert [r.body for r in sent(mocked)] == [
        {"page_index": index, "page_size": 2, "status": 3} for index in (1, 2, 3)
    ]


async def test_list_checks_its_arguments_when_called_not_when_iterated(client: AsyncCoreClaw) -> None:
    with pytest.raises(InvalidParameterError):
        client.runs.list(page_size=0)
    with pytest.raises(InvalidParameterError):
        client.runs.list(max_pages=0)


async def test_results_page_posts_slug_page_and_size(client: AsyncCoreClaw, mocked: aioresponses) -> None:
    body = {"count": 1, "headers": [{"label": "T", "key": "title", "format": "text"}], "list": _rows(0, 1)}
    mocked.post(BASE + "/api/v1/run/result/list", body=ok(body))

    page = await client.runs.results_page(RUN_SLUG, page_index=2, page_size=50)

    assert only(mocked).body == {"run_slug": RUN_SLUG, "page_index": 2, "page_size": 50}
    assert isinstance(page, ResultPage)
    assert page.items[0]["title"] == "t0"


async def test_results_iterator_walks_pages_and_exposes_the_headers(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    url = BASE + "/api/v1/run/result/list"
    headers = [{"label": "Title", "key": "title", "format": "text"}]
    mocked.post(url, body=ok({"count": 5, "headers": headers, "list": _rows(0, 3)}))
    mocked.post(url, body=ok({"count": 5, "headers": headers, "list": _rows(3, 5)}))

    rows = client.runs.results(RUN_SLUG, page_size=3)
    assert rows.headers is None
    titles = [row["title"] async for row in rows]

    assert titles == ["t0", "t1", "t2", "t3", "t4"]
    assert rows.headers is not None
    assert [(h.label, h.key) for h in rows.headers] == [("Title", "title")]
    assert rows.count == 5
    assert [r.body["page_index"] for r in sent(mocked)] == [1, 2]


async def test_log_posts_the_run_slug_to_run_last_log(client: AsyncCoreClaw, mocked: aioresponses) -> None:
    mocked.post(BASE + "/api/v1/run/last/log", body=ok({"all_logs_url": "u", "list": [], "result_count": 0}))

    log = await client.runs.log(RUN_SLUG)

    assert only(mocked).body == {"run_slug": RUN_SLUG}
    assert log.all_logs_url == "u"


async def test_export_always_sends_format_and_filter_keys(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    url = BASE + "/api/v1/run/result/export"
    mocked.post(url, body=ok({"download_url": "https://files.test/x.json"}), repeat=True)

    link = await client.runs.export(RUN_SLUG)
    await client.runs.export(RUN_SLUG, format="CSV", filter_keys=["title", "url"])

    assert link == ExportLink(download_url="https://files.test/x.json")
    assert [r.body for r in sent(mocked)] == [
        {"run_slug": RUN_SLUG, "format": "json", "filter_keys": []},
        {"run_slug": RUN_SLUG, "format": "csv", "filter_keys": ["title", "url"]},
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"format": "pdf"}, "format"),
        ({"filter_keys": "title"}, "filter_keys"),
        ({"filter_keys": ["title", ""]}, "filter_keys"),
    ],
)
async def test_export_rejects_bad_arguments_before_sending(
    client: AsyncCoreClaw, mocked: aioresponses, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        await client.runs.export(RUN_SLUG, **kwargs)

    assert caught.value.field == field
    assert sent(mocked) == []


async def test_rerun_sends_the_client_default_callback_url(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(BASE + "/api/v1/rerun", body=ok({"run_slug": "01NEW"}))

    started = await client.runs.rerun(RUN_SLUG)

    assert only(mocked).body == {"run_slug": RUN_SLUG, "callback_url": CALLBACK}
    assert started == StartedRun(run_slug="01NEW")


async def test_rerun_per_call_callback_url_wins(client: AsyncCoreClaw, mocked: aioresponses) -> None:
    mocked.post(BASE + "/api/v1/rerun", body=ok({"run_slug": "01NEW"}))

    await client.runs.rerun(RUN_SLUG, callback_url="https://other.example.com/h")

    assert only(mocked).body["callback_url"] == "https://other.example.com/h"


async def test_rerun_without_any_callback_url_is_rejected_before_sending(mocked: aioresponses) -> None:
    async with AsyncCoreClaw(KEY, base_url=BASE) as bare:
        with pytest.raises(InvalidParameterError) as caught:
            await bare.runs.rerun(RUN_SLUG)
        with pytest.raises(InvalidParameterError):
            await bare.runs.rerun(RUN_SLUG, callback_url="ftp://example.com/x")

    assert caught.value.field == "callback_url"
    assert sent(mocked) == []


async def test_abort_posts_to_scraper_abort_and_returns_none(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(BASE + "/api/v1/scraper/abort", body=ok(None))

    assert await client.runs.abort(RUN_SLUG) is None

    assert only(mocked).body == {"run_slug": RUN_SLUG}


@pytest.mark.parametrize("method", ["get", "log", "abort", "rerun", "export", "results_page"])
@pytest.mark.parametrize("slug", ["", "  ", " 01ABC", 42])
async def test_every_run_method_rejects_a_bad_slug_before_sending(
    client: AsyncCoreClaw, mocked: aioresponses, method: str, slug: Any
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        await getattr(client.runs, method)(slug)

    assert caught.value.field == "run_slug"
    assert sent(mocked) == []


async def test_download_takes_an_export_link_without_calling_export(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    # (That the API key never reaches the file host is checked over real HTTP: aioresponses
    # replaces the layer where it is removed.)
    mocked.get("https://files.test/x.json", body=b"[1,2,3]")
    buffer = io.BytesIO()

    size = await client.runs.download(ExportLink(download_url="https://files.test/x.json"), buffer)

    assert (size, buffer.getvalue()) == (7, b"[1,2,3]")
    request = only(mocked)
    assert (request.method, str(request.url)) == ("GET", "https://files.test/x.json")


async def test_download_rejects_a_bad_destination_before_exporting(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        await client.runs.download(RUN_SLUG, 42)  # type: ignore[arg-type]

    assert caught.value.field == "dest"
    assert sent(mocked) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"timeout": 0}, "timeout"),
        ({"poll_interval": -1}, "poll_interval"),
        ({"abort_grace": -1}, "abort_grace"),
        ({"call_timeout": 0}, "call_timeout"),
    ],
)
async def test_wait_rejects_bad_arguments_before_polling(
    client: AsyncCoreClaw, mocked: aioresponses, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        await client.runs.wait(RUN_SLUG, **kwargs)

    assert caught.value.field == field
    assert sent(mocked) == []


async def test_wait_polls_run_detail_until_final(client: AsyncCoreClaw, mocked: aioresponses) -> None:
    url = BASE + "/api/v1/run/detail"
    mocked.post(url, body=ok(dict(RUN, status=1, finished_at=0)))
    mocked.post(url, body=ok(dict(RUN, status=2, finished_at=0)))
    mocked.post(url, body=ok(RUN))
    seen: list[RunStatus] = []

    run = await client.runs.wait(RUN_SLUG, poll_interval=0.01, on_poll=lambda r: seen.append(r.status))

    assert run.status is RunStatus.SUCCEEDED
    assert seen == [RunStatus.READY, RunStatus.RUNNING, RunStatus.SUCCEEDED]
    assert all(re.fullmatch(r"/api/v1/run/detail", r.path) for r in sent(mocked))
