"""Injected faults: what each one answers, what it creates, and how rules are consumed."""

from __future__ import annotations

import json
import logging
import time

import aiohttp
import orjson
import pytest

from coreclaw_async.testing import FakeCoreClaw, Fault

from .conftest import CALLBACK, Api

TASK_RUN = "/api/v1/task/run"


async def start(api: Api) -> aiohttp.ClientResponse:
    body = {"task_slug": api.fake.task_slugs[0], "callback_url": CALLBACK}
    async with api.http.post(
        api.fake.url + TASK_RUN, json=body, headers={"api-key": api.fake.api_key}
    ) as resp:
        await resp.read()
        return resp


@pytest.mark.parametrize(
    ("fault", "status", "code", "message"),
    [
        (Fault.RATE_LIMIT, 429, 4290, "Too many requests, please try again later"),
        (Fault.RATE_LIMIT_V2, 429, 13000, "too many requests"),
        (
            Fault.CONCURRENCY_LIMIT,
            200,
            30003,
            "the current running tasks have reached the plan limit",
        ),
        (Fault.SERVER_ERROR, 500, 5000, "Network error, try again"),
    ],
)
async def test_envelope_faults_answer_the_error_and_create_nothing(
    api: Api, fake: FakeCoreClaw, fault: Fault, status: int, code: int, message: str
) -> None:
    fake.inject(fault, path=TASK_RUN)
    reply = await api.post(TASK_RUN, {"task_slug": fake.task_slugs[0], "callback_url": CALLBACK})
    assert reply.status == status
    assert reply.body == {"code": code, "message": message, "data": None}
    assert "Retry-After" not in reply.headers
    assert fake.runs == []
    assert fake.applied_faults == [(fault, TASK_RUN)]
    await api.start_task_run()
    assert len(fake.runs) == 1, "the fault applied once only"


@pytest.mark.parametrize(("retry_after", "header"), [(0.2, "0.2"), (2, "2"), (1.5, "1.5")])
async def test_rate_limit_sends_retry_after_when_asked(
    api: Api, fake: FakeCoreClaw, retry_after: float, header: str
) -> None:
    fake.inject(Fault.RATE_LIMIT, retry_after=retry_after)
    reply = await api.post("/api/v1/account/info")
    assert reply.headers["Retry-After"] == header


