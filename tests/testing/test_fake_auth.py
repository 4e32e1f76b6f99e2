from __future__ import annotations

import aiohttp
import pytest

from coreclaw_async.testing import FakeCoreClaw

from .conftest import Api

PRIVATE_PATHS = [
    "/api/v1/task/run",
    "/api/v1/scraper/run",
    "/api/v1/scraper/abort",
    "/api/v1/run/list",
    "/api/v1/run/detail",
    "/api/v1/run/result/list",
    "/api/v1/run/last/log",
    "/api/v1/run/result/export",
    "/api/v1/rerun",
    "/api/v1/account/info",
]


@pytest.mark.parametrize("path", PRIVATE_PATHS)
async def test_missing_api_key_is_4010_with_http_401(api: Api, path: str) -> None:
    reply = await api.post(path, {}, key=False)
    assert reply.status == 401
    assert reply.body == {"code": 4010, "message": "Unauthorized", "data": None}


@pytest.mark.parametrize("path", PRIVATE_PATHS)
async def test_wrong_api_key_is_20001_with_http_401(api: Api, path: str) -> None:
    reply = await api.post(path, {}, key="scraper_api_wrong")
    assert reply.status == 401
    assert reply.body == {"code": 20001, "message": "Invalid API key", "data": None}


async def test_bearer_authorization_is_accepted(api: Api, fake: FakeCoreClaw) -> None:
    reply = await api.post(
        "/api/v1/account/info", {}, key=False, headers={"Authorization": f"Bearer {fake.api_key}"}
    )
    assert reply.status == 200
    assert reply.data["balance"] == "10122.5547"


async def test_non_bearer_authorization_counts_as_missing(api: Api, fake: FakeCoreClaw) -> None:
    reply = await api.post(
        "/api/v1/account/info", {}, key=False, headers={"Authorization": f"Basic {fake.api_key}"}
    )
    assert reply.code == 4010


async def test_auth_failures_create_nothing(api: Api, fake: FakeCoreClaw) -> None:
    body = {"task_slug": fake.task_slugs[0], "callback_url": "https://cb.example.com"}
    await api.post("/api/v1/task/run", body, key=False)
    await api.post("/api/v1/task/run", body, key="bad")
    assert fake.runs == []


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/scraper", {"slug": "coreclaw/google-maps-scraper"}),
        ("/api/store", {"search": "amazon"}),
        ("/api/proxy/region", None),
    ],
)
async def test_public_endpoints_need_no_key(api: Api, path: str, params: dict[str, str]) -> None:
    reply = await api.get(path, params)
    assert reply.status == 200
    assert reply.code == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/nope"),
        ("GET", "/api/v1/task/run"),
        ("POST", "/api/scraper"),
        ("GET", "/"),
        ("GET", "/files/unknown/x"),
    ],
)
async def test_unknown_routes_are_4040_with_http_404(
    http: aiohttp.ClientSession, fake: FakeCoreClaw, method: str, path: str
) -> None:
    async with http.request(method, fake.url + path, json={}) as resp:
        assert resp.status == 404
        assert await resp.json() == {"code": 4040, "message": "Resource not found", "data": None}


async def test_always_200_mode_puts_errors_in_the_body_only(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(http_status_mode="always_200") as fake:
        api = Api(http, fake)
        assert (await api.post("/api/v1/account/info", key=False)).status == 200
        missing = await api.post("/api/v1/run/detail", {"run_slug": "01KSFDS8XWTJME33C08XMCR6B9"})
        assert (missing.status, missing.code) == (200, 70001)
        invalid = await api.post("/api/v1/run/detail", {})
        assert (invalid.status, invalid.code) == (200, 4000)
