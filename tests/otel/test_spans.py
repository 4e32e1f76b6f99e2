"""One span per API call, over real loopback HTTP against FakeCoreClaw, read from the SDK in memory."""

from __future__ import annotations

import asyncio
import gc
import socket
from collections import Counter
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from coreclaw_async import (
    APIConnectionError,
    AsyncCoreClaw,
    ConcurrencyLimitError,
    RunNotFoundError,
    RunStartUnknownError,
)
from coreclaw_async.testing import FakeCoreClaw, Fault

from ..conftest import CALLBACK_URL
from .conftest import FAST, Recorded


def _values(span: ReadableSpan) -> list[Any]:
    """Every recorded value of a span: attributes, events and their attributes, status, name."""
    values: list[Any] = [span.name, span.status.description, *(span.attributes or {}).values()]
    for event in span.events:
        values.append(event.name)
        values.extend((event.attributes or {}).values())
    return values


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_run_all_of_100_starts_records_100_client_spans_that_succeeded(
    traced: AsyncCoreClaw, fake_v1: FakeCoreClaw, recorded: Recorded
) -> None:
    slugs = [fake_v1.add_task() for _ in range(100)]

    outcomes = await traced.tasks.run_all(slugs, concurrency=10)

    spans = recorded.spans("task.run")
    assert len(spans) == 100
    assert all(span.kind is SpanKind.CLIENT for span in spans)
    assert all(span.status.status_code is StatusCode.UNSET for span in spans)
    assert {span.attributes["coreclaw.outcome"] for span in spans} == {"succeeded"}
    assert {span.attributes["coreclaw.attempts"] for span in spans} == {1}
    assert {span.attributes["coreclaw.api_version"] for span in spans} == {"v1"}
    assert {span.attributes["http.request.method"] for span in spans} == {"POST"}
    assert {span.attributes["url.path"] for span in spans} == {"/api/v1/task/run"}
    assert {span.attributes["server.address"] for span in spans} == {"127.0.0.1"}
    run_slugs = {o.run.run_slug for o in outcomes if o.run is not None}
    assert {span.attributes["coreclaw.run_slug"] for span in spans} == run_slugs
    assert recorded.total("coreclaw.client.starts", **{"coreclaw.outcome": "succeeded"}) == 100
    assert recorded.total("coreclaw.client.duration", **{"coreclaw.operation": "task.run"}) == 100


async def test_run_all_spans_tell_retried_refused_and_unknown_starts_apart(
    traced: AsyncCoreClaw, fake_v1: FakeCoreClaw, recorded: Recorded
) -> None:
    slugs = [fake_v1.add_task() for _ in range(100)]
    start_path = "/api/v1/task/run"
    fake_v1.inject(Fault.RATE_LIMIT, path=start_path)
    fake_v1.inject(Fault.CONCURRENCY_LIMIT, path=start_path)
    fake_v1.inject(Fault.SERVER_ERROR, path=start_path)

    outcomes = await traced.tasks.run_all(slugs, concurrency=10)

    spans = recorded.spans("task.run")
    assert len(spans) == 100
    by_outcome = Counter(span.attributes["coreclaw.outcome"] for span in spans)
    assert by_outcome == {"succeeded": 98, "rejected": 1, "unknown": 1}
    retried = [span for span in spans if span.attributes["coreclaw.attempts"] == 2]
    assert len(retried) == 1
    assert retried[0].attributes["coreclaw.outcome"] == "succeeded"
    [event] = retried[0].events
    assert event.name == "coreclaw.retry"
    assert event.attributes["coreclaw.retry.reason"] == "rate_limited"
    assert event.attributes["coreclaw.attempt"] == 1
    assert event.attributes["http.response.status_code"] == 429
    [refused] = [span for span in spans if span.attributes["coreclaw.outcome"] == "rejected"]
    assert refused.attributes["coreclaw.code"] == 30003
    assert refused.attributes["error.type"] == ConcurrencyLimitError.__name__
    assert refused.status.status_code is StatusCode.ERROR
    assert [event.name for event in refused.events] == ["exception"]
    [unknown] = [span for span in spans if span.attributes["coreclaw.outcome"] == "unknown"]
    assert unknown.attributes["error.type"] == RunStartUnknownError.__name__
    assert unknown.status.status_code is StatusCode.ERROR
    failed = [o for o in outcomes if o.error is not None]
    assert {type(o.error) for o in failed} == {ConcurrencyLimitError, RunStartUnknownError}
    assert recorded.total("coreclaw.client.starts", **{"coreclaw.outcome": "rejected"}) == 1
    assert recorded.total("coreclaw.client.starts", **{"coreclaw.outcome": "unknown"}) == 1
    assert recorded.total("coreclaw.client.errors", **{"coreclaw.code": 30003}) == 1
    assert recorded.total("coreclaw.client.errors", **{"error.type": "RunStartUnknownError"}) == 1
    assert recorded.total("coreclaw.client.retries", **{"coreclaw.retry.reason": "rate_limited"}) == 1
    assert not [span.name for span in spans if any(fake_v1.api_key in str(v) for v in _values(span))]


