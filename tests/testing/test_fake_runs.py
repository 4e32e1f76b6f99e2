"""Run lifecycle, run/detail, run/list and scraper/abort."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal

import aiohttp
import pytest

from coreclaw_async.testing import FakeCoreClaw, FakeRun, new_ulid

from .conftest import Api

RECORD_FIELDS = {
    "status",
    "err_msg",
    "slug",
    "scraper_title",
    "scraper_slug",
    "results",
    "usage",
    "started_at",
    "finished_at",
    "duration",
    "origin",
    "traffic",
    "version",
}


def make_run(*, fails: bool = False, linger: float | None = 1.0) -> FakeRun:
    return FakeRun(
        slug=new_ulid(),
        task_slug=None,
        scraper_slug="coreclaw/google-maps-scraper",
        scraper_title="Google Maps Scraper",
        version="v1.0.5",
        callback_url=None,
        input={},
        created_at=1000.0,
        created_at_wall=1_773_383_784.0,
        ready_for=2.0,
        running_for=10.0,
        rows_total=20,
        fails=fails,
        abort_linger=linger,
    )


def test_run_state_follows_the_schedule() -> None:
    run = make_run()
    ready = run.state(1001.0)
    assert (ready.status, ready.results, ready.usage, ready.finished_at) == (1, 0, "0.0000", 0)
    assert ready.started_at == 1_773_383_784
    running = run.state(1007.0)
    assert (running.status, running.results, running.finished_at, running.duration) == (2, 10, 0, 0)
    later = run.state(1009.0)
    assert later.results == 14
    assert Decimal(later.usage) > Decimal(running.usage) > 0
    assert later.traffic > running.traffic > 0
    done = run.state(1012.0)
    assert (done.status, done.err_msg, done.results) == (3, "", 20)
    assert done.finished_at == 1_773_383_796
    assert done.duration == 12
    assert run.final_at == 1012.0


def test_failing_run_ends_failed_with_half_the_rows() -> None:
    done = make_run(fails=True).state(1100.0)
    assert (done.status, done.results) == (4, 10)
    assert done.err_msg == "Navigation timeout of 30000 ms exceeded"


def test_abort_freezes_rows_then_fails_after_the_linger() -> None:
    run = make_run(linger=1.0)
    assert run.abort(1007.0)
    aborting = run.state(1007.5)
    assert (aborting.status, aborting.results, aborting.finished_at) == (5, 10, 0)
    assert run.abort(1007.6), "aborting an aborting run is accepted"
    aborted = run.state(1008.0)
    assert (aborted.status, aborted.results) == (4, 10)
    assert aborted.err_msg == "Run aborted by user"
    assert aborted.finished_at == 1_773_383_792
    assert not run.abort(1009.0), "a final run cannot be aborted"


def test_abort_without_linger_stays_aborting_forever() -> None:
    run = make_run(linger=None)
    assert run.abort(1000.5)
    assert run.state(1_000_000.0).status == 5
    assert run.final_at == float("inf")


def test_finished_run_refuses_abort() -> None:
    run = make_run()
    assert not run.abort(1013.0)
    assert run.aborted_at is None


async def test_run_moves_through_ready_running_succeeded_over_http(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeCoreClaw(run_schedule=(0.2, 0.6)) as fake:
        api = Api(http, fake)
        run_slug = await api.start_task_run()
        first = await api.detail(run_slug)
        assert set(first) == RECORD_FIELDS
        assert (first["status"], first["results"], first["finished_at"]) == (1, 0, 0)
        await asyncio.sleep(0.4)
        running = await api.detail(run_slug)
        assert running["status"] == 2
        assert 0 < running["results"] < 25
        await asyncio.sleep(0.45)
        done = await api.detail(run_slug)
        assert done["status"] == 3
        assert done["results"] == 25
        assert done["finished_at"] >= done["started_at"] > 1_700_000_000
        assert done["duration"] == done["finished_at"] - done["started_at"]
        assert re.fullmatch(r"\d+\.\d{4}", done["usage"])
        assert done["origin"] == "api"
        assert done["version"] == "v1.0.5"
        assert done["scraper_title"] == "Google Maps Scraper"


async def test_every_nth_run_fails(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(run_schedule=(0, 0), fail_every=2) as fake:
        api = Api(http, fake)
        slugs = [await api.start_task_run() for _ in range(4)]
        statuses = [(await api.detail(slug))["status"] for slug in slugs]
        assert statuses == [3, 4, 3, 4]
        failed = await api.detail(slugs[1])
        assert failed["err_msg"] == "Navigation timeout of 30000 ms exceeded"
        assert failed["results"] == 12


async def test_unknown_run_detail_is_70001_with_http_404(api: Api) -> None:
    reply = await api.post("/api/v1/run/detail", {"run_slug": new_ulid()})
    assert reply.status == 404
    assert reply.body == {"code": 70001, "message": "Run record does not exist", "data": None}


async def test_task_slug_given_as_run_slug_is_4000(api: Api, fake: FakeCoreClaw) -> None:
    reply = await api.post("/api/v1/run/detail", {"run_slug": fake.task_slugs[0]})
    assert reply.code == 4000


async def test_run_list_is_newest_first_and_paged(api: Api, fake: FakeCoreClaw) -> None:
    slugs = [await api.start_task_run() for _ in range(5)]
    newest_first = slugs[::-1]
    page1 = (await api.post("/api/v1/run/list", {"page_index": 1, "page_size": 2})).data
    assert set(page1) == {"count", "list"}
    assert page1["count"] == 5
    assert [r["slug"] for r in page1["list"]] == newest_first[:2]
    assert all(set(record) == RECORD_FIELDS for record in page1["list"])
    page3 = (await api.post("/api/v1/run/list", {"page_index": 3, "page_size": 2})).data
    assert [r["slug"] for r in page3["list"]] == newest_first[4:]
    beyond = (await api.post("/api/v1/run/list", {"page_index": 4, "page_size": 2})).data
    assert beyond == {"count": 5, "list": []}
    everything = (await api.post("/api/v1/run/list", {})).data
    assert [r["slug"] for r in everything["list"]] == newest_first


async def test_run_list_filters_by_status_and_worker(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(run_schedule=(0, 0), fail_every=3) as fake:
        api = Api(http, fake)
        task_runs = [await api.start_task_run() for _ in range(3)]
        body = {
            "scraper_slug": "01KJXYJ7KCHXM0PDZHQD5293XE",
            "is_async": True,
            "input": {"parameters": {"custom": {"startURLs": [{"url": "https://a.test"}]}}},
        }
        news_run = (await api.post("/api/v1/scraper/run", body)).data["run_slug"]

        async def listed(**filters: object) -> list[str]:
            body = {"page_index": 1, "page_size": 10, **filters}
            data = (await api.post("/api/v1/run/list", body)).data
            assert data["count"] == len(data["list"])
            return [r["slug"] for r in data["list"]]

        assert await listed(status=4) == [task_runs[2]]
        assert await listed(status=3) == [news_run, task_runs[1], task_runs[0]]
        assert await listed(status=3, scraper_slug="01KJXYJ7KCHXM0PDZHQD5293XE") == [news_run]
        assert await listed(status=0, scraper_slug="") == [news_run, *task_runs[::-1]]
        assert await listed(status=2) == []


@pytest.mark.parametrize(
    "body",
    [
        {"page_index": 0, "page_size": 10},
        {"page_index": 1, "page_size": 0},
        {"page_index": "1", "page_size": 10},
        {"page_index": 1.5, "page_size": 10},
        {"page_index": True, "page_size": 10},
        {"page_index": 1, "page_size": 10, "status": 6},
        {"page_index": 1, "page_size": 10, "status": -1},
        {"page_index": 1, "page_size": 10, "scraper_slug": 3},
    ],
)
async def test_run_list_rejects_invalid_paging_and_filters(api: Api, body: dict[str, object]) -> None:
    reply = await api.post("/api/v1/run/list", body)
    assert (reply.status, reply.code) == (400, 4000)


async def test_abort_shows_aborting_then_failed(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(run_schedule=(0, 10), abort_linger=0.1) as fake:
        api = Api(http, fake)
        run_slug = await api.start_task_run()
        reply = await api.post("/api/v1/scraper/abort", {"run_slug": run_slug})
        assert reply.body == {"code": 0, "message": "success", "data": None}
        assert (await api.detail(run_slug))["status"] == 5
        await asyncio.sleep(0.15)
        record = await api.detail(run_slug)
        assert record["status"] == 4
        assert record["err_msg"] == "Run aborted by user"
        assert record["finished_at"] > 0


async def test_abort_of_a_final_run_is_70002_with_http_500(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(run_schedule=(0, 0)) as fake:
        api = Api(http, fake)
        run_slug = await api.start_task_run()
        reply = await api.post("/api/v1/scraper/abort", {"run_slug": run_slug})
        assert reply.status == 500
        assert reply.body == {"code": 70002, "message": "Failed to abort run", "data": None}
        assert (await api.detail(run_slug))["status"] == 3


async def test_abort_of_an_unknown_run_is_70001(api: Api) -> None:
    reply = await api.post("/api/v1/scraper/abort", {"run_slug": new_ulid()})
    assert (reply.status, reply.code) == (404, 70001)
    assert (await api.post("/api/v1/scraper/abort", {})).code == 4000


async def test_abort_linger_none_keeps_the_run_aborting(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(run_schedule=(0, 0.5), abort_linger=None) as fake:
        api = Api(http, fake)
        run_slug = await api.start_task_run()
        assert (await api.post("/api/v1/scraper/abort", {"run_slug": run_slug})).code == 0
        await asyncio.sleep(0.6)
        assert (await api.detail(run_slug))["status"] == 5
        assert (await api.post("/api/v1/scraper/abort", {"run_slug": run_slug})).code == 0
        assert fake.runs[0].status == 5
