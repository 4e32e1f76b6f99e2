"""The client's metrics, collected by the SDK's in-memory reader."""

from __future__ import annotations

import asyncio

import attrs
import pytest

from coreclaw_async import AsyncCoreClaw, RunNotFoundError
from coreclaw_async.testing import FakeCoreClaw, Fault

from ..conftest import CALLBACK_URL
from .conftest import FAST, Recorded


async def test_calls_that_queue_for_a_connection_record_their_wait_at_the_limiter(
    fake_v1: FakeCoreClaw, recorded: Recorded
) -> None:
    async with AsyncCoreClaw(
        fake_v1.api_key, base_url=fake_v1.url, max_connections=1, telemetry=recorded.telemetry
    ) as client:
        await asyncio.gather(*(client.account.info() for _ in range(5)))

    waits = recorded.points("coreclaw.client.limiter.wait")
    assert [attributes for attributes, _ in waits] == [
        {"coreclaw.api_version": "v1", "coreclaw.gate": "limiter"}
    ]
    assert 1 <= waits[0][1].count <= 4  # the first call finds the slot free; the others may queue
    assert recorded.total("coreclaw.client.duration", **{"coreclaw.outcome": "succeeded"}) == 5


async def test_a_failed_read_counts_one_error_by_class_and_code(
    traced: AsyncCoreClaw, recorded: Recorded
) -> None:
    with pytest.raises(RunNotFoundError) as caught:
        await traced.runs.get("01KSFDXRNYGKT3NNE11EMR4W5X")

    [(attributes, point)] = recorded.points("coreclaw.client.errors")
    assert attributes == {
        "coreclaw.api_version": "v1",
        "coreclaw.operation": "run.get",
        "coreclaw.outcome": "rejected",
        "error.type": "RunNotFoundError",
        "coreclaw.code": caught.value.code,
    }
    assert point.value == 1
    assert recorded.points("coreclaw.client.starts") == []  # a read is not a start


async def test_a_start_waiting_for_plan_capacity_records_the_refusal_and_the_wait(
    fake_v1: FakeCoreClaw, recorded: Recorded
) -> None:
    policy = attrs.evolve(FAST, capacity_backoff_base=0.01, capacity_backoff_max=0.02)
    fake_v1.inject(Fault.CONCURRENCY_LIMIT, times=2, path="/api/v1/task/run")
    async with AsyncCoreClaw(
        fake_v1.api_key,
        base_url=fake_v1.url,
        callback_url=CALLBACK_URL,
        retry=policy,
        wait_for_capacity=True,
        telemetry=recorded.telemetry,
    ) as client:
        await client.tasks.run(fake_v1.add_task())

    [span] = recorded.spans("task.run")
    assert span.attributes["coreclaw.outcome"] == "succeeded"
    assert span.attributes["coreclaw.attempts"] == 3
    assert [event.name for event in span.events] == ["coreclaw.capacity_refused"] * 2
    assert {event.attributes["coreclaw.code"] for event in span.events} == {30003}
    assert recorded.total("coreclaw.client.limiter.wait", **{"coreclaw.gate": "capacity"}) == 2
    assert recorded.total("coreclaw.client.retries") == 0  # capacity waits are not retries
