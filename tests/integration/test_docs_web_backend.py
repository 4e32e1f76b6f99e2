"""The docs' web-backend example (docs/usage.md), run as written: each failure gets the HTTP
answer it deserves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from coreclaw_async.testing import FakeCoreClaw, Fault

from ..docs.snippets import DOCS, run_example

PAGE = DOCS / "usage.md"

# The example reads its key and host from the environment and speaks the default version, v1;
# the fake serves v1 alone, so the example is shown to work on v1 and to need nothing of v2.
pytestmark = pytest.mark.v1_only("runs the docs' web-backend example as written, on API v1")


def _example() -> dict[str, Any]:
    return run_example(PAGE, "## Awaited from an async web backend")


@pytest.fixture
async def fake(api_version: str) -> AsyncIterator[FakeCoreClaw]:
    async with FakeCoreClaw(tasks=1, seed=3, api_versions=(api_version,)) as server:
        yield server


@pytest.fixture
async def app_client(
    fake: FakeCoreClaw, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[TestClient[Any, Any]]:
    monkeypatch.setenv("CORECLAW_API_KEY", fake.api_key)
    monkeypatch.setenv("CORECLAW_BASE_URL", fake.url)
    app: web.Application = _example()["make_app"]()
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


async def test_a_started_run_is_answered_201_with_its_slug(
    app_client: TestClient[Any, Any], fake: FakeCoreClaw
) -> None:
    response = await app_client.post(f"/tasks/{fake.task_slugs[0]}/run")

    assert response.status == 201
    assert (await response.json()) == {"run_slug": fake.runs[0].slug}


async def test_bad_input_is_answered_400_and_nothing_is_sent(
    app_client: TestClient[Any, Any], fake: FakeCoreClaw
) -> None:
    response = await app_client.post("/tasks/%2001KSFDXRNYGKT3NNE11EMR4W5X/run")  # a leading space

    assert response.status == 400
    assert (await response.json())["field"] == "task_slug"
    assert fake.requests == 0


async def test_an_unknown_task_is_answered_404(app_client: TestClient[Any, Any]) -> None:
    response = await app_client.post("/tasks/01KSFDXRNYGKT3NNE11EMR4W5X/run")

    assert response.status == 404


async def test_an_unknown_outcome_says_the_run_may_exist_and_must_not_be_retried_blindly(
    app_client: TestClient[Any, Any], fake: FakeCoreClaw
) -> None:
    fake.inject(Fault.DROP_AFTER_CREATE, path="/api/v1/task/run")

    response = await app_client.post(f"/tasks/{fake.task_slugs[0]}/run")

    body = await response.json()
    assert response.status == 202  # not a 5xx: nothing invites a blind retry
    assert body["status"] == "unknown"
    assert body["retry"] is False
    assert body["task_slug"] == fake.task_slugs[0]
    assert body["callback_url"] == "https://example.com/coreclaw/hook"
    assert len(fake.runs) == 1  # it did start: that is why the caller must reconcile


async def test_a_refusal_that_created_nothing_is_answered_503_with_retry_after(
    app_client: TestClient[Any, Any], fake: FakeCoreClaw
) -> None:
    fake.set_concurrency_limit(0)

    response = await app_client.post(f"/tasks/{fake.task_slugs[0]}/run")

    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    assert fake.runs == []


@pytest.mark.parametrize("failure", ["balance", "proxy"])
async def test_a_server_side_failure_is_answered_502(
    app_client: TestClient[Any, Any], fake: FakeCoreClaw, failure: str
) -> None:
    if failure == "balance":
        fake.set_balance("0")
    else:
        fake.inject(Fault.HTTP_413_HTML, path="/api/v1/task/run")

    response = await app_client.post(f"/tasks/{fake.task_slugs[0]}/run")

    assert response.status == 502
    assert fake.runs == []
