"""Both API versions served from one ledger, and either one switched off (plain 404)."""

from __future__ import annotations

import aiohttp
import pytest

from coreclaw_async.testing import API_VERSIONS, FakeCoreClaw

from .conftest import CALLBACK, MAPS_V2, V2, V2_INPUT, Api

V1_PATHS = [
    ("POST", "/api/v1/task/run"),
    ("POST", "/api/v1/scraper/run"),
    ("POST", "/api/v1/scraper/abort"),
    ("POST", "/api/v1/run/list"),
    ("POST", "/api/v1/run/detail"),
    ("POST", "/api/v1/run/result/list"),
    ("POST", "/api/v1/run/last/log"),
    ("POST", "/api/v1/run/result/export"),
    ("POST", "/api/v1/rerun"),
    ("POST", "/api/v1/account/info"),
    ("GET", "/api/scraper"),
    ("GET", "/api/store"),
    ("GET", "/api/proxy/region"),
    ("GET", "/api/v1/no/such/operation"),
]
V2_PATHS = [
    ("GET", "/api/v2/users/account"),
    ("GET", "/api/v2/proxy/region"),
    ("GET", "/api/v2/store"),
    ("POST", f"/api/v2/workers/{MAPS_V2}/runs"),
    ("GET", "/api/v2/worker-runs"),
    ("GET", "/api/v2/worker-tasks"),
    ("GET", "/api/v2/no/such/operation"),
]


async def test_both_versions_are_served_by_default_and_share_one_ledger(api: Api, v2: V2) -> None:
    assert v2.fake.api_versions == API_VERSIONS == ("v1", "v2")
    v1_run = await api.start_task_run()
    v2_run = await v2.start()
    v1_list = (await api.post("/api/v1/run/list", {})).data
    v2_list = (await v2.get("worker-runs")).data
    assert {record["slug"] for record in v1_list["list"]} == {v1_run, v2_run}
    assert {record["slug"] for record in v2_list["list"]} == {v1_run, v2_run}
    assert (await api.detail(v2_run))["slug"] == v2_run
    assert (await v2.get(f"worker-runs/{v1_run}")).data["slug"] == v1_run


@pytest.mark.parametrize(("method", "path"), V1_PATHS)
async def test_a_v2_only_fake_answers_every_v1_path_with_a_plain_404(
    http: aiohttp.ClientSession, method: str, path: str
) -> None:
    async with FakeCoreClaw(api_versions=("v2",)) as fake:
        headers = {"api-key": fake.api_key, "Authorization": f"Bearer {fake.api_key}"}
        async with http.request(method, fake.url + path, json={}, headers=headers) as resp:
            body = await resp.read()
        assert resp.status == 404
        assert resp.content_type == "text/plain"
        assert body == b"404: Not Found"
        assert fake.runs == []


@pytest.mark.parametrize(("method", "path"), V2_PATHS)
async def test_a_v1_only_fake_answers_every_v2_path_with_a_plain_404(
    http: aiohttp.ClientSession, method: str, path: str
) -> None:
    async with FakeCoreClaw(api_versions=("v1",)) as fake:
        headers = {"Authorization": f"Bearer {fake.api_key}"}
        async with http.request(method, fake.url + path, json={"input": V2_INPUT}, headers=headers) as resp:
            body = await resp.read()
        assert (resp.status, body) == (404, b"404: Not Found")
        assert fake.runs == []


async def test_a_v2_only_fake_still_serves_v2_and_its_downloads(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(api_versions=["v2"], run_schedule=(0.0, 0.0)) as fake:
        v2 = V2(http, fake)
        run_slug = await v2.start()
        url = (await v2.get(f"worker-runs/{run_slug}/result/export")).data["download_url"]
        async with http.get(url) as resp:
            assert resp.status == 200
            assert (await resp.text()).startswith("title,url,")
        assert fake.api_versions == ("v2",)
        assert not any(path.startswith("/api/v1") for path in fake.requests_by_path)


async def test_a_v2_only_fake_answers_unknown_paths_with_the_v2_envelope(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(api_versions=("v2",)) as fake:
        async with http.get(fake.url + "/api/elsewhere") as resp:
            body = await resp.json()
        assert resp.status == 404
        assert (body["code"], body["message"]) == (11004, "not found")


async def test_a_v1_only_fake_keeps_the_v1_answers(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(api_versions=("v1",)) as fake:
        api = Api(http, fake)
        reply = await api.post(
            "/api/v1/task/run", {"task_slug": fake.task_slugs[0], "callback_url": CALLBACK}
        )
        assert "run_slug" in reply.data
        assert set(reply.body) == {"code", "message", "data"}


async def test_a_switched_off_version_takes_no_fault(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(api_versions=("v2",)) as fake:
        fake.inject("server_error", times=None)
        async with http.post(fake.url + "/api/v1/account/info") as resp:
            assert resp.status == 404
        assert fake.applied_faults == []


@pytest.mark.parametrize("versions", [(), ("v3",), ("v1", "v9"), "v3"])
def test_api_versions_must_name_known_versions(versions: object) -> None:
    with pytest.raises(ValueError, match="api_versions"):
        FakeCoreClaw(api_versions=versions)  # type: ignore[arg-type]


def test_a_single_version_may_be_given_as_a_string() -> None:
    assert FakeCoreClaw(api_versions="v2").api_versions == ("v2",)
