"""Result and run-history pagination over real HTTP: pages, memory, servers that ignore page_index."""

from __future__ import annotations

import gc
import json
import logging
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from coreclaw_async import AsyncCoreClaw, RunNotFoundError

from .support import Paths, serving, start_run

ROW_KEYS = ["title", "url", "rating", "reviews", "address", "category"]


async def test_results_walk_every_page_and_keep_the_headers(api_version: str, paths: Paths) -> None:
    async with serving(api_version, run_schedule=(0.0, 0.0), rows_per_run=25) as (fake, client):
        slug = await start_run(client)
        fake.reset_counters()

        rows = client.runs.results(slug, page_size=10)
        collected = [row async for row in rows]

        assert paths.counts(fake) == {"run_results": 3}
    assert len(collected) == 25
    assert len({row["__coreclaw_data_id__"] for row in collected}) == 25
    assert [header.key for header in rows.headers or ()] == ROW_KEYS
    assert (rows.count, rows.pages, rows.truncated) == (25, 3, False)


async def test_an_exact_multiple_of_the_page_size_stops_on_the_count(api_version: str, paths: Paths) -> None:
    async with serving(api_version, run_schedule=(0.0, 0.0), rows_per_run=20) as (fake, client):
        slug = await start_run(client)
        fake.reset_counters()

        collected = [row async for row in client.runs.results(slug, page_size=10)]

        assert len(collected) == 20
        assert paths.counts(fake) == {"run_results": 2}


async def test_a_run_without_results_yields_nothing_after_one_request(api_version: str, paths: Paths) -> None:
    async with serving(api_version, run_schedule=(0.0, 0.0), rows_per_run=0) as (fake, client):
        slug = await start_run(client)
        fake.reset_counters()

        rows = client.runs.results(slug)
        assert [row async for row in rows] == []

        assert paths.counts(fake) == {"run_results": 1}
        assert rows.headers == ()


async def test_max_pages_bounds_the_iteration_and_says_so(
    api_version: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(api_version, run_schedule=(0.0, 0.0), rows_per_run=50) as (_, client):
        rows = client.runs.results(await start_run(client), page_size=10, max_pages=2)

        collected = [row async for row in rows]

    assert len(collected) == 20
    assert rows.truncated
    assert any("max_pages" in record.getMessage() for record in caplog.records)


async def test_results_of_an_unknown_run_raise_during_iteration(client: AsyncCoreClaw) -> None:
    rows = client.runs.results("01KSFDS8XWTJME33C08XMCR6B9")

    with pytest.raises(RunNotFoundError):
        await rows.__anext__()


async def test_ten_thousand_rows_stream_with_one_page_in_memory(api_version: str) -> None:
    async with serving(api_version, run_schedule=(0.0, 0.0), rows_per_run=10_000) as (_, client):
        slug = await start_run(client)
        await client.runs.results_page(slug)  # warm up connections and caches before measuring
        gc.collect()
        rows = client.runs.results(slug, page_size=100)
        count = 0
        largest_page = 0
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            async for _row in rows:
                count += 1
                largest_page = max(largest_page, len(rows.current_page))
            peak = tracemalloc.get_traced_memory()[1] - baseline
        finally:
            tracemalloc.stop()

    assert count == 10_000
    assert rows.pages == 100
    assert largest_page == 100
    # Holding all 10,000 rows takes about 8 MB; streaming them stays near one page (~0.5 MB).
    assert peak < 2_000_000, f"peak {peak} bytes"


async def test_runs_list_walks_the_history_in_small_pages(api_version: str, paths: Paths) -> None:
    async with serving(api_version, run_schedule=(0.0, 0.0)) as (fake, client):
        slugs = [await start_run(client) for _ in range(7)]
        fake.reset_counters()

        listed = [run.run_slug async for run in client.runs.list(page_size=3)]

        assert listed == slugs[::-1]
        assert paths.counts(fake) == {"run_list": 3}


# -- a server that ignores page_index -----------------------------------------------------

# What each version calls the page number and the page size: a v1 body's page_index and
# page_size, a v2 query's offset (1-based page number) and limit.
PAGING = {"v1": ("page_index", "page_size"), "v2": ("offset", "limit")}


def _stubborn_app(api_version: str, seen: list[dict[str, Any]]) -> web.Application:
    """Answers every list request with page 1, whatever the page number says; records the
    request's paging arguments (v1: the JSON body; v2: the query, as integers)."""
    rows = [{"__coreclaw_data_id__": f"row{i}", "title": f"t{i}"} for i in range(10)]
    status: int | str = 3 if api_version == "v1" else "succeeded"
    runs = [{"slug": f"RUN{i}", "status": status} for i in range(10)]

    async def arguments(request: web.Request) -> dict[str, Any]:
        if api_version == "v1":
            body: dict[str, Any] = await request.json()
            return body
        return {key: int(value) for key, value in request.query.items()}

    async def results(request: web.Request) -> web.Response:
        seen.append(await arguments(request))
        data = {"count": 1000, "headers": [{"label": "t", "key": "title", "format": "text"}], "list": rows}
        return web.json_response({"code": 0, "message": "success", "data": data})

    async def run_list(request: web.Request) -> web.Response:
        seen.append(await arguments(request))
        return web.json_response({"code": 0, "message": "success", "data": {"count": 1000, "list": runs}})

    app = web.Application()
    if api_version == "v1":
        app.router.add_post("/api/v1/run/result/list", results)
        app.router.add_post("/api/v1/run/list", run_list)
    else:
        app.router.add_get("/api/v2/worker-runs/{run}/result", results)
        app.router.add_get("/api/v2/worker-runs", run_list)
    return app


@pytest.fixture
async def stubborn(api_version: str) -> AsyncIterator[tuple[AsyncCoreClaw, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    async with (
        TestServer(_stubborn_app(api_version, seen), host="127.0.0.1") as server,
        AsyncCoreClaw(
            "scraper_api_test_key_0123", base_url=str(server.make_url("")), api_version=api_version
        ) as client,
    ):
        yield client, seen


async def test_results_stop_when_the_server_repeats_a_page(
    stubborn: tuple[AsyncCoreClaw, list[dict[str, Any]]], api_version: str, caplog: pytest.LogCaptureFixture
) -> None:
    client, seen = stubborn
    page_number, _ = PAGING[api_version]
    caplog.set_level(logging.WARNING, logger="coreclaw_async")

    rows = [row async for row in client.runs.results("01KSFDS8XWTJME33C08XMCR6B9", page_size=10)]

    assert [row["title"] for row in rows] == [f"t{i}" for i in range(10)]
    assert [body[page_number] for body in seen] == [1, 2]
    assert any("ignore page_index" in record.getMessage() for record in caplog.records)


async def test_runs_list_stops_when_the_server_repeats_a_page(
    stubborn: tuple[AsyncCoreClaw, list[dict[str, Any]]], api_version: str
) -> None:
    client, seen = stubborn
    page_number, page_size = PAGING[api_version]

    slugs = [run.run_slug async for run in client.runs.list(page_size=10)]

    assert slugs == [f"RUN{i}" for i in range(10)]
    assert [json.dumps(body, sort_keys=True) for body in seen] == [
        json.dumps({page_number: index, page_size: 10}, sort_keys=True) for index in (1, 2)
    ]
