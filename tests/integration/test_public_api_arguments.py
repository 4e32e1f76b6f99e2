"""Property: whatever arguments a public method gets, it returns or raises a ``CoreClawError``.

Each example calls one public method of a client talking to a ``FakeCoreClaw`` over loopback,
every argument either a valid value or a hostile one (NaN, infinities, huge ints, floats
where counts go, bools, lone surrogates, CR/LF, bytes, containers, bare objects). Nothing
but a ``CoreClawError`` may escape, and a call that says "not sent" must not have reached
the server. This is the README's promise: everything raised derives from ``CoreClawError``.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coreclaw_async import AsyncCoreClaw, CoreClawError, RetryPolicy, RunStatus, TaskRunRequest
from coreclaw_async.callbacks import CallbackReceiver
from coreclaw_async.testing import FakeCoreClaw

CALLBACK_URL = "https://hooks.example.com/coreclaw"
WORKER = "coreclaw/google-maps-scraper"

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e-300, 1e300, -0.0, 2.5, 0, -1]),
    st.text(max_size=12),
    st.sampled_from(
        ["", " ", "\ud800", "a\udc80b", "x\r\ny", "tab\there", "\x00", " lead", "trail ", "\u200b"]
    ),
    st.binary(max_size=6),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(object),
)


def arg(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A valid value or a hostile one, so examples exercise both the checks and the calls."""
    return st.one_of(valid, hostile)


timeouts = arg(st.sampled_from([None, 5.0]))
retries = arg(st.sampled_from([None, 0, 1]))


@pytest.fixture
async def world(api_version: str) -> AsyncIterator[tuple[FakeCoreClaw, AsyncCoreClaw, str]]:
    async with (
        FakeCoreClaw(
            tasks=2,
            seed=11,
            run_schedule=(0.0, 0.02),
            sync_wait_cap=0.5,
            rows_per_run=3,
            api_versions=(api_version,),
        ) as fake,
        AsyncCoreClaw(
            fake.api_key, base_url=fake.url, callback_url=CALLBACK_URL, api_version=api_version
        ) as client,
    ):
        started = await client.tasks.run(fake.task_slugs[0])
        final = await client.runs.wait(started.run_slug, poll_interval=0.05, timeout=10)
        assert final.is_final
        yield fake, client, started.run_slug


Call = Callable[[AsyncCoreClaw, dict[str, Any]], Awaitable[Any]]


async def _drain(iterator: Any, limit: int = 3) -> None:
    taken = 0
    try:
        async for _ in iterator:
            taken += 1
            if taken >= limit:
                break
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()


