"""``runs.list(since=..., until=...)`` on API v1 over real HTTP against FakeCoreClaw.

The v1 list has no time filter and is ordered by creation, newest first; the client cuts it
to the range and stops only after a page's worth of runs in a row that started before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone

import pytest

from coreclaw_async import AsyncCoreClaw, InvalidParameterError
from coreclaw_async.testing import FakeCoreClaw

UTC = timezone.utc


@pytest.fixture
async def fake() -> AsyncIterator[FakeCoreClaw]:
    async with FakeCoreClaw(api_versions=("v1",), seed=3) as server:
        yield server


@pytest.fixture
async def client(fake: FakeCoreClaw) -> AsyncIterator[AsyncCoreClaw]:
    async with AsyncCoreClaw(fake.api_key, base_url=fake.url, api_version="v1") as c:
        yield c


def _at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


async def test_the_v1_history_is_cut_to_the_range_and_stops_after_a_page_of_older_runs(
    client: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    # Creation order, oldest first: ten January runs, then one created before the March run
    # but started inside the range, then runs around the range.
    for day in range(1, 11):
        fake.add_run(started_at=_at(1, day))
    late = fake.add_run(started_at=_at(3, 12))
    fake.add_run(started_at=_at(2, 1))  # older than the range, created after "late"
    inside = fake.add_run(started_at=_at(3, 15))
    fake.add_run(started_at=_at(4, 2))  # after the range
    fake.reset_counters()

    history = client.runs.list(since=_at(3, 1), until=_at(3, 31), page_size=4)
    found = [run.run_slug async for run in history]

    assert found == [inside.slug, late.slug]
    # 14 runs, 4 a page: page 1 holds every match (the February run between them does not end
    # the walk); the four January runs of page 2 in a row do, so page 3 is never asked for.
    assert history.pages == 2
    assert fake.requests_by_path == {"/api/v1/run/list": 2}


async def test_until_alone_reads_back_to_the_start_and_bad_ranges_send_nothing(
    client: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    old = fake.add_run(started_at=_at(1, 2))
    fake.add_run(started_at=_at(5, 2))
    fake.reset_counters()

    found = [run.run_slug async for run in client.runs.list(until=_at(2, 1))]

    assert found == [old.slug]
    with pytest.raises(InvalidParameterError):
        client.runs.list(since=_at(3, 1), until=_at(2, 1))
    with pytest.raises(InvalidParameterError):
        await client.runs.list_page(since=_at(3, 1))
    assert fake.requests_by_path == {"/api/v1/run/list": 1}
