"""v2 saved Tasks on the shared ledger: create, get, list, update, delete, input, schedules, runs."""

from __future__ import annotations

import time
from typing import Any

import pytest

from coreclaw_async.testing import TaskSchedule, is_ulid

from .conftest import CALLBACK, MAPS, MAPS_V2, V2, V2_INPUT, Api

RECORD_KEYS = {
    "id",
    "slug",
    "worker_id",
    "worker_title",
    "worker_slug",
    "worker_path",
    "version",
    "platform_actors_id",
    "title",
    "description",
    "input",
    "run_times",
    "last_run_id",
    "last_modified_at",
    "schedule_enabled",
    "schedule_type",
    "schedule_time",
    "schedule_weekday",
    "schedule_day",
    "schedule_once_date",
    "created_at",
    "updated_at",
}
WEEKLY = {"schedule_enabled": 1, "schedule_type": 2, "schedule_time": "09:30", "schedule_weekday": 3}


async def test_creating_a_task_answers_its_slug_and_saves_it_on_the_ledger(v2: V2) -> None:
    before = int(time.time())
    reply = await v2.post(
        "worker-tasks",
        {
            "worker_id": MAPS_V2,
            "title": "Coffee",
            "input": V2_INPUT,
            "description": "daily",
            "version": "v1.0.4",
        },
    )
    assert set(reply.data) == {"slug"}
    slug = reply.data["slug"]
    assert is_ulid(slug)
    task = next(task for task in v2.fake.tasks if task.slug == slug)
    assert (task.scraper_slug, task.title, task.description, task.version) == (
        MAPS,
        "Coffee",
        "daily",
        "v1.0.4",
    )
    assert task.input == V2_INPUT
    assert before <= task.created_at <= time.time()
    assert slug in v2.fake.task_slugs


async def test_a_task_record_has_every_documented_field_with_big_integer_ids(v2: V2) -> None:
    slug = await v2.create_task(**WEEKLY)
    record = (await v2.get(f"worker-tasks/{slug}")).data
    assert set(record) == RECORD_KEYS
    assert record["slug"] == slug
    assert record["id"] > 2**53
    assert record["worker_id"] > 2**53
    assert (record["worker_title"], record["worker_path"]) == ("Google Maps Scraper", MAPS_V2)
    assert (await v2.get(f"workers/{record['worker_slug']}")).code == 0
    assert (record["version"], record["title"], record["input"]) == ("v1.0.5", "Coffee in Berlin", V2_INPUT)
    assert (record["run_times"], record["last_run_id"]) == (0, "")
    schedule = {key: record[key] for key in record if key.startswith("schedule_")}
    assert schedule == {**WEEKLY, "schedule_day": 0, "schedule_once_date": ""}


async def test_the_worker_of_a_task_may_be_named_by_slug_path_or_numeric_id(v2: V2) -> None:
    worker_id = (await v2.get(f"worker-tasks/{await v2.create_task()}")).data["worker_id"]
    store_slug = (await v2.get(f"worker-tasks/{await v2.create_task()}")).data["worker_slug"]
    for ident in (worker_id, str(worker_id), store_slug, MAPS):
        slug = await v2.create_task(worker_id=ident)
        assert (await v2.get(f"worker-tasks/{slug}")).data["worker_path"] == MAPS_V2


@pytest.mark.parametrize(
    "body",
    [
        {"title": "T", "input": V2_INPUT},
        {"worker_id": MAPS_V2, "input": V2_INPUT},
        {"worker_id": MAPS_V2, "title": "", "input": V2_INPUT},
        {"worker_id": MAPS_V2, "title": "T"},
        {"worker_id": MAPS_V2, "title": "T", "input": ["a"]},
        {"worker_id": MAPS_V2, "title": "T", "input": V2_INPUT, "description": 5},
    ],
)
async def test_creating_a_task_needs_worker_title_and_an_input_object(v2: V2, body: dict[str, Any]) -> None:
    before = len(v2.fake.tasks)
    reply = await v2.post("worker-tasks", body)
    assert (reply.status, reply.code) == (422, 11000)
    assert len(v2.fake.tasks) == before


async def test_creating_a_task_of_an_unknown_worker_or_version_is_refused(v2: V2) -> None:
    worker = await v2.post("worker-tasks", {"worker_id": "nobody~x", "title": "T", "input": V2_INPUT})
    version = await v2.post(
        "worker-tasks", {"worker_id": MAPS_V2, "title": "T", "input": V2_INPUT, "version": "v0"}
    )
    assert (worker.code, version.code) == (50001, 50003)