def _cases(run_slug: str, task_slug: str) -> dict[str, tuple[dict[str, st.SearchStrategy[Any]], Call]]:
    slug = arg(st.sampled_from([run_slug, "01KSFDS8XWTJME33C08XMCR6B9"]))
    task = arg(st.sampled_from([task_slug, "01KSFDXRNYGKT3NNE11EMR4W5X"]))
    url = arg(st.sampled_from([None, CALLBACK_URL]))
    page = arg(st.sampled_from([1, 2]))
    size = arg(st.sampled_from([1, 10, 100]))
    return {
        "tasks.run": (
            {"task": task, "url": url, "timeout": timeouts, "retries": retries},
            lambda c, a: c.tasks.run(
                a["task"], callback_url=a["url"], timeout=a["timeout"], max_retries=a["retries"]
            ),
        ),
        "tasks.run_all": (
            {
                "items": arg(st.lists(st.sampled_from([task_slug, TaskRunRequest(task_slug)]), max_size=3)),
                "concurrency": arg(st.sampled_from([None, 1, 4])),
                "timeout": timeouts,
                "retries": retries,
            },
            lambda c, a: c.tasks.run_all(
                a["items"], concurrency=a["concurrency"], timeout=a["timeout"], max_retries=a["retries"]
            ),
        ),
        "runs.get": (
            {"slug": slug, "timeout": timeouts},
            lambda c, a: c.runs.get(a["slug"], timeout=a["timeout"]),
        ),
        "runs.list_page": (
            {"page": page, "size": size, "status": arg(st.sampled_from([None, RunStatus.SUCCEEDED, 0, 3]))},
            lambda c, a: c.runs.list_page(page_index=a["page"], page_size=a["size"], status=a["status"]),
        ),
        "runs.list": (
            {
                "size": size,
                "pages": arg(st.sampled_from([1, 5])),
                "scraper": arg(st.sampled_from([None, WORKER])),
            },
            lambda c, a: _drain(
                c.runs.list(page_size=a["size"], max_pages=a["pages"], scraper_slug=a["scraper"])
            ),
        ),
        "runs.results_page": (
            {"slug": slug, "page": page, "size": size},
            lambda c, a: c.runs.results_page(a["slug"], page_index=a["page"], page_size=a["size"]),
        ),
        "runs.results": (
            {"slug": slug, "size": size, "retries": retries},
            lambda c, a: _drain(c.runs.results(a["slug"], page_size=a["size"], max_retries=a["retries"])),
        ),
        "runs.log": ({"slug": slug}, lambda c, a: c.runs.log(a["slug"])),
        "runs.export": (
            {"slug": slug, "format": arg(st.sampled_from(["json", "csv", "CSV"])), "keys": arg(st.just(()))},
            lambda c, a: c.runs.export(a["slug"], format=a["format"], filter_keys=a["keys"]),
        ),
        "runs.download": (
            # Never a path: hostile text would be a file name in the working directory.
            {
                "slug": slug,
                "dest": st.one_of(st.builds(io.BytesIO), hostile.filter(lambda v: not isinstance(v, str))),
                "download_timeout": arg(st.just(30.0)),
            },
            lambda c, a: c.runs.download(a["slug"], a["dest"], download_timeout=a["download_timeout"]),
        ),
        "runs.rerun": (
            {"slug": slug, "url": url},
            lambda c, a: c.runs.rerun(a["slug"], callback_url=a["url"]),
        ),
        "runs.abort": ({"slug": slug}, lambda c, a: c.runs.abort(a["slug"])),
        "runs.wait": (
            {
                "slug": slug,
                "timeout": arg(st.just(5.0)),
                "poll": arg(st.just(0.05)),
                "grace": arg(st.just(0.0)),
                "call_timeout": timeouts,
                "on_poll": arg(st.just(None)),
            },
            lambda c, a: c.runs.wait(
                a["slug"],
                timeout=a["timeout"],
                poll_interval=a["poll"],
                abort_grace=a["grace"],
                call_timeout=a["call_timeout"],
                on_poll=a["on_poll"],
            ),
        ),
        "runs.wait_many": (
            {
                "slugs": arg(st.lists(st.just(run_slug), max_size=2)),
                "timeout": arg(st.just(5.0)),
                "concurrency": arg(st.sampled_from([1, 3])),
                "receiver": arg(st.just(None)),
            },
            lambda c, a: _drain(
                c.runs.wait_many(
                    a["slugs"], timeout=a["timeout"], concurrency=a["concurrency"], receiver=a["receiver"]
                )
            ),
        ),
        "workers.run": (
            {
                "worker": arg(st.just(WORKER)),
                "input": arg(st.sampled_from([{}, {"searchTerms": ["coffee"]}])),
                "is_async": arg(st.booleans()),
                "memory": arg(st.sampled_from([None, 1024])),
                "cpus": arg(st.sampled_from([None, 0.5])),
                "region": arg(st.sampled_from([None, "US"])),
                "version": arg(st.sampled_from([None, "v1.0.5"])),
            },
            lambda c, a: c.workers.run(
                a["worker"],
                input=a["input"],
                is_async=a["is_async"],
                memory=a["memory"],
                cpus=a["cpus"],
                proxy_region=a["region"],
                version=a["version"],
            ),
        ),
        "workers.get": ({"worker": arg(st.just(WORKER))}, lambda c, a: c.workers.get(a["worker"])),
        "workers.search": (
            {"query": arg(st.just("maps")), "limit": arg(st.sampled_from([1, 5]))},
            lambda c, a: c.workers.search(a["query"], limit=a["limit"]),
        ),
        "account.info": (
            {"timeout": timeouts, "retries": retries},
            lambda c, a: c.account.info(timeout=a["timeout"], max_retries=a["retries"]),
        ),
        "proxy_regions": ({"timeout": timeouts}, lambda c, a: c.proxy_regions(timeout=a["timeout"])),
    }


