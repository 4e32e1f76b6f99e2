"""Every documented v2 example body has the shape of what the fake answers for that operation:
the same keys at every level (result rows aside, which vary by Worker) and the same JSON types."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from coreclaw_async.testing import FakeCoreClaw, Fault

from .conftest import MAPS_V2, V2, V2_INPUT, Reply

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "api-examples"
MARCH = {"start_time": "1772294400", "end_time": "1775059200"}  # 2026-03-01 and 2026-04-02, UTC+8


def shape(value: Any) -> Any:
    """Keys and JSON types, recursively; a list by its first item; result rows left out."""
    if isinstance(value, dict):
        return {
            key: "rows" if key == "list" and "headers" in value else shape(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


async def running_run(v2: V2) -> str:
    v2.fake.run_schedule = (0.0, 30.0)
    return await v2.start()


async def account(v2: V2) -> Reply:
    return await v2.get("users/account")


async def system_error(v2: V2) -> Reply:
    v2.fake.inject(Fault.SERVER_ERROR)
    return await v2.get("users/account")


async def invalid_argument(v2: V2) -> Reply:
    return await v2.post("worker-tasks", data=b"not json", headers={"Content-Type": "application/json"})


async def cross_month(v2: V2) -> Reply:
    return await v2.get("worker-runs", MARCH)


async def not_found(v2: V2) -> Reply:
    return await v2.get("no/such/path")


async def no_key(v2: V2) -> Reply:
    return await v2.get("users/account", key=False)


async def wrong_key(v2: V2) -> Reply:
    return await v2.get("users/account", key="scraper_api_wrong")


async def rate_limited(v2: V2) -> Reply:
    v2.fake.inject(Fault.RATE_LIMIT)
    return await v2.get("worker-runs")


async def plan_limited(v2: V2) -> Reply:
    v2.fake.set_concurrency_limit(0)
    return await v2.post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT})


async def queued_run(v2: V2) -> Reply:
    return await v2.post(f"workers/{MAPS_V2}/queued-runs", {"input": V2_INPUT})


async def rerun_sync(v2: V2) -> Reply:
    run_slug = await v2.start(is_async=False)
    return await v2.post(f"worker-runs/{run_slug}/rerun", {"is_async": False, "limit": 2})


async def abort(v2: V2) -> Reply:
    return await v2.post(f"worker-runs/{await running_run(v2)}/abort")


async def detail_running(v2: V2) -> Reply:
    return await v2.get(f"worker-runs/{await running_run(v2)}")


async def export(v2: V2) -> Reply:
    return await v2.get(f"worker-runs/{await v2.start()}/result/export")


async def run_list(v2: V2) -> Reply:
    await v2.start()
    return await v2.get("worker-runs")


async def run_log(v2: V2) -> Reply:
    return await v2.get(f"worker-runs/{await v2.start(is_async=False)}/log")


async def run_result(v2: V2) -> Reply:
    return await v2.get(f"worker-runs/{await v2.start(is_async=False)}/result")


async def task_run(v2: V2) -> Reply:
    return await v2.post(f"worker-tasks/{await v2.create_task()}/runs", {})


async def worker_run(v2: V2) -> Reply:
    return await v2.post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT})


async def worker_run_sync(v2: V2) -> Reply:
    return await v2.post(f"workers/{MAPS_V2}/runs", {"input": V2_INPUT, "is_async": False})


ANSWERS: dict[str, Callable[[V2], Awaitable[Reply]]] = {
    "v2_account_ok.json": account,
    "v2_error_10000.json": system_error,
    "v2_error_11000.json": invalid_argument,
    "v2_error_11000_cross_month.json": cross_month,
    "v2_error_11004.json": not_found,
    "v2_error_12001.json": no_key,
    "v2_error_12002.json": wrong_key,
    "v2_error_13000.json": rate_limited,
    "v2_error_30003.json": plan_limited,
    "v2_queued_run_ok.json": queued_run,
    "v2_rerun_sync_ok.json": rerun_sync,
    "v2_run_abort_ok.json": abort,
    "v2_run_detail_running.json": detail_running,
    "v2_run_export_ok.json": export,
    "v2_run_list_page1.json": run_list,
    "v2_run_log_ok.json": run_log,
    "v2_run_result_page1.json": run_result,
    "v2_task_run_ok.json": task_run,
    "v2_worker_run_ok.json": worker_run,
    "v2_worker_run_sync_ok.json": worker_run_sync,
}


@pytest.fixture
async def quick(http: aiohttp.ClientSession) -> AsyncIterator[V2]:
    async with FakeCoreClaw(run_schedule=(0.0, 0.05)) as fake:
        yield V2(http, fake)


def test_every_v2_example_has_an_answer_to_compare_with() -> None:
    assert sorted(path.name for path in EXAMPLES.glob("v2_*.json")) == sorted(ANSWERS)


@pytest.mark.parametrize("name", sorted(ANSWERS))
async def test_the_fake_answers_in_the_shape_of_the_documented_example(quick: V2, name: str) -> None:
    example = json.loads((EXAMPLES / name).read_text())
    reply = await ANSWERS[name](quick)
    assert shape(reply.body) == shape(example)
    assert reply.body["code"] == example["code"]
    if example["code"] != 0 and name != "v2_error_11000.json":
        assert reply.body["message"] == example["message"]
    if "status" in example.get("data", {}):
        assert reply.body["data"]["status"] == example["data"]["status"]
    if "run_status" in example.get("data", {}):
        assert reply.body["data"]["run_status"] == example["data"]["run_status"]
