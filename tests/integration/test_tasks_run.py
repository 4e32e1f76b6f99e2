"""tasks.run over real loopback HTTP against FakeCoreClaw."""

from __future__ import annotations

import asyncio
import gc
import warnings

import aiohttp
import pytest

from coreclaw_async import (
    AsyncCoreClaw,
    AuthenticationError,
    CoreClawError,
    InvalidParameterError,
    RateLimitError,
    ResponseDecodeError,
    RunStartUnknownError,
    StartedRun,
    TaskNotFoundError,
)
from coreclaw_async.testing import FakeCoreClaw, Fault, is_ulid

from ..conftest import CALLBACK_URL
from .support import Paths, client_for


async def test_run_returns_the_run_slug_the_fake_recorded(client: AsyncCoreClaw, fake: FakeCoreClaw) -> None:
    run = await client.tasks.run(fake.task_slugs[0])

    assert isinstance(run, StartedRun)
    assert is_ulid(run.run_slug)
    assert [(r.slug, r.task_slug, r.callback_url) for r in fake.runs] == [
        (run.run_slug, fake.task_slugs[0], CALLBACK_URL)
    ]


async def test_per_call_callback_url_overrides_the_client_default(
    client: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    await client.tasks.run(fake.task_slugs[0], callback_url="https://other.example.com/h")

    assert fake.runs[0].callback_url == "https://other.example.com/h"


async def test_unknown_task_raises_task_not_found_and_creates_nothing(
    client: AsyncCoreClaw, fake: FakeCoreClaw, paths: Paths
) -> None:
    with pytest.raises(TaskNotFoundError) as info:
        await client.tasks.run("01KSFDXRNYGKT3NNE11EMR4W5X")

    assert info.value.code == 60001
    assert info.value.http_status == 404
    assert info.value.outcome == "rejected"
    expected_path = paths.path("task_run", task="01KSFDXRNYGKT3NNE11EMR4W5X")
    assert (info.value.method, info.value.path) == ("POST", expected_path)
    assert fake.runs == []


async def test_task_of_another_user_raises_authentication_error(
    client: AsyncCoreClaw, fake: FakeCoreClaw, api_version: str
) -> None:
    foreign = fake.add_task(foreign=True)
    # v1 says "not yours" (4010); v2 has no such code and answers "task does not exist" (60001).
    expected = {"v1": (AuthenticationError, 4010), "v2": (TaskNotFoundError, 60001)}[api_version]

    with pytest.raises(expected[0]) as info:
        await client.tasks.run(foreign)

    assert info.value.code == expected[1]
    assert fake.runs == []


async def test_wrong_api_key_raises_authentication_error_without_leaking_the_key(
    fake: FakeCoreClaw, api_version: str
) -> None:
    bad_key = "scraper_api_this_key_is_wrong_123456"
    async with client_for(fake, api_key=bad_key) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.tasks.run(fake.task_slugs[0])

    assert info.value.code == {"v1": 20001, "v2": 12002}[api_version]
    assert bad_key not in str(info.value) + repr(info.value) + (info.value.body or "")
    assert bad_key not in repr(client)


async def test_missing_api_key_fails_at_the_first_call_and_sends_nothing(
    fake: FakeCoreClaw, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CORECLAW_API_KEY", raising=False)
    client = client_for(fake, api_key=None)  # no error here
    async with client:
        with pytest.raises(AuthenticationError) as info:
            await client.tasks.run(fake.task_slugs[0])

    assert info.value.outcome == "not_sent"
    assert "CORECLAW_API_KEY" in str(info.value)
    assert fake.requests == 0


@pytest.mark.parametrize(
    ("task_slug", "callback_url", "field"),
    [
        ("", CALLBACK_URL, "task_slug"),
        ("   ", CALLBACK_URL, "task_slug"),
        ("01KSFDXRNYGKT3NNE11EMR4W5X", "/relative/hook", "callback_url"),
        ("01KSFDXRNYGKT3NNE11EMR4W5X", "ftp://example.com/hook", "callback_url"),
        ("01KSFDXRNYGKT3NNE11EMR4W5X", "https://", "callback_url"),
    ],
)
async def test_bad_input_is_rejected_before_sending(
    client: AsyncCoreClaw, fake: FakeCoreClaw, task_slug: str, callback_url: str, field: str
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        await client.tasks.run(task_slug, callback_url=callback_url)

    assert isinstance(info.value, ValueError)
    assert info.value.field == field
    assert field in str(info.value)
    assert fake.requests == 0
    assert fake.runs == []


async def test_missing_callback_url_is_rejected_before_sending_on_v1_and_not_needed_on_v2(
    fake: FakeCoreClaw, api_version: str
) -> None:
    async with client_for(fake, callback_url=None) as client:
        if api_version == "v1":  # POST /api/v1/task/run refuses a start without one
            with pytest.raises(InvalidParameterError, match="callback_url"):
                await client.tasks.run(fake.task_slugs[0])
            assert fake.requests == 0
            return
        run = await client.tasks.run(fake.task_slugs[0])

    assert [(r.slug, r.callback_url) for r in fake.runs] == [(run.run_slug, None)]
    assert fake.requests == 1


async def test_rate_limited_start_is_retried_after_retry_after_and_starts_once(
    client: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    fake.inject(Fault.RATE_LIMIT, times=2, retry_after=0.01)

    run = await client.tasks.run(fake.task_slugs[0])

    assert [r.slug for r in fake.runs] == [run.run_slug]
    assert client.stats.retries == {"rate_limited": 2}
    assert client.stats.rate_limited == 2


async def test_rate_limit_beyond_max_retries_raises_rate_limit_error(
    fake: FakeCoreClaw,
) -> None:
    fake.inject(Fault.RATE_LIMIT, times=None, retry_after=0.01)
    async with client_for(fake, max_retries=1) as client:
        with pytest.raises(RateLimitError) as info:
            await client.tasks.run(fake.task_slugs[0])

    assert info.value.attempts == 2
    assert info.value.retry_after == pytest.approx(0.01)
    assert info.value.http_status == 429
    assert fake.runs == []


@pytest.mark.parametrize(
    "fault",
    [Fault.DROP_BEFORE_CREATE, Fault.DROP_AFTER_CREATE, Fault.HTTP_502_HTML, Fault.SERVER_ERROR_AFTER_CREATE],
)
async def test_start_with_unknown_outcome_is_never_resent(
    client: AsyncCoreClaw, fake: FakeCoreClaw, fault: Fault
) -> None:
    fake.inject(fault, times=1)

    with pytest.raises(RunStartUnknownError) as info:
        await client.tasks.run(fake.task_slugs[0])

    assert info.value.outcome == "unknown"
    assert info.value.sent is None
    assert info.value.request.task_slug == fake.task_slugs[0]
    assert isinstance(info.value.__cause__, CoreClawError)
    assert fake.requests == 1  # exactly one attempt went out
    assert len(fake.runs) <= 1
    assert client.stats.unknown_outcomes == 1


async def test_html_502_on_a_start_keeps_the_decode_error_as_cause(
    client: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    fake.inject(Fault.HTTP_502_HTML, times=1)

    with pytest.raises(RunStartUnknownError) as info:
        await client.tasks.run(fake.task_slugs[0])

    cause = info.value.__cause__
    assert isinstance(cause, ResponseDecodeError)
    assert cause.http_status == 502
    assert cause.body is not None
    assert "<html" in cause.body.lower()


async def test_control_characters_in_the_body_are_decoded(client: AsyncCoreClaw, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.CONTROL_CHARS, times=1)

    run = await client.tasks.run(fake.task_slugs[0])

    assert run.run_slug.strip("\x00\x01\x02\x03\x1f\t\n") == fake.runs[0].slug


async def test_connection_refused_is_not_sent_and_retried(unused_tcp_port: int) -> None:
    async with AsyncCoreClaw(
        "scraper_api_key_for_tests",
        base_url=f"http://127.0.0.1:{unused_tcp_port}",
        callback_url=CALLBACK_URL,
        max_retries=2,
        timeout=5,
    ) as client:
        with pytest.raises(CoreClawError) as info:
            await client.tasks.run("01KSFDXRNYGKT3NNE11EMR4W5X")

    assert not isinstance(info.value, RunStartUnknownError)
    assert info.value.outcome == "not_sent"
    assert info.value.attempts == 3
    assert client.stats.retries == {"not_sent": 2}


async def test_thousand_concurrent_runs_share_at_most_max_connections(fake: FakeCoreClaw) -> None:
    async with client_for(fake, max_connections=20) as client:
        runs = await asyncio.gather(*(client.tasks.run(fake.task_slugs[i % 3]) for i in range(1000)))

    assert len({r.run_slug for r in runs}) == 1000
    assert {r.slug for r in fake.runs} == {r.run_slug for r in runs}
    assert fake.connections_seen <= 20
    assert fake.max_open_connections <= 20


async def test_closing_leaves_no_unclosed_session_or_pending_task(fake: FakeCoreClaw) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = client_for(fake)
        await asyncio.gather(*(client.tasks.run(fake.task_slugs[0]) for _ in range(50)))
        await client.aclose()
        await client.aclose()  # idempotent
        del client
        gc.collect()
        await asyncio.sleep(0)

    assert not [w for w in caught if "nclosed" in str(w.message)]
    ours = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert ours == []
    await asyncio.sleep(0.05)
    assert fake.open_connections == 0


async def test_a_closed_client_refuses_calls(fake: FakeCoreClaw) -> None:
    client = client_for(fake)
    await client.aclose()

    with pytest.raises(CoreClawError, match="closed"):
        await client.tasks.run(fake.task_slugs[0])
    assert client.closed


async def test_user_supplied_session_is_used_and_stays_open(fake: FakeCoreClaw, paths: Paths) -> None:
    async with aiohttp.ClientSession() as session:
        async with client_for(fake, session=session) as client:
            run = await client.tasks.run(fake.task_slugs[0])

        assert not session.closed
        assert fake.runs[0].slug == run.run_slug
        # The session still works for the caller's own requests.
        async with session.get(fake.url + paths.path("proxy_regions")) as resp:
            assert resp.status == 200


async def test_cancelled_run_releases_its_slot_and_reraises(fake: FakeCoreClaw) -> None:
    fake.inject(Fault.SLOW, times=1, delay=5.0)
    async with client_for(fake, max_connections=1) as client:
        task = asyncio.ensure_future(client.tasks.run(fake.task_slugs[0]))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert client.stats.in_flight == 0
        # The single slot is free again: the next call goes through.
        run = await client.tasks.run(fake.task_slugs[0])
    assert run.run_slug == fake.runs[-1].slug
