"""A taskiq app whose workers launch CoreClaw task runs in batches, all sharing one ``RedisBudget``.

Start the workers from this directory with ``taskiq worker app:broker --workers 4``. Every
worker process reads its configuration from the environment:

================================  =================================================================
``REDIS_URL``                     the queue, the results and the budget (``redis://localhost:6379/0``)
``CORECLAW_API_KEY``              the account's key (read by ``AsyncCoreClaw``)
``CORECLAW_BASE_URL``             the API host (read by ``AsyncCoreClaw``; production by default)
``CORECLAW_CALLBACK_URL``         the runs' webhook (read by ``AsyncCoreClaw``; API v1 needs one)
``CORECLAW_BUDGET``               the budget's name, one per account (``coreclaw``)
``CORECLAW_MAX_RATE``             requests/s for the whole fleet (none): 0.9 of the account's limit
``CORECLAW_MAX_IN_FLIGHT``        requests in flight for the whole fleet (none)
``CORECLAW_BATCH_CONCURRENCY``    starts in flight per batch (10)
================================  =================================================================
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import attrs
import redis.asyncio as aioredis
from taskiq import AcknowledgeType, Context, TaskiqDepends, TaskiqEvents, TaskiqState
from taskiq.serializers import JSONSerializer
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from coreclaw_async import AsyncCoreClaw
from coreclaw_async.redis import RedisBudget

T = TypeVar("T")

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
BATCH_CONCURRENCY_DEFAULT = 10
# Results are plain JSON (no pickle from Redis) and expire after a day.
RESULT_TTL = 24 * 3600
STREAM_MAXLEN = 100_000

# RedisStreamBroker, as taskiq-redis recommends (ListQueueBroker's endless BRPOP trips redis-py 8's
# 5 s default socket timeout: taskiq-redis#127). Each read takes one batch, so that a worker takes
# no more batches than it has room to run (--max-async-tasks) and none hoards what others could
# run. The stream keeps the last STREAM_MAXLEN messages: more than the largest backlog of batches.
broker = RedisStreamBroker(
    REDIS_URL, queue_name="coreclaw-fleet", xread_count=1, maxlen=STREAM_MAXLEN
).with_result_backend(
    RedisAsyncResultBackend(REDIS_URL, result_ex_time=RESULT_TTL, serializer=JSONSerializer())
)


def _env(name: str, convert: Callable[[str], T]) -> T | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return convert(raw)
    except ValueError:
        raise ValueError(f"${name} must be a {convert.__name__}, got {raw!r}") from None


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def open_client(state: TaskiqState) -> None:
    """Build this worker process's one ``AsyncCoreClaw``, sharing the account's budget through Redis.

    One client per process, not per task: its connection pool and its own limits serve every
    batch this process runs at once. Clients cannot be shared across processes (each is bound
    to its process's event loop); the budget is what all of them share.
    """
    redis = aioredis.Redis.from_url(REDIS_URL)
    try:
        budget = RedisBudget(
            redis,
            name=os.environ.get("CORECLAW_BUDGET", "coreclaw"),
            max_rate=_env("CORECLAW_MAX_RATE", float),
            max_in_flight=_env("CORECLAW_MAX_IN_FLIGHT", int),
        )
        # The key, base URL and callback URL come from $CORECLAW_API_KEY, ..._BASE_URL, ..._CALLBACK_URL.
        state.coreclaw = AsyncCoreClaw(budget=budget)
    except BaseException:
        await redis.aclose()
        raise
    state.redis = redis
    state.budget = budget
    state.worker = f"{socket.gethostname()}:{os.getpid()}"
    state.batch_concurrency = _env("CORECLAW_BATCH_CONCURRENCY", int) or BATCH_CONCURRENCY_DEFAULT


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def close_client(state: TaskiqState) -> None:
    """Close the client (it leaves the budget, which stops listening), then the Redis connection."""
    client: AsyncCoreClaw | None = state.pop("coreclaw", None)
    redis: aioredis.Redis | None = state.pop("redis", None)
    try:
        if client is not None:
            await client.aclose()
    finally:
        if redis is not None:
            await redis.aclose()


def worker_state(context: Annotated[Context, TaskiqDepends()]) -> TaskiqState:
    """The worker process's state, as built by :func:`open_client` (a taskiq dependency)."""
    return context.state


# Acknowledged when a worker takes it, before any start is sent: a batch is never run twice. The
# broker's default (acknowledge once the result is saved) would hand the batch of a worker that
# died mid-way to another worker, which would send again starts that had created runs (billed).
# A batch taken by a worker that dies is lost instead: the enqueuer reports its launches unknown.
@broker.task(task_name="coreclaw_fleet.launch_batch", ack_type=AcknowledgeType.WHEN_RECEIVED.value)
async def launch_batch(
    task_slugs: list[str],
    state: TaskiqState = TaskiqDepends(worker_state),  # noqa: B008 - taskiq's dependency injection
) -> dict[str, Any]:
    """Start one run of each saved Task in ``task_slugs``; return what became of each, as JSON.

    ``started``: the new runs' slugs. ``failed``: by error class, the task slugs whose start
    created nothing (safe to launch again). ``unknown``: the task slugs whose start may have
    created a run. ``budget``: this process's ``RedisBudget`` counters so far.
    """
    client: AsyncCoreClaw = state.coreclaw
    started: list[str] = []
    failed: dict[str, list[str]] = {}
    unknown: list[str] = []
    async with client.tasks.run_many(task_slugs, concurrency=state.batch_concurrency) as batch:
        async for outcome in batch:
            slug = task_slugs[outcome.index]
            if outcome.run is not None:
                started.append(outcome.run.run_slug)
            elif outcome.started is False:
                failed.setdefault(type(outcome.error).__name__, []).append(slug)
            else:
                # Sent without a verdict (or created, with an answer that could not be read): a
                # run may exist, and be billed. CoreClaw has no idempotency key, so these must be
                # reconciled (runs.list since the batch began), never sent again blindly.
                unknown.append(slug)
    budget: RedisBudget = state.budget
    return {
        "worker": state.worker,
        "started": started,
        "failed": failed,
        "unknown": unknown,
        "budget": attrs.asdict(budget.stats),
    }
