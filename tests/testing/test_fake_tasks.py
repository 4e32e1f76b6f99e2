"""task/run, rerun and account/info."""

from __future__ import annotations

import time

import aiohttp
import pytest

from coreclaw_async.testing import FakeCoreClaw, is_ulid, new_ulid

from .conftest import CALLBACK, Api


async def test_task_run_creates_one_run_in_the_ledger(api: Api, fake: FakeCoreClaw) -> None:
    before = time.monotonic()
    task_slug = fake.task_slugs[1]
    reply = await api.post("/api/v1/task/run", {"task_slug": task_slug, "callback_url": CALLBACK})
    assert reply.status == 200
    run_slug = reply.data["run_slug"]
    assert is_ulid(run_slug)
    [run] = fake.runs
    assert run.slug == run_slug
    assert run.task_slug == task_slug
    assert run.callback_url == CALLBACK
    assert run.scraper_slug == "coreclaw/google-maps-scraper"
    assert run.origin == "api"
    assert run.input["parameters"]["custom"]["searchTerms"] == ["coffee shop"]
    assert before <= run.created_at <= time.monotonic()
    assert abs(run.created_at_wall - time.time()) < 5
    assert fake.get_run(run_slug) is run
    assert fake.runs_by_task() == {task_slug: 1}


async def test_runs_by_task_counts_each_start(api: Api, fake: FakeCoreClaw) -> None:
    first, second, _ = fake.task_slugs
    for slug in (first, second, first):
        await api.start_task_run(slug)
    assert fake.runs_by_task() == {first: 2, second: 1}


@pytest.mark.parametrize(
    "body",
    [
        {"task_slug": "TASK"},
        {"task_slug": "TASK", "callback_url": ""},
        {"task_slug": "TASK", "callback_url": None},
        {"task_slug": "TASK", "callback_url": 7},
        {"callback_url": CALLBACK},
        {"task_slug": "", "callback_url": CALLBACK},
        {"task_slug": 12, "callback_url": CALLBACK},
    ],
)
async def test_task_run_rejects_missing_or_invalid_fields(
    api: Api, fake: FakeCoreClaw, body: dict[str, object]
) -> None:
    if body.get("task_slug") == "TASK":
        body["task_slug"] = fake.task_slugs[0]
    reply = await api.post("/api/v1/task/run", body)
    assert reply.status == 400
    assert reply.body == {"code": 4000, "message": "Invalid request parameters", "data": None}
    assert fake.runs == []


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"text"', b"{"])
async def test_task_run_rejects_bodies_that_are_not_json_objects(
    api: Api, fake: FakeCoreClaw, raw: bytes
) -> None:
    reply = await api.post("/api/v1/task/run", data=raw, headers={"Content-Type": "application/json"})
    assert (reply.status, reply.code) == (400, 4000)


async def test_unknown_task_is_60001_with_http_404(api: Api, fake: FakeCoreClaw) -> None:
    reply = await api.post("/api/v1/task/run", {"task_slug": new_ulid(), "callback_url": CALLBACK})
    assert reply.status == 404
    assert reply.body == {"code": 60001, "message": "Task does not exist", "data": None}
    assert fake.runs == []


async def test_foreign_task_is_4010_not_yours(api: Api, fake: FakeCoreClaw) -> None:
    foreign = fake.add_task(foreign=True)
    assert foreign not in fake.task_slugs
    reply = await api.post("/api/v1/task/run", {"task_slug": foreign, "callback_url": CALLBACK})
    assert reply.status == 401
    assert reply.body == {"code": 4010, "message": "Task does not belong to you", "data": None}
    assert fake.runs == []


async def test_a_run_slug_given_as_task_slug_is_a_validation_error(api: Api) -> None:
    run_slug = await api.start_task_run()
    reply = await api.post("/api/v1/task/run", {"task_slug": run_slug, "callback_url": CALLBACK})
    assert reply.code == 4000


async def test_explicit_task_slugs_and_added_tasks(http: aiohttp.ClientSession) -> None:
    async with FakeCoreClaw(tasks=["01KSFDXRNYGKT3NNE11EMR4W5X", "my-task"]) as fake:
        assert fake.task_slugs == ["01KSFDXRNYGKT3NNE11EMR4W5X", "my-task"]
        added = fake.add_task(scraper_slug="01KJXYJ7KCHXM0PDZHQD5293XE")
        assert is_ulid(added)
        assert fake.task_slugs[-1] == added
        api = Api(http, fake)
        await api.start_task_run("my-task")
        run_slug = await api.start_task_run(added)
        detail = await api.detail(run_slug)
        assert detail["scraper_slug"] == "01KJXYJ7KCHXM0PDZHQD5293XE"
        assert detail["scraper_title"] == "News Scraper"
        assert detail["version"] == "v1.0.1"


