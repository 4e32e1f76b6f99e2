"""The account-wide rate limit: shared by every client and version, refused in the version's codes."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from coreclaw_async import AsyncCoreClaw, RateLimitError
from coreclaw_async.testing import FakeCoreClaw, Fault

from .conftest import CALLBACK, V2, Api

ACCOUNT_V1 = "/api/v1/account/info"
TASK_RUN = "/api/v1/task/run"
LIMIT_V1 = {"code": 4290, "message": "Too many requests, please try again later", "data": None}


def client(fake: FakeCoreClaw, version: str, user_agent: str) -> AsyncCoreClaw:
    return AsyncCoreClaw(
        fake.api_key, base_url=fake.url, api_version=version, max_retries=0, user_agent=user_agent
    )


@pytest.mark.parametrize(("version", "code"), [("v1", 4290), ("v2", 13000)])
async def test_two_clients_sharing_a_limit_of_20_get_429s_and_never_more_than_20_in_the_first_second(
    version: str, code: int
) -> None:
    async with (
        FakeCoreClaw(rate_limit=20, record_requests=True, api_versions=(version,)) as fake,
        client(fake, version, "proc-1") as one,
        client(fake, version, "proc-2") as two,
    ):
        results = await asyncio.gather(*(c.account.info() for c in (one, two) * 30), return_exceptions=True)

        failed = [result for result in results if isinstance(result, BaseException)]
        refused = [result for result in failed if isinstance(result, RateLimitError)]
        assert refused
        assert refused == failed
        assert {(e.code, e.http_status, e.retry_after) for e in refused} == {(code, 429, 1.0)}
        log = fake.request_log
        assert len(log) == 60
        accepted = [record for record in log if record.code == 0]
        assert len(accepted) + len(refused) == 60
        assert {(r.http_status, r.code) for r in log if r.code != 0} == {(429, code)}
        first_second = [record for record in accepted if record.at < log[0].at + 1.0]
        assert len(first_second) <= 20
        assert {record.user_agent for record in log} == {"proc-1", "proc-2"}
        assert fake.rate_limited == len(refused)


async def test_the_limit_counts_both_versions_and_every_connection_together(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeCoreClaw(rate_limit=3) as fake, aiohttp.ClientSession() as other:
        v1 = Api(http, fake)
        v2 = V2(other, fake)
        assert (await v1.post(ACCOUNT_V1)).code == 0
        assert (await v2.get("users/account")).code == 0
        assert (await v1.post(ACCOUNT_V1)).code == 0
        refused_v2 = await v2.get("users/account")
        refused_v1 = await v1.post(ACCOUNT_V1)
        assert (refused_v2.status, refused_v2.code, refused_v2.headers["Retry-After"]) == (429, 13000, "1")
        assert (refused_v1.status, refused_v1.body, refused_v1.headers["Retry-After"]) == (429, LIMIT_V1, "1")
        assert fake.rate_limited == 2
        assert fake.requests == 5


async def test_a_refused_start_creates_nothing_and_does_not_count_toward_the_window(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeCoreClaw(rate_limit=2, run_schedule=(30.0, 30.0)) as fake:
        api = Api(http, fake)
        await api.start_task_run()
        await api.start_task_run()
        for _ in range(5):
            reply = await api.post(TASK_RUN, {"task_slug": fake.task_slugs[0], "callback_url": CALLBACK})
            assert (reply.status, reply.code) == (429, 4290)
        assert len(fake.runs) == 2
        assert fake.rate_limited == 5
        # Lifting the limit accepts at once: refusals left no trace in the window.
        fake.rate_limit = 7
        for _ in range(5):
            await api.start_task_run()
        assert len(fake.runs) == 7
        assert (await api.post(ACCOUNT_V1)).code == 4290


async def test_public_reads_downloads_and_invalid_requests_are_never_limited(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeCoreClaw(rate_limit=1, run_schedule=(0.0, 0.0)) as fake:
        api = Api(http, fake)
        run_slug = await api.start_task_run()
        assert (await api.post(ACCOUNT_V1)).code == 4290
        for _ in range(3):
            assert (await api.get("/api/proxy/region")).code == 0
            assert (await api.post(ACCOUNT_V1, key="wrong")).code == 20001
            assert (await api.post(TASK_RUN, {"task_slug": fake.task_slugs[0]})).code == 4000
        fake.rate_limit = None
        export = await api.post(
            "/api/v1/run/result/export", {"run_slug": run_slug, "filter_keys": [], "format": "json"}
        )
        fake.rate_limit = 1.5  # one per second
        assert (await api.post(ACCOUNT_V1)).code == 0
        for _ in range(2):
            async with http.get(export.data["download_url"]) as resp:
                assert resp.status == 200
        assert (await api.post(ACCOUNT_V1)).code == 4290
        assert fake.rate_limited == 2


async def test_an_injected_fault_answers_first_and_the_limit_does_not_count_it(
    api: Api, fake: FakeCoreClaw
) -> None:
    fake.rate_limit = 1
    fake.inject(Fault.SERVER_ERROR, times=2)
    assert [(await api.post(ACCOUNT_V1)).code for _ in range(2)] == [5000, 5000]
    assert [(await api.post(ACCOUNT_V1)).code for _ in range(2)] == [0, 4290]
    assert fake.rate_limited == 1


async def test_reset_counters_zeroes_rate_limited_and_keeps_the_window(api: Api, fake: FakeCoreClaw) -> None:
    fake.rate_limit = 1
    assert [(await api.post(ACCOUNT_V1)).code for _ in range(3)] == [0, 4290, 4290]
    assert fake.rate_limited == 2
    fake.reset_counters()
    assert fake.rate_limited == 0
    assert (await api.post(ACCOUNT_V1)).code == 4290
    assert fake.stats()["rate_limited"] == 1


@pytest.mark.parametrize("value", [0, 0.5, -1, float("nan"), float("inf"), True, "10"])
def test_a_rate_limit_that_is_not_a_finite_number_of_at_least_one_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="rate_limit"):
        FakeCoreClaw(rate_limit=value)  # type: ignore[arg-type]
    fake = FakeCoreClaw(rate_limit=5)
    with pytest.raises(ValueError, match="rate_limit"):
        fake.rate_limit = value  # type: ignore[assignment]
    assert fake.rate_limit == 5.0
