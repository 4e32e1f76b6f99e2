"""The v2 run list's month window (Beijing time) and `add_run`, which places runs in past months."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from coreclaw_async.testing import FakeCoreClaw

from .conftest import MAPS, V2

BEIJING = timezone(timedelta(hours=8))
CROSS_MONTH = {"code": 11000, "message": "run list time range cannot cross months"}


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BEIJING)


def seconds(moment: datetime) -> str:
    return str(int(moment.timestamp()))


async def listed(v2: V2, start: datetime, end: datetime, **params: str) -> list[str]:
    reply = await v2.get("worker-runs", {"start_time": seconds(start), "end_time": seconds(end), **params})
    return [record["slug"] for record in reply.data["list"]]


async def test_without_a_range_only_runs_of_the_current_beijing_month_are_listed(v2: V2) -> None:
    live = await v2.start()
    now = datetime.now(BEIJING)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    first_second = v2.fake.add_run(started_at=month_start)
    v2.fake.add_run(started_at=month_start - timedelta(seconds=1))
    v2.fake.add_run(started_at=now - timedelta(days=40))
    data = (await v2.get("worker-runs")).data
    assert {record["slug"] for record in data["list"]} == {live, first_second.slug}
    assert data["count"] == 2


async def test_a_range_lists_the_runs_from_start_time_to_the_end_of_the_end_time_day(v2: V2) -> None:
    inside = [
        v2.fake.add_run(started_at=at(2026, 3, 1)).slug,
        v2.fake.add_run(started_at=at(2026, 3, 15, 12)).slug,
        v2.fake.add_run(started_at=at(2026, 3, 31, 23, 59, 59)).slug,
    ]
    v2.fake.add_run(started_at=at(2026, 2, 28, 23, 59, 59))
    v2.fake.add_run(started_at=at(2026, 4, 1))
    assert await listed(v2, at(2026, 3, 1), at(2026, 3, 31)) == inside[::-1]
    assert await listed(v2, at(2026, 3, 1), at(2026, 3, 15)) == inside[1::-1]
    assert await listed(v2, at(2026, 3, 2), at(2026, 3, 14)) == []


async def test_a_range_across_two_months_is_refused_with_11000(v2: V2) -> None:
    v2.fake.add_run(started_at=at(2026, 3, 31, 10))
    reply = await v2.get(
        "worker-runs", {"start_time": seconds(at(2026, 3, 31)), "end_time": seconds(at(2026, 4, 1))}
    )
    assert reply.status == 400
    assert {key: reply.body[key] for key in ("code", "message")} == CROSS_MONTH
    assert "data" not in reply.body


async def test_months_are_calendar_months_in_beijing_time_not_utc(v2: V2) -> None:
    # 2026-03-31 20:00 UTC is already 1 April in Beijing: the same month as 10 April there.
    start = datetime(2026, 3, 31, 20, tzinfo=timezone.utc)
    run = v2.fake.add_run(started_at=start + timedelta(hours=1))
    assert await listed(v2, start, at(2026, 4, 10)) == [run.slug]
    utc_march = datetime(2026, 3, 31, 15, tzinfo=timezone.utc)
    reply = await v2.get("worker-runs", {"start_time": seconds(utc_march), "end_time": seconds(start)})
    assert reply.code == 11000


@pytest.mark.parametrize(
    "params",
    [
        {"start_time": "1772294400"},
        {"end_time": "1772294400"},
        {"start_time": "1773504000", "end_time": "1772294400"},
    ],
)
async def test_start_and_end_come_together_and_in_order(v2: V2, params: dict[str, str]) -> None:
    reply = await v2.get("worker-runs", params)
    assert (reply.status, reply.code) == (400, 11000)


async def test_a_range_of_non_numbers_is_11000(v2: V2) -> None:
    reply = await v2.get("worker-runs", {"start_time": "2026-03-01", "end_time": "2026-03-31"})
    assert (reply.status, reply.code) == (422, 11000)


async def test_a_client_can_list_several_past_months_one_at_a_time(v2: V2) -> None:
    made: dict[int, set[str]] = {}
    for month in (1, 2, 3, 4):
        made[month] = {v2.fake.add_run(started_at=at(2026, month, day, 9)).slug for day in (1, 28)}
    v2.fake.add_run(started_at=at(2026, 2, 10), fails=True)
    for month in (1, 2, 3, 4):
        last_day = (at(2026, month + 1, 1) - timedelta(days=1)).replace(hour=0)
        found = await listed(v2, at(2026, month, 1), last_day, status="succeeded")
        assert set(found) == made[month]
    failed = await listed(v2, at(2026, 2, 1), at(2026, 2, 28), status="failed")
    assert len(failed) == 1


async def test_add_run_records_a_finished_run_at_the_given_instant(v2: V2) -> None:
    run = v2.fake.add_run(started_at=at(2026, 3, 10, 8), duration=90, rows=7)
    assert run in v2.fake.runs
    assert v2.fake.get_run(run.slug) is run
    record = (await v2.get(f"worker-runs/{run.slug}")).data
    assert record["started_at"] == int(at(2026, 3, 10, 8).timestamp())
    assert (record["finished_at"] - record["started_at"], record["duration"]) == (90, 90)
    assert (record["status"], record["results"], record["scraper_slug"]) == ("succeeded", 7, MAPS)
    result = (await v2.get(f"worker-runs/{run.slug}/result")).data
    assert result["count"] == 7


async def test_add_run_may_fail_belong_to_a_task_and_take_unix_seconds(v2: V2) -> None:
    task = v2.fake.task_slugs[0]
    run = v2.fake.add_run(started_at=1_772_294_400, fails=True, task_slug=task)
    detail = (await v2.get(f"worker-runs/{run.slug}")).data
    assert (detail["status"], detail["started_at"]) == ("failed", 1_772_294_400)
    assert v2.fake.runs_by_task() == {task: 1}


async def test_add_run_defaults_to_a_run_that_just_ended(v2: V2) -> None:
    before = time.time()
    run = v2.fake.add_run(duration=5)
    assert before - 6 <= run.created_at_wall <= time.time() - 4
    assert run.is_final
    assert (await v2.get("worker-runs")).data["count"] >= 1


async def test_add_run_of_a_run_still_going_shows_it_running(v2: V2) -> None:
    run = v2.fake.add_run(started_at=time.time() - 1, duration=60)
    assert (await v2.get(f"worker-runs/{run.slug}")).data["status"] == "running"


def test_add_run_refuses_naive_datetimes_unknown_workers_and_tasks() -> None:
    fake = FakeCoreClaw()
    with pytest.raises(ValueError, match="aware"):
        fake.add_run(started_at=datetime(2026, 3, 1))
    with pytest.raises(ValueError, match="unknown Worker"):
        fake.add_run("nobody/nothing")
    with pytest.raises(ValueError, match="unknown task"):
        fake.add_run(task_slug="nope")
    with pytest.raises(ValueError, match="duration"):
        fake.add_run(duration=-1)
