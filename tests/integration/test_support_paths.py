"""The integration tests' `Paths` helper: concrete paths, inject patterns and counts per operation."""

from __future__ import annotations

import re

import pytest

from coreclaw_async import AsyncCoreClaw
from coreclaw_async.testing import FakeCoreClaw, Fault

from .support import WORKER, Paths, start_run

RUN = "01KSFDS8XWTJME33C08XMCR6B9"
TASK = "01KSFDXRNYGKT3NNE11EMR4W5X"


def test_v1_paths_carry_no_ids() -> None:
    paths = Paths("v1")

    assert paths.path("task_run", task=TASK) == paths.pattern("task_run") == "/api/v1/task/run"
    assert paths.path("run_get", run=RUN) == "/api/v1/run/detail"
    assert paths.op_of("/api/v1/run/result/list") == "run_results"


def test_v2_paths_put_ids_in_the_path_and_a_worker_id_with_a_tilde() -> None:
    paths = Paths("v2")

    assert paths.path("task_run", task=TASK) == f"/api/v2/worker-tasks/{TASK}/runs"
    assert paths.path("worker_run", worker=WORKER) == "/api/v2/workers/coreclaw~google-maps-scraper/runs"
    assert paths.pattern("run_results", run=RUN) == f"/api/v2/worker-runs/{RUN}/result"
    assert paths.pattern("task_run") == "/api/v2/worker-tasks/*"
    with pytest.raises(KeyError):
        paths.path("run_get")


def test_a_literal_segment_wins_over_an_id_when_a_path_is_classified() -> None:
    paths = Paths("v2")

    assert paths.op_of(f"/api/v2/worker-runs/{RUN}") == "run_get"
    assert paths.op_of("/api/v2/worker-runs/last") == "run_last"
    assert paths.op_of(f"/api/v2/worker-runs/{RUN}/result/export") == "run_export"
    assert paths.op_of("/files/export/x.json") == "file"
    assert paths.op_of("/api/v1/run/detail") == "/api/v1/run/detail"  # not a v2 path


def test_the_regex_finds_any_concrete_path_of_an_operation() -> None:
    found = re.search(Paths("v2").regex("task_run"), f"POST /api/v2/worker-tasks/{TASK}/runs: retrying")

    assert found is not None
    assert re.search(Paths("v2").regex("task_run"), f"GET /api/v2/worker-tasks/{TASK}") is None


def test_an_unknown_operation_is_an_error_not_a_count_of_zero() -> None:
    with pytest.raises(KeyError):
        Paths("v2").template("run_detail")
    with pytest.raises(ValueError, match="unknown API version"):
        Paths("v3")


async def test_counts_group_the_fakes_requests_by_operation(
    client: AsyncCoreClaw, fake: FakeCoreClaw, paths: Paths
) -> None:
    first, second = await start_run(client), await start_run(client)
    fake.inject(Fault.HTTP_502_HTML, path=paths.pattern("run_get", run=first))
    await client.runs.get(first)
    await client.runs.get(second)
    await client.runs.results_page(second)

    assert paths.counts(fake) == {"worker_run": 2, "run_get": 3, "run_results": 1}
    assert paths.count(fake, "run_get") == 3
    assert paths.count(fake, "run_log") == 0
