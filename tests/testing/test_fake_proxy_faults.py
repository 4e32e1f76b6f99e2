"""Front-proxy refusals (HTML 4xx pages, no envelope) and the empty-body fault."""

from __future__ import annotations

import pytest

from coreclaw_async.testing import FakeCoreClaw, Fault

from .conftest import CALLBACK, Api, Reply

TASK_RUN = "/api/v1/task/run"
PROXY_REFUSALS = [
    (Fault.HTTP_400_HTML, 400, "400 Bad Request"),
    (Fault.HTTP_405_HTML, 405, "405 Not Allowed"),
    (Fault.HTTP_413_HTML, 413, "413 Request Entity Too Large"),
    (Fault.HTTP_414_HTML, 414, "414 Request-URI Too Large"),
    (Fault.HTTP_431_HTML, 431, "431 Request Header Fields Too Large"),
]


async def start(api: Api) -> Reply:
    return await api.post(TASK_RUN, {"task_slug": api.fake.task_slugs[0], "callback_url": CALLBACK})


@pytest.mark.parametrize(("fault", "status", "title"), PROXY_REFUSALS)
async def test_a_proxy_refusal_answers_an_html_page_without_an_envelope_and_creates_nothing(
    api: Api, fake: FakeCoreClaw, fault: Fault, status: int, title: str
) -> None:
    fake.inject(fault, path=TASK_RUN)
    reply = await start(api)
    assert reply.status == status
    assert reply.headers["Content-Type"] == "text/html"
    text = reply.raw.decode()
    assert text.startswith("<html>")
    assert f"<title>{title}</title>" in text
    assert f"<h1>{title}</h1>" in text
    assert "<center>nginx</center>" in text
    assert '"code"' not in text
    assert fake.runs == []
    assert fake.applied_faults == [(fault, TASK_RUN)]


@pytest.mark.parametrize(("fault", "status", "title"), PROXY_REFUSALS)
async def test_a_proxy_refusal_applies_once_and_the_next_start_goes_through(
    api: Api, fake: FakeCoreClaw, fault: Fault, status: int, title: str
) -> None:
    fake.inject(fault, path=TASK_RUN)
    assert (await start(api)).status == status
    run_slug = (await start(api)).data["run_slug"]
    assert [run.slug for run in fake.runs] == [run_slug]


@pytest.mark.parametrize(
    "fault", [Fault.HTTP_400_HTML, Fault.HTTP_413_HTML, Fault.HTTP_414_HTML, Fault.HTTP_431_HTML]
)
async def test_a_proxy_that_could_not_read_the_request_closes_the_connection(
    api: Api, fake: FakeCoreClaw, fault: Fault
) -> None:
    fake.inject(fault, path=TASK_RUN)
    reply = await start(api)
    assert reply.headers["Connection"].lower() == "close"
    await api.start_task_run()
    assert fake.connections_seen == 2, "the next request needed a new connection"


async def test_a_proxy_refusing_a_method_keeps_the_connection_open(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.HTTP_405_HTML, path=TASK_RUN)
    reply = await start(api)
    assert reply.headers.get("Connection", "keep-alive").lower() != "close"
    await api.start_task_run()
    assert fake.connections_seen == 1


async def test_a_proxy_refusal_carries_retry_after_when_asked(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.HTTP_413_HTML, retry_after=1.5)
    reply = await api.post("/api/v1/account/info")
    assert (reply.status, reply.headers["Retry-After"]) == (413, "1.5")


async def test_a_proxy_refusal_reaches_public_reads_and_is_named_by_string(
    api: Api, fake: FakeCoreClaw
) -> None:
    fake.inject("HTTP_414_HTML", path="/api/store")
    reply = await api.get("/api/store", {"search": "maps" * 50})
    assert reply.status == 414
    assert b"414 Request-URI Too Large" in reply.raw
    assert (await api.get("/api/store", {"search": "maps"})).code == 0


async def test_empty_body_answers_200_with_no_bytes_and_creates_nothing(api: Api, fake: FakeCoreClaw) -> None:
    fake.inject(Fault.EMPTY_BODY, path=TASK_RUN)
    reply = await start(api)
    assert reply.status == 200
    assert reply.raw == b""
    assert reply.headers["Content-Length"] == "0"
    assert fake.runs == []
    assert fake.applied_faults == [(Fault.EMPTY_BODY, TASK_RUN)]
    await api.start_task_run()
    assert len(fake.runs) == 1


async def test_empty_body_answers_before_the_endpoint_so_a_pending_after_fault_waits(
    api: Api, fake: FakeCoreClaw
) -> None:
    fake.inject(Fault.EMPTY_BODY)
    fake.inject(Fault.TRUNCATED)
    assert (await api.post("/api/v1/account/info")).raw == b""
    truncated = await api.post("/api/v1/account/info")
    assert truncated.raw.startswith(b'{"code":0')
    assert [fault for fault, _ in fake.applied_faults] == [Fault.EMPTY_BODY, Fault.TRUNCATED]
