"""``Limiter``: bounded slots, FIFO hand-off, gate deadlines, cancellation, cooldown and pacing."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from coreclaw_async._limits import GateTimeout, Limiter

FAR = 30.0  # seconds: a gate deadline no test reaches


def _now() -> float:
    return asyncio.get_running_loop().time()


def _deadline(seconds: float = FAR) -> float:
    return _now() + seconds


async def _settle() -> None:
    """Let every ready task run until it blocks."""
    for _ in range(5):
        await asyncio.sleep(0)


async def _assert_a_slot_is_free_now(limiter: Limiter) -> None:
    """A fresh acquire with a short deadline succeeds at once (no ghost waiter, no lost slot)."""
    assert await limiter.acquire(_deadline(0.05)) == pytest.approx(0.0, abs=0.01)
    limiter.release()


def test_a_limiter_needs_at_least_one_slot_and_a_positive_rate() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        Limiter(0)
    with pytest.raises(ValueError, match="max_rate"):
        Limiter(1, max_rate=0)


# -- slots -------------------------------------------------------------------------------


async def test_acquire_returns_at_once_while_slots_are_free() -> None:
    limiter = Limiter(2)

    assert await limiter.acquire(_deadline()) == 0.0
    assert await limiter.acquire(_deadline()) == 0.0
    assert limiter.in_flight == 2


async def test_an_acquire_beyond_the_limit_waits_for_a_release() -> None:
    limiter = Limiter(2)
    await limiter.acquire(_deadline())
    await limiter.acquire(_deadline())

    third = asyncio.create_task(limiter.acquire(_deadline()))
    await _settle()
    assert not third.done()

    limiter.release()
    await third
    assert limiter.in_flight == 2


async def test_never_more_than_the_limit_are_in_flight() -> None:
    limiter = Limiter(3)
    peak = 0

    async def worker() -> None:
        nonlocal peak
        await limiter.acquire(_deadline())
        try:
            peak = max(peak, limiter.in_flight)
            await asyncio.sleep(0.001)
        finally:
            limiter.release()

    await asyncio.gather(*(worker() for _ in range(20)))

    assert peak == 3
    assert limiter.in_flight == 0


async def test_waiters_get_slots_in_arrival_order() -> None:
    limiter = Limiter(1)
    await limiter.acquire(_deadline())
    order: list[str] = []

    async def waiter(name: str) -> None:
        await limiter.acquire(_deadline())
        order.append(name)

    tasks = []
    for name in "abcde":
        tasks.append(asyncio.create_task(waiter(name)))
        await _settle()
    for _ in tasks:
        limiter.release()
        await _settle()

    await asyncio.gather(*tasks)
    assert order == list("abcde")
    assert limiter.in_flight == 1


# -- deadlines and cancellation ------------------------------------------------------------


async def test_waiting_past_the_gate_deadline_raises_gate_timeout_at_the_deadline() -> None:
    limiter = Limiter(1)
    await limiter.acquire(_deadline())
    start = _now()

    with pytest.raises(GateTimeout):
        await limiter.acquire(start + 0.05)

    assert 0.04 <= _now() - start < 1.0
    assert limiter.in_flight == 1


async def test_a_gate_timeout_leaves_no_waiter_behind() -> None:
    limiter = Limiter(1)
    await limiter.acquire(_deadline())
    with pytest.raises(GateTimeout):
        await limiter.acquire(_deadline(0.02))

    limiter.release()

    assert limiter.in_flight == 0
    await _assert_a_slot_is_free_now(limiter)


async def test_cancelling_a_waiter_leaves_the_counters_right() -> None:
    limiter = Limiter(1)
    await limiter.acquire(_deadline())
    waiter = asyncio.create_task(limiter.acquire(_deadline()))
    await _settle()

    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    limiter.release()

    assert limiter.in_flight == 0
    await _assert_a_slot_is_free_now(limiter)


async def test_a_waiter_cancelled_just_after_a_hand_off_gives_the_slot_back() -> None:
    limiter = Limiter(1)
    await limiter.acquire(_deadline())
    waiter = asyncio.create_task(limiter.acquire(_deadline()))
    await _settle()

    limiter.release()  # hands the slot to the waiter, which has not run yet
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter

    assert limiter.in_flight == 0
    await _assert_a_slot_is_free_now(limiter)


async def test_a_released_slot_skips_waiters_that_timed_out() -> None:
    limiter = Limiter(1)
    await limiter.acquire(_deadline())
    late = asyncio.create_task(limiter.acquire(_deadline(0.02)))
    patient = asyncio.create_task(limiter.acquire(_deadline()))

    with pytest.raises(GateTimeout):
        await late
    limiter.release()
    await asyncio.wait_for(patient, 1.0)

    assert limiter.in_flight == 1


# -- rate-limit reaction -------------------------------------------------------------------


async def test_a_rate_limit_halves_the_limit_down_to_one() -> None:
    limiter = Limiter(8)
    limits = []
    for _ in range(5):
        limiter.on_rate_limited(0.0)
        limits.append(limiter.limit)

    assert limits == [4, 2, 1, 1, 1]


async def test_a_rate_limit_cooldown_makes_acquire_wait() -> None:
    limiter = Limiter(4)
    limiter.on_rate_limited(0.1)
    assert limiter.cooling_down
    start = _now()

    waited = await limiter.acquire(_deadline())

    assert _now() - start >= 0.09
    assert waited >= 0.09
    assert not limiter.cooling_down
    assert limiter.waited_total >= 0.09


async def test_a_cooldown_past_the_gate_deadline_raises_gate_timeout_without_taking_a_slot() -> None:
    limiter = Limiter(4)
    limiter.on_rate_limited(5.0)
    start = _now()

    with pytest.raises(GateTimeout):
        await limiter.acquire(start + 0.05)

    assert _now() - start < 1.0
    assert limiter.in_flight == 0


async def test_successes_grow_the_limit_back_one_window_at_a_time() -> None:
    limiter = Limiter(8)
    limiter.on_rate_limited(0.0)
    assert limiter.limit == 4

    for _ in range(3):
        limiter.on_success()
    assert limiter.limit == 4
    limiter.on_success()
    assert limiter.limit == 5

    for _ in range(100):
        limiter.on_success()
    assert limiter.limit == 8


async def test_growing_the_limit_wakes_a_waiter() -> None:
    limiter = Limiter(2)
    limiter.on_rate_limited(0.0)
    await limiter.acquire(_deadline())
    waiter = asyncio.create_task(limiter.acquire(_deadline()))
    await _settle()
    assert not waiter.done()

    limiter.on_success()  # a full window at limit 1: the limit goes back to 2
    await asyncio.wait_for(waiter, 1.0)

    assert limiter.in_flight == 2


async def test_after_halving_a_release_above_the_new_limit_is_not_handed_on() -> None:
    limiter = Limiter(2)
    await limiter.acquire(_deadline())
    await limiter.acquire(_deadline())
    waiter = asyncio.create_task(limiter.acquire(_deadline()))
    await _settle()
    limiter.on_rate_limited(0.0)

    limiter.release()
    await _settle()
    assert not waiter.done()
    assert limiter.in_flight == 1

    limiter.release()
    await asyncio.wait_for(waiter, 1.0)
    assert limiter.in_flight == 1


# -- pacing --------------------------------------------------------------------------------


async def test_max_rate_spaces_acquisitions() -> None:
    limiter = Limiter(10, max_rate=20.0)  # one every 50 ms
    times = []
    for _ in range(4):
        await limiter.acquire(_deadline())
        times.append(_now())
        limiter.release()

    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(gap >= 0.045 for gap in gaps)
    assert times[-1] - times[0] < 1.0


async def test_pacing_past_the_gate_deadline_raises_gate_timeout_and_frees_the_slot() -> None:
    limiter = Limiter(1, max_rate=1.0)
    await limiter.acquire(_deadline())
    limiter.release()

    with pytest.raises(GateTimeout):
        await limiter.acquire(_deadline(0.05))

    assert limiter.in_flight == 0


# -- why the gate refused, and stale rate-limit answers -----------------------------------


async def test_gate_timeouts_say_whether_a_slot_a_cooldown_or_the_pace_was_in_the_way() -> None:
    busy = Limiter(1)
    await busy.acquire(_deadline())
    with pytest.raises(GateTimeout) as slot:
        await busy.acquire(_deadline(0.02))

    cooling = Limiter(1)
    cooling.on_rate_limited(5.0)
    with pytest.raises(GateTimeout) as cooldown:
        await cooling.acquire(_deadline(0.02))

    paced = Limiter(1, max_rate=1.0)
    await paced.acquire(_deadline())
    paced.release()
    with pytest.raises(GateTimeout) as pace:
        await paced.acquire(_deadline(0.02))

    assert (slot.value.reason, cooldown.value.reason, pace.value.reason) == ("slot", "cooldown", "pace")


async def test_a_slot_wait_bounded_by_the_slot_deadline_does_not_wait_for_the_gate_deadline() -> None:
    limiter = Limiter(1)
    await limiter.acquire(_deadline())
    start = _now()

    with pytest.raises(GateTimeout):
        await limiter.acquire(_deadline(), slot_deadline=start + 0.03)

    assert _now() - start < 1.0


async def test_rate_limit_answers_from_before_a_halving_do_not_halve_again() -> None:
    limiter = Limiter(8)
    epoch = limiter.epoch  # three requests sent in the same window

    limiter.on_rate_limited(0.0, epoch=epoch)
    limiter.on_rate_limited(0.0, epoch=epoch)
    limiter.on_rate_limited(0.0, epoch=epoch)

    assert limiter.limit == 4
    limiter.on_rate_limited(0.0, epoch=limiter.epoch)
    assert limiter.limit == 2


async def test_a_stale_rate_limit_answer_still_extends_the_cooldown() -> None:
    limiter = Limiter(8)
    epoch = limiter.epoch
    limiter.on_rate_limited(0.0, epoch=epoch)

    limiter.on_rate_limited(5.0, epoch=epoch)

    assert limiter.limit == 4
    assert limiter.cooling_down


async def test_a_cooldown_that_begins_while_queued_is_waited_out_after_the_hand_off() -> None:
    limiter = Limiter(1)
    await limiter.acquire(_deadline())
    waiter = asyncio.create_task(limiter.acquire(_deadline()))
    await _settle()

    limiter.on_rate_limited(0.1)
    start = _now()
    limiter.release()
    await waiter

    assert _now() - start >= 0.09
    assert limiter.in_flight == 1


# -- try_acquire (the pipeline's no-wait fast path) ----------------------------------------


async def test_try_acquire_takes_a_free_slot_and_refuses_when_full() -> None:
    limiter = Limiter(1)

    assert limiter.try_acquire(_now())
    assert limiter.in_flight == 1
    assert not limiter.try_acquire(_now())
    assert limiter.in_flight == 1
    limiter.release()
    assert limiter.in_flight == 0


async def test_try_acquire_never_jumps_a_queue_a_cooldown_or_the_pace() -> None:
    queued = Limiter(1)
    await queued.acquire(_deadline())
    waiter = asyncio.create_task(queued.acquire(_deadline()))
    await _settle()
    queued.release()  # the slot goes to the waiter, not to a newcomer
    assert not queued.try_acquire(_now())
    await waiter
    queued.release()

    cooling = Limiter(2)
    cooling.on_rate_limited(FAR)
    assert not cooling.try_acquire(_now())
    assert cooling.in_flight == 0

    paced = Limiter(2, max_rate=1000)
    assert not paced.try_acquire(_now())
    assert paced.waited_total == 0.0
