"""Fixtures for the FakeCoreClaw tests: a fast fake and a plain aiohttp client for it."""

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
