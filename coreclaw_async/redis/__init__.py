"""Many processes, one CoreClaw account: state shared through Redis.

Needs the ``redis`` extra: ``pip install 'coreclaw-async[redis]'`` (the maintained
``redis`` client, used through its asyncio API).

* :class:`RedisBudget`: one request budget (rate, requests in flight, rate-limit cooldown)
  for every client of the account, passed as ``AsyncCoreClaw(..., budget=...)``.
* :class:`RedisCallbackStore`: one callback inbox for every receiver, passed as
  ``CallbackReceiver(..., store=...)``: a notice reaching any process is delivered to the
  process that minted its URL.
"""

from __future__ import annotations

try:
    import redis.asyncio as _redis_asyncio  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "coreclaw_async.redis needs the 'redis' extra: pip install 'coreclaw-async[redis]'"
    ) from exc

from .._budget import BudgetTimeout, SharedBudget
from ..errors import BudgetUnavailableError, CallbackStoreError
from ._budget import BudgetStats, RedisBudget
from ._store import RedisCallbackStore

__all__ = [
    "BudgetStats",
    "BudgetTimeout",
    "BudgetUnavailableError",
    "CallbackStoreError",
    "RedisBudget",
    "RedisCallbackStore",
    "SharedBudget",
]
