"""One process of the shared-budget benchmark: its own client, optionally with a ``RedisBudget``.

``python _budget_child.py '<json>'`` waits until the wall-clock time ``start_at`` (so that every
process starts together), launches ``runs`` runs through ``run_many`` and prints one JSON line:
starts, errors by class, rate-limited answers it saw, its own start and end times and, with a
budget, the budget's counters.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

import redis.asyncio as aioredis

from coreclaw_async import AsyncCoreClaw
from coreclaw_async.redis import RedisBudget


async def main(config: dict[str, Any]) -> dict[str, Any]:
    redis = aioredis.Redis.from_url(config["redis_url"]) if config.get("redis_url") else None
    budget = None
    if redis is not None:
        budget = RedisBudget(redis, name=config["name"], max_rate=config["max_rate"])
    errors: Counter[str] = Counter()
    started = 0
    try:
        async with AsyncCoreClaw(
            config["api_key"],
            base_url=config["base_url"],
            callback_url="https://hooks.example.com/coreclaw",
            budget=budget,
            timeout=120,
        ) as client:
            await client.account.info()  # connect (and let the budget subscribe) before the clock starts
            await asyncio.sleep(max(config["start_at"] - time.time(), 0))
            began = time.time()
            items = [config["task_slug"]] * int(config["runs"])
            async for outcome in client.tasks.run_many(items, concurrency=int(config["concurrency"])):
                if outcome.run is not None:
                    started += 1
                elif outcome.error is not None:
                    errors[type(outcome.error).__name__] += 1
            ended = time.time()
            result: dict[str, Any] = {
                "started": started,
                "errors": dict(errors),
                "rate_limited": client.stats.rate_limited,
                "began": began,
                "ended": ended,
            }
            if budget is not None:
                stats = budget.stats
                result["budget"] = {
                    "acquires": stats.acquires,
                    "round_trips": stats.round_trips,
                    "waits": stats.waits,
                    "cooldowns_heard": stats.cooldowns_heard,
                }
            return result
    finally:
        if redis is not None:
            await redis.aclose()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)
