"""Bad arguments and unusable sessions: a typed, not-sent ``CoreClawError`` every time, nothing sent."""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from coreclaw_async import (
    AsyncCoreClaw,
    ClientStateError,
    CoreClawAPIError,
    CoreClawError,
    InvalidCallbackError,
    InvalidParameterError,
    RunCallback,
    TaskRunRequest,
)
from coreclaw_async.callbacks import CallbackReceiver
from coreclaw_async.errors import ReceiverAddressError
from coreclaw_async.testing import FakeCoreClaw

from .support import client_for

CALLBACK_URL = "https://hooks.example.com/coreclaw"
LONE_SURROGATE = "01KSF\ud800DXRNY"


@pytest.fixture
async def fake(api_version: str) -> AsyncIterator[FakeCoreClaw]:
    async with FakeCoreClaw(tasks=2, seed=5, api_versions=(api_version,)) as server:
        yield server


@pytest.fixture
async def client(fake: FakeCoreClaw) -> AsyncIterator[AsyncCoreClaw]:
    async with client_for(fake, callback_url=CALLBACK_URL) as c:
        yield c


def _assert_not_sent(error: CoreClawError, fake: FakeCoreClaw) -> None:
    assert error.outcome == "not_sent"
    assert error.sent is False
    assert fake.requests == 0
    assert fake.runs == []


# -- text that cannot go on the wire -----------------------------------------------------------


