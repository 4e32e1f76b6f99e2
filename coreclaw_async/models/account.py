"""Models of the account (``account/info``, ``users/account``) and the proxy region list."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

from ._base import RequestModel
from ._fields import meta

__all__ = ["AccountInfo", "ProxyRegion", "ProxyRegionRequest"]


@attrs.frozen(kw_only=True)
class AccountInfo:
    """Balance (and, on API v1, traffic) of the account behind the API key.

    Attributes:
        balance: USD, exact (``Decimal``).
        traffic: bytes (v1 only, 0 on v2); CoreClaw's docs disagree on whether it is
            consumed or remaining.
        traffic_expiration_at: when the traffic package expires (UTC), ``None`` if not set
            (v1 only).
        balance_expiration_at: when the balance expires (UTC), ``None`` if not set (v2 only).
    """

    balance: Decimal
    traffic: int = 0
    traffic_expiration_at: datetime | None = attrs.field(default=None, metadata=meta(unit="s"))
    balance_expiration_at: datetime | None = attrs.field(default=None, metadata=meta(unit="s"))


@attrs.frozen(kw_only=True)
class ProxyRegion:
    """A proxy exit region: ISO-3166 alpha-2 ``code`` and display ``name``."""

    code: str
    name: str = ""


@attrs.frozen
class ProxyRegionRequest(RequestModel):
    """Query of the v2 proxy region list: the ``language`` of the names (``None``: the server's)."""

    language: str | None = None


@attrs.frozen(kw_only=True)
class _ProxyRegionList:
    """``data`` of ``/api/proxy/region``."""

    items: tuple[ProxyRegion, ...] = attrs.field(default=(), metadata=meta(wire="list"))