@pytest.mark.parametrize(
    "schedule",
    [
        {"schedule_enabled": 1, "schedule_type": 1, "schedule_time": "07:00"},
        {"schedule_enabled": 1, "schedule_type": 3, "schedule_time": "23:59", "schedule_day": 31},
        {
            "schedule_enabled": 1,
            "schedule_type": 4,
            "schedule_time": "00:00",
            "schedule_once_date": "2026-12-25",
        },
        {"schedule_enabled": 0, "schedule_type": 2, "schedule_time": "10:15", "schedule_weekday": 7},
        {"schedule_enabled": 0},
    ],
)
async def test_consistent_schedules_are_stored(v2: V2, schedule: dict[str, Any]) -> None:
    slug = await v2.create_task(**schedule)
    record = (await v2.get(f"worker-tasks/{slug}")).data
    assert {key: record[key] for key in schedule} == schedule


@pytest.mark.parametrize(
    ("schedule", "status"),
    [
        ({"schedule_enabled": 2}, 422),
        ({"schedule_type": 5}, 422),
        ({"schedule_time": "24:00"}, 422),
        ({"schedule_time": "9:30"}, 422),
        ({"schedule_weekday": 8}, 422),
        ({"schedule_day": 32}, 422),
        ({"schedule_once_date": "2026-02-30"}, 422),
        ({"schedule_once_date": "25/12/2026"}, 422),
        ({"schedule_enabled": True}, 422),
        ({"schedule_enabled": 1}, 400),
        ({"schedule_enabled": 1, "schedule_type": 1}, 400),
        ({"schedule_type": 2, "schedule_time": "09:00"}, 400),
        ({"schedule_type": 3, "schedule_time": "09:00"}, 400),
        ({"schedule_type": 4, "schedule_time": "09:00"}, 400),
    ],
)
async def test_schedules_out_of_range_or_inconsistent_are_11000(
    v2: V2, schedule: dict[str, Any], status: int
) -> None:
    before = len(v2.fake.tasks)
    body = {"worker_id": MAPS_V2, "title": "T", "input": V2_INPUT, **schedule}
    reply = await v2.post("worker-tasks", body)
    assert (reply.status, reply.code) == (status, 11000)
    assert len(v2.fake.tasks) == before


async def test_an_update_changes_only_the_fields_it_gives_and_answers_no_data(v2: V2) -> None:
    slug = await v2.create_task(description="first", **WEEKLY)
    created = (await v2.get(f"worker-tasks/{slug}")).data
    reply = await v2.put(f"worker-tasks/{slug}", {"description": "second", "schedule_weekday": 5})
    assert reply.code == 0
    assert "data" not in reply.body
    record = (await v2.get(f"worker-tasks/{slug}")).data
    assert (record["title"], record["description"]) == ("Coffee in Berlin", "second")
    assert (record["schedule_weekday"], record["schedule_time"]) == (5, "09:30")
    assert record["updated_at"] >= created["updated_at"]
    await v2.put(f"worker-tasks/{slug}", {"title": "Renamed", "description": ""})
    record = (await v2.get(f"worker-tasks/{slug}")).data
    assert (record["title"], record["description"]) == ("Renamed", "")


async def test_an_update_ignores_the_input_and_checks_the_schedule_it_makes(v2: V2) -> None:
    slug = await v2.create_task(**WEEKLY)
    await v2.put(f"worker-tasks/{slug}", {"input": {"parameters": {"custom": {"searchTerms": ["x"]}}}})
    assert (await v2.get(f"worker-tasks/{slug}/input")).data["input"] == V2_INPUT
    broken = await v2.put(f"worker-tasks/{slug}", {"schedule_weekday": 0})
    assert (broken.status, broken.code) == (400, 11000)
    assert (await v2.put(f"worker-tasks/{slug}", {"title": ""})).code == 11000
    task = next(task for task in v2.fake.tasks if task.slug == slug)
    assert task.schedule == TaskSchedule(enabled=1, type=2, time="09:30", weekday=3)


async def test_a_task_s_input_is_read_and_replaced_with_its_version(v2: V2) -> None:
    slug = await v2.create_task()
    assert (await v2.get(f"worker-tasks/{slug}/input")).data == {"input": V2_INPUT, "version": "v1.0.5"}
    new_input = {"parameters": {"custom": {"searchTerms": ["tea"]}}}
    reply = await v2.put(f"worker-tasks/{slug}/input", {"input": new_input, "version": "v1.0.3"})
    assert reply.code == 0
    assert "data" not in reply.body
    assert (await v2.get(f"worker-tasks/{slug}/input")).data == {"input": new_input, "version": "v1.0.3"}
    assert (await v2.put(f"worker-tasks/{slug}/input", {"version": "v1.0.4"})).code == 11000
    assert (await v2.put(f"worker-tasks/{slug}/input", {"input": new_input, "version": "v7"})).code == 50003


async def test_deleting_a_task_answers_no_data_and_a_second_delete_is_not_found(v2: V2, api: Api) -> None:
    slug = await v2.create_task()
    first = await v2.delete(f"worker-tasks/{slug}")
    assert first.code == 0
    assert "data" not in first.body
    second = await v2.delete(f"worker-tasks/{slug}")
    assert (second.status, second.code, second.body["message"]) == (404, 60001, "task does not exist")
    assert (await v2.get(f"worker-tasks/{slug}")).code == 60001
    assert slug not in v2.fake.task_slugs
    v1 = await api.post("/api/v1/task/run", {"task_slug": slug, "callback_url": CALLBACK})
    assert v1.code == 60001


