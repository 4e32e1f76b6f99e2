"""Fixtures for the FakeCoreClaw tests: a fast fake and plain aiohttp clients for its v1 and v2 APIs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from coreclaw_async.testing import FakeCoreClaw

CALLBACK = "https://callbacks.example.com/hook"
MAPS = "coreclaw/google-maps-scraper"
MAPS_V2 = "coreclaw~google-maps-scraper"
V2_INPUT = {"parameters": {"custom": {"searchTerms": ["pizza"]}}}
# Marks "send no body at all" apart from a JSON null body.
NO_BODY: Any = object()


@dataclass
class Reply:
    """One HTTP answer of the fake, read as bytes and decoded once."""

    status: int
    headers: CIMultiDictProxy[str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw)

    @property
    def code(self) -> int:
        return int(self.body["code"])

    @property
    def data(self) -> Any:
        body = self.body
        assert body["code"] == 0, body
        assert body["message"] == "success"
        return body["data"]


class Api:
    """Tiny raw-HTTP helper: the tests talk to the fake exactly as any client would."""

    def __init__(self, http: aiohttp.ClientSession, fake: FakeCoreClaw) -> None:
        self.http = http
        self.fake = fake

    def headers(self, key: str | None) -> dict[str, str]:
        return {} if key is None else {"api-key": key}

    async def post(
        self,
        path: str,
        body: Any = None,
        *,
        key: str | bool | None = True,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        api_key = self.fake.api_key if key is True else (None if key is False else key)
        all_headers = {**self.headers(api_key), **(headers or {})}
        kwargs: dict[str, Any] = {"data": data} if data is not None else {"json": body}
        async with self.http.post(self.fake.url + path, headers=all_headers, **kwargs) as resp:
            return Reply(resp.status, resp.headers, await resp.read())

    async def get(self, path: str, params: dict[str, str] | None = None) -> Reply:
        async with self.http.get(self.fake.url + path, params=params) as resp:
            return Reply(resp.status, resp.headers, await resp.read())

    async def start_task_run(self, task_slug: str | None = None) -> str:
        slug = task_slug or self.fake.task_slugs[0]
        reply = await self.post("/api/v1/task/run", {"task_slug": slug, "callback_url": CALLBACK})
        return str(reply.data["run_slug"])

    async def detail(self, run_slug: str) -> dict[str, Any]:
        reply = await self.post("/api/v1/run/detail", {"run_slug": run_slug})
        return dict(reply.data)


class V2:
    """Raw v2 calls (paths under ``/api/v2/``), authenticated with ``Authorization: Bearer``."""

    def __init__(self, http: aiohttp.ClientSession, fake: FakeCoreClaw) -> None:
        self.http = http
        self.fake = fake

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = NO_BODY,
        data: bytes | None = None,
        key: str | bool = True,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        all_headers = dict(headers or {})
        if key is not False:
            all_headers["Authorization"] = f"Bearer {self.fake.api_key if key is True else key}"
        kwargs: dict[str, Any] = {"params": params, "headers": all_headers}
        if data is not None:
            kwargs["data"] = data
        elif body is not NO_BODY:
            kwargs["json"] = body
        async with self.http.request(method, f"{self.fake.url}/api/v2/{path}", **kwargs) as resp:
            return Reply(resp.status, resp.headers, await resp.read())

    async def get(self, path: str, params: dict[str, str] | None = None, **kwargs: Any) -> Reply:
        return await self.request("GET", path, params=params, **kwargs)

    async def post(self, path: str, body: Any = NO_BODY, **kwargs: Any) -> Reply:
        return await self.request("POST", path, body=body, **kwargs)

    async def put(self, path: str, body: Any = NO_BODY, **kwargs: Any) -> Reply:
        return await self.request("PUT", path, body=body, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("DELETE", path, **kwargs)

    async def start(self, worker: str = MAPS_V2, **body: Any) -> str:
        """Start a Worker run (asynchronous unless ``is_async`` says otherwise) and return its slug."""
        reply = await self.post(f"workers/{worker}/runs", {"input": V2_INPUT, **body})
        return str(reply.data["run_slug"])

    async def create_task(self, **body: Any) -> str:
        """Create a saved Task of the Maps Worker and return its slug."""
        fields = {"worker_id": MAPS_V2, "title": "Coffee in Berlin", "input": V2_INPUT, **body}
        reply = await self.post("worker-tasks", fields)
        return str(reply.data["slug"])


@pytest.fixture
async def fake() -> AsyncIterator[FakeCoreClaw]:
    async with FakeCoreClaw(run_schedule=(0.05, 0.1), abort_linger=0.1, sync_wait_cap=2.0) as f:
        yield f


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def api(http: aiohttp.ClientSession, fake: FakeCoreClaw) -> Api:
    return Api(http, fake)


@pytest.fixture
def v2(http: aiohttp.ClientSession, fake: FakeCoreClaw) -> V2:
    return V2(http, fake)