async def test_a_start_to_a_closed_port_is_one_span_not_sent_after_every_attempt(recorded: Recorded) -> None:
    async with AsyncCoreClaw(
        "key", base_url=f"http://127.0.0.1:{_free_port()}", retry=FAST, telemetry=recorded.telemetry
    ) as client:
        with pytest.raises(APIConnectionError):
            await client.tasks.run("01KSFDXRNYGKT3NNE11EMR4W5X", callback_url=CALLBACK_URL)

    [span] = recorded.spans()
    assert span.name == "task.run"
    assert span.attributes["coreclaw.outcome"] == "not_sent"
    assert span.attributes["coreclaw.attempts"] == 3
    assert [event.name for event in span.events] == ["coreclaw.retry", "coreclaw.retry", "exception"]
    assert recorded.total("coreclaw.client.starts", **{"coreclaw.outcome": "not_sent"}) == 1


async def test_v2_spans_carry_the_api_version_and_never_the_key(recorded: Recorded) -> None:
    async with FakeCoreClaw(seed=7, api_versions=("v2",)) as fake:
        slug = fake.add_task()
        fake.inject(Fault.SERVER_ERROR, path="/api/v2/worker-runs/*")
        async with AsyncCoreClaw(
            fake.api_key,
            base_url=fake.url,
            callback_url=CALLBACK_URL,
            api_version="v2",
            retry=FAST,
            telemetry=recorded.telemetry,
        ) as client:
            run = await client.tasks.run(slug)
            await client.runs.get(run.run_slug)  # the 5xx first, then a retry that reads it
            with pytest.raises(RunNotFoundError):
                await client.runs.get("01KSFDXRNYGKT3NNE11EMR4W5X")
        key = fake.api_key

    spans = recorded.spans()
    assert [span.name for span in spans] == ["task.run", "run.get", "run.get"]
    assert {span.attributes["coreclaw.api_version"] for span in spans} == {"v2"}
    read = spans[1]
    assert read.attributes["coreclaw.run_slug"] == run.run_slug
    assert read.attributes["coreclaw.attempts"] == 2
    assert spans[0].attributes["coreclaw.request_id"] == run.request_id
    assert spans[2].attributes["coreclaw.outcome"] == "rejected"
    assert "coreclaw.request_id" in spans[2].attributes
    for span in spans:
        assert not [value for value in _values(span) if key in str(value)], span.name


async def test_a_call_cancelled_while_its_request_is_out_ends_its_span_as_unknown(
    traced: AsyncCoreClaw, fake_v1: FakeCoreClaw, recorded: Recorded
) -> None:
    fake_v1.inject(Fault.SLOW, delay=5.0)
    call = asyncio.ensure_future(traced.account.info())
    for _ in range(500):  # until the fake holds the request (bounded: 5 s)
        if sum(fake_v1.requests_by_path.values()):
            break
        await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    [span] = recorded.spans()
    # Sent, no answer: the fan-out's ledger says unknown too.
    assert span.attributes["coreclaw.outcome"] == "unknown"
    assert span.attributes["error.type"] == "CancelledError"
    assert span.status.status_code is StatusCode.ERROR
    assert recorded.total("coreclaw.client.duration", **{"coreclaw.outcome": "unknown"}) == 1


async def test_a_call_cancelled_before_it_was_sent_ends_its_span_as_not_sent(
    fake_v1: FakeCoreClaw, recorded: Recorded
) -> None:
    # One connection, held by a slow call: the second waits at the client's gate.
    async with AsyncCoreClaw(
        fake_v1.api_key, base_url=fake_v1.url, max_connections=1, telemetry=recorded.telemetry
    ) as client:
        fake_v1.inject(Fault.SLOW, delay=5.0)
        holding = asyncio.ensure_future(client.account.info())
        await asyncio.sleep(0.1)
        waiting = asyncio.ensure_future(client.tasks.run(fake_v1.task_slugs[0], callback_url=CALLBACK_URL))
        await asyncio.sleep(0.1)
        for call in (waiting, holding):
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call

    outcomes = {span.name: span.attributes["coreclaw.outcome"] for span in recorded.spans()}
    assert outcomes == {"task.run": "not_sent", "account.info": "unknown"}


async def test_an_unknown_start_carries_the_code_status_and_request_id_of_its_answer(
    recorded: Recorded,
) -> None:
    async with FakeCoreClaw(seed=7, api_versions=("v2",)) as fake:
        fake.inject(Fault.SERVER_ERROR)
        async with AsyncCoreClaw(
            fake.api_key, base_url=fake.url, api_version="v2", telemetry=recorded.telemetry
        ) as client:
            with pytest.raises(RunStartUnknownError):
                await client.tasks.run(fake.task_slugs[0])

    [span] = recorded.spans()
    attributes = span.attributes
    assert attributes["coreclaw.outcome"] == "unknown"
    assert attributes["error.type"] == "RunStartUnknownError"
    assert attributes["http.response.status_code"] == 500
    assert isinstance(attributes["coreclaw.code"], int)
    assert attributes["coreclaw.request_id"]


async def test_a_call_inside_a_callers_span_is_its_child(traced: AsyncCoreClaw, recorded: Recorded) -> None:
    with recorded.telemetry.tracer.start_as_current_span("job"):
        await traced.account.info()

    account, job = recorded.spans()
    assert (account.name, job.name) == ("account.info", "job")
    assert account.parent is not None
    assert account.parent.span_id == job.context.span_id


async def test_a_call_closed_before_it_began_leaves_no_span_and_no_coroutine_behind(
    traced: AsyncCoreClaw, recorded: Recorded
) -> None:
    # The pipeline's own coroutine, as the fan-out pool and the pollers hold it before awaiting.
    manager = traced._manager
    call = manager.call(manager.dialect.ops.account_info)
    call.close()
    del call
    gc.collect()  # a coroutine never awaited would warn here, and warnings are errors

    assert recorded.spans() == []
