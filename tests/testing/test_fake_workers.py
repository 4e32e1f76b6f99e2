"""Worker endpoints: /api/scraper, /api/store, /api/proxy/region and scraper/run."""

from __future__ import annotations

import copy
import time
from typing import Any

import aiohttp
import pytest

from coreclaw_async.testing import FakeCoreClaw, is_ulid

from .conftest import Api

MAPS = "coreclaw/google-maps-scraper"


def start_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "scraper_slug": MAPS,
        "is_async": True,
        "input": {
            "parameters": {
                "system": {
                    "cpus": 0.125,
                    "memory": 512,
                    "execute_limit_time_seconds": 1800,
                    "max_total_charge": 0,
                    "max_total_traffic": 0,
                    "proxy_region": "US",
                },
                "custom": {"searchTerms": ["pizza"]},
            }
        },
    }
    body.update(overrides)
    return body


async def test_worker_detail_has_the_documented_shape(api: Api) -> None:
    reply = await api.get("/api/scraper", {"slug": MAPS})
    data = reply.data
    assert set(data) == {"parameters", "readme", "version"}
    assert data["version"] == "v1.0.5"
    assert data["readme"].startswith("# ")
    system = data["parameters"]["system"]
    assert system == {
        "cpus": 0.125,
        "memory": 512,
        "max_total_charge": 0,
        "max_total_traffic": 0,
        "execute_limit_time_seconds": 1800,
    }
    properties = data["parameters"]["custom"]["properties"]
    assert [p["name"] for p in properties] == [
        "searchTerms",
        "location",
        "maxPlaces",
        "includeReviews",
    ]
    assert all({"name", "type", "title", "editor", "description"} <= set(p) for p in properties)


async def test_ulid_worker_detail_uses_the_documented_form(api: Api) -> None:
    data = (await api.get("/api/scraper", {"slug": "01KJXYJ7KCHXM0PDZHQD5293XE"})).data
    assert data["version"] == "v1.0.1"
    assert data["parameters"]["custom"]["properties"][0]["name"] == "startURLs"


async def test_unknown_worker_detail_is_50001(api: Api) -> None:
    reply = await api.get("/api/scraper", {"slug": "nobody/nothing"})
    assert reply.status == 404
    assert reply.body == {"code": 50001, "message": "Script does not exist", "data": None}


async def test_worker_detail_without_slug_is_4000(api: Api) -> None:
    assert (await api.get("/api/scraper")).code == 4000
    assert (await api.get("/api/scraper", {"slug": ""})).code == 4000


async def test_added_worker_is_served_everywhere(api: Api, fake: FakeCoreClaw) -> None:
    worker = fake.add_worker(
        "acme/shop-scraper", version="v2.0.0", versions=["v1.9.0"], description="Shops of Acme"
    )
    assert worker.title == "Shop Scraper"
    assert worker.versions == ("v2.0.0", "v1.9.0")
    detail = (await api.get("/api/scraper", {"slug": "acme/shop-scraper"})).data
    assert detail["version"] == "v2.0.0"
    store = (await api.get("/api/store", {"search": "ACME"})).data
    assert store == {
        "scraper": [{"slug": "acme/shop-scraper", "title": "Shop Scraper", "description": "Shops of Acme"}]
    }
    body = start_body(
        scraper_slug="acme/shop-scraper",
        version="v1.9.0",
        input={"parameters": {"custom": {"startURLs": [{"url": "https://acme.test"}]}}},
    )
    reply = await api.post("/api/v1/scraper/run", body)
    assert reply.code == 0
    assert fake.runs[-1].version == "v1.9.0"
    assert fake.runs[-1].scraper_title == "Shop Scraper"


