"""Every documented v2 example body read by the strict converter through the v2 operations."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from coreclaw_async import (
    AccountInfo,
    AuthenticationError,
    ConcurrencyLimitError,
    ExportLink,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ResultPage,
    Run,
    RunLog,
    RunNotFoundError,
    RunPage,
    RunStatus,
    ServerError,
    StartedRun,
    WorkerRunSync,
)
from coreclaw_async._converter import Structure, strict_converter
from coreclaw_async._envelope import unwrap
from coreclaw_async._operation import Operation
from coreclaw_async._v2 import V2
from coreclaw_async.errors import CoreClawAPIError
from coreclaw_async.models import QueuedRun

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "api-examples"
UTC = timezone.utc

SUCCESS: dict[str, tuple[Operation[Any], type | None]] = {
    "v2_task_run_ok.json": (V2.ops.task_run, StartedRun),
    "v2_worker_run_ok.json": (V2.ops.worker_run, StartedRun),
    "v2_worker_run_sync_ok.json": (V2.ops.worker_run_sync, WorkerRunSync),
    "v2_rerun_sync_ok.json": (V2.ops.worker_run_sync, WorkerRunSync),
    "v2_run_detail_running.json": (V2.ops.run_get, Run),
    "v2_run_list_page1.json": (V2.ops.run_list, RunPage),
    "v2_run_log_ok.json": (V2.ops.run_log, RunLog),
    "v2_run_result_page1.json": (V2.ops.run_results, ResultPage),
    "v2_run_export_ok.json": (V2.ops.run_export, ExportLink),
    "v2_run_abort_ok.json": (V2.ops.run_abort, None),
    "v2_account_ok.json": (V2.ops.account_info, AccountInfo),
    "v2_queued_run_ok.json": (V2.ops.worker_queue, QueuedRun),  # type: ignore[dict-item]
}

ERRORS: dict[str, type[CoreClawAPIError]] = {
    "v2_error_10000.json": ServerError,
    "v2_error_11000.json": InvalidRequestError,
    "v2_error_11000_cross_month.json": InvalidRequestError,
    "v2_error_11004.json": NotFoundError,
    "v2_error_12001.json": AuthenticationError,
    "v2_error_12002.json": AuthenticationError,
    "v2_error_13000.json": RateLimitError,
    "v2_error_30003.json": ConcurrencyLimitError,
}

V2_FILES = sorted(path.name for path in EXAMPLES.glob("v2_*.json"))


def _raw(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def _strict(op: Operation[Any], name: str) -> Any:
    data = unwrap(
        _raw(name), http_status=200, method=op.method, path=op.path, keep_request_id=op.keeps_request_id
    )
    if op.parse is None:
        return None
    if isinstance(op.parse, Structure):
        return op.parse.using(strict_converter, data)
    return op.parse(data)


def test_every_v2_example_file_is_covered() -> None:
    assert V2_FILES
    assert set(V2_FILES) == set(SUCCESS) | set(ERRORS)


@pytest.mark.parametrize("name", sorted(SUCCESS))
def test_every_v2_success_example_fits_its_model_strictly(name: str) -> None:
    op, expected = SUCCESS[name]

    result = _strict(op, name)

    if expected is None:
        assert result is None
    else:
        assert isinstance(result, expected)


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_every_v2_error_example_raises_its_typed_error(name: str) -> None:
    with pytest.raises(ERRORS[name]) as caught:
        unwrap(_raw(name), http_status=400, method="GET", path="/api/v2/x")

    body = json.loads(_raw(name))
    assert caught.value.code == body["code"]
    assert caught.value.request_id == body["request_id"]


def test_a_v2_run_record_reads_its_status_string_into_the_same_status_as_v1() -> None:
    run = _strict(V2.ops.run_get, "v2_run_detail_running.json")

    assert run.status is RunStatus.RUNNING
    assert run.status_code == 2
    assert run.status_name == "running"
    assert run.run_slug == "01KKDXV2G26BT7NH4ZQR2R4NPZ"
    assert run.error is None  # v2 run detail has no failure message
    assert run.usage == Decimal("1.00")
    assert run.started_at == datetime.fromtimestamp(1782091200, UTC)


def test_a_v2_status_this_version_does_not_know_is_kept() -> None:
    data = {"slug": "01KKDXV2G26BT7NH4ZQR2R4NPZ", "status": "paused"}

    run = V2.ops.run_get.parse(data)  # type: ignore[misc]

    assert run.status is RunStatus.UNKNOWN
    assert run.status_name == "paused"


def test_v2_synchronous_results_count_seconds_and_read_as_the_right_datetimes() -> None:
    result = _strict(V2.ops.worker_run_sync, "v2_worker_run_sync_ok.json")

    assert result.execution_start_timestamp == datetime.fromtimestamp(1786000780, UTC)
    assert result.execution_end_timestamp == datetime.fromtimestamp(1786000787, UTC)
    assert result.is_finished


def test_a_v2_rerun_sync_answer_is_finished_by_its_flag() -> None:
    result = _strict(V2.ops.worker_run_sync, "v2_rerun_sync_ok.json")

    assert result.finished is True
    assert result.is_finished


def test_a_v2_start_keeps_the_request_id_of_its_answer() -> None:
    started = _strict(V2.ops.task_run, "v2_task_run_ok.json")

    assert started == StartedRun(run_slug="01KKDXV2G26BT7NH4ZQR2R4NPZ", request_id="req-123")


def test_a_v2_not_found_answer_on_a_run_operation_is_a_run_not_found_error() -> None:
    with pytest.raises(RunNotFoundError):
        unwrap(
            _raw("v2_error_11004.json"),
            http_status=404,
            method="GET",
            path="/api/v2/worker-runs/X",
            not_found=V2.ops.run_get.not_found,
        )


def test_v2_account_has_a_balance_expiry_and_no_traffic() -> None:
    info = _strict(V2.ops.account_info, "v2_account_ok.json")

    assert info.balance == Decimal("2.7129")
    assert info.balance_expiration_at == datetime.fromtimestamp(1812418930, UTC)
    assert info.traffic == 0
