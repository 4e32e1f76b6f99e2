"""The sliding window behind ``rate_limit``, driven by explicit instants (no clock involved)."""

from __future__ import annotations

import aiohttp
import pytest

from coreclaw_async.testing import FakeCoreClaw
from coreclaw_async.testing._rate import RateWindow

from .conftest import Api


def test_at_most_the_limit_is_accepted_in_any_sliding_second() -> None:
    window = RateWindow(2)
    assert window.admit(0.0) is None
    assert window.admit(0.5) is None
    assert window.admit(0.9) == pytest.approx(0.1)
    assert window.admit(1.0) is None, "the acceptance at 0.0 left the window"
    assert window.admit(1.2) == pytest.approx(0.3)
    assert window.admit(1.5) is None


def test_refusals_do_not_enter_the_window() -> None:
    window = RateWindow(1)
    assert window.admit(10.0) is None
    for instant in (10.2, 10.4, 10.6, 10.8):
        assert window.admit(instant) is not None
    assert window.admit(11.0) is None


def test_a_fractional_limit_rounds_down_and_none_accepts_everything() -> None:
    window = RateWindow(2.9)
    assert [window.admit(0.1 * n) is None for n in range(4)] == [True, True, False, False]
    window.limit = None
    assert all(window.admit(1.0) is None for _ in range(1000))


def test_lowering_the_limit_keeps_the_newest_acceptances() -> None:
    window = RateWindow(5)
    for instant in (0.0, 0.1, 0.2, 0.3):
        assert window.admit(instant) is None
    window.limit = 2
    assert window.admit(0.4) == pytest.approx(0.8), "0.2 and 0.3 are still in the window"
    assert window.admit(1.25) is None


async def test_in_always_200_mode_v1_refuses_with_http_200_and_still_sends_retry_after(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeCoreClaw(rate_limit=1, http_status_mode="always_200") as fake:
        api = Api(http, fake)
        assert (await api.post("/api/v1/account/info")).code == 0
        reply = await api.post("/api/v1/account/info")
        assert (reply.status, reply.code, reply.headers["Retry-After"]) == (200, 4290, "1")
