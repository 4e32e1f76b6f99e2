"""``GET /_fake/stats``: the account's counters for another process, behind the API key, never counted."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from coreclaw_async.testing import FakeCoreClaw, Fault

from .conftest import Api

ACCOUNT_V1 = "/api/v1/account/info"
STATS = "/_fake/stats"


async def read_stats(http: aiohttp.ClientSession, fake: FakeCoreClaw, **headers: str) -> Any:
    async with http.get(fake.url + STATS, headers=headers or {"api-key": fake.api_key}) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        return await resp.json()


async def test_stats_answer_the_counters_of_the_account(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(rate_limit=2, concurrency_limit=1, run_schedule=(30.0, 30.0)) as fake:
        api = Api(http, fake)
        await api.start_task_run()
        assert (await api.post("/api/v1/task/run", {"task_slug": fake.task_slugs[0]})).code == 4000
        assert (await api.post(ACCOUNT_V1)).code == 0
        assert (await api.post(ACCOUNT_V1)).code == 4290
        fake.rate_limit = None
        assert (
            await api.post(
                "/api/v1/task/run",
                {"task_slug": fake.task_slugs[0], "callback_url": "https://x.example.com/h"},
            )
        ).code == 30003
        fake.inject(Fault.SERVER_ERROR)
        assert (await api.post(ACCOUNT_V1)).code == 5000

        stats = await read_stats(http, fake)

        assert stats == fake.stats()
        assert stats["requests"] == 6
        assert stats["requests_by_path"] == {"/api/v1/task/run": 3, ACCOUNT_V1: 3}
        assert (stats["rate_limited"], stats["rate_limit"]) == (1, None)
        assert (stats["concurrency_refusals"], stats["concurrency_limit"]) == (1, 1)
        assert stats["concurrency_counts_ready"] is True
        assert (stats["runs_created"], stats["faults_applied"]) == (1, 1)
        assert stats["callbacks"]["skipped"] == 1


async def test_stats_are_not_api_requests_and_never_rate_limited(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(rate_limit=1, latency=0.0) as fake:
        api = Api(http, fake)
        assert (await api.post(ACCOUNT_V1)).code == 0
        for _ in range(3):
            stats = await read_stats(http, fake)
        assert (stats["requests"], stats["rate_limited"]) == (1, 0)
        assert STATS not in fake.requests_by_path
        assert (await api.post(ACCOUNT_V1)).code == 4290


async def test_stats_accept_the_key_as_a_bearer_token(
    http: aiohttp.ClientSession, fake: FakeCoreClaw
) -> None:
    stats = await read_stats(http, fake, Authorization=f"Bearer {fake.api_key}")
    assert stats["requests"] == 0


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", STATS, {}, 401),
        ("GET", STATS, {"api-key": "wrong"}, 401),
        ("GET", STATS, {"Authorization": "Bearer wrong"}, 401),
        ("POST", STATS, {"api-key": "KEY"}, 405),
        ("GET", "/_fake/other", {"api-key": "KEY"}, 404),
    ],
)
async def test_stats_refuse_a_missing_or_wrong_key_another_method_or_path(
    http: aiohttp.ClientSession,
    fake: FakeCoreClaw,
    method: str,
    path: str,
    headers: dict[str, str],
    status: int,
) -> None:
    sent = {name: value.replace("KEY", fake.api_key) for name, value in headers.items()}
    async with http.request(method, fake.url + path, headers=sent) as resp:
        assert resp.status == status
        assert "error" in await resp.json()
    assert fake.requests == 0
