"""What ``client.account`` and ``client.proxy_regions`` put on the wire (aioresponses)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from aioresponses import aioresponses

from coreclaw_async import AccountInfo, AsyncCoreClaw, AuthenticationError, ProxyRegion

from .conftest import BASE, KEY, ok, only, sent


async def test_account_info_posts_an_empty_json_object(client: AsyncCoreClaw, mocked: aioresponses) -> None:
    body = {"balance": "10122.5547", "traffic": 178194757135, "traffic_expiration_at": 1775267018}
    mocked.post(BASE + "/api/v1/account/info", body=ok(body))

    info = await client.account.info()

    request = only(mocked)
    assert (request.method, request.path) == ("POST", "/api/v1/account/info")
    assert request.raw == b"{}"
    assert request.headers["api-key"] == KEY
    assert info == AccountInfo(
        balance=Decimal("10122.5547"),
        traffic=178194757135,
        traffic_expiration_at=datetime(2026, 4, 4, 1, 43, 38, tzinfo=timezone.utc),
    )


async def test_account_info_needs_a_key_and_sends_nothing_without_one(mocked: aioresponses) -> None:
    async with AsyncCoreClaw(base_url=BASE) as anonymous:
        with pytest.raises(AuthenticationError) as caught:
            await anonymous.account.info()

    assert caught.value.outcome == "not_sent"
    assert sent(mocked) == []


async def test_proxy_regions_is_a_public_get_without_parameters(mocked: aioresponses) -> None:
    mocked.get(BASE + "/api/proxy/region", body=ok({"list": [{"code": "US", "name": "United States"}]}))

    async with AsyncCoreClaw(base_url=BASE) as anonymous:
        regions = await anonymous.proxy_regions()

    request = only(mocked)
    assert (request.method, request.path) == ("GET", "/api/proxy/region")
    assert request.params is None
    assert request.raw is None
    assert regions == [ProxyRegion(code="US", name="United States")]