async def test_store_search_is_case_insensitive_over_title_description_and_slug(api: Api) -> None:
    found = (await api.get("/api/store", {"search": "aMaZoN"})).data["scraper"]
    assert [w["slug"] for w in found] == [
        "01KBHMS6A8H6A3K5FJY11MQ99Z",
        "01KBHT00QRRZYZJQJ8P1R682VC",
    ]
    assert set(found[0]) == {"slug", "title", "description"}
    by_description = (await api.get("/api/store", {"search": "ratings"})).data["scraper"]
    assert [w["slug"] for w in by_description] == [MAPS]
    by_slug = (await api.get("/api/store", {"search": "01KJXYJ7"})).data["scraper"]
    assert [w["title"] for w in by_slug] == ["News Scraper"]
    assert (await api.get("/api/store", {"search": "zzz-none"})).data == {"scraper": []}


async def test_store_limit(api: Api) -> None:
    found = (await api.get("/api/store", {"search": "amazon", "limit": "1"})).data["scraper"]
    assert len(found) == 1


@pytest.mark.parametrize(
    "params",
    [{}, {"search": ""}, {"search": "  "}, {"search": "a", "limit": "0"}, {"search": "a", "limit": "x"}],
)
async def test_store_rejects_empty_search_and_bad_limits(api: Api, params: dict[str, str]) -> None:
    reply = await api.get("/api/store", params)
    assert (reply.status, reply.code) == (400, 4000)


async def test_proxy_regions_list_real_iso_codes(api: Api) -> None:
    regions = (await api.get("/api/proxy/region")).data["list"]
    codes = {region["code"] for region in regions}
    assert {"US", "GB", "DE", "JP"} <= codes
    assert len(regions) >= 24
    assert all(len(r["code"]) == 2 and r["code"].isupper() and r["name"] for r in regions)


async def test_async_start_returns_a_run_slug_and_records_the_run(api: Api, fake: FakeCoreClaw) -> None:
    body = start_body(callback_url="https://cb.example.com/x")
    reply = await api.post("/api/v1/scraper/run", body)
    run_slug = reply.data["run_slug"]
    assert is_ulid(run_slug)
    [run] = fake.runs
    assert (run.slug, run.task_slug, run.scraper_slug) == (run_slug, None, MAPS)
    assert run.version == "v1.0.5"
    assert run.callback_url == "https://cb.example.com/x"
    assert run.input == body["input"]
    assert fake.runs_by_task() == {}


async def test_start_accepts_an_older_listed_version_and_omitted_optional_fields(
    api: Api, fake: FakeCoreClaw
) -> None:
    body = start_body(version="v1.0.3")
    del body["is_async"]
    del body["input"]["parameters"]["system"]
    assert (await api.post("/api/v1/scraper/run", body)).code == 0
    assert fake.runs[0].version == "v1.0.3"
    assert fake.runs[0].callback_url is None


async def test_unknown_worker_is_50001(api: Api, fake: FakeCoreClaw) -> None:
    reply = await api.post("/api/v1/scraper/run", start_body(scraper_slug="nobody/nothing"))
    assert (reply.status, reply.code) == (404, 50001)
    assert fake.runs == []


@pytest.mark.parametrize("version", ["v9.9.9", "latest"])
async def test_unavailable_version_is_50003(api: Api, fake: FakeCoreClaw, version: str) -> None:
    reply = await api.post("/api/v1/scraper/run", start_body(version=version))
    assert reply.body == {
        "code": 50003,
        "message": "The script version is not available",
        "data": None,
    }
    assert fake.runs == []


