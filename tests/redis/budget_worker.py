"""One "process" of the shared-budget tests: a client of its own, optionally with a ``RedisBudget``.

Run as ``python budget_worker.py '<json>'``; prints one JSON line with what it saw. Modes:

* ``launch``: start ``runs`` runs of ``task_slug`` through ``run_many``; report the run slugs
  started, errors by class and the client's rate-limited answers;
* ``reads``: read the account over and over for ``seconds``; report how many reads were sent;
* ``hold``: take ``leases`` leases of ``max_in_flight`` (lasting ``seconds``), print ``held``
  and sleep until killed, as a process that dies mid-request.

The config: ``base_url``, ``api_key``, ``redis_url`` (null: no budget), ``name``, ``max_rate``,
``mode``, ``user_agent`` and the mode's own keys. Started by the tests with a time limit and
killed if it outlives it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from typing import Any

import redis.asyncio as aioredis

from coreclaw_async import AsyncCoreClaw, CoreClawError
from coreclaw_async.redis import RedisBudget


async def _launch(client: AsyncCoreClaw, config: dict[str, Any]) -> dict[str, Any]:
    started: list[str] = []
    errors: Counter[str] = Counter()
    items = [config["task_slug"]] * int(config["runs"])
    async for outcome in client.tasks.run_many(items, concurrency=int(config.get("concurrency", 50))):
        if outcome.run is not None:
            started.append(outcome.run.run_slug)
        elif outcome.error is not None:
            errors[type(outcome.error).__name__] += 1
    return {"started": started, "errors": dict(errors)}


async def _reads(client: AsyncCoreClaw, config: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    end = loop.time() + float(config["seconds"])
    sent = 0
    errors: Counter[str] = Counter()
    # Bounded by the end time given in the config.
    while loop.time() < end:
        try:
            await client.account.info(timeout=max(end - loop.time(), 0.05))
        except CoreClawError as exc:
            errors[type(exc).__name__] += 1
        sent += 1
    return {"sent": sent, "errors": dict(errors)}


async def _hold(config: dict[str, Any]) -> None:
    redis = aioredis.Redis.from_url(config["redis_url"])
    budget = RedisBudget(
        redis, name=config["name"], max_in_flight=int(config["max_in_flight"]), lease_margin=0.0
    )
    loop = asyncio.get_running_loop()
    for _ in range(int(config["leases"])):
        await budget.acquire(loop.time() + float(config["seconds"]))
    print("held", flush=True)
    await asyncio.sleep(3600)  # killed by the test long before


async def main(config: dict[str, Any]) -> dict[str, Any]:
    redis = aioredis.Redis.from_url(config["redis_url"]) if config.get("redis_url") else None
    budget = (
        RedisBudget(redis, name=config["name"], max_rate=config.get("max_rate"))
        if redis is not None
        else None
    )
    try:
        async with AsyncCoreClaw(
            config["api_key"],
            base_url=config["base_url"],
            callback_url="https://example.com/hook",
            user_agent=config.get("user_agent"),
            budget=budget,
            max_retries=int(config.get("max_retries", 2)),
            timeout=float(config.get("timeout", 60)),
        ) as client:
            mode = config["mode"]
            result = await (_launch(client, config) if mode == "launch" else _reads(client, config))
            result["rate_limited"] = client.stats.rate_limited
            if budget is not None:
                stats = budget.stats
                result["budget"] = {
                    "acquires": stats.acquires,
                    "round_trips": stats.round_trips,
                    "cooldowns_heard": stats.cooldowns_heard,
                }
            return result
    finally:
        if redis is not None:
            await redis.aclose()


if __name__ == "__main__":
    settings = json.loads(sys.argv[1])
    if settings["mode"] == "hold":
        asyncio.run(_hold(settings))
    else:
        print(json.dumps(asyncio.run(main(settings))), flush=True)
