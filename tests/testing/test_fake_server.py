"""Server lifecycle, counters and connection tracking."""

from __future__ import annotations

import asyncio
import logging
import re
import time

import aiohttp
import pytest

from coreclaw_async.testing import FakeCoreClaw, Fault

from .conftest import CALLBACK, Api


async def test_start_binds_an_ephemeral_loopback_port() -> None:
    fake = FakeCoreClaw()
    with pytest.raises(RuntimeError, match="not started"):
        _ = fake.url
    async with fake:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", fake.url)
        assert int(fake.url.rsplit(":", 1)[1]) > 0
    await fake.close()  # idempotent


async def test_default_api_key_looks_like_a_coreclaw_key() -> None:
    assert re.fullmatch(r"scraper_api_fake_[0-9a-f]{32}", FakeCoreClaw().api_key)
    assert FakeCoreClaw(api_key="scraper_api_mine").api_key == "scraper_api_mine"


async def test_default_fake_has_three_tasks_and_realistic_workers() -> None:
    fake = FakeCoreClaw()
    assert len(fake.task_slugs) == 3
    slugs = [worker.slug for worker in fake.workers]
    assert "coreclaw/google-maps-scraper" in slugs
    assert any(len(slug) == 26 and "/" not in slug for slug in slugs)
    assert FakeCoreClaw(tasks=0).task_slugs == []


async def test_start_twice_or_after_close_is_an_error() -> None:
    fake = FakeCoreClaw()
    await fake.start()
    with pytest.raises(RuntimeError):
        await fake.start()
    await fake.close()
    with pytest.raises(RuntimeError):
        await fake.start()
    await FakeCoreClaw().close()  # closing a never-started fake is fine


async def test_closed_fake_refuses_connections(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw() as fake:
        url = fake.url
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(url + "/api/proxy/region"):
            pass


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"http_status_mode": "sometimes"}, "http_status_mode"),
        ({"run_schedule": (-1.0, 0.0)}, "run_schedule"),
        ({"latency": -0.1}, "latency"),
        ({"fail_every": -1}, "fail_every"),
        ({"rows_per_run": -5}, "rows_per_run"),
        ({"abort_linger": -1.0}, "abort_linger"),
        ({"tasks": -1}, "tasks"),
    ],
)
def test_invalid_settings_raise(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FakeCoreClaw(**kwargs)  # type: ignore[arg-type]


async def test_requests_are_counted_per_path(api: Api, fake: FakeCoreClaw) -> None:
    await api.start_task_run()
    await api.post("/api/v1/account/info", key=False)
    await api.get("/api/proxy/region")
    await api.get("/nowhere")
    assert fake.requests == 4
    assert fake.requests_by_path == {
        "/api/v1/task/run": 1,
        "/api/v1/account/info": 1,
        "/api/proxy/region": 1,
        "/nowhere": 1,
    }
    fake.reset_counters()
    assert (fake.requests, fake.requests_by_path) == (0, {})
    assert len(fake.runs) == 1, "the ledger survives a counter reset"


async def test_keep_alive_requests_share_one_connection(api: Api, fake: FakeCoreClaw) -> None:
    for _ in range(5):
        await api.post("/api/v1/account/info")
    assert fake.connections_seen == 1
    assert fake.max_open_connections == 1
    assert fake.open_connections == 1


async def test_each_session_is_a_new_connection(fake: FakeCoreClaw) -> None:
    for _ in range(3):
        async with aiohttp.ClientSession() as http:
            await Api(http, fake).post("/api/v1/account/info")
    assert fake.connections_seen == 3
    await asyncio.sleep(0.05)
    assert fake.open_connections == 0


async def test_concurrent_requests_open_parallel_connections(fake: FakeCoreClaw) -> None:
    fake.inject(Fault.SLOW, delay=0.2, times=None)
    connector = aiohttp.TCPConnector(limit=8)
    async with aiohttp.ClientSession(connector=connector) as http:
        api = Api(http, fake)
        replies = await asyncio.gather(*(api.post("/api/v1/account/info") for _ in range(12)))
    assert all(reply.code == 0 for reply in replies)
    assert fake.max_open_connections == 8
    assert fake.connections_seen == 8


async def test_connections_opened_without_requests_are_not_seen(fake: FakeCoreClaw) -> None:
    host, port = fake.url.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    await asyncio.sleep(0.05)
    assert fake.open_connections == 1
    assert fake.connections_seen == 0
    writer.close()
    await writer.wait_closed()


async def test_latency_is_added_to_every_response(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(latency=0.1) as fake:
        api = Api(http, fake)
        started = time.monotonic()
        await api.get("/api/proxy/region")
        await api.post("/api/v1/account/info", key=False)
        assert time.monotonic() - started >= 0.2


async def test_close_drops_waiting_requests_promptly(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeCoreClaw(run_schedule=(0, 60), sync_wait_cap=60, latency=0.0)
    await fake.start()
    fake.inject(Fault.SLOW, delay=60, path="/api/v1/account/info")
    api = Api(http, fake)
    body = {
        "scraper_slug": "coreclaw/google-maps-scraper",
        "is_async": False,
        "input": {"parameters": {"custom": {"searchTerms": ["x"]}}},
    }
    waiting = [
        asyncio.create_task(api.post("/api/v1/scraper/run", body)),
        asyncio.create_task(api.post("/api/v1/account/info")),
    ]
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await fake.close()
    assert time.monotonic() - started < 1.0
    for task in waiting:
        with pytest.raises(aiohttp.ClientConnectionError):
            await task
    await asyncio.sleep(0)
    leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert leftovers == []
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_close_leaves_no_tasks_behind_after_traffic(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(run_schedule=(0, 0)) as fake:
        api = Api(http, fake)
        await api.start_task_run()
        await api.post("/api/v1/run/list", {})
    await asyncio.sleep(0)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_task_run_throughput_is_high(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw() as fake:
        api = Api(http, fake)
        body = {"task_slug": fake.task_slugs[0], "callback_url": CALLBACK}
        started = time.monotonic()
        replies = await asyncio.gather(*(api.post("/api/v1/task/run", body) for _ in range(500)))
        elapsed = time.monotonic() - started
    assert all(reply.code == 0 for reply in replies)
    assert len(fake.runs) == 500
    assert len({run.slug for run in fake.runs}) == 500
    assert elapsed < 5.0


async def test_client_leaving_mid_download_logs_no_error(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeCoreClaw(run_schedule=(0, 0), rows_per_run=200_000) as fake:
        api = Api(http, fake)
        run_slug = await api.start_task_run()
        body = {"run_slug": run_slug, "filter_keys": [], "format": "json"}
        url = (await api.post("/api/v1/run/result/export", body)).data["download_url"]
        async with http.get(url) as resp:
            assert len(await resp.content.read(1000)) > 0
        await asyncio.sleep(0.3)
        assert (await api.post("/api/v1/account/info")).code == 0
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
