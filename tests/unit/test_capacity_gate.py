"""``CapacityGate``: one probe at a time while the plan's concurrent-run limit is full."""

from __future__ import annotations

import asyncio
import random

import pytest

from coreclaw_async._limits import CapacityGate, GateTimeout


def _gate(base: float = 0.05, ceiling: float = 0.4) -> CapacityGate:
    return CapacityGate(base=base, ceiling=ceiling, rng=random.Random(4))


async def test_an_open_gate_lets_every_start_through_at_once() -> None:
    gate = _gate()
    loop = asyncio.get_running_loop()

    held = [await gate.enter(loop.time() + 1) for _ in range(5)]

    assert held == [False] * 5
    assert not gate.closed


async def test_a_refusal_closes_the_gate_and_the_next_start_waits_for_the_backoff() -> None:
    gate = _gate(base=0.2, ceiling=0.2)
    loop = asyncio.get_running_loop()
    gate.leave(await gate.enter(loop.time() + 5), started=False)
    assert gate.closed

    before = loop.time()
    held = await gate.enter(loop.time() + 5)

    assert held is True
    assert 0.09 <= loop.time() - before <= 0.3  # half to all of the 0.2 s ceiling
    gate.leave(held, started=True)
    assert not gate.closed  # nobody else waited: the gate opens again


async def test_the_backoff_doubles_per_refusal_in_a_row_up_to_the_ceiling_with_jitter() -> None:
    gate = _gate(base=1.0, ceiling=30.0)
    loop = asyncio.get_running_loop()
    ceilings = []
    for _ in range(7):
        gate.leave(True, started=False)  # a probe refused
        ceilings.append(gate._probe_at - loop.time())

    assert all(
        0.5 * min(30.0, 2.0**i) - 0.01 <= c <= min(30.0, 2.0**i) + 0.01 for i, c in enumerate(ceilings)
    )


async def test_waiters_go_one_at_a_time_and_a_started_probe_opens_the_way_for_the_next_at_once() -> None:
    gate = _gate(base=0.05, ceiling=0.05)
    loop = asyncio.get_running_loop()
    gate.leave(False, started=False)  # a free-pass start was refused: the gate closes
    order: list[int] = []

    async def start(number: int) -> None:
        held = await gate.enter(loop.time() + 5)
        order.append(number)
        await asyncio.sleep(0.01)
        gate.leave(held, started=True)

    began = loop.time()
    await asyncio.gather(*(start(n) for n in range(4)))

    assert order == [0, 1, 2, 3]
    # One backoff for the first probe, then each success hands over at once.
    assert loop.time() - began < 0.05 + 4 * 0.01 + 0.1
    assert not gate.closed


async def test_a_turn_that_would_come_after_the_deadline_is_refused_at_once() -> None:
    gate = _gate(base=5.0, ceiling=5.0)
    loop = asyncio.get_running_loop()
    gate.leave(False, started=False)
    before = loop.time()

    with pytest.raises(GateTimeout) as caught:
        await gate.enter(loop.time() + 0.1)

    assert caught.value.reason == "capacity"
    assert loop.time() - before < 0.05  # no point sleeping until the deadline


async def test_a_waiter_cancelled_in_the_queue_leaves_no_trace_and_passes_nothing_on() -> None:
    gate = _gate(base=0.05, ceiling=0.05)
    loop = asyncio.get_running_loop()
    gate.leave(False, started=False)
    first = await gate.enter(loop.time() + 5)  # holds the probe
    waiter = asyncio.ensure_future(gate.enter(loop.time() + 5))
    await asyncio.sleep(0)

    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.leave(first, started=True)

    assert not gate._waiters
    assert not gate.closed