def _broken_inputs() -> list[tuple[str, Any]]:
    cases: list[tuple[str, Any]] = []

    def case(name: str, mutate: Any) -> None:
        body = start_body()
        mutate(body)
        cases.append((name, body))

    case("no input", lambda b: b.pop("input"))
    case("input not object", lambda b: b.update(input=[1]))
    case("no parameters", lambda b: b["input"].pop("parameters"))
    case("no custom", lambda b: b["input"]["parameters"].pop("custom"))
    case("empty custom", lambda b: b["input"]["parameters"].update(custom={}))
    case("required property missing", lambda b: b["input"]["parameters"].update(custom={"x": 1}))
    case("system not object", lambda b: b["input"]["parameters"].update(system="big"))
    case("bad memory", lambda b: b["input"]["parameters"]["system"].update(memory=1000))
    case("bad cpus", lambda b: b["input"]["parameters"]["system"].update(cpus=0))
    case("bad region", lambda b: b["input"]["parameters"]["system"].update(proxy_region="XX"))
    case("lower region", lambda b: b["input"]["parameters"]["system"].update(proxy_region="us"))
    case("negative cap", lambda b: b["input"]["parameters"]["system"].update(max_total_charge=-1))
    case("is_async string", lambda b: b.update(is_async="false"))
    case("no scraper_slug", lambda b: b.pop("scraper_slug"))
    case("version not string", lambda b: b.update(version=105))
    case("page_size over 1000", lambda b: b.update(page_size=1001))
    case("page_index zero", lambda b: b.update(page_index=0))
    case("callback not string", lambda b: b.update(callback_url=["x"]))
    return cases


@pytest.mark.parametrize(("name", "body"), _broken_inputs(), ids=[c[0] for c in _broken_inputs()])
async def test_invalid_start_bodies_are_4000(
    api: Api, fake: FakeCoreClaw, name: str, body: dict[str, Any]
) -> None:
    reply = await api.post("/api/v1/scraper/run", copy.deepcopy(body))
    assert (reply.status, reply.code) == (400, 4000), name
    assert fake.runs == []


async def test_sync_start_waits_for_the_final_state(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(run_schedule=(0.05, 0.15), rows_per_run=30) as fake:
        api = Api(http, fake)
        started = time.monotonic()
        reply = await api.post("/api/v1/scraper/run", start_body(is_async=False, page_index=2, page_size=20))
        assert time.monotonic() - started >= 0.2
        data = reply.data
        assert set(data) == {
            "error_message",
            "execution_end_timestamp",
            "execution_start_timestamp",
            "result_message",
            "results",
            "run_slug",
            "run_status",
            "running_duration",
        }
        assert data["run_status"] == "completed"
        assert data["error_message"] == ""
        assert data["run_slug"] == fake.runs[0].slug
        start_ms, end_ms = data["execution_start_timestamp"], data["execution_end_timestamp"]
        assert start_ms > 1_700_000_000_000
        assert 150 <= end_ms - start_ms <= 260
        results = data["results"]
        assert (results["count"], results["page_index"], results["page_size"]) == (30, 2, 20)
        assert len(results["list"]) == 10
        assert results["headers"][0] == {"label": "title", "key": "title", "format": "text"}


async def test_sync_start_of_a_failing_run_reports_the_error(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(run_schedule=(0, 0.05), fail_every=1) as fake:
        data = (await Api(http, fake).post("/api/v1/scraper/run", start_body(is_async=False))).data
        assert data["run_status"] == "completed"
        assert data["error_message"] == "Navigation timeout of 30000 ms exceeded"


async def test_sync_start_answers_running_at_the_wait_cap(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(run_schedule=(0.0, 2.0), sync_wait_cap=0.2) as fake:
        started = time.monotonic()
        reply = await Api(http, fake).post("/api/v1/scraper/run", start_body(is_async=False))
        elapsed = time.monotonic() - started
        assert 0.2 <= elapsed < 1.0
        data = reply.data
        assert data["run_status"] == "running"
        assert data["execution_end_timestamp"] == 0
        assert 0 < data["results"]["count"] < 25
        assert fake.runs[0].status == 2


async def test_zero_balance_refuses_worker_starts(api: Api, fake: FakeCoreClaw) -> None:
    fake.set_balance("0.0000")
    assert (await api.post("/api/v1/scraper/run", start_body())).code == 30001
    assert fake.runs == []
