"""Faults aimed at one client: a rule with ``user_agent`` applies only to requests whose User-Agent has it."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from coreclaw_async import AccountInfo, AsyncCoreClaw, ServerError
from coreclaw_async.testing import FakeCoreClaw, Fault

from .conftest import CALLBACK, Api

ACCOUNT_V1 = "/api/v1/account/info"
TASK_RUN = "/api/v1/task/run"


def client(fake: FakeCoreClaw, user_agent: str) -> AsyncCoreClaw:
    return AsyncCoreClaw(
        fake.api_key, base_url=fake.url, api_version="v1", max_retries=0, user_agent=user_agent
    )


async def test_a_fault_aimed_by_user_agent_hits_only_that_client() -> None:
    async with (
        FakeCoreClaw(record_requests=True) as fake,
        client(fake, "proc-1") as one,
        client(fake, "proc-2") as two,
    ):
        fake.inject(Fault.SERVER_ERROR, times=None, user_agent="proc-2")
        results = await asyncio.gather(*(c.account.info() for c in (one, two) * 5), return_exceptions=True)

        assert [type(result) for result in results] == [AccountInfo, ServerError] * 5
        by_agent = {(r.user_agent, r.code) for r in fake.request_log}
        assert by_agent == {("proc-1", 0), ("proc-2", 5000)}
        assert len(fake.applied_faults) == 5


async def test_the_user_agent_needs_only_to_contain_the_text(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.SERVER_ERROR_AFTER_CREATE, times=None, user_agent="proc-3")
    body = {"task_slug": fake.task_slugs[0], "callback_url": CALLBACK}
    hit = await api.post(TASK_RUN, body, headers={"User-Agent": "worker proc-3 coreclaw-async/1.0"})
    missed = await api.post(TASK_RUN, body, headers={"User-Agent": "worker proc-4"})
    bare = await api.post(TASK_RUN, body)
    assert [reply.code for reply in (hit, missed, bare)] == [5000, 0, 0]
    assert len(fake.runs) == 3, "an after fault acts once the run is created"


async def test_requests_of_other_clients_do_not_use_up_the_rule(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.RATE_LIMIT, times=1, user_agent="proc-2")
    for _ in range(3):
        assert (await api.post(ACCOUNT_V1, headers={"User-Agent": "proc-1"})).code == 0
    assert (await api.post(ACCOUNT_V1, headers={"User-Agent": "proc-2"})).code == 4290
    assert (await api.post(ACCOUNT_V1, headers={"User-Agent": "proc-2"})).code == 0


async def test_user_agent_and_path_must_both_match(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.HTTP_503_HTML, times=None, path=TASK_RUN, user_agent="proc-2")
    assert (await api.post(ACCOUNT_V1, headers={"User-Agent": "proc-2"})).code == 0
    body = {"task_slug": fake.task_slugs[0], "callback_url": CALLBACK}
    assert (await api.post(TASK_RUN, body, headers={"User-Agent": "proc-2"})).status == 503
    assert fake.applied_faults == [(Fault.HTTP_503_HTML, TASK_RUN)]


async def test_a_request_without_user_agent_never_matches_an_aimed_rule(fake: FakeCoreClaw) -> None:
    fake.inject(Fault.SERVER_ERROR, times=None, user_agent="proc")
    async with (
        aiohttp.ClientSession(skip_auto_headers=["User-Agent"]) as http,
        http.post(fake.url + ACCOUNT_V1, headers={"api-key": fake.api_key}) as resp,
    ):
        assert (await resp.json())["code"] == 0


@pytest.mark.parametrize("user_agent", ["", 3])
def test_an_empty_or_non_text_user_agent_is_refused(user_agent: object) -> None:
    with pytest.raises(ValueError, match="user_agent"):
        FakeCoreClaw().inject(Fault.SLOW, user_agent=user_agent)  # type: ignore[arg-type]
