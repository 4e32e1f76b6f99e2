"""Launches in the registry: tokens, expiry in time, eviction in number, and lookups by run."""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from coreclaw_async import CallbackReceiver, InvalidParameterError
from coreclaw_async._constants import CALLBACK_PRUNE_BUDGET

RUNS = ["01KZDQ89G8PTTWG5Z703BG7D1A", "01KZDQ89G8PTTWG5Z703BG7D1B", "01KZDQ89G8PTTWG5Z703BG7D1C"]
MORE = ["01KZDQ89G8PTTWG5Z703BG7D1D", "01KZDQ89G8PTTWG5Z703BG7D1E"]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(http: aiohttp.ClientSession, url: str, slug: str, status: str = "running") -> int:
    async with http.post(url, json={"run_slug": slug, "run_status": status}) as resp:
        await resp.read()
        return resp.status


# -- tokens ------------------------------------------------------------------------------------


def test_a_token_is_the_launch_number_then_a_192_bit_secret() -> None:
    receiver = CallbackReceiver(public_url="https://example.com/coreclaw")
    receiver.mint()
    launch = receiver.mint()

    raw = base64.urlsafe_b64decode(launch.token)

    assert len(launch.token) == 40
    assert int.from_bytes(raw[:6], "big") == launch.number == 1
    assert len(raw[6:]) * 8 == 192
    assert receiver.launch_for_url(launch.callback_url) is launch


def test_the_right_launch_number_with_another_secret_finds_nothing() -> None:
    receiver = CallbackReceiver(public_url="https://example.com/coreclaw")
    launch = receiver.mint()
    forged = base64.urlsafe_b64encode(launch.number.to_bytes(6, "big") + secrets.token_bytes(24)).decode()

    assert receiver.launch_for_url(f"https://example.com/coreclaw/{forged}") is None
    assert receiver.launch_for_url(f"https://example.com/coreclaw/{launch.token}") is launch


# -- expiry ------------------------------------------------------------------------------------


async def test_a_launch_without_a_final_notice_is_forgotten_after_launch_ttl(
    http: aiohttp.ClientSession,
) -> None:
    async with CallbackReceiver(launch_ttl=0.05).serve() as receiver:
        launch = receiver.mint()
        launch.bind(RUNS[0])
        early = await post(http, launch.callback_url, RUNS[0])
        await asyncio.sleep(0.1)
        late = await post(http, launch.callback_url, RUNS[0], "succeeded")

        assert (early, late) == (200, 404)
        assert receiver.stats.expired == 1
        assert receiver.stats.launches == 0
        assert receiver.launch_for(RUNS[0]) is None


async def test_a_finished_launch_outlives_its_ttl_for_the_finished_retention(
    http: aiohttp.ClientSession,
) -> None:
    async with CallbackReceiver(launch_ttl=0.1, finished_retention=0.3).serve() as receiver:
        launch = receiver.mint()
        launch.bind(RUNS[0])
        await asyncio.sleep(0.05)
        final = await post(http, launch.callback_url, RUNS[0], "succeeded")
        await asyncio.sleep(0.1)  # past the ttl counted from the mint, within the retention
        duplicate = await post(http, launch.callback_url, RUNS[0], "succeeded")
        await asyncio.sleep(0.3)
        expired = await post(http, launch.callback_url, RUNS[0], "succeeded")

    assert (final, duplicate, expired) == (200, 200, 404)
    assert receiver.stats.duplicates == 1


async def test_confirm_final_keeps_a_launch_only_for_the_finished_retention(
    http: aiohttp.ClientSession,
) -> None:
    async with CallbackReceiver(launch_ttl=60, finished_retention=0.05).serve() as receiver:
        confirmed, other = receiver.mint(), receiver.mint()
        confirmed.bind(RUNS[0])
        other.bind(RUNS[1])
        receiver.confirm_final(RUNS[0])
        receiver.confirm_final(RUNS[0])  # again: harmless
        await asyncio.sleep(0.1)

        assert await post(http, confirmed.callback_url, RUNS[0]) == 404
        assert await post(http, other.callback_url, RUNS[1]) == 200
        assert confirmed.finished_at is not None
        assert other.finished_at is None


def test_expired_launches_are_forgotten_a_bounded_number_per_mint_oldest_first() -> None:
    receiver = CallbackReceiver(public_url="https://example.com/coreclaw", launch_ttl=0.05)
    old = [receiver.mint() for _ in range(CALLBACK_PRUNE_BUDGET * 3)]
    time.sleep(0.1)

    receiver.mint()
    assert receiver.stats.expired == CALLBACK_PRUNE_BUDGET
    assert receiver.launch_for_url(old[CALLBACK_PRUNE_BUDGET - 1].callback_url) is None
    # Not pruned yet, but past its time: a lookup forgets it too rather than answering for it.
    assert receiver.launch_for_url(old[-1].callback_url) is None

    receiver.mint()
    receiver.mint()
    assert receiver.stats.expired == len(old)
    assert receiver.stats.launches == 3


# -- eviction ----------------------------------------------------------------------------------


async def test_when_full_finished_launches_are_evicted_first_then_the_oldest_waiting_one(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async with CallbackReceiver(max_launches=3).serve() as receiver:
        oldest, middle, finished = (receiver.mint() for _ in range(3))
        for launch, slug in zip((oldest, middle, finished), RUNS, strict=True):
            launch.bind(slug)
        assert await post(http, finished.callback_url, RUNS[2], "succeeded") == 200
        with caplog.at_level(logging.WARNING, logger="coreclaw_async"):
            fourth = receiver.mint()  # evicts the finished one, though it is not the oldest
            fifth = receiver.mint()  # evicts the oldest still waiting for its final notice
        answers = [
            await post(http, launch.callback_url, slug)
            for launch, slug in zip((oldest, middle, finished, fourth, fifth), [*RUNS, *MORE], strict=True)
        ]

        assert answers == [404, 200, 404, 200, 200]
        assert receiver.stats.evicted == 2
        assert receiver.stats.launches == 3
        assert receiver.launch_for(RUNS[0]) is None
        assert receiver.final_notice(RUNS[2]) is None
        full = [r.getMessage() for r in caplog.records if "receiver is full" in r.getMessage()]
        assert len(full) == 1  # only the launch that was still waiting is worth a warning
        assert "1 launch(es) still waiting" in full[0]
        assert "max_launches=3" in full[0]


def test_a_burst_of_evictions_logs_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    receiver = CallbackReceiver(public_url="https://example.com/coreclaw", max_launches=2)

    with caplog.at_level(logging.WARNING, logger="coreclaw_async"):
        launches = [receiver.mint() for _ in range(50)]

    assert receiver.stats.evicted == 48
    assert receiver.stats.launches == 2
    assert [receiver.launch_for_url(launch.callback_url) for launch in launches[-2:]] == launches[-2:]
    assert len([r for r in caplog.records if "receiver is full" in r.getMessage()]) == 1


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_max_launches_must_be_a_positive_integer(value: object) -> None:
    with pytest.raises(InvalidParameterError, match="max_launches"):
        CallbackReceiver(max_launches=value)  # type: ignore[arg-type]
