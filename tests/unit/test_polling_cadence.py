"""``Cadence``: the one place that decides when the next read of a waited-for run is due."""

from __future__ import annotations

import itertools
import random

from coreclaw_async._polling import Cadence
from coreclaw_async.models import Run, RunStatus


def _run(status: RunStatus) -> Run:
    return Run(run_slug="01KSFDS8XWTJME33C08XMCR6B9", status_code=int(status))


def test_the_gaps_start_near_a_second_grow_and_stay_jittered_under_the_poll_interval() -> None:
    cadence = Cadence(poll_interval=10.0, abort_grace=30.0)
    rng = random.Random(3)
    now = 0.0
    gaps = []
    for _ in range(12):
        due = cadence.next_read(_run(RunStatus.RUNNING), now, rng)
        assert due is not None
        gaps.append(due - now)
        now = due

    assert 0.7 <= gaps[0] <= 1.25  # the first re-check comes after about a second
    assert all(later > earlier for earlier, later in itertools.pairwise(gaps[:5]))  # it grows
    assert max(gaps) <= 10.0
    assert gaps[-1] >= 7.5
    assert len({round(g, 6) for g in gaps[-4:]}) > 1  # jittered, not lockstep


def test_a_final_run_needs_no_further_read() -> None:
    cadence = Cadence(poll_interval=10.0, abort_grace=30.0)

    assert cadence.next_read(_run(RunStatus.SUCCEEDED), 5.0, random.Random(1)) is None
    assert cadence.next_read(_run(RunStatus.FAILED), 5.0, random.Random(1)) is None


def test_an_aborting_run_is_read_until_the_grace_ends_and_never_past_it() -> None:
    cadence = Cadence(poll_interval=10.0, abort_grace=3.0)
    rng = random.Random(5)
    now = 100.0
    dues = []
    # Bounded: the grace ends after 3 s, and every gap is at least 0.8 s.
    while (due := cadence.next_read(_run(RunStatus.ABORTING), now, rng)) is not None:
        assert due <= 103.0
        dues.append(due)
        now = due

    assert now == 103.0 or now >= 103.0 - 1e-9
    assert len(dues) >= 2


def test_leaving_aborting_resets_the_grace() -> None:
    cadence = Cadence(poll_interval=1.0, abort_grace=2.0)
    rng = random.Random(2)

    assert cadence.next_read(_run(RunStatus.ABORTING), 0.0, rng) is not None
    assert cadence.next_read(_run(RunStatus.RUNNING), 1.5, rng) is not None
    assert cadence.aborting_since is None
    assert cadence.next_read(_run(RunStatus.ABORTING), 2.5, rng) is not None  # a new grace from 2.5


def test_a_failed_read_backs_off_like_a_read_that_saw_the_run_running() -> None:
    rng_a, rng_b = random.Random(9), random.Random(9)
    failing, running = Cadence(10.0, 30.0), Cadence(10.0, 30.0)

    for step in range(6):
        now = float(step * 20)
        assert failing.after_failure(now, rng_a) == running.next_read(_run(RunStatus.RUNNING), now, rng_b)
