"""Injected faults on v2 paths (answered in v2 terms) and callbacks of runs started on v2."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from coreclaw_async.testing import FakeCoreClaw, Fault

from .conftest import MAPS_V2, V2, V2_INPUT

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "api-examples"
RUN = f"/api/v2/workers/{MAPS_V2}/runs"


@pytest.mark.parametrize(
    ("fault", "status", "code", "message"),
    [
        (Fault.RATE_LIMIT, 429, 13000, "too many requests"),
        (Fault.RATE_LIMIT_V2, 429, 13000, "too many requests"),
        (Fault.CONCURRENCY_LIMIT, 429, 30003, "the current running tasks have reached the plan limit"),
        (Fault.SERVER_ERROR, 500, 10000, "internal server error"),
    ],
)
async def test_envelope_faults_answer_v2_envelopes_and_create_nothing(
    v2: V2, fault: Fault, status: int, code: int, message: str
) -> None:
    v2.fake.inject(fault, path=RUN)
    reply = await v2.post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT})
    assert reply.status == status
    assert set(reply.body) == {"code", "message", "request_id"}
    assert (reply.body["code"], reply.body["message"]) == (code, message)
    assert v2.fake.runs == []
    assert v2.fake.applied_faults == [(fault, RUN)]
    await v2.start()
    assert len(v2.fake.runs) == 1, "the fault applied once only"


async def test_a_rate_limit_on_v2_carries_retry_after_when_asked(v2: V2) -> None:
    v2.fake.inject(Fault.RATE_LIMIT, retry_after=1.5)
    reply = await v2.get("users/account")
    assert (reply.status, reply.code, reply.headers["Retry-After"]) == (429, 13000, "1.5")


async def test_a_rate_limit_keeps_its_documented_429_in_always_200_mode(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(http_status_mode="always_200") as fake:
        fake.inject(Fault.RATE_LIMIT)
        reply = await V2(http, fake).get("users/account")
        assert (reply.status, reply.code) == (429, 13000)


async def test_a_fault_path_is_the_concrete_path_with_its_ids(v2: V2) -> None:
    run_slug = await v2.start()
    v2.fake.inject(Fault.SERVER_ERROR, path=f"/api/v2/worker-runs/{run_slug}", times=None)
    assert (await v2.get(f"worker-runs/{run_slug}")).code == 10000
    assert (await v2.get(f"worker-runs/{run_slug}/log")).code == 0
    v2.fake.clear_faults()
    v2.fake.inject(Fault.SERVER_ERROR, path="/api/v2/worker-runs/*", times=None)
    assert (await v2.get(f"worker-runs/{run_slug}/result")).code == 10000
    assert (await v2.get("worker-runs/last")).code == 10000
    assert (await v2.get("worker-tasks")).code == 0
    assert (await v2.post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT})).code == 0


async def test_a_fault_without_a_path_hits_v2_and_public_endpoints_too(v2: V2) -> None:
    v2.fake.inject(Fault.SERVER_ERROR, times=2)
    assert (await v2.get("store", key=False)).code == 10000
    assert (await v2.get(f"workers/{MAPS_V2}/input-schema", key=False)).code == 10000
    assert (await v2.get("store", key=False)).code == 0


async def test_faults_skip_requests_that_fail_authentication_or_validation(v2: V2) -> None:
    v2.fake.inject(Fault.SERVER_ERROR)
    assert (await v2.get("users/account", key=False)).code == 12001
    assert (await v2.post(f"workers/{MAPS_V2}/runs", {})).code == 11000
    assert (await v2.get("users/account")).code == 10000


async def test_server_error_after_create_leaves_a_run_behind_on_v2(v2: V2) -> None:
    v2.fake.inject(Fault.SERVER_ERROR_AFTER_CREATE, path=RUN)
    reply = await v2.post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT})
    assert (reply.status, reply.code) == (500, 10000)
    assert len(v2.fake.runs) == 1


async def test_slug_only_keeps_just_the_run_slug_of_a_sync_v2_answer(v2: V2) -> None:
    v2.fake.inject(Fault.SLUG_ONLY, path=RUN)
    reply = await v2.post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT, "is_async": False})
    [run] = v2.fake.runs
    assert reply.data == {"run_slug": run.slug}
    assert set(reply.body) == {"code", "message", "request_id", "data"}


async def test_control_chars_and_truncation_mangle_the_v2_success_body(v2: V2) -> None:
    v2.fake.inject(Fault.CONTROL_CHARS)
    mangled = await v2.get("users/account")
    assert b'"message":"success\x01\t\n"' in mangled.raw
    assert json.loads(mangled.raw, strict=False)["request_id"]
    v2.fake.inject(Fault.TRUNCATED)
    cut = await v2.get("users/account")
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.raw)


@pytest.mark.parametrize(("fault", "status"), [(Fault.HTTP_502_HTML, 502), (Fault.HTTP_413_HTML, 413)])
async def test_proxy_pages_answer_v2_requests_with_html(v2: V2, fault: Fault, status: int) -> None:
    v2.fake.inject(fault)
    reply = await v2.post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT})
    assert reply.status == status
    assert reply.headers["Content-Type"] == "text/html"
    assert v2.fake.runs == []


async def test_dropped_connections_on_v2_create_nothing_before_and_a_run_after(v2: V2) -> None:
    v2.fake.inject(Fault.DROP_BEFORE_CREATE, path=RUN)
    with pytest.raises(aiohttp.ClientError):
        await v2.post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT})
    assert v2.fake.runs == []
    v2.fake.inject(Fault.DROP_AFTER_CREATE, path=RUN)
    with pytest.raises(aiohttp.ClientError):
        await v2.post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT})
    assert len(v2.fake.runs) == 1


# ---------------------------------------------------------------------------------- callbacks


class Receiver:
    """Records every notice POSTed to it."""

    def __init__(self) -> None:
        self.notices: list[dict[str, Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.notices.append(json.loads(await request.read()))
        return web.Response()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hook", found.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield found
    await runner.cleanup()


async def test_runs_started_on_v2_deliver_the_same_callbacks_as_v1(v2: V2, receiver: Receiver) -> None:
    documented = set(json.loads((EXAMPLES / "callback_succeeded.json").read_text()))
    worker_run = await v2.start(callback_url=receiver.url)
    task = await v2.create_task()
    task_run = (await v2.post(f"worker-tasks/{task}/runs", {"callback_url": receiver.url})).data["run_slug"]
    rerun = (await v2.post(f"worker-runs/{worker_run}/rerun", {"callback_url": receiver.url})).data[
        "run_slug"
    ]
    ref = (
        await v2.post(f"workers/{MAPS_V2}/queued-runs", {"input": V2_INPUT, "callback_url": receiver.url})
    ).data
    await v2.post("run-queue/items/activate", {"queue_refs": [ref["queue_ref"]]})
    [queued_run] = [item.run_slug for item in v2.fake.queue_items]
    await v2.fake.drain_callbacks(timeout=5)
    finals = {
        notice["run_slug"]: notice for notice in receiver.notices if notice["run_status"] == "succeeded"
    }
    assert set(finals) == {worker_run, task_run, rerun, queued_run}
    assert all(set(notice) == documented for notice in receiver.notices)
    assert {notice["run_status"] for notice in receiver.notices} == {"running", "succeeded"}
