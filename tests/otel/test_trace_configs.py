"""``AsyncCoreClaw(trace_configs=[...])``: aiohttp request tracing sees the client's requests."""

from __future__ import annotations

import types
from typing import Any

import aiohttp
import pytest
from opentelemetry.instrumentation.aiohttp_client import create_trace_config
from opentelemetry.trace import SpanKind

from coreclaw_async import AsyncCoreClaw, InvalidParameterError
from coreclaw_async.testing import FakeCoreClaw

from .conftest import FAST, Recorded


async def test_a_callers_trace_config_sees_the_start_and_end_of_each_request(fake_v1: FakeCoreClaw) -> None:
    seen: list[tuple[str, str, Any]] = []

    async def on_start(_: Any, __: types.SimpleNamespace, params: aiohttp.TraceRequestStartParams) -> None:
        seen.append(("start", params.method, params.url.path))

    async def on_end(_: Any, __: types.SimpleNamespace, params: aiohttp.TraceRequestEndParams) -> None:
        seen.append(("end", params.method, params.response.status))

    config = aiohttp.TraceConfig()
    config.on_request_start.append(on_start)
    config.on_request_end.append(on_end)
    async with AsyncCoreClaw(
        fake_v1.api_key, base_url=fake_v1.url, trace_configs=[config], telemetry=False
    ) as client:
        await client.account.info()
        await client.proxy_regions()

    assert seen == [
        ("start", "POST", "/api/v1/account/info"),
        ("end", "POST", 200),
        ("start", "GET", "/api/proxy/region"),
        ("end", "GET", 200),
    ]


async def test_opentelemetry_aiohttp_instrumentation_nests_its_http_spans_under_ours(
    fake_v1: FakeCoreClaw, recorded: Recorded
) -> None:
    config = create_trace_config(tracer_provider=recorded.tracer_provider)
    async with AsyncCoreClaw(
        fake_v1.api_key,
        base_url=fake_v1.url,
        retry=FAST,
        telemetry=recorded.telemetry,
        trace_configs=(config,),
    ) as client:
        await client.account.info()

    http, call = recorded.spans()
    assert call.name == "account.info"
    assert http.kind is SpanKind.CLIENT
    assert http.name == "POST"
    assert http.parent is not None
    assert http.parent.span_id == call.context.span_id
    assert fake_v1.api_key not in str(dict(http.attributes or {}))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (aiohttp.TraceConfig(), "must be a list of aiohttp.TraceConfig, got TraceConfig"),
        ("trace", "must be a list of aiohttp.TraceConfig, got str"),
        ([object()], "must hold only aiohttp.TraceConfig objects, got object"),
    ],
)
def test_trace_configs_that_are_not_a_list_of_trace_configs_are_refused(value: Any, problem: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        AsyncCoreClaw("key", trace_configs=value, telemetry=False)

    assert caught.value.field == "trace_configs"
    assert problem in str(caught.value)


async def test_trace_configs_with_a_callers_session_are_refused() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(InvalidParameterError, match="cannot be added to a session you pass in") as caught:
            AsyncCoreClaw("key", session=session, trace_configs=[aiohttp.TraceConfig()])

    assert caught.value.field == "trace_configs"