async def test_rate_limit_in_always_200_mode(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(http_status_mode="always_200") as fake:
        fake.inject("RATE_LIMIT")
        reply = await Api(http, fake).post("/api/v1/account/info")
        assert (reply.status, reply.code) == (200, 4290)


@pytest.mark.parametrize(
    ("fault", "status"),
    [(Fault.HTTP_502_HTML, 502), (Fault.HTTP_503_HTML, 503), (Fault.HTTP_504_HTML, 504)],
)
async def test_html_faults_answer_an_nginx_page(
    api: Api, fake: FakeCoreClaw, fault: Fault, status: int
) -> None:
    fake.inject(fault)
    reply = await api.post(TASK_RUN, {"task_slug": fake.task_slugs[0], "callback_url": CALLBACK})
    assert reply.status == status
    assert reply.headers["Content-Type"] == "text/html"
    text = reply.raw.decode()
    assert text.startswith("<html>")
    assert f"<h1>{status} " in text
    assert "nginx" in text
    assert fake.runs == []


async def test_server_error_after_create_creates_the_run(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.SERVER_ERROR_AFTER_CREATE, path=TASK_RUN)
    reply = await api.post(TASK_RUN, {"task_slug": fake.task_slugs[0], "callback_url": CALLBACK})
    assert (reply.status, reply.code) == (500, 5000)
    assert len(fake.runs) == 1


@pytest.mark.parametrize(("fault", "created"), [(Fault.DROP_BEFORE_CREATE, 0), (Fault.DROP_AFTER_CREATE, 1)])
async def test_drops_close_the_connection_without_an_answer(
    api: Api, fake: FakeCoreClaw, caplog: pytest.LogCaptureFixture, fault: Fault, created: int
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.inject(fault, path=TASK_RUN)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await start(api)
    assert len(fake.runs) == created
    # The server keeps working and logged nothing at ERROR.
    await api.start_task_run()
    assert len(fake.runs) == created + 1
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_slow_delays_then_handles_normally(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.SLOW, delay=0.2, path=TASK_RUN)
    started = time.monotonic()
    await api.start_task_run()
    assert time.monotonic() - started >= 0.2
    assert len(fake.runs) == 1
    assert fake.runs[0].created_at - started >= 0.2, "the run is created after the sleep"


async def test_delay_applies_to_any_fault(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.RATE_LIMIT, delay=0.15)
    started = time.monotonic()
    reply = await api.post("/api/v1/account/info")
    assert reply.code == 4290
    assert time.monotonic() - started >= 0.15


async def test_control_chars_break_strict_parsers_only(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.CONTROL_CHARS, path=TASK_RUN)
    reply = await api.post(TASK_RUN, {"task_slug": fake.task_slugs[0], "callback_url": CALLBACK})
    assert reply.status == 200
    assert b"\x01" in reply.raw
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.raw)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(reply.raw)
    body = json.loads(reply.raw, strict=False)
    assert body["code"] == 0
    assert body["data"]["run_slug"] == fake.runs[0].slug


async def test_truncated_body_is_half_a_valid_envelope(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.TRUNCATED, path="/api/proxy/region")
    reply = await api.get("/api/proxy/region")
    assert reply.status == 200
    assert int(reply.headers["Content-Length"]) == len(reply.raw)
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.raw)
    full = await api.get("/api/proxy/region")
    assert full.code == 0
    assert full.raw[: len(full.raw) // 2] == reply.raw


async def test_truncated_start_still_creates_the_run(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.TRUNCATED, path=TASK_RUN)
    reply = await api.post(TASK_RUN, {"task_slug": fake.task_slugs[0], "callback_url": CALLBACK})
    assert reply.raw.startswith(b'{"code":0')
    assert len(fake.runs) == 1


async def test_not_envelope_answers_other_json(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.NOT_ENVELOPE, path=TASK_RUN)
    reply = await api.post(TASK_RUN, {"task_slug": fake.task_slugs[0], "callback_url": CALLBACK})
    assert reply.status == 200
    assert reply.body == {"ok": True}
    assert fake.runs == []


async def test_times_counts_applications(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.SERVER_ERROR, times=2)
    codes = [(await api.post("/api/v1/account/info")).code for _ in range(3)]
    assert codes == [5000, 5000, 0]


async def test_unlimited_faults_last_until_cleared(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.RATE_LIMIT, times=None)
    codes = [(await api.post("/api/v1/account/info")).code for _ in range(4)]
    assert codes == [4290] * 4
    fake.clear_faults()
    assert (await api.post("/api/v1/account/info")).code == 0


async def test_path_filters_exact_and_prefix(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.SERVER_ERROR, path="/api/v1/run/*", times=None)
    assert (await api.post("/api/v1/account/info")).code == 0
    run_slug = await api.start_task_run()
    assert (await api.post("/api/v1/run/detail", {"run_slug": run_slug})).code == 5000
    assert (await api.post("/api/v1/run/list", {})).code == 5000


async def test_faults_skip_unauthenticated_and_invalid_requests(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.RATE_LIMIT, path=TASK_RUN)
    assert (await api.post(TASK_RUN, {}, key=False)).code == 4010
    assert (await api.post(TASK_RUN, {}, key="wrong")).code == 20001
    assert (await api.post(TASK_RUN, {"task_slug": "x"})).code == 4000
    reply = await api.post(TASK_RUN, {"task_slug": fake.task_slugs[0], "callback_url": CALLBACK})
    assert reply.code == 4290


async def test_after_faults_apply_only_to_successful_handling(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.DROP_AFTER_CREATE, path=TASK_RUN)
    missing = await api.post(TASK_RUN, {"task_slug": "01KSFDXRNYGKT3NNE11EMR4W5X", "callback_url": CALLBACK})
    assert missing.code == 60001
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await start(api)
    assert len(fake.runs) == 1


async def test_faults_reach_public_endpoints(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.HTTP_503_HTML, path="/api/store")
    assert (await api.get("/api/store", {"search": "maps"})).status == 503
    fake.inject(Fault.RATE_LIMIT)
    assert (await api.get("/api/proxy/region")).code == 4290
    fake.inject(Fault.NOT_ENVELOPE)
    assert (await api.get("/api/scraper", {"slug": "coreclaw/google-maps-scraper"})).body == {"ok": True}


async def test_file_downloads_see_faults_only_when_targeted(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(run_schedule=(0, 0)) as fake:
        api = Api(http, fake)
        run_slug = await api.start_task_run()
        fake.inject(Fault.SERVER_ERROR, times=None)
        assert (await api.get(f"/files/log/{run_slug}")).status == 200
        fake.clear_faults()
        fake.inject(Fault.HTTP_502_HTML, path="/files/*")
        assert (await api.get(f"/files/log/{run_slug}")).status == 502


async def test_probability_uses_the_seeded_rng(http: aiohttp.ClientSession) -> None:
    async def pattern(seed: int) -> list[int]:
        async with FakeCoreClaw(seed=seed) as fake:
            fake.inject(Fault.SERVER_ERROR, times=None, probability=0.5)
            api = Api(http, fake)
            return [(await api.post("/api/v1/account/info")).code for _ in range(30)]

    first = await pattern(7)
    assert first == await pattern(7)
    assert 0 < first.count(5000) < 30


async def test_rules_apply_in_injection_order(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.RATE_LIMIT)
    fake.inject(Fault.SERVER_ERROR)
    codes = [(await api.post("/api/v1/account/info")).code for _ in range(3)]
    assert codes == [4290, 5000, 0]
    assert [fault for fault, _ in fake.applied_faults] == [Fault.RATE_LIMIT, Fault.SERVER_ERROR]


async def test_a_before_and_an_after_fault_can_share_a_request(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.SLOW, delay=0.05)
    fake.inject(Fault.SERVER_ERROR_AFTER_CREATE)
    assert (await api.post("/api/v1/account/info")).code == 5000
    assert [fault for fault, _ in fake.applied_faults] == [
        Fault.SLOW,
        Fault.SERVER_ERROR_AFTER_CREATE,
    ]


def test_inject_validates_its_arguments() -> None:
    fake = FakeCoreClaw()
    with pytest.raises(ValueError, match="no_such_fault"):
        fake.inject("no_such_fault")
    with pytest.raises(ValueError, match="times"):
        fake.inject(Fault.SLOW, times=0)
    with pytest.raises(ValueError, match="probability"):
        fake.inject(Fault.SLOW, probability=1.5)
    with pytest.raises(ValueError, match="delay"):
        fake.inject(Fault.SLOW, delay=-1)
    fake.inject("drop_after_create")
    fake.inject("HTTP_502_HTML")
