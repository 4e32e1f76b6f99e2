"""v2 catalogue and account: proxy regions, store, account, own Workers, detail, input schema, runs."""

from __future__ import annotations

import time

import aiohttp
import pytest

from coreclaw_async.testing import FakeCoreClaw, is_ulid

from .conftest import MAPS, MAPS_V2, V2, V2_INPUT

ITEM_KEYS = {"slug", "name", "path", "title", "username", "description"}


async def test_proxy_regions_are_public_and_named_in_english_by_default(v2: V2) -> None:
    regions = (await v2.get("proxy/region", key=False)).data["list"]
    assert {"code": "US", "name": "United States"} in regions
    assert all(set(region) == {"code", "name"} for region in regions)
    assert (await v2.get("proxy/region", {"language": "en"})).data["list"] == regions


async def test_proxy_regions_in_chinese_keep_the_same_codes(v2: V2) -> None:
    english = (await v2.get("proxy/region")).data["list"]
    chinese = (await v2.get("proxy/region", {"language": "zh"})).data["list"]
    assert [region["code"] for region in chinese] == [region["code"] for region in english]
    assert {"code": "US", "name": "美国"} in chinese


async def test_the_store_lists_workers_with_slug_name_path_title_username_description(v2: V2) -> None:
    items = (await v2.get("store", key=False)).data["scraper"]
    assert len(items) == 4
    assert all(set(item) == ITEM_KEYS for item in items)
    maps = next(item for item in items if item["path"] == MAPS_V2)
    assert (maps["name"], maps["username"], maps["title"]) == (
        "google-maps-scraper",
        "coreclaw",
        "Google Maps Scraper",
    )
    assert is_ulid(maps["slug"])
    assert all("~" in item["path"] and "/" not in item["path"] for item in items)


async def test_the_store_searches_by_keyword_and_pages_by_offset_and_limit(v2: V2) -> None:
    amazon = (await v2.get("store", {"keyword": "AMAZON"})).data["scraper"]
    assert [item["title"] for item in amazon] == ["Amazon Product By ASIN", "Amazon Product List By Keywords"]
    first = (await v2.get("store", {"keyword": "amazon", "offset": "1", "limit": "1"})).data["scraper"]
    second = (await v2.get("store", {"keyword": "amazon", "offset": "2", "limit": "1"})).data["scraper"]
    beyond = (await v2.get("store", {"keyword": "amazon", "offset": "3", "limit": "1"})).data["scraper"]
    assert (first, second, beyond) == (amazon[:1], amazon[1:], [])
    assert (await v2.get("store", {"keyword": "zzz-nothing"})).data["scraper"] == []
    assert (await v2.get("store", {"keyword": "coreclaw~google"})).data["scraper"][0]["path"] == MAPS_V2


async def test_the_account_has_a_string_balance_and_its_expiry_and_no_traffic(v2: V2) -> None:
    data = (await v2.get("users/account")).data
    assert data == {"balance": "10122.5547", "balance_expiration_at": data["balance_expiration_at"]}
    assert isinstance(data["balance_expiration_at"], int)
    v2.fake.set_balance("2.7129")
    assert (await v2.get("users/account")).data["balance"] == "2.7129"


async def test_the_caller_s_own_workers_are_listed_apart_from_the_store(v2: V2) -> None:
    assert (await v2.get("workers")).data == {"scraper": []}
    v2.fake.add_worker("me/price-watch", owned=True, title="Price Watch")
    v2.fake.add_worker("01KZZZZZZZZZZZZZZZZZZZZZZZ", owned=True, title="My Other Worker")
    mine = (await v2.get("workers")).data["scraper"]
    assert [(item["path"], item["username"]) for item in mine] == [
        ("me~price-watch", "me"),
        ("fake-user~my-other-worker", "fake-user"),
    ]
    assert (await v2.get("workers", {"keyword": "price"})).data["scraper"] == mine[:1]
    assert (await v2.get("workers", {"limit": "1", "offset": "2"})).data["scraper"] == mine[1:]
    store_paths = {item["path"] for item in (await v2.get("store")).data["scraper"]}
    assert "me~price-watch" not in store_paths
    assert (await v2.get("workers", key=False)).code == 12001


async def test_worker_detail_has_name_username_version_readme_and_parameters(v2: V2) -> None:
    data = (await v2.get(f"workers/{MAPS_V2}")).data
    assert set(data) == {"name", "username", "version", "readme", "parameters"}
    assert (data["name"], data["username"], data["version"]) == ("google-maps-scraper", "coreclaw", "v1.0.5")
    assert data["parameters"]["system"]["memory"] == 512
    assert data["parameters"]["custom"]["properties"][0]["name"] == "searchTerms"


