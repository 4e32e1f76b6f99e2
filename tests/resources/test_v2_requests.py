"""What a v2 client puts on the wire for every operation (aioresponses): paths, query, body, Bearer."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import pytest
from aioresponses import aioresponses

from coreclaw_async import (
    AsyncCoreClaw,
    InvalidParameterError,
    RunStatus,
    Schedule,
    UnsupportedOperationError,
)

from .conftest import BASE, KEY, RUN_SLUG, only, sent

TASK = "01KSFDXRNYGKT3NNE11EMR4W5X"
WORKER = "coreclaw/google-maps-scraper"
RUN = {"slug": RUN_SLUG, "status": "succeeded", "started_at": 1782091200, "finished_at": 1782091210}
ANY_QUERY = r"(\?.*)?$"


def ok(data: Any = None, *, with_data: bool = True) -> bytes:
    body: dict[str, Any] = {"code": 0, "message": "success", "request_id": "req-7"}
    if with_data:
        body["data"] = data
    return json.dumps(body).encode()


def url(path: str) -> re.Pattern[str]:
    return re.compile(re.escape(BASE + path) + ANY_QUERY)


@pytest.fixture
async def v2() -> AsyncIterator[AsyncCoreClaw]:
    async with AsyncCoreClaw(KEY, base_url=BASE, api_version="v2") as c:
        yield c


def _params(request: Any) -> dict[str, str]:
    return {key: str(value) for key, value in (request.params or {}).items()}


async def test_every_v2_request_carries_the_key_as_a_bearer_token_only(
    v2: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.get(url(f"/api/v2/worker-runs/{RUN_SLUG}"), body=ok(RUN))

    await v2.runs.get(RUN_SLUG)

    request = only(mocked)
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert "api-key" not in request.headers


async def test_a_task_start_posts_to_the_task_path_without_a_callback_url(
    v2: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(url(f"/api/v2/worker-tasks/{TASK}/runs"), body=ok({"run_slug": RUN_SLUG}))

    started = await v2.tasks.run(TASK)

    request = only(mocked)
    assert (request.method, request.path) == ("POST", f"/api/v2/worker-tasks/{TASK}/runs")
    assert request.body == {}
    assert started.run_slug == RUN_SLUG
    assert started.request_id == "req-7"


async def test_a_worker_id_with_a_slash_is_written_with_a_tilde_in_the_path(
    v2: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(url("/api/v2/workers/coreclaw~google-maps-scraper/runs"), body=ok({"run_slug": RUN_SLUG}))

    await v2.workers.run(WORKER, input={"searchTerms": ["tea"]})

    request = only(mocked)
    assert request.path == "/api/v2/workers/coreclaw~google-maps-scraper/runs"
    assert request.body["is_async"] is True
    assert request.body["input"]["parameters"]["custom"] == {"searchTerms": ["tea"]}
    assert "scraper_slug" not in request.body


async def test_a_sync_worker_run_sends_its_window_as_offset_and_limit(
    v2: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(url("/api/v2/workers/coreclaw~google-maps-scraper/runs"), body=ok({"run_slug": RUN_SLUG}))

    await v2.workers.run(WORKER, input={}, is_async=False, page_index=2, page_size=50)

    body = only(mocked).body
    assert (body["offset"], body["limit"]) == (2, 50)
    assert "page_index" not in body


async def test_ids_in_paths_are_percent_quoted(v2: AsyncCoreClaw, mocked: aioresponses) -> None:
    mocked.get(re.compile(r".*"), body=ok(RUN))

    await v2.runs.get("a/b?c#d")

    assert only(mocked).url.raw_path == "/api/v2/worker-runs/a%2Fb%3Fc%23d"


async def test_an_abort_sends_no_body(v2: AsyncCoreClaw, mocked: aioresponses) -> None:
    mocked.post(url(f"/api/v2/worker-runs/{RUN_SLUG}/abort"), body=ok(with_data=False))

    await v2.runs.abort(RUN_SLUG)

    request = only(mocked)
    assert request.raw is None
    assert request.path == f"/api/v2/worker-runs/{RUN_SLUG}/abort"


async def test_reads_are_gets_with_the_page_as_offset_and_limit(
    v2: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.get(
        url(f"/api/v2/worker-runs/{RUN_SLUG}/result"), body=ok({"count": 0, "headers": [], "list": []})
    )
    mocked.get(url("/api/v2/worker-runs"), body=ok({"count": 0, "list": []}))

    await v2.runs.results_page(RUN_SLUG, page_index=3, page_size=20)
    await v2.runs.list_page(page_index=2, page_size=10, status=RunStatus.FAILED, scraper_slug=WORKER)

    results, runs = sent(mocked)
    assert (results.method, _params(results)) == ("GET", {"offset": "3", "limit": "20"})
    assert _params(runs) == {
        "offset": "2",
        "limit": "10",
        "status": "failed",
        "worker_id": "coreclaw~google-maps-scraper",
    }


async def test_status_all_sends_no_status_filter(v2: AsyncCoreClaw, mocked: aioresponses) -> None:
    mocked.get(url("/api/v2/worker-runs"), body=ok({"count": 0, "list": []}))

    await v2.runs.list_page(status=0)

    assert "status" not in _params(only(mocked))


async def test_a_page_larger_than_100_is_refused_for_one_page_and_split_by_iterators(
    v2: AsyncCoreClaw, mocked: aioresponses
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        await v2.runs.results_page(RUN_SLUG, page_size=500)
    assert caught.value.field == "page_size"
    mocked.get(
        url(f"/api/v2/worker-runs/{RUN_SLUG}/result"), body=ok({"count": 0, "headers": [], "list": []})
    )

    rows = [row async for row in v2.runs.results(RUN_SLUG, page_size=500)]

    assert rows == []
    assert _params(only(mocked))["limit"] == "100"


async def test_a_time_window_inside_one_month_becomes_whole_days_in_utc_plus_8(
    v2: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.get(url("/api/v2/worker-runs"), body=ok({"count": 0, "list": []}))
    since = datetime(2026, 3, 10, 12, 30, tzinfo=timezone.utc)  # 20:30 in UTC+8
    until = datetime(2026, 3, 20, 17, 0, tzinfo=timezone.utc)  # 01:00 on the 21st in UTC+8

    await v2.runs.list_page(since=since, until=until)

    params = _params(only(mocked))
    # 2026-03-10 00:00 and 2026-03-21 00:00 in UTC+8.
    assert (params["start_time"], params["end_time"]) == ("1773072000", "1774022400")


async def test_a_window_across_months_is_refused_for_one_page(v2: AsyncCoreClaw) -> None:
    with pytest.raises(InvalidParameterError):
        await v2.runs.list_page(
            since=datetime(2026, 3, 10, tzinfo=timezone.utc), until=datetime(2026, 4, 2, tzinfo=timezone.utc)
        )


async def test_an_export_sends_its_keys_comma_separated_in_the_query(
    v2: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.get(
        url(f"/api/v2/worker-runs/{RUN_SLUG}/result/export"), body=ok({"download_url": "https://f.test/x"})
    )

    await v2.runs.export(RUN_SLUG, format="csv", filter_keys=["title", "url"])

    request = only(mocked)
    assert request.method == "GET"
    assert _params(request) == {"format": "csv", "filter_keys": "title,url"}


async def test_public_reads_and_the_account_use_their_v2_paths(
    v2: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.get(url("/api/v2/store"), body=ok({"scraper": []}))
    mocked.get(url("/api/v2/proxy/region"), body=ok({"list": []}))
    mocked.get(url("/api/v2/users/account"), body=ok({"balance": "1.5"}))
    mocked.get(
        url("/api/v2/workers/coreclaw~google-maps-scraper/input-schema"), body=ok({"input_schema": {}})
    )

    await v2.workers.search("maps", limit=5)
    await v2.proxy_regions()
    await v2.account.info()
    await v2.workers.input_schema(WORKER)

    store, regions, account, schema = sent(mocked)
    assert _params(store) == {"keyword": "maps", "limit": "5"}
    assert (regions.path, account.path) == ("/api/v2/proxy/region", "/api/v2/users/account")
    assert schema.path == "/api/v2/workers/coreclaw~google-maps-scraper/input-schema"


async def test_task_management_uses_the_documented_methods_and_a_wrapped_input(
    v2: AsyncCoreClaw, mocked: aioresponses
) -> None:
    task = {"slug": TASK, "title": "t", "schedule_type": 1, "schedule_time": "07:00", "schedule_enabled": 1}
    mocked.post(url("/api/v2/worker-tasks"), body=ok({"slug": TASK}))
    mocked.get(url(f"/api/v2/worker-tasks/{TASK}"), body=ok(task))
    mocked.put(url(f"/api/v2/worker-tasks/{TASK}"), body=ok(with_data=False))
    mocked.put(url(f"/api/v2/worker-tasks/{TASK}/input"), body=ok(with_data=False))
    mocked.delete(url(f"/api/v2/worker-tasks/{TASK}"), body=ok(with_data=False))

    created = await v2.tasks.create(
        WORKER, title="t", input={"searchTerms": ["x"]}, schedule=Schedule.daily("07:00")
    )
    await v2.tasks.update(TASK, title="u", schedule=Schedule.weekly(3, "08:15", enabled=False))
    await v2.tasks.update_input(TASK, {"searchTerms": ["y"]}, version="v1.0.5")
    await v2.tasks.delete(TASK)

    create, read, update, new_input, delete = sent(mocked)
    assert read.method == "GET"  # the new Task is read back whole
    assert create.body == {
        "worker_id": "coreclaw~google-maps-scraper",
        "title": "t",
        "input": {"parameters": {"custom": {"searchTerms": ["x"]}}},
        "schedule_enabled": 1,
        "schedule_type": 1,
        "schedule_time": "07:00",
    }
    assert created.task_slug == TASK
    assert created.schedule == Schedule.daily("07:00")
    assert (update.method, update.body) == (
        "PUT",
        {
            "title": "u",
            "schedule_enabled": 0,
            "schedule_type": 2,
            "schedule_time": "08:15",
            "schedule_weekday": 3,
        },
    )
    assert new_input.body == {
        "input": {"parameters": {"custom": {"searchTerms": ["y"]}}},
        "version": "v1.0.5",
    }
    assert (delete.method, delete.raw) == ("DELETE", None)


async def test_the_queue_is_read_and_acted_on_through_its_v2_paths(
    v2: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(
        url("/api/v2/workers/coreclaw~google-maps-scraper/queued-runs"),
        body=ok({"queue_ref": 123456, "queue_status": "waiting", "queued": True}),
    )
    mocked.post(
        url("/api/v2/run-queue/items/activate"),
        body=ok({"results": [{"queue_ref": "123456", "success": True}]}),
    )
    mocked.post(
        url("/api/v2/run-queue/items/release"), body=ok({"results": [{"queue_ref": "9", "success": False}]})
    )

    queued = await v2.workers.queue(WORKER, input={"searchTerms": ["x"]})
    activated = await v2.queue.activate([queued.queue_ref])
    released = await v2.queue.release(["9"], reason="not needed")

    _, activate, release = sent(mocked)
    assert queued.queue_ref == "123456"  # a numeric reference reads as the same text
    assert activate.body == {"queue_refs": ["123456"]}
    assert release.body == {"queue_refs": ["9"], "reason": "not needed"}
    assert [a.success for a in activated + released] == [True, False]


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.tasks.get(TASK),
        lambda c: c.tasks.create(WORKER, title="t", input={}),
        lambda c: c.tasks.delete(TASK),
        lambda c: c.workers.input_schema(WORKER),
        lambda c: c.workers.queue(WORKER, input={}),
        lambda c: c.queue.activate(["1"]),
        lambda c: c.runs.last(),
    ],
)
async def test_v2_only_methods_on_a_v1_client_raise_unsupported_and_send_nothing(
    client: AsyncCoreClaw, mocked: aioresponses, call: Any
) -> None:
    with pytest.raises(UnsupportedOperationError) as caught:
        await call(client)

    assert caught.value.outcome == "not_sent"
    assert "v2" in str(caught.value)
    assert sent(mocked) == []


async def test_a_run_reported_aborted_ends_a_wait_as_final(v2: AsyncCoreClaw, mocked: aioresponses) -> None:
    mocked.get(url(f"/api/v2/worker-runs/{RUN_SLUG}"), body=ok(dict(RUN, status="running")))
    mocked.get(url(f"/api/v2/worker-runs/{RUN_SLUG}"), body=ok(dict(RUN, status="aborted", err_msg=None)))

    run = await v2.runs.wait(RUN_SLUG, poll_interval=0.01, timeout=5)

    assert run.status is RunStatus.ABORTED
    assert run.is_final
    assert len(sent(mocked)) == 2