async def test_a_lone_surrogate_in_a_task_slug_is_an_invalid_parameter(
    client: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        await client.tasks.run(LONE_SURROGATE)

    assert caught.value.field == "task_slug"
    _assert_not_sent(caught.value, fake)


async def test_a_lone_surrogate_in_a_run_slug_is_an_invalid_parameter(
    client: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        await client.runs.get(LONE_SURROGATE)

    assert caught.value.field == "run_slug"
    _assert_not_sent(caught.value, fake)


async def test_a_lone_surrogate_in_a_callback_url_is_an_invalid_parameter(
    client: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        await client.tasks.run(fake.task_slugs[0], callback_url="https://hooks.example.com/\udc80")

    assert caught.value.field == "callback_url"
    _assert_not_sent(caught.value, fake)


async def test_a_fan_out_reports_unencodable_items_as_not_started(
    client: AsyncCoreClaw, fake: FakeCoreClaw
) -> None:
    items: list[Any] = [
        LONE_SURROGATE,
        TaskRunRequest(fake.task_slugs[0], "https://hooks.example.com/\ud800"),
        fake.task_slugs[0],
    ]

    outcomes = await client.tasks.run_all(items)

    assert [o.started for o in outcomes] == [False, False, True]
    assert [type(o.error) for o in outcomes[:2]] == [InvalidParameterError, InvalidParameterError]
    assert len(fake.runs) == 1


async def test_a_user_agent_with_cr_lf_is_refused_when_the_client_is_built() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        AsyncCoreClaw("scraper_api_key", user_agent="bot/1.0\r\nX-Injected: yes")

    assert caught.value.field == "user_agent"


# -- numbers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [math.inf, -math.inf, math.nan, "10", 0, -1.0, True])
async def test_a_call_timeout_that_is_not_a_finite_positive_number_is_refused(
    client: AsyncCoreClaw, fake: FakeCoreClaw, timeout: Any
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        await client.tasks.run(fake.task_slugs[0], timeout=timeout)
    assert caught.value.field == "timeout"

    with pytest.raises(InvalidParameterError):
        await client.runs.get("01KSFDS8XWTJME33C08XMCR6B9", timeout=timeout)
    with pytest.raises(InvalidParameterError):
        client.runs.list(timeout=timeout)  # checked when called, not when iterated
    _assert_not_sent(caught.value, fake)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout", math.nan),
        ("timeout", math.inf),
        ("timeout", "10"),
        ("pool_timeout", math.nan),
        ("max_rate", math.nan),
        ("max_rate", math.inf),
        ("max_rate", 0),
        ("max_connections", 2.5),
        ("max_connections", 0),
        ("max_connections", True),
        ("max_retries", 1.5),
        ("max_retries", -1),
        ("wait_for_capacity", "yes"),
        ("retry", {"max_retries": 3}),
        ("session", "not a session"),
        ("base_url", "ftp://example.com"),
        ("base_url", "https://exa\ud800mple.com"),
        ("callback_url", "https://hooks.example.com/with space"),
        ("api_key", "scraper_api_key\n"),
    ],
)
def test_every_client_argument_is_checked_when_the_client_is_built(field: str, value: Any) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        AsyncCoreClaw(**{"api_key": "scraper_api_key", field: value})

    assert caught.value.field == field
    assert not isinstance(caught.value, CoreClawAPIError)


@pytest.mark.parametrize(("field", "value"), [("max_retries", 1.5), ("concurrency", 2.5), ("concurrency", 0)])
async def test_fan_out_counts_must_be_integers(client: AsyncCoreClaw, field: str, value: Any) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        client.tasks.run_many(["01KSFDXRNYGKT3NNE11EMR4W5X"], **{field: value})

    assert caught.value.field == field


# -- sessions that cannot send ---------------------------------------------------------------


async def test_a_closed_user_session_is_a_not_sent_client_state_error(fake: FakeCoreClaw) -> None:
    session = aiohttp.ClientSession()
    await session.close()
    async with client_for(fake, session=session) as client:
        with pytest.raises(ClientStateError) as caught:
            await client.tasks.run(fake.task_slugs[0])
        outcomes = await client.tasks.run_all(fake.task_slugs)

    _assert_not_sent(caught.value, fake)
    assert [o.started for o in outcomes] == [False, False]
    assert all(isinstance(o.error, ClientStateError) for o in outcomes)


def _session_from_a_finished_loop() -> aiohttp.ClientSession:
    made: list[aiohttp.ClientSession] = []

    async def create() -> None:
        made.append(aiohttp.ClientSession())

    # Another thread: this test's own loop is running and cannot host a second asyncio.run.
    thread = threading.Thread(target=lambda: asyncio.run(create()))
    thread.start()
    thread.join()
    return made[0]


async def test_a_user_session_from_a_finished_event_loop_is_a_not_sent_client_state_error(
    fake: FakeCoreClaw,
) -> None:
    session = _session_from_a_finished_loop()
    try:
        async with client_for(fake, session=session) as client:
            with pytest.raises(ClientStateError) as caught:
                await client.runs.get("01KSFDS8XWTJME33C08XMCR6B9")
            outcomes = await client.tasks.run_all(fake.task_slugs[:1])
    finally:
        # Its loop is gone, so it cannot be closed the usual way; it never opened a connection,
        # so detaching the connector is all that closing would do.
        session._connector = None

    _assert_not_sent(caught.value, fake)
    assert outcomes[0].started is False
    assert "another event loop" in str(caught.value)


async def test_a_closed_client_is_a_not_sent_client_state_error(fake: FakeCoreClaw) -> None:
    client = client_for(fake)
    await client.aclose()

    with pytest.raises(ClientStateError) as caught:
        await client.account.info()

    _assert_not_sent(caught.value, fake)


# -- the callback receiver ---------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [("port", -1), ("port", 70000), ("port", "8080"), ("host", 5)])
async def test_a_receiver_refuses_a_bad_address_before_binding(field: str, value: Any) -> None:
    kwargs: dict[str, Any] = {"host": "127.0.0.1", "port": 0, field: value}
    async with CallbackReceiver() as receiver:
        with pytest.raises(InvalidParameterError) as caught:
            await receiver.start(**kwargs)

    assert caught.value.field == field


async def test_a_receiver_port_in_use_is_a_typed_error_that_is_also_an_os_error() -> None:
    async with CallbackReceiver().serve() as first, CallbackReceiver() as second:
        port = int(str(first.public_url).rsplit(":", 1)[1])
        with pytest.raises(ReceiverAddressError) as caught:
            await second.start("127.0.0.1", port)

    assert isinstance(caught.value, OSError)
    assert isinstance(caught.value, CoreClawError)
    assert isinstance(caught.value.__cause__, OSError)


@pytest.mark.parametrize("prefix", ["hooks", "/a b", "/{token}", 5, "/\ud800"])
def test_a_receiver_route_prefix_must_be_a_plain_path(prefix: Any) -> None:
    with pytest.raises(InvalidParameterError):
        CallbackReceiver().routes(prefix)


@pytest.mark.parametrize("label", [5, b"x", "\ud800", "a\nb"])
def test_a_launch_label_must_be_text(label: Any) -> None:
    receiver = CallbackReceiver(public_url="https://example.com/coreclaw")

    with pytest.raises(InvalidParameterError) as caught:
        receiver.mint(label=label)

    assert caught.value.field == "label"


@pytest.mark.parametrize("body", [None, 5, [1], '{"run_status":"\ud800"}', b"\xff\xfe"])
def test_a_callback_body_of_any_kind_parses_or_raises_invalid_callback_error(body: Any) -> None:
    with contextlib.suppress(InvalidCallbackError):
        RunCallback.parse(body)


@pytest.mark.parametrize("run", [None, 123, b"01KSF", []])
async def test_waiting_on_something_that_is_not_a_run_or_a_launch_is_refused_at_once(run: Any) -> None:
    async with CallbackReceiver() as receiver:
        with pytest.raises(InvalidParameterError):
            await receiver.wait(run, timeout=30)


@pytest.mark.parametrize("method", ["launch_for", "final_notice", "confirm_final"])
def test_receiver_lookups_refuse_what_is_not_a_slug(method: str) -> None:
    with pytest.raises(InvalidParameterError):
        getattr(CallbackReceiver(), method)([])


@pytest.mark.parametrize("host", ["a..b", "a" * 70, "\ud800"])
async def test_a_host_name_that_cannot_be_resolved_is_a_typed_error(host: str) -> None:
    async with CallbackReceiver() as receiver:
        with pytest.raises((ReceiverAddressError, InvalidParameterError)):
            await receiver.start(host, 0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"system": {"cpus": 1}}, "system"),
        ({"input": {"parameters": {"custom": {}, "system": {1: 2, "x": 3}}}}, "input"),
    ],
)
async def test_worker_container_settings_of_the_wrong_shape_are_refused(
    client: AsyncCoreClaw, fake: FakeCoreClaw, kwargs: dict[str, Any], field: str
) -> None:
    arguments: dict[str, Any] = {"input": {"searchTerms": ["x"]}, **kwargs}

    with pytest.raises(InvalidParameterError) as caught:
        await client.workers.run("coreclaw/google-maps-scraper", **arguments)

    assert caught.value.field == field
    _assert_not_sent(caught.value, fake)


@pytest.mark.parametrize("method", ["runs.rerun", "workers.run", "tasks.run"])
async def test_an_empty_callback_url_is_refused_everywhere_rather_than_replaced(
    client: AsyncCoreClaw, fake: FakeCoreClaw, method: str
) -> None:
    calls = {
        "runs.rerun": lambda: client.runs.rerun("01KSFDS8XWTJME33C08XMCR6B9", callback_url=""),
        "workers.run": lambda: client.workers.run("coreclaw/google-maps-scraper", input={}, callback_url=""),
        "tasks.run": lambda: client.tasks.run(fake.task_slugs[0], callback_url=""),
    }

    with pytest.raises(InvalidParameterError) as caught:
        await calls[method]()

    assert caught.value.field == "callback_url"
    _assert_not_sent(caught.value, fake)
