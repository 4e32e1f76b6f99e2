"""The request log: who sent what when and what was answered, in arrival order, bounded, resettable."""

from __future__ import annotations

import dataclasses
import time

import aiohttp
import pytest

from coreclaw_async.testing import FakeCoreClaw, Fault, RequestRecord

from .conftest import CALLBACK, V2, Api

ACCOUNT_V1 = "/api/v1/account/info"


def observed(fake: FakeCoreClaw) -> list[tuple[str, str, str, int | None, int | None]]:
    return [(r.method, r.path, r.user_agent, r.http_status, r.code) for r in fake.request_log]


async def test_nothing_is_recorded_unless_asked(api: Api, fake: FakeCoreClaw) -> None:
    await api.post(ACCOUNT_V1)
    assert fake.record_requests is False
    assert fake.request_log == []


async def test_each_request_is_recorded_in_arrival_order_with_its_status_and_envelope_code(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeCoreClaw(record_requests=True, run_schedule=(0.0, 0.0)) as fake:
        api, v2 = Api(http, fake), V2(http, fake)
        before = time.monotonic()
        ua = {"User-Agent": "proc-1"}
        run_slug = await api.start_task_run()
        await api.post(ACCOUNT_V1, key="wrong", headers=ua)
        await v2.get("users/account", headers={"User-Agent": "proc-2"})
        await v2.get("worker-runs/nope", headers=ua)
        await api.get("/api/proxy/region")
        export = await api.post(
            "/api/v1/run/result/export", {"run_slug": run_slug, "filter_keys": [], "format": "json"}
        )
        async with http.get(export.data["download_url"], headers=ua) as resp:
            await resp.read()
        fake.inject(Fault.HTTP_502_HTML)
        await api.post(ACCOUNT_V1, headers=ua)
        fake.inject(Fault.TRUNCATED)
        await api.post(ACCOUNT_V1, headers=ua)
        fake.inject(Fault.DROP_BEFORE_CREATE)
        with pytest.raises(aiohttp.ClientError):
            await api.post(ACCOUNT_V1, headers=ua)
        after = time.monotonic()

        default_agent = fake.request_log[0].user_agent  # aiohttp's own
        assert default_agent.startswith("Python/")
        assert observed(fake) == [
            ("POST", "/api/v1/task/run", default_agent, 200, 0),
            ("POST", ACCOUNT_V1, "proc-1", 401, 20001),
            ("GET", "/api/v2/users/account", "proc-2", 200, 0),
            ("GET", "/api/v2/worker-runs/nope", "proc-1", 404, 70001),
            ("GET", "/api/proxy/region", default_agent, 200, 0),
            ("POST", "/api/v1/run/result/export", default_agent, 200, 0),
            ("GET", export.data["download_url"].removeprefix(fake.url).split("?")[0], "proc-1", 200, None),
            ("POST", ACCOUNT_V1, "proc-1", 502, None),
            ("POST", ACCOUNT_V1, "proc-1", 200, None),
            ("POST", ACCOUNT_V1, "proc-1", None, None),
        ]
        times = [record.at for record in fake.request_log]
        assert times == sorted(times)
        assert before <= times[0]
        assert times[-1] <= after


async def test_records_are_frozen(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(record_requests=True) as fake:
        await Api(http, fake).post(ACCOUNT_V1)
        record = fake.request_log[0]
        assert isinstance(record, RequestRecord)
        with pytest.raises(dataclasses.FrozenInstanceError):
            record.code = 1  # type: ignore[misc]


async def test_only_the_most_recent_requests_are_kept(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(record_requests=True, max_recorded_requests=3) as fake:
        api = Api(http, fake)
        for n in range(5):
            await api.post(ACCOUNT_V1, headers={"User-Agent": f"proc-{n}"})
        assert [record.user_agent for record in fake.request_log] == ["proc-2", "proc-3", "proc-4"]
        assert fake.requests == 5


async def test_reset_counters_and_clear_request_log_empty_it_and_recording_goes_on(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeCoreClaw(record_requests=True) as fake:
        api = Api(http, fake)
        await api.post(ACCOUNT_V1)
        fake.clear_request_log()
        assert fake.request_log == []
        await api.post(ACCOUNT_V1)
        await api.post("/api/v1/task/run", {"task_slug": fake.task_slugs[0], "callback_url": CALLBACK})
        assert len(fake.request_log) == 2
        fake.reset_counters()
        assert fake.request_log == []
        await api.post(ACCOUNT_V1)
        assert [record.path for record in fake.request_log] == [ACCOUNT_V1]


async def test_admin_requests_are_not_recorded(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(record_requests=True) as fake:
        async with http.get(fake.url + "/_fake/stats", headers={"api-key": fake.api_key}) as resp:
            assert resp.status == 200
        assert fake.request_log == []


@pytest.mark.parametrize("bound", [0, -1, 2.5, True])
def test_a_bound_that_is_not_a_positive_integer_is_refused(bound: object) -> None:
    with pytest.raises(ValueError, match="max_recorded_requests"):
        FakeCoreClaw(record_requests=True, max_recorded_requests=bound)  # type: ignore[arg-type]