def test_add_task_rejects_duplicates_and_unknown_workers() -> None:
    fake = FakeCoreClaw(tasks=["a"])
    with pytest.raises(ValueError, match="duplicate"):
        fake.add_task("a")
    with pytest.raises(ValueError, match="unknown Worker"):
        fake.add_task(scraper_slug="nobody/nothing")


async def test_zero_balance_refuses_starts_with_30001(api: Api, fake: FakeCoreClaw) -> None:
    fake.set_balance("0")
    reply = await api.post("/api/v1/task/run", {"task_slug": fake.task_slugs[0], "callback_url": CALLBACK})
    assert (reply.status, reply.code) == (200, 30001)
    assert reply.body["message"] == "Balance is not enough"
    assert fake.runs == []
    info = await api.post("/api/v1/account/info", {})
    assert info.data["balance"] == "0"


async def test_concurrency_limit_refuses_starts_while_runs_are_running(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeCoreClaw(run_schedule=(0.0, 30.0), concurrency_limit=2) as fake:
        api = Api(http, fake)
        await api.start_task_run()
        await api.start_task_run()
        reply = await api.post(
            "/api/v1/task/run", {"task_slug": fake.task_slugs[0], "callback_url": CALLBACK}
        )
        assert reply.code == 30003
        assert reply.body["message"] == "the current running tasks have reached the plan limit"
        assert len(fake.runs) == 2
        fake.set_concurrency_limit(None)
        await api.start_task_run()
        assert len(fake.runs) == 3


async def test_ready_runs_do_not_count_against_a_limit_counting_running_runs_only(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeCoreClaw(
        run_schedule=(30.0, 30.0), concurrency_limit=1, concurrency_counts_ready=False
    ) as fake:
        api = Api(http, fake)
        for _ in range(3):
            await api.start_task_run()
        assert len(fake.runs) == 3


async def test_rerun_creates_a_new_run_with_the_same_task_and_input(api: Api, fake: FakeCoreClaw) -> None:
    original = await api.start_task_run()
    reply = await api.post(
        "/api/v1/rerun", {"run_slug": original, "callback_url": "https://other.example.com/cb"}
    )
    new_slug = reply.data["run_slug"]
    assert is_ulid(new_slug)
    assert new_slug != original
    first, second = fake.runs
    assert second.slug == new_slug
    assert second.rerun_of == original
    assert second.task_slug == first.task_slug
    assert second.input == first.input
    assert (second.scraper_slug, second.version) == (first.scraper_slug, first.version)
    assert second.callback_url == "https://other.example.com/cb"


async def test_rerun_requires_callback_url(api: Api, fake: FakeCoreClaw) -> None:
    original = await api.start_task_run()
    reply = await api.post("/api/v1/rerun", {"run_slug": original})
    assert (reply.status, reply.code) == (400, 4000)
    assert len(fake.runs) == 1


async def test_rerun_of_unknown_run_is_70001(api: Api) -> None:
    reply = await api.post("/api/v1/rerun", {"run_slug": new_ulid(), "callback_url": CALLBACK})
    assert reply.status == 404
    assert reply.body == {"code": 70001, "message": "Run record does not exist", "data": None}


@pytest.mark.parametrize("body", [None, {}, {"anything": 1}])
async def test_account_info_accepts_no_body_or_an_object(api: Api, body: object) -> None:
    if body is None:
        reply = await api.post("/api/v1/account/info", data=b"")
    else:
        reply = await api.post("/api/v1/account/info", body)
    assert reply.data == {
        "balance": "10122.5547",
        "traffic": 178194757135,
        "traffic_expiration_at": 1775267018,
    }


async def test_account_info_rejects_a_non_object_body(api: Api) -> None:
    reply = await api.post("/api/v1/account/info", [])
    assert reply.code == 4000


async def test_set_balance_is_reported(api: Api, fake: FakeCoreClaw) -> None:
    fake.set_balance("12.5")
    assert fake.balance == "12.5"
    assert (await api.post("/api/v1/account/info")).data["balance"] == "12.5"
    with pytest.raises(ValueError, match="decimal"):
        fake.set_balance("lots")