async def test_the_input_schema_is_derived_from_the_worker_s_properties(v2: V2) -> None:
    schema = (await v2.get(f"workers/{MAPS_V2}/input-schema", key=False)).data["input_schema"]
    assert schema["type"] == "object"
    assert schema["required"] == ["searchTerms"]
    assert list(schema["properties"]) == ["searchTerms", "location", "maxPlaces", "includeReviews"]
    assert schema["properties"]["maxPlaces"]["type"] == "integer"
    assert schema["properties"]["maxPlaces"]["default"] == 20
    v2.fake.add_worker("me/custom", properties=[{"name": "q", "type": "string", "title": "Query"}])
    custom = (await v2.get("workers/me~custom/input-schema")).data["input_schema"]
    assert custom["properties"] == {"q": {"type": "string", "title": "Query"}}
    assert custom["required"] == []


async def test_an_async_worker_run_answers_its_slug_and_is_in_the_ledger(v2: V2) -> None:
    reply = await v2.post(
        f"workers/{MAPS_V2}/runs",
        {"input": V2_INPUT, "callback_url": "https://cb.test/x", "version": "v1.0.4"},
    )
    assert set(reply.data) == {"run_slug"}
    [run] = v2.fake.runs
    assert (run.slug, run.scraper_slug, run.version) == (reply.data["run_slug"], MAPS, "v1.0.4")
    assert run.callback_url == "https://cb.test/x"
    assert run.input == V2_INPUT
    assert run.task_slug is None


async def test_a_worker_run_body_may_leave_out_everything_but_the_input(v2: V2) -> None:
    run_slug = await v2.start()
    run = v2.fake.get_run(run_slug)
    assert (run.callback_url, run.version) == (None, "v1.0.5")


async def test_a_sync_worker_run_answers_the_result_with_timestamps_in_seconds(v2: V2) -> None:
    before = int(time.time())
    data = (await v2.post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT, "is_async": False})).data
    assert data["run_status"] == "succeeded"
    assert before <= data["execution_start_timestamp"] <= data["execution_end_timestamp"] <= time.time() + 1
    assert data["error_message"] == data["result_message"] == ""
    results = data["results"]
    assert (results["count"], results["page_index"], results["page_size"]) == (25, 1, 20)
    assert len(results["list"]) == 20
    assert results["headers"][0] == {"key": "title", "label": "title"}


async def test_a_sync_worker_run_window_is_chosen_by_offset_and_limit(v2: V2) -> None:
    body = {"input": V2_INPUT, "is_async": False, "offset": 2, "limit": 10}
    results = (await v2.post(f"workers/{MAPS_V2}/runs", body)).data["results"]
    assert (results["page_index"], results["page_size"], len(results["list"])) == (2, 10, 10)
    assert results["list"][0]["url"].endswith("/11")
    zero = (await v2.post(f"workers/{MAPS_V2}/runs", {**body, "offset": 0})).data["results"]
    assert (zero["page_index"], zero["list"][0]["url"][-2:]) == (1, "/1")


async def test_a_sync_run_that_fails_says_failed_with_its_error(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(run_schedule=(0.0, 0.05), fail_every=1) as fake:
        data = (
            await V2(http, fake).post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT, "is_async": False})
        ).data
        assert (data["run_status"], data["error_message"]) == (
            "failed",
            "Navigation timeout of 30000 ms exceeded",
        )


async def test_a_sync_run_still_going_at_the_cap_answers_running(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(run_schedule=(0.0, 30.0), sync_wait_cap=0.05) as fake:
        data = (
            await V2(http, fake).post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT, "is_async": False})
        ).data
        assert (data["run_status"], data["execution_end_timestamp"]) == ("running", 0)


async def test_a_flat_input_lacks_the_required_fields_and_starts_nothing(v2: V2) -> None:
    reply = await v2.post(f"workers/{MAPS_V2}/runs", {"input": {"searchTerms": ["pizza"]}})
    assert (reply.status, reply.code) == (400, 11000)
    assert "searchTerms is required" in reply.body["message"]
    assert v2.fake.runs == []


@pytest.mark.parametrize(
    "system",
    [{"memory": 3}, {"cpus": -1}, {"proxy_region": "XX"}, "big"],
)
async def test_an_invalid_system_block_is_11000(v2: V2, system: object) -> None:
    body = {"input": {"parameters": {"system": system, "custom": {"searchTerms": ["a"]}}}}
    assert (await v2.post(f"workers/{MAPS_V2}/runs", body)).code == 11000
    assert v2.fake.runs == []


async def test_an_unknown_version_is_50003_and_an_unknown_worker_50001(v2: V2) -> None:
    version = await v2.post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT, "version": "v9"})
    assert (version.code, version.body["message"]) == (50003, "the worker version is not available")
    assert (await v2.post("workers/nobody~nothing/runs", {"input": V2_INPUT})).code == 50001
    assert v2.fake.runs == []


async def test_zero_balance_and_a_full_plan_refuse_worker_runs(v2: V2) -> None:
    v2.fake.set_balance("0")
    balance = await v2.post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT})
    assert (balance.code, balance.body["message"]) == (30001, "account balance is insufficient")
    v2.fake.set_balance("5")
    v2.fake.run_schedule = (0.0, 30.0)
    v2.fake.set_concurrency_limit(1)
    await v2.start()
    plan = await v2.post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT})
    assert plan.code == 30003
    assert len(v2.fake.runs) == 1
    assert v2.fake.concurrency_refusals == 1