CASE_NAMES = sorted(_cases("r", "t"))


@pytest.mark.parametrize("name", CASE_NAMES)
@SETTINGS
@given(data=st.data())
async def test_a_public_method_returns_or_raises_a_coreclaw_error_whatever_its_arguments(
    world: tuple[FakeCoreClaw, AsyncCoreClaw, str], name: str, data: st.DataObject
) -> None:
    fake, client, run_slug = world
    strategies, call = _cases(run_slug, fake.task_slugs[0])[name]
    args = {key: data.draw(strategy, label=key) for key, strategy in strategies.items()}
    before = fake.requests

    outcome = None
    try:
        await call(client, args)
    except CoreClawError as error:
        outcome = error.outcome
    if outcome == "not_sent":
        assert fake.requests == before, f"{name}: a not-sent error, yet the server saw a request"


client_arguments = st.fixed_dictionaries(
    {},
    optional={
        "api_key": arg(st.just("scraper_api_key")),
        "base_url": arg(st.just("https://openapi.example.com")),
        "callback_url": arg(st.just(CALLBACK_URL)),
        "timeout": arg(st.just(30.0)),
        "max_connections": arg(st.just(10)),
        "pool_timeout": arg(st.just(5.0)),
        "max_retries": arg(st.just(1)),
        "max_rate": arg(st.just(50.0)),
        "wait_for_capacity": arg(st.booleans()),
        "retry": arg(st.just(RetryPolicy())),
        "user_agent": arg(st.just("bot/1.0")),
    },
)


@settings(max_examples=300, deadline=None, database=None)
@given(kwargs=client_arguments)
async def test_building_a_client_either_works_or_raises_an_invalid_parameter_error(
    kwargs: dict[str, Any],
) -> None:
    try:
        client = AsyncCoreClaw(**kwargs)
    except CoreClawError as error:
        outcome = error.outcome
    else:
        await client.aclose()
        return
    assert outcome == "not_sent"


receiver_arguments = st.fixed_dictionaries(
    {},
    optional={
        "public_url": arg(st.just("https://example.com/coreclaw")),
        "max_body_size": arg(st.just(1024)),
        "handler_tasks": arg(st.just(2)),
        "launch_ttl": arg(st.just(60.0)),
        "finished_retention": arg(st.just(60.0)),
        "max_launches": arg(st.just(1000)),
    },
)


# Hosts: only loopback or values that cannot be bound at all (text like "" would mean every
# interface, which tests never bind).
hosts = st.one_of(
    st.just("127.0.0.1"),
    hostile.filter(lambda v: not isinstance(v, str)),
    st.sampled_from(["\ud800", "256.1.1.1", "no-such-host.invalid", "x\r\ny"]),
)


@settings(max_examples=200, deadline=None, database=None)
@given(
    kwargs=receiver_arguments,
    label=arg(st.just("nightly")),
    timeout=arg(st.just(0.01)),
    prefix=arg(st.just("/hooks")),
    host=hosts,
    port=arg(st.just(0)),
    close_timeout=arg(st.just(1.0)),
)
async def test_a_callback_receiver_either_works_or_raises_a_coreclaw_error(
    kwargs: dict[str, Any], label: Any, timeout: Any, prefix: Any, host: Any, port: Any, close_timeout: Any
) -> None:
    try:
        receiver = CallbackReceiver(**kwargs)
    except CoreClawError:
        return
    with contextlib.suppress(CoreClawError):
        receiver.routes(prefix)
    if isinstance(port, int) and not isinstance(port, bool) and port != 0:
        port = 0  # a fixed port could be taken on a shared machine; 0 asks for a free one
    with contextlib.suppress(CoreClawError):
        await receiver.start(host, port)
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0.05:
        timeout = 0.01  # a valid but long wait would only make the test slow (or endless)
    with contextlib.suppress(CoreClawError):
        await receiver.wait(receiver.mint(label=label), timeout=timeout)
    try:
        await receiver.close(timeout=close_timeout)
    except CoreClawError:
        await receiver.close()
