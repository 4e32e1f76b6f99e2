"""The HTTP endpoint: what a notice to an unknown token gets, and what the logs say about it."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator

import aiohttp
import pytest

import coreclaw_async.callbacks._endpoint as endpoint_module
from coreclaw_async import CallbackReceiver

SLUG = "01KZDQ89G8PTTWG5Z703BG7D1T"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(http: aiohttp.ClientSession, url: str) -> int:
    async with http.post(url, json={"run_slug": SLUG, "run_status": "succeeded"}) as resp:
        await resp.read()
        return resp.status


def unknown_token_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "unknown tokens" in r.getMessage()
    ]


async def test_a_burst_of_unknown_tokens_logs_one_warning_and_the_next_one_counts_the_rest(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(endpoint_module, "CALLBACK_WARNING_INTERVAL", 0.2)
    async with CallbackReceiver().serve() as receiver:
        tokens = [secrets.token_urlsafe(30) for _ in range(10)]
        with caplog.at_level(logging.WARNING, logger="coreclaw_async"):
            burst = [await post(http, f"{receiver.public_url}/{token}") for token in tokens]
            after_burst = unknown_token_warnings(caplog)
            await asyncio.sleep(0.25)
            assert await post(http, f"{receiver.public_url}/{tokens[0]}") == 404

        assert burst == [404] * 10
        assert len(after_burst) == 1
        assert "refused 1 notice(s)" in after_burst[0]
        warnings = unknown_token_warnings(caplog)
        assert len(warnings) == 2
        assert "refused 10 notice(s)" in warnings[1]  # the 9 held back plus this one
        assert receiver.stats.unknown_token == 11


async def test_the_warning_says_what_to_check_and_never_shows_the_token(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async with CallbackReceiver().serve() as receiver:
        launch = receiver.mint()
        launch.discard()  # a real token, now unknown: it must not leak into the log either
        with caplog.at_level(logging.DEBUG, logger="coreclaw_async"):
            assert await post(http, launch.callback_url) == 404

    (warning,) = unknown_token_warnings(caplog)
    assert launch.token not in caplog.text
    assert f"public_url is {receiver.public_url}" in warning
    for hint in ("process that minted", "where the receiver is mounted", "launch_ttl", "max_launches"):
        assert hint in warning
    assert "0 launch(es) expired and 0 evicted" in warning


async def test_a_notice_to_a_known_token_logs_no_warning(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async with CallbackReceiver().serve() as receiver:
        launch = receiver.mint()
        launch.bind(SLUG)
        with caplog.at_level(logging.WARNING, logger="coreclaw_async"):
            assert await post(http, launch.callback_url) == 200

    assert unknown_token_warnings(caplog) == []
