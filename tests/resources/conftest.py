"""Request-shaping fixtures: an ``aioresponses`` mock and a client aimed at a fake host."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aioresponses import aioresponses
from multidict import CIMultiDict

from coreclaw_async import AsyncCoreClaw

KEY = "scraper_api_RESOURCETESTKEY0123456789"
BASE = "https://openapi.test"
CALLBACK = "https://hooks.example.com/coreclaw"
RUN_SLUG = "01KSFDS8XWTJME33C08XMCR6B9"
ENV_NAMES = ("CORECLAW_API_KEY", "CORECLAW_BASE_URL", "CORECLAW_CALLBACK_URL")


def ok(data: Any) -> bytes:
    """A success envelope around ``data``."""
    return json.dumps({"code": 0, "message": "success", "data": data}).encode()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


@pytest.fixture
async def client() -> AsyncIterator[AsyncCoreClaw]:
    async with AsyncCoreClaw(KEY, base_url=BASE, callback_url=CALLBACK) as c:
        yield c


class Sent:
    """One request aioresponses recorded."""

    def __init__(self, method: str, url: Any, kwargs: dict[str, Any]) -> None:
        self.method = method
        self.url = url
        self.path = url.path
        self.kwargs = kwargs
        self.headers: CIMultiDict[str] = CIMultiDict(kwargs.get("headers") or {})
        self.params = kwargs.get("params")
        raw = kwargs.get("data")
        self.raw = raw
        self.body = json.loads(raw) if raw else None


def sent(m: aioresponses) -> list[Sent]:
    """Every request recorded, in order."""
    assert m.requests is not None
    calls = [(key, call) for key, calls in m.requests.items() for call in calls]
    return [Sent(method, url, call.kwargs) for (method, url), call in calls]


def only(m: aioresponses) -> Sent:
    """The one request recorded (fails if there were more or none)."""
    requests = sent(m)
    assert len(requests) == 1, requests
    return requests[0]
