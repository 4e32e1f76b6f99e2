"""What ``client.tasks.run`` puts on the wire, configuration fallbacks, validation and lifecycle.

Narrow request-shaping tests over ``aioresponses``; how answers are handled is in
``test_client_responses.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from multidict import CIMultiDict
from yarl import URL as YarlURL

from coreclaw_async import (
    AsyncCoreClaw,
    AuthenticationError,
    CoreClawAPIError,
    CoreClawError,
    InvalidParameterError,
    StartedRun,
    TaskRunRequest,
)

KEY = "scraper_api_UNITTESTKEY0123456789abcdef"
BASE = "https://openapi.test"
URL = BASE + "/api/v1/task/run"
CALLBACK = "https://hooks.example.com/coreclaw"
SLUG = "01KSFDXRNYGKT3NNE11EMR4W5X"
OK = b'{"code":0,"message":"success","data":{"run_slug":"01KSFDS8XWTJME33C08XMCR6B9"}}'
ENV_NAMES = ("CORECLAW_API_KEY", "CORECLAW_BASE_URL", "CORECLAW_CALLBACK_URL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


@pytest.fixture
async def client() -> AsyncIterator[AsyncCoreClaw]:
    async with AsyncCoreClaw(KEY, base_url=BASE, callback_url=CALLBACK) as c:
        yield c


def _sent(m: aioresponses) -> list[Any]:
    assert m.requests is not None
    return [call for calls in m.requests.values() for call in calls]


def _only_request(m: aioresponses) -> tuple[dict[str, Any], CIMultiDict[str]]:
    calls = _sent(m)
    assert len(calls) == 1
    return json.loads(calls[0].kwargs["data"]), CIMultiDict(calls[0].kwargs["headers"])


# -- the request on the wire ---------------------------------------------------------------


async def test_task_run_posts_the_slug_and_callback_as_the_whole_json_body(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(URL, body=OK)

    run = await client.tasks.run(SLUG)

    assert run == StartedRun(run_slug="01KSFDS8XWTJME33C08XMCR6B9")
    assert list(mocked.requests) == [("POST", YarlURL(URL))]
    body, _ = _only_request(mocked)
    assert body == {"task_slug": SLUG, "callback_url": CALLBACK}


async def test_task_run_sends_the_api_key_json_content_type_and_our_user_agent(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(URL, body=OK)

    await client.tasks.run(SLUG)

    _, headers = _only_request(mocked)
    assert headers["api-key"] == KEY
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("coreclaw-async/")


async def test_a_custom_user_agent_replaces_the_default(mocked: aioresponses) -> None:
    mocked.post(URL, body=OK)

    async with AsyncCoreClaw(KEY, base_url=BASE, callback_url=CALLBACK, user_agent="my-app/2.0") as c:
        await c.tasks.run(SLUG)

    assert _only_request(mocked)[1]["User-Agent"] == "my-app/2.0"


async def test_a_trailing_slash_on_the_base_url_is_ignored(mocked: aioresponses) -> None:
    mocked.post(URL, body=OK)

    async with AsyncCoreClaw(KEY, base_url=BASE + "/", callback_url=CALLBACK) as c:
        await c.tasks.run(SLUG)

    assert c.base_url == BASE
    assert len(_sent(mocked)) == 1


# -- callback URL precedence ---------------------------------------------------------------


async def test_a_per_call_callback_url_overrides_the_client_default(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(URL, body=OK)

    await client.tasks.run(SLUG, callback_url="https://other.example.com/hook")

    assert _only_request(mocked)[0]["callback_url"] == "https://other.example.com/hook"


async def test_a_request_models_own_callback_url_wins(client: AsyncCoreClaw, mocked: aioresponses) -> None:
    mocked.post(URL, body=OK)
    request = TaskRunRequest(task_slug=SLUG, callback_url="https://own.example.com/hook")

    await client.tasks.run(request, callback_url="https://other.example.com/hook")

    assert _only_request(mocked)[0] == {"task_slug": SLUG, "callback_url": "https://own.example.com/hook"}


async def test_a_request_model_without_callback_url_gets_the_client_default(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(URL, body=OK)

    await client.tasks.run(TaskRunRequest(task_slug=SLUG))

    assert _only_request(mocked)[0] == {"task_slug": SLUG, "callback_url": CALLBACK}


# -- environment fallbacks -----------------------------------------------------------------


async def test_key_base_url_and_callback_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, mocked: aioresponses
) -> None:
    monkeypatch.setenv("CORECLAW_API_KEY", "scraper_api_FROMENVIRONMENT987654")
    monkeypatch.setenv("CORECLAW_BASE_URL", "https://env.openapi.test/")
    monkeypatch.setenv("CORECLAW_CALLBACK_URL", "https://env-hooks.example.com/cb")
    mocked.post("https://env.openapi.test/api/v1/task/run", body=OK)

    async with AsyncCoreClaw() as c:
        await c.tasks.run(SLUG)

    body, headers = _only_request(mocked)
    assert headers["api-key"] == "scraper_api_FROMENVIRONMENT987654"
    assert body["callback_url"] == "https://env-hooks.example.com/cb"
    assert c.callback_url == "https://env-hooks.example.com/cb"


async def test_constructor_arguments_beat_the_environment(
    monkeypatch: pytest.MonkeyPatch, mocked: aioresponses
) -> None:
    monkeypatch.setenv("CORECLAW_API_KEY", "scraper_api_FROMENVIRONMENT987654")
    monkeypatch.setenv("CORECLAW_BASE_URL", "https://env.openapi.test")
    monkeypatch.setenv("CORECLAW_CALLBACK_URL", "https://env-hooks.example.com/cb")
    mocked.post(URL, body=OK)

    async with AsyncCoreClaw(KEY, base_url=BASE, callback_url=CALLBACK) as c:
        await c.tasks.run(SLUG)

    body, headers = _only_request(mocked)
    assert headers["api-key"] == KEY
    assert body["callback_url"] == CALLBACK


async def test_a_missing_key_fails_at_the_first_call_as_not_sent_and_sends_nothing(
    mocked: aioresponses,
) -> None:
    client = AsyncCoreClaw(base_url=BASE, callback_url=CALLBACK)  # no error here

    async with client:
        with pytest.raises(AuthenticationError) as caught:
            await client.tasks.run(SLUG)

    assert caught.value.outcome == "not_sent"
    assert caught.value.attempts == 0
    assert "CORECLAW_API_KEY" in str(caught.value)
    assert _sent(mocked) == []


# -- validation before sending ---------------------------------------------------------------


def _assert_rejected_before_sending(error: InvalidParameterError, field: str, m: aioresponses) -> None:
    assert isinstance(error, ValueError)
    assert isinstance(error, CoreClawError)
    assert not isinstance(error, CoreClawAPIError)  # the server never saw it
    assert error.field == field
    assert str(error).startswith(f"{field}: ")
    assert error.outcome == "not_sent"
    assert _sent(m) == []


@pytest.mark.parametrize("slug", ["", "   ", "\t\n", " 01KSF", "01KSF\n", 123, None])
async def test_a_blank_or_malformed_task_slug_is_rejected_before_sending(
    client: AsyncCoreClaw, mocked: aioresponses, slug: Any
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        await client.tasks.run(slug)

    _assert_rejected_before_sending(caught.value, "task_slug", mocked)


async def test_a_missing_callback_url_is_rejected_before_sending(mocked: aioresponses) -> None:
    async with AsyncCoreClaw(KEY, base_url=BASE) as c:
        with pytest.raises(InvalidParameterError) as caught:
            await c.tasks.run(SLUG)

    _assert_rejected_before_sending(caught.value, "callback_url", mocked)
    assert "CORECLAW_CALLBACK_URL" in str(caught.value)


BAD_CALLBACKS = [
    "/relative/hook",
    "hooks.example.com/coreclaw",
    "ftp://hooks.example.com/coreclaw",
    "mailto:ops@example.com",
    "https://",
    "https://hooks.example.com/with space",
]


@pytest.mark.parametrize("url", BAD_CALLBACKS)
async def test_a_relative_or_non_http_callback_url_is_rejected_before_sending(
    client: AsyncCoreClaw, mocked: aioresponses, url: str
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        await client.tasks.run(SLUG, callback_url=url)

    _assert_rejected_before_sending(caught.value, "callback_url", mocked)


@pytest.mark.parametrize("url", BAD_CALLBACKS)
def test_a_bad_default_callback_url_is_rejected_at_construction(url: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        AsyncCoreClaw(KEY, base_url=BASE, callback_url=url)

    assert caught.value.field == "callback_url"


def test_a_bad_callback_url_in_the_environment_is_rejected_at_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CORECLAW_CALLBACK_URL", "ftp://hooks.example.com/cb")

    with pytest.raises(InvalidParameterError) as caught:
        AsyncCoreClaw(KEY, base_url=BASE)

    assert caught.value.field == "callback_url"


@pytest.mark.parametrize("base_url", ["ftp://openapi.test", "openapi.test", "/api"])
def test_a_non_http_base_url_is_rejected_at_construction(base_url: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        AsyncCoreClaw(KEY, base_url=base_url)

    assert caught.value.field == "base_url"


@pytest.mark.parametrize(
    ("option", "value"),
    [("timeout", 0), ("pool_timeout", -1), ("max_connections", 0), ("max_retries", -1), ("max_rate", 0)],
)
def test_nonsensical_limits_are_rejected_at_construction(option: str, value: float) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        AsyncCoreClaw(KEY, base_url=BASE, **{option: value})

    assert caught.value.field == option


# -- the key stays secret ------------------------------------------------------------------


def test_repr_of_the_client_says_whether_a_key_is_set_but_never_shows_it() -> None:
    with_key = AsyncCoreClaw(KEY, base_url=BASE)
    without_key = AsyncCoreClaw(base_url=BASE)

    assert KEY not in repr(with_key)
    assert "api_key=set" in repr(with_key)
    assert "api_key=missing" in repr(without_key)


async def test_the_key_never_appears_in_log_records_of_a_successful_call(
    client: AsyncCoreClaw, mocked: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mocked.post(URL, body=OK)

    await client.tasks.run(SLUG)

    assert all(KEY not in record.getMessage() for record in caplog.records)


class _LoopbackServer:
    """Answers every HTTP request with OK; waits for its handlers before it is done."""

    def __init__(self) -> None:
        self.handlers: set[asyncio.Task[Any]] = set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2.0)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(OK), OK)
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()
        await self._server.wait_closed()
        if self.handlers:
            await asyncio.wait(self.handlers, timeout=3.0)


async def test_a_key_with_a_line_break_fails_as_a_coreclaw_error() -> None:
    # aioresponses never serialises headers, so this one talks to a loopback socket.
    async with _LoopbackServer() as base_url:
        with pytest.raises(CoreClawError):
            async with AsyncCoreClaw(
                KEY + "\n", base_url=base_url, callback_url=CALLBACK, max_retries=0
            ) as c:
                await c.tasks.run(SLUG)


# -- lifecycle ----------------------------------------------------------------------------


async def test_aclose_is_idempotent(mocked: aioresponses) -> None:
    mocked.post(URL, body=OK)
    client = AsyncCoreClaw(KEY, base_url=BASE, callback_url=CALLBACK)
    await client.tasks.run(SLUG)

    await client.aclose()
    await client.aclose()

    assert client.closed


async def test_aclose_of_an_unused_client_is_harmless() -> None:
    client = AsyncCoreClaw(KEY, base_url=BASE, callback_url=CALLBACK)

    await client.aclose()

    assert client.closed


async def test_leaving_async_with_closes_the_client() -> None:
    async with AsyncCoreClaw(KEY, base_url=BASE, callback_url=CALLBACK) as client:
        assert not client.closed

    assert client.closed


async def test_a_call_after_close_raises_a_coreclaw_error_and_sends_nothing(mocked: aioresponses) -> None:
    client = AsyncCoreClaw(KEY, base_url=BASE, callback_url=CALLBACK)
    await client.aclose()

    with pytest.raises(CoreClawError) as caught:
        await client.tasks.run(SLUG)

    assert "closed" in str(caught.value)
    assert caught.value.outcome == "not_sent"
    assert _sent(mocked) == []


async def test_a_user_supplied_session_is_used_with_our_headers_and_left_open(mocked: aioresponses) -> None:
    mocked.post(URL, body=OK)
    async with aiohttp.ClientSession() as own:
        client = AsyncCoreClaw(KEY, base_url=BASE, callback_url=CALLBACK, session=own)
        await client.tasks.run(SLUG)

        await client.aclose()

        assert client.closed
        assert not own.closed
    body, headers = _only_request(mocked)
    assert headers["api-key"] == KEY
    assert headers["User-Agent"].startswith("coreclaw-async/")
    assert body == {"task_slug": SLUG, "callback_url": CALLBACK}