async def test_listing_tasks_pages_filters_and_echoes_the_page(v2: V2) -> None:
    v2.fake.add_worker("me/other", owned=True)
    own = [await v2.create_task(title=f"Maps {n}") for n in range(3)]
    other = await v2.create_task(worker_id="me~other", title="Other one")
    v2.fake.add_task(foreign=True)
    everything = (await v2.get("worker-tasks", {"limit": "100"})).data
    assert set(everything) == {"count", "list", "page_index", "page_size"}
    slugs = [record["slug"] for record in everything["list"]]
    assert slugs[:4] == [other, *reversed(own)]
    assert set(v2.fake.task_slugs) == set(slugs)
    assert everything["count"] == len(slugs) == 7
    page = (await v2.get("worker-tasks", {"offset": "2", "limit": "2"})).data
    assert (page["page_index"], page["page_size"], [r["slug"] for r in page["list"]]) == (2, 2, slugs[2:4])
    assert (await v2.get("worker-tasks", {"offset": "9", "limit": "2"})).data["list"] == []
    by_worker = (await v2.get("worker-tasks", {"worker_id": "me~other"})).data
    assert [record["slug"] for record in by_worker["list"]] == [other]
    assert (await v2.get("worker-tasks", {"keyword": "maps 1"})).data["count"] == 1
    assert (await v2.get("worker-tasks", {"worker_id": "nobody~x"})).data["count"] == 0


async def test_another_user_s_task_is_not_found_on_v2(v2: V2) -> None:
    foreign = v2.fake.add_task(foreign=True)
    assert (await v2.get(f"worker-tasks/{foreign}")).code == 60001
    assert (await v2.post(f"worker-tasks/{foreign}/runs")).code == 60001
    assert v2.fake.runs == []


async def test_running_a_task_needs_no_body_and_counts_on_its_record(v2: V2) -> None:
    slug = await v2.create_task()
    reply = await v2.post(f"worker-tasks/{slug}/runs")
    run_slug = reply.data["run_slug"]
    run = v2.fake.get_run(run_slug)
    assert (run.task_slug, run.input, run.callback_url) == (slug, V2_INPUT, None)
    record = (await v2.get(f"worker-tasks/{slug}")).data
    assert (record["run_times"], record["last_run_id"]) == (1, run_slug)
    sync = (await v2.post(f"worker-tasks/{slug}/runs", {"is_async": False, "limit": 5})).data
    assert (sync["run_status"], sync["results"]["page_size"]) == ("succeeded", 5)
    assert v2.fake.runs_by_task() == {slug: 2}


async def test_a_task_created_on_v2_runs_on_v1_and_a_v1_task_runs_on_v2(v2: V2, api: Api) -> None:
    v2_task = await v2.create_task()
    v1_run = await api.start_task_run(v2_task)
    assert v2.fake.get_run(v1_run).input == V2_INPUT
    v1_task = v2.fake.task_slugs[0]
    v2_run = (await v2.post(f"worker-tasks/{v1_task}/runs", {"callback_url": CALLBACK})).data["run_slug"]
    assert v2.fake.get_run(v2_run).task_slug == v1_task
    record = (await v2.get(f"worker-tasks/{v1_task}")).data
    assert (record["title"], record["worker_path"]) == ("Google Maps Scraper task", MAPS_V2)


async def test_a_flat_input_is_saved_as_sent_but_the_task_cannot_run(v2: V2, api: Api) -> None:
    flat = {"searchTerms": ["pizza"], "location": "Rome"}
    slug = await v2.create_task(input=flat)
    assert (await v2.get(f"worker-tasks/{slug}/input")).data["input"] == flat
    v2_run = await v2.post(f"worker-tasks/{slug}/runs")
    assert (v2_run.status, v2_run.code) == (400, 11000)
    assert "searchTerms is required" in v2_run.body["message"]
    v1_run = await api.post("/api/v1/task/run", {"task_slug": slug, "callback_url": CALLBACK})
    assert v1_run.code == 4000
    assert v2.fake.runs == []
    await v2.put(f"worker-tasks/{slug}/input", {"input": {"parameters": {"custom": flat}}})
    assert (await v2.post(f"worker-tasks/{slug}/runs")).code == 0


async def test_running_a_task_is_refused_on_zero_balance(v2: V2) -> None:
    slug = await v2.create_task()
    v2.fake.set_balance("0")
    assert (await v2.post(f"worker-tasks/{slug}/runs")).code == 30001
    assert v2.fake.runs == []


async def test_add_task_saves_a_given_title_and_input(v2: V2) -> None:
    slug = v2.fake.add_task(title="Mine", input={"anything": True})
    data = (await v2.get(f"worker-tasks/{slug}")).data
    assert (data["title"], data["input"]) == ("Mine", {"anything": True})
