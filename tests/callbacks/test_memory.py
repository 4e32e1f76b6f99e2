"""A launch costs little memory, and nothing a receiver does scans every launch it holds."""

from __future__ import annotations

import gc
import time
import tracemalloc

from coreclaw_async import CallbackReceiver
from coreclaw_async._constants import CALLBACK_PRUNE_BUDGET

LAUNCHES = 20_000


def bytes_per_launch(receiver: CallbackReceiver, *, bound: bool) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for number in range(LAUNCHES):
            launch = receiver.mint(label="task")
            if bound:
                # A ULID-like slug: letters, no long run of digits.
                slug = "01KZDQ89G8PTTWG5Z7" + "".join(chr(65 + (number // 26**k) % 26) for k in range(8))
                launch.bind(slug)
                receiver.subscribe([slug], lambda _: None)()  # and nothing left behind by a subscription
        gc.collect()
        return (tracemalloc.get_traced_memory()[0] - before) / LAUNCHES
    finally:
        tracemalloc.stop()


def test_a_minted_launch_takes_well_under_half_a_kilobyte() -> None:
    # Measured at about 280-310 bytes; it was about 820 before launches were slimmed down.
    receiver = CallbackReceiver(public_url="https://example.com/coreclaw")

    assert bytes_per_launch(receiver, bound=False) < 450


def test_a_launch_bound_to_its_run_takes_under_600_bytes() -> None:
    # Measured at about 380 bytes: the launch, its run's slug and the index entry by slug.
    receiver = CallbackReceiver(public_url="https://example.com/coreclaw")

    assert bytes_per_launch(receiver, bound=True) < 600


def test_a_receiver_never_holds_more_than_max_launches() -> None:
    receiver = CallbackReceiver(public_url="https://example.com/coreclaw", max_launches=1_000)
    for _ in range(5_000):
        receiver.mint()

    assert receiver.stats.launches == 1_000
    assert receiver.stats.evicted == 4_000


def test_a_mass_expiry_is_spread_over_later_mints_in_bounded_steps() -> None:
    receiver = CallbackReceiver(public_url="https://example.com/coreclaw", launch_ttl=0.05)
    for _ in range(10_000):
        receiver.mint()
    time.sleep(0.1)

    steps = []
    for _ in range(10_000 // CALLBACK_PRUNE_BUDGET + 1):
        before = receiver.stats.expired
        receiver.mint()
        steps.append(receiver.stats.expired - before)

    assert max(steps) == CALLBACK_PRUNE_BUDGET  # never the whole backlog at once
    assert receiver.stats.expired == 10_000
