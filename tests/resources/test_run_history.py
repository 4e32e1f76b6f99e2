"""``runs.list(since=..., until=...)`` on API v1: the history read newest first and cut to the range.

The v1 list is ordered by creation, so a run created earlier may have started later: the
walk stops only after a page's worth of runs in a row started before ``since``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from aioresponses import aioresponses

from coreclaw_async import AsyncCoreClaw, InvalidParameterError

from .conftest import BASE, ok, sent

UTC = timezone.utc
SINCE = datetime(2026, 3, 10, tzinfo=UTC)
UNTIL = datetime(2026, 3, 20, tzinfo=UTC)
LIST = f"{BASE}/api/v1/run/list"


def _run(slug: str, started: datetime | None) -> dict[str, Any]:
    return {
        "slug": slug,
        "status": 3 if started is not None else 1,
        "scraper_slug": "demo-worker",
        "started_at": int(started.timestamp()) if started is not None else 0,
    }


def _day(n: int) -> datetime:
    return datetime(2026, 3, n, 12, tzinfo=UTC)


async def _slugs(client: AsyncCoreClaw, **kwargs: Any) -> list[str]:
    return [run.run_slug async for run in client.runs.list(since=SINCE, until=UNTIL, **kwargs)]


async def test_a_run_that_started_late_is_found_past_one_older_run(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    # Newest first by creation: "late" was created before "old" but started inside the range.
    page1 = [_run("new", _day(15)), _run("old", _day(5)), _run("late", _day(12))]
    page2 = [_run("o1", _day(4)), _run("o2", _day(3)), _run("o3", _day(2))]
    mocked.post(LIST, body=ok({"count": 9, "list": page1}))
    mocked.post(LIST, body=ok({"count": 9, "list": page2}))

    assert await _slugs(client, page_size=3) == ["new", "late"]
    # Three older runs in a row (one page's worth) end the walk: page 3 is never asked for.
    assert len(sent(mocked)) == 2


async def test_runs_after_until_are_skipped_and_not_yet_started_runs_count_as_now(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    now = datetime.now(UTC)
    page = [_run("pending", None), _run("after", _day(25)), _run("inside", _day(11))]
    mocked.post(LIST, body=ok({"count": 3, "list": page}))

    assert await _slugs(client, page_size=3) == ["inside"]

    mocked.post(LIST, body=ok({"count": 3, "list": page}))
    pending = [
        run.run_slug
        async for run in client.runs.list(since=now - timedelta(minutes=1), until=now + timedelta(hours=1))
    ]
    assert pending == ["pending"]


@pytest.mark.parametrize(
    "bad",
    [
        datetime.min.replace(tzinfo=UTC),
        datetime.max.replace(tzinfo=UTC),
    ],
)
async def test_dates_at_the_edge_of_the_calendar_are_refused_before_sending(
    client: AsyncCoreClaw, mocked: aioresponses, bad: datetime
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        client.runs.list(since=bad)

    assert caught.value.field == "since"
    assert sent(mocked) == []


async def test_a_naive_datetime_is_refused(client: AsyncCoreClaw) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        client.runs.list(since=datetime(2026, 3, 1))

    assert "timezone-aware" in str(caught.value)


async def test_an_empty_page_that_count_says_is_not_empty_ends_with_a_warning(
    client: AsyncCoreClaw, mocked: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    mocked.post(LIST, body=ok({"count": 5, "runs": [_run("x", _day(12))]}))

    with caplog.at_level("WARNING", logger="coreclaw_async"):
        listed = [run async for run in client.runs.list()]

    assert listed == []
    assert "page 1 is empty but count=5" in caplog.text
