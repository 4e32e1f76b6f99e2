"""FakeCoreClaw delivers run callbacks: to loopback only, on the run clock, as lossy as asked."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from coreclaw_async.testing import FakeCoreClaw, is_loopback_url

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "api-examples"
FAST = (0.05, 0.1)


class Collector:
    """A plain aiohttp endpoint recording every notice POSTed to ``/hook/{name}``."""

    def __init__(self) -> None:
        self.notices: list[tuple[str, dict[str, Any], float]] = []
        self.status = 200
        self.base = ""

    def url(self, name: str = "a") -> str:
        return f"{self.base}/hook/{name}"

    async def handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        self.notices.append((request.match_info["name"], body, time.monotonic()))
        return web.Response(status=self.status)

    def statuses(self, name: str = "a") -> list[str]:
        return [body["run_status"] for who, body, _ in self.notices if who == name]

    def bodies(self, name: str = "a") -> list[dict[str, Any]]:
        return [body for who, body, _ in self.notices if who == name]


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    found = Collector()
    app = web.Application()
    app.router.add_post("/hook/{name}", found.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield found
    await runner.cleanup()


async def post(fake: FakeCoreClaw, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(fake.url + path, json=body, headers={"api-key": fake.api_key}) as resp,
    ):
        envelope = json.loads(await resp.read())
    assert envelope["code"] == 0, envelope
    return dict(envelope["data"] or {})


async def start(fake: FakeCoreClaw, callback_url: str) -> str:
    data = await post(
        fake, "/api/v1/task/run", {"task_slug": fake.task_slugs[0], "callback_url": callback_url}
    )
    return str(data["run_slug"])


async def test_a_run_posts_running_then_succeeded_in_the_documented_shape(collector: Collector) -> None:
    async with FakeCoreClaw(run_schedule=FAST, rows_per_run=7) as fake:
        slug = await start(fake, collector.url())
        await fake.drain_callbacks(5)
        detail = await post(fake, "/api/v1/run/detail", {"run_slug": slug})

    assert collector.statuses() == ["running", "succeeded"]
    final = collector.bodies()[-1]
    documented = json.loads((EXAMPLES / "callback_succeeded.json").read_text())
    assert list(final) == list(documented)
    assert final["run_slug"] == slug
    assert final["error_message"] == ""
    assert final["result_count"] == detail["results"] == 7
    assert final["execution_start_timestamp"] == detail["started_at"]
    assert final["execution_end_timestamp"] == detail["finished_at"]
    assert final["running_duration"] == detail["duration"]
    running = collector.bodies()[0]
    assert running["execution_end_timestamp"] == 0
    assert running["running_duration"] == 0


async def test_a_failing_run_posts_failed_with_its_error_message(collector: Collector) -> None:
    async with FakeCoreClaw(run_schedule=FAST, fail_every=1) as fake:
        await start(fake, collector.url())
        await fake.drain_callbacks(5)

    assert collector.statuses() == ["running", "failed"]
    documented = json.loads((EXAMPLES / "callback_failed.json").read_text())
    assert collector.bodies()[-1]["error_message"] == documented["error_message"]


async def test_an_abort_of_a_running_run_posts_aborting_then_failed(collector: Collector) -> None:
    async with FakeCoreClaw(run_schedule=(0.0, 30.0), abort_linger=0.1) as fake:
        slug = await start(fake, collector.url())
        await asyncio.sleep(0.05)
        await post(fake, "/api/v1/scraper/abort", {"run_slug": slug})
        await post(fake, "/api/v1/scraper/abort", {"run_slug": slug})  # a repeat changes nothing
        await fake.drain_callbacks(5)

    assert collector.statuses() == ["running", "aborting", "failed"]
    assert collector.bodies()[-1]["error_message"] == "Run aborted by user"


async def test_a_run_aborted_while_ready_never_posts_running(collector: Collector) -> None:
    async with FakeCoreClaw(run_schedule=(0.2, 0.2), abort_linger=0.05) as fake:
        slug = await start(fake, collector.url())
        await post(fake, "/api/v1/scraper/abort", {"run_slug": slug})
        await fake.drain_callbacks(5)
        await asyncio.sleep(0.5)  # past the instants the original schedule had

    assert collector.statuses() == ["aborting", "failed"]


async def test_an_abort_that_lingers_forever_posts_only_aborting(collector: Collector) -> None:
    async with FakeCoreClaw(run_schedule=(0.0, 30.0), abort_linger=None) as fake:
        slug = await start(fake, collector.url())
        await post(fake, "/api/v1/scraper/abort", {"run_slug": slug})
        await fake.drain_callbacks(5)

    assert collector.statuses()[-1] == "aborting"


async def test_non_loopback_callback_urls_are_never_contacted_but_counted() -> None:
    async with FakeCoreClaw(run_schedule=(0.0, 0.01)) as fake:
        for url in (
            "https://hooks.example.com/coreclaw",
            "http://localhost.example.com/hook",
            "http://10.0.0.1/hook",
        ):
            await start(fake, url)
        await asyncio.sleep(0.1)
        await fake.drain_callbacks(1)
        stats = fake.callback_stats

    assert stats.skipped == 3
    assert stats.notices == stats.sent == 0
    assert fake.callback_deliveries == []


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080/hook", True),
        ("http://127.3.4.5/hook", True),
        ("https://localhost/hook", True),
        ("http://LOCALHOST:1/x", True),
        ("http://[::1]:9000/hook", True),
        ("https://hooks.example.com/coreclaw", False),
        ("http://localhost.example.com/", False),
        ("http://127.0.0.1.nip.io/", False),
        ("http://10.0.0.1/", False),
        ("ftp://127.0.0.1/", False),
        ("not a url", False),
        ("http://[::1/", False),
    ],
)
def test_only_loopback_urls_count_as_deliverable(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


async def test_callbacks_off_posts_nothing(collector: Collector) -> None:
    async with FakeCoreClaw(run_schedule=(0.0, 0.01), callbacks=False) as fake:
        await start(fake, collector.url())
        await asyncio.sleep(0.1)
        stats = fake.callback_stats

    assert collector.notices == []
    assert stats.notices == stats.skipped == 0


async def test_turning_callbacks_off_later_affects_runs_created_from_then_on(collector: Collector) -> None:
    async with FakeCoreClaw(run_schedule=FAST) as fake:
        await start(fake, collector.url("before"))
        fake.callback_settings.enabled = False
        await start(fake, collector.url("after"))
        await fake.drain_callbacks(5)
        await asyncio.sleep(0.2)

    assert collector.statuses("before") == ["running", "succeeded"]
    assert collector.statuses("after") == []


async def test_dropped_notices_are_counted_and_never_sent(collector: Collector) -> None:
    async with FakeCoreClaw(run_schedule=(0.0, 0.01), callback_drop=1.0) as fake:
        for _ in range(5):
            await start(fake, collector.url())
        await fake.drain_callbacks(5)
        stats = fake.callback_stats

    assert collector.notices == []
    assert stats.notices == stats.dropped == 10
    assert stats.sent == 0


async def test_duplicated_notices_arrive_twice(collector: Collector) -> None:
    async with FakeCoreClaw(run_schedule=(0.0, 0.01), callback_duplicate=1.0) as fake:
        await start(fake, collector.url())
        await fake.drain_callbacks(5)
        stats = fake.callback_stats
        deliveries = fake.callback_deliveries

    assert sorted(collector.statuses()) == ["running", "running", "succeeded", "succeeded"]
    assert stats.duplicated == 2
    assert stats.sent == stats.delivered == 4
    assert sorted(d.duplicate for d in deliveries) == [False, False, True, True]


async def test_reordering_delivers_running_after_the_final_notice(collector: Collector) -> None:
    async with FakeCoreClaw(run_schedule=(0.0, 0.05), callback_reorder=True) as fake:
        for name in ("a", "b", "c"):
            await start(fake, collector.url(name))
        await fake.drain_callbacks(5)

    for name in ("a", "b", "c"):
        assert collector.statuses(name) == ["succeeded", "running"]


async def test_the_legacy_shape_sends_the_integer_run_id_instead_of_the_slug(collector: Collector) -> None:
    async with FakeCoreClaw(run_schedule=(0.0, 0.01), callback_legacy_shape=True) as fake:
        slug = await start(fake, collector.url())
        await fake.drain_callbacks(5)
        run_id = fake.get_run(slug).run_id

    documented = json.loads((EXAMPLES / "callback_legacy_run_id.json").read_text())
    for body in collector.bodies():
        assert list(body) == list(documented)
        assert body["run_id"] == run_id
        assert isinstance(body["run_id"], int)
        assert "run_slug" not in body


async def test_run_ids_are_distinct_integers() -> None:
    async with FakeCoreClaw(callbacks=False) as fake:
        slugs = [await start(fake, "https://hooks.example.com/x") for _ in range(3)]
        ids = [fake.get_run(slug).run_id for slug in slugs]

    assert len(set(ids)) == 3
    assert all(isinstance(i, int) and i > 0 for i in ids)


async def test_a_delay_holds_each_notice_back(collector: Collector) -> None:
    async with FakeCoreClaw(run_schedule=(0.0, 0.05), callback_delay=0.3) as fake:
        slug = await start(fake, collector.url())
        await fake.drain_callbacks(5)
        final_at = fake.get_run(slug).final_at

    arrived = {body["run_status"]: at for _, body, at in collector.notices}
    assert arrived["succeeded"] >= final_at + 0.3


async def test_a_delay_range_is_drawn_per_notice(collector: Collector) -> None:
    async with FakeCoreClaw(run_schedule=(0.0, 0.0), callback_delay=(0.0, 0.2), seed=3) as fake:
        slugs = [await start(fake, collector.url(str(i))) for i in range(10)]
        await fake.drain_callbacks(5)
        finals = {str(i): fake.get_run(slug).final_at for i, slug in enumerate(slugs)}

    lags = [at - finals[name] for name, _, at in collector.notices]
    assert all(-0.01 <= lag < 1.0 for lag in lags)
    assert max(lags) - min(lags) > 0.02


async def test_an_error_answer_is_counted_and_not_retried(collector: Collector) -> None:
    collector.status = 500
    async with FakeCoreClaw(run_schedule=(0.0, 0.01)) as fake:
        await start(fake, collector.url())
        await fake.drain_callbacks(5)
        stats = fake.callback_stats
        deliveries = fake.callback_deliveries

    assert len(collector.notices) == 2
    assert stats.sent == stats.failed == 2
    assert stats.delivered == 0
    assert {d.http_status for d in deliveries} == {500}


async def test_an_unreachable_receiver_is_counted_as_failed() -> None:
    # A port that was just free: nothing listens there.
    probe = web.AppRunner(web.Application())
    await probe.setup()
    site = web.TCPSite(probe, "127.0.0.1", 0)
    await site.start()
    port = probe.addresses[0][1]
    await probe.cleanup()

    async with FakeCoreClaw(run_schedule=(0.0, 0.01)) as fake:
        await start(fake, f"http://127.0.0.1:{port}/hook")
        await fake.drain_callbacks(5)
        stats = fake.callback_stats
        deliveries = fake.callback_deliveries

    assert stats.failed == 2
    assert [d.http_status for d in deliveries] == [None, None]


async def test_redirects_are_not_followed(collector: Collector) -> None:
    async def bounce(request: web.Request) -> web.Response:
        raise web.HTTPFound("https://hooks.example.com/elsewhere")

    app = web.Application()
    app.router.add_post("/bounce", bounce)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with FakeCoreClaw(run_schedule=(0.0, 0.01)) as fake:
            await start(fake, f"http://127.0.0.1:{runner.addresses[0][1]}/bounce")
            await fake.drain_callbacks(5)
            deliveries = fake.callback_deliveries
    finally:
        await runner.cleanup()

    assert [d.http_status for d in deliveries] == [302, 302]


async def test_every_run_of_many_gets_its_own_notices(collector: Collector) -> None:
    async with FakeCoreClaw(run_schedule=FAST, tasks=5) as fake:
        slugs = await asyncio.gather(*(start(fake, collector.url(str(i))) for i in range(200)))
        await fake.drain_callbacks(10)
        stats = fake.callback_stats

    assert stats.sent == stats.delivered == 400
    for i, slug in enumerate(slugs):
        bodies = collector.bodies(str(i))
        assert [b["run_status"] for b in bodies] == ["running", "succeeded"]
        assert {b["run_slug"] for b in bodies} == {slug}


async def test_a_rerun_notifies_the_rerun_callback_url(collector: Collector) -> None:
    async with FakeCoreClaw(run_schedule=(0.0, 0.01)) as fake:
        first = await start(fake, collector.url("first"))
        data = await post(fake, "/api/v1/rerun", {"run_slug": first, "callback_url": collector.url("again")})
        await fake.drain_callbacks(5)

    assert {b["run_slug"] for b in collector.bodies("again")} == {data["run_slug"]}


async def test_drain_times_out_while_a_notified_run_is_still_going(collector: Collector) -> None:
    async with FakeCoreClaw(run_schedule=(0.0, 30.0)) as fake:
        await start(fake, collector.url())
        with pytest.raises(TimeoutError, match="still pending"):
            await fake.drain_callbacks(0.2)


async def test_close_drops_pending_notices_and_leaves_no_task_behind(collector: Collector) -> None:
    before = asyncio.all_tasks()
    fake = FakeCoreClaw(run_schedule=(5.0, 5.0), callback_delay=1.0)
    await fake.start()
    for name in ("a", "b"):
        await start(fake, collector.url(name))
    await asyncio.sleep(0.05)
    assert len(asyncio.all_tasks() - before) > 0

    await fake.close()

    assert asyncio.all_tasks() - before == set()
    assert collector.notices == []


async def test_close_during_a_slow_delivery_cancels_it_cleanly() -> None:
    entered = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        entered.set()
        await asyncio.sleep(10)
        return web.Response()

    app = web.Application()
    app.router.add_post("/slow", slow)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    before = asyncio.all_tasks()
    try:
        fake = FakeCoreClaw(run_schedule=(0.0, 0.0))
        await fake.start()
        await start(fake, f"http://127.0.0.1:{runner.addresses[0][1]}/slow")
        await asyncio.wait_for(entered.wait(), 5)
        await fake.close()
        leftover = {t for t in asyncio.all_tasks() - before if "FakeCoreClaw" in t.get_name()}
    finally:
        await runner.cleanup()

    assert leftover == set()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"callback_drop": 1.5},
        {"callback_duplicate": -0.1},
        {"callback_reorder": 2.0},
        {"callback_legacy_shape": -1.0},
        {"callback_delay": -0.1},
        {"callback_delay": (0.5, 0.1)},
        {"callback_delay": (-1.0, 1.0)},
    ],
)
def test_invalid_callback_settings_raise_value_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="callback_"):
        FakeCoreClaw(**kwargs)
