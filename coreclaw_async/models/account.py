"""Models of ``account/info`` and ``/api/proxy/region``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

from ._fields import meta

__all__ = ["AccountInfo", "ProxyRegion"]


@attrs.frozen(kw_only=True)
class AccountInfo:
    """Balance and traffic of the account behind the API key (``POST /api/v1/account/info``).

    Attributes:
        balance: USD, exact (``Decimal``).
        traffic: bytes; CoreClaw's docs disagree on whether it is consumed or remaining.
        traffic_expiration_at: when the traffic package expires (UTC), ``None`` if not set.
    """

    balance: Decimal
    traffic: int = 0
    traffic_expiration_at: datetime | None = attrs.field(default=None, metadata=meta(unit="s"))


@attrs.frozen(kw_only=True)
class ProxyRegion:
    """A proxy exit region: ISO-3166 alpha-2 ``code`` and display ``name``."""

    code: str
    name: str = ""


@attrs.frozen(kw_only=True)
class _ProxyRegionList:
    """``data`` of ``/api/proxy/region``."""

    items: tuple[ProxyRegion, ...] = attrs.field(default=(), metadata=meta(wire="list"))
