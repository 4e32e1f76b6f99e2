"""A 4xx without an envelope (a front proxy refusing the request) is "rejected": no run can exist."""

from __future__ import annotations

import pytest

from coreclaw_async import (
    AsyncCoreClaw,
    CoreClawAPIError,
    RequestRejectedError,
    ResponseDecodeError,
    RunStartUnknownError,
)
from coreclaw_async.testing import FakeCoreClaw, Fault

from .support import Paths, client_for

CALLBACK_URL = "https://hooks.example.com/coreclaw"

REFUSALS = [
    (Fault.HTTP_400_HTML, 400),
    (Fault.HTTP_405_HTML, 405),
    (Fault.HTTP_413_HTML, 413),
    (Fault.HTTP_414_HTML, 414),
    (Fault.HTTP_431_HTML, 431),
]


def _client(fake: FakeCoreClaw) -> AsyncCoreClaw:
    return client_for(fake, callback_url=CALLBACK_URL)


@pytest.mark.parametrize(("fault", "status"), REFUSALS)
async def test_a_run_start_refused_by_a_front_proxy_is_rejected_not_unknown(
    fault: Fault, status: int, api_version: str, paths: Paths
) -> None:
    async with FakeCoreClaw(api_versions=(api_version,), tasks=1) as fake, _client(fake) as client:
        fake.inject(fault, path=paths.pattern("task_run"))

        with pytest.raises(RequestRejectedError) as caught:
            await client.tasks.run(fake.task_slugs[0])

        error = caught.value
        assert error.http_status == status
        assert error.outcome == "rejected"
        assert error.sent is True
        assert error.attempts == 1  # a refusal is not retried
        assert fake.runs == []
        assert client.stats.unknown_outcomes == 0


@pytest.mark.parametrize(("fault", "status"), REFUSALS)
async def test_a_fan_out_reports_proxy_refusals_as_not_started(
    fault: Fault, status: int, api_version: str, paths: Paths
) -> None:
    async with FakeCoreClaw(api_versions=(api_version,), tasks=1) as fake, _client(fake) as client:
        fake.inject(fault, path=paths.pattern("task_run"), times=3)

        outcomes = await client.tasks.run_all([fake.task_slugs[0]] * 5, concurrency=1)

        refused = [o for o in outcomes if o.error is not None]
        assert len(refused) == 3
        assert all(o.started is False and isinstance(o.error, RequestRejectedError) for o in refused)
        assert all(o.error.http_status == status for o in refused if isinstance(o.error, CoreClawAPIError))
        assert len(fake.runs) == 2
        assert not any(isinstance(o.error, RunStartUnknownError) for o in outcomes)


@pytest.mark.parametrize("fault", [Fault.HTTP_502_HTML, Fault.HTTP_503_HTML, Fault.HTTP_504_HTML])
async def test_a_gateway_error_page_on_a_run_start_stays_unknown(
    fault: Fault, api_version: str, paths: Paths
) -> None:
    async with FakeCoreClaw(api_versions=(api_version,), tasks=1) as fake, _client(fake) as client:
        fake.inject(fault, path=paths.pattern("task_run"))

        with pytest.raises(RunStartUnknownError) as caught:
            await client.tasks.run(fake.task_slugs[0])

        assert isinstance(caught.value.__cause__, ResponseDecodeError)


async def test_a_truncated_answer_to_a_run_start_stays_unknown(api_version: str, paths: Paths) -> None:
    async with FakeCoreClaw(api_versions=(api_version,), tasks=1) as fake, _client(fake) as client:
        fake.inject(Fault.TRUNCATED, path=paths.pattern("task_run"))

        outcomes = await client.tasks.run_all([fake.task_slugs[0]])

        assert outcomes[0].started is None
        assert len(fake.runs) == 1  # the run does exist: that is why the outcome stays open


async def test_a_read_refused_by_a_front_proxy_is_not_retried_either(api_version: str, paths: Paths) -> None:
    async with FakeCoreClaw(api_versions=(api_version,), tasks=1) as fake, _client(fake) as client:
        started = await client.tasks.run(fake.task_slugs[0])
        fake.inject(Fault.HTTP_414_HTML, path=paths.pattern("run_get", run=started.run_slug))
        fake.reset_counters()

        with pytest.raises(RequestRejectedError):
            await client.runs.get(started.run_slug)

        assert paths.counts(fake) == {"run_get": 1}
