"""What ``client.workers`` puts on the wire (aioresponses): scraper/run bodies, public GETs, validation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aioresponses import aioresponses

from coreclaw_async import (
    AsyncCoreClaw,
    InvalidParameterError,
    StartedRun,
    StoreWorker,
    SystemParameters,
    Worker,
    WorkerInput,
    WorkerRunSync,
)
from coreclaw_async._constants import SYNC_RUN_TIMEOUT

from .conftest import BASE, CALLBACK, KEY, RUN_SLUG, ok, only, sent

RUN_URL = BASE + "/api/v1/scraper/run"
WORKER = "coreclaw/google-maps-scraper"
CUSTOM = {"startURLs": [{"url": "https://example.com"}]}
DEFAULT_SYSTEM = {
    "cpus": 0.125,
    "memory": 512,
    "execute_limit_time_seconds": 1800,
    "max_total_charge": 0.0,
    "max_total_traffic": 0.0,
}
SYNC_DATA = {
    "error_message": "",
    "execution_end_timestamp": 1776943348200,
    "execution_start_timestamp": 1776943336380,
    "result_message": "",
    "results": {"count": 0, "headers": [], "list": [], "page_index": 1, "page_size": 10},
    "run_slug": RUN_SLUG,
    "run_status": "completed",
    "running_duration": 21,
}


async def test_async_run_sends_the_documented_body(client: AsyncCoreClaw, mocked: aioresponses) -> None:
    mocked.post(RUN_URL, body=ok({"run_slug": RUN_SLUG}))

    started = await client.workers.run(WORKER, input=CUSTOM)

    request = only(mocked)
    assert (request.method, request.path) == ("POST", "/api/v1/scraper/run")
    assert request.headers["api-key"] == KEY
    assert request.body == {
        "scraper_slug": WORKER,
        "is_async": True,
        "input": {"parameters": {"system": DEFAULT_SYSTEM, "custom": CUSTOM}},
        "callback_url": CALLBACK,
    }
    assert started == StartedRun(run_slug=RUN_SLUG)


async def test_system_overrides_version_and_region_are_sent(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(RUN_URL, body=ok({"run_slug": RUN_SLUG}))

    await client.workers.run(
        WORKER,
        input=CUSTOM,
        version="v1.0.4",
        cpus=1,
        memory=2048,
        execute_limit_time_seconds=600,
        max_total_charge=1.5,
        max_total_traffic=100,
        proxy_region="DE",
    )

    body = only(mocked).body
    assert body["version"] == "v1.0.4"
    assert body["input"]["parameters"]["system"] == {
        "cpus": 1,
        "memory": 2048,
        "execute_limit_time_seconds": 600,
        "max_total_charge": 1.5,
        "max_total_traffic": 100,
        "proxy_region": "DE",
    }


async def test_keyword_overrides_beat_the_system_model_which_beats_the_input(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(RUN_URL, body=ok({"run_slug": RUN_SLUG}), repeat=True)
    typed = WorkerInput(custom=CUSTOM, system=SystemParameters(memory=4096, cpus=2))

    await client.workers.run(WORKER, input=typed)
    await client.workers.run(WORKER, input=typed, system=SystemParameters(memory=1024))
    await client.workers.run(WORKER, input=typed, system=SystemParameters(memory=1024), memory=8192)

    systems = [r.body["input"]["parameters"]["system"] for r in sent(mocked)]
    assert [(s["memory"], s["cpus"]) for s in systems] == [(4096, 2), (1024, 0.125), (8192, 0.125)]


async def test_a_wire_shaped_input_is_sent_as_is(client: AsyncCoreClaw, mocked: aioresponses) -> None:
    mocked.post(RUN_URL, body=ok({"run_slug": RUN_SLUG}))
    wire = {
        "parameters": {"system": dict(DEFAULT_SYSTEM, memory_bytes=1024, proxy_region="US"), "custom": CUSTOM}
    }
    del wire["parameters"]["system"]["memory"]

    await client.workers.run(WORKER, input=wire)

    assert only(mocked).body["input"] == {
        "parameters": {"system": dict(DEFAULT_SYSTEM, memory=1024, proxy_region="US"), "custom": CUSTOM}
    }


async def test_without_any_callback_url_the_field_is_left_out(mocked: aioresponses) -> None:
    mocked.post(RUN_URL, body=ok({"run_slug": RUN_SLUG}))

    async with AsyncCoreClaw(KEY, base_url=BASE) as bare:
        await bare.workers.run(WORKER, input=CUSTOM)

    assert "callback_url" not in only(mocked).body


async def test_sync_run_sends_the_result_window_and_a_deadline_covering_five_minutes(
    mocked: aioresponses,
) -> None:
    mocked.post(RUN_URL, body=ok(SYNC_DATA))

    async with AsyncCoreClaw(KEY, base_url=BASE, timeout=5) as short:
        result = await short.workers.run(WORKER, input=CUSTOM, is_async=False, page_size=50)

    request = only(mocked)
    assert request.body["is_async"] is False
    assert (request.body["page_index"], request.body["page_size"]) == (1, 50)
    assert request.kwargs["timeout"].total > SYNC_RUN_TIMEOUT - 1
    assert isinstance(result, WorkerRunSync)
    assert result.is_finished


async def test_sync_run_defaults_to_the_first_ten_rows(client: AsyncCoreClaw, mocked: aioresponses) -> None:
    mocked.post(RUN_URL, body=ok(dict(SYNC_DATA, run_status="running")))

    result = await client.workers.run(WORKER, input=CUSTOM, is_async=False)

    assert (only(mocked).body["page_index"], only(mocked).body["page_size"]) == (1, 10)
    assert not result.is_finished


async def test_a_sync_answer_without_a_status_is_not_finished(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    # The only success body CoreClaw documents for scraper/run carries the slug alone.
    mocked.post(RUN_URL, body=ok({"run_slug": RUN_SLUG}))

    result = await client.workers.run(WORKER, input=CUSTOM, is_async=False)

    assert isinstance(result, WorkerRunSync)
    assert result.run_slug == RUN_SLUG
    assert not result.is_finished  # nothing says so: wait for it with runs.wait


@pytest.mark.parametrize(
    ("data", "finished"),
    [
        ({"run_status": "completed"}, True),
        ({"run_status": "succeeded"}, True),
        ({"run_status": "FAILED"}, True),
        ({"run_status": "running"}, False),
        ({"run_status": "ready"}, False),
        ({"run_status": "aborting"}, False),
        ({"run_status": "something-new"}, False),
        ({"run_status": "running", "is_finished": True}, True),
        ({"run_status": "succeeded", "is_finished": False}, False),
        ({"is_finished": True}, True),
    ],
)
async def test_a_sync_answer_is_finished_only_when_a_status_or_flag_says_so(
    client: AsyncCoreClaw, mocked: aioresponses, data: dict[str, Any], finished: bool
) -> None:
    mocked.post(RUN_URL, body=ok(dict(data, run_slug=RUN_SLUG)))

    result = await client.workers.run(WORKER, input=CUSTOM, is_async=False)

    assert result.is_finished is finished


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"scraper_slug": ""}, "scraper_slug"),
        ({"input": ["not", "a", "mapping"]}, "input"),
        ({"input": {"when": object()}}, "input"),
        ({"memory": 768}, "memory"),
        ({"cpus": 0}, "cpus"),
        ({"execute_limit_time_seconds": 0}, "execute_limit_time_seconds"),
        ({"max_total_charge": -1}, "max_total_charge"),
        ({"proxy_region": "us"}, "proxy_region"),
        ({"callback_url": "not a url"}, "callback_url"),
        ({"version": " "}, "version"),
        ({"page_size": 10}, "page_index"),
        ({"is_async": False, "page_size": 1001}, "page_size"),
        ({"is_async": False, "page_index": 0}, "page_index"),
        ({"is_async": "yes"}, "is_async"),
    ],
)
async def test_run_rejects_bad_arguments_before_sending(
    client: AsyncCoreClaw, mocked: aioresponses, kwargs: dict[str, Any], field: str
) -> None:
    arguments: dict[str, Any] = {"scraper_slug": WORKER, "input": CUSTOM, **kwargs}

    with pytest.raises(InvalidParameterError) as caught:
        await client.workers.run(arguments.pop("scraper_slug"), **arguments)

    assert caught.value.field == field
    assert sent(mocked) == []


async def test_abort_posts_to_scraper_abort(client: AsyncCoreClaw, mocked: aioresponses) -> None:
    mocked.post(BASE + "/api/v1/scraper/abort", body=ok(None))

    assert await client.workers.abort(RUN_SLUG) is None

    assert only(mocked).body == {"run_slug": RUN_SLUG}


async def test_get_is_a_public_get_with_the_slug_in_the_query(mocked: aioresponses) -> None:
    mocked.get(re.compile(re.escape(BASE + "/api/scraper") + r"\?.*"), body=ok({"version": "v1.0.5"}))

    async with AsyncCoreClaw(base_url=BASE) as anonymous:
        worker = await anonymous.workers.get(WORKER)

    request = only(mocked)
    assert (request.method, request.path) == ("GET", "/api/scraper")
    assert request.params == {"slug": WORKER}
    assert request.raw is None
    assert "api-key" not in request.headers
    assert isinstance(worker, Worker)
    assert worker.version == "v1.0.5"


async def test_search_is_a_public_get_with_search_and_limit(mocked: aioresponses) -> None:
    found = {"scraper": [{"slug": "01KBHMS6A8H6A3K5FJY11MQ99Z", "title": "Amazon", "description": "d"}]}
    mocked.get(re.compile(re.escape(BASE + "/api/store") + r"\?.*"), body=ok(found), repeat=True)

    async with AsyncCoreClaw(base_url=BASE) as anonymous:
        workers = await anonymous.workers.search("  amazon ")
        await anonymous.workers.search("maps", limit=3)

    first, second = sent(mocked)
    assert first.path == "/api/store"
    assert first.params == {"search": "amazon", "limit": 10}
    assert second.params == {"search": "maps", "limit": 3}
    assert workers == [StoreWorker(slug="01KBHMS6A8H6A3K5FJY11MQ99Z", title="Amazon", description="d")]


@pytest.mark.parametrize(
    ("query", "limit", "field"), [("", 10, "query"), ("   ", 10, "query"), ("x", 0, "limit")]
)
async def test_search_rejects_a_blank_query_or_bad_limit_before_sending(
    client: AsyncCoreClaw, mocked: aioresponses, query: str, limit: int, field: str
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        await client.workers.search(query, limit=limit)

    assert caught.value.field == field
    assert sent(mocked) == []


def test_prepare_builds_the_request_without_sending(client: AsyncCoreClaw) -> None:
    request = client.workers.prepare(WORKER, input=CUSTOM, is_async=False, proxy_region="JP")

    assert request.is_async is False
    assert (request.page_index, request.page_size) == (1, 10)
    assert request.input.system.proxy_region == "JP"
    assert request.callback_url == CALLBACK
