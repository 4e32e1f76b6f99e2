"""RunCallback.parse reads every known notice shape leniently and keeps what it does not know."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from coreclaw_async import InvalidCallbackError, RunCallback

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "api-examples"


def example(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def test_the_documented_success_notice_is_read_field_by_field() -> None:
    notice = RunCallback.parse(example("callback_succeeded.json"))

    assert notice.run_slug == "01KZDQ89G8PTTWG5Z703BG7D1T"
    assert notice.run_id is None
    assert notice.run_status == "succeeded"
    assert notice.is_final
    assert notice.succeeded
    assert not notice.failed
    assert notice.error_message == ""
    assert notice.execution_start_timestamp == 100
    assert notice.execution_end_timestamp == 200
    assert notice.running_duration == 100
    assert notice.result_count == 3
    assert notice.result_message == "done"
    assert notice.raw == json.loads(example("callback_succeeded.json"))


def test_a_failed_notice_carries_its_error_message_and_real_timestamps() -> None:
    notice = RunCallback.parse(example("callback_failed.json"))

    assert notice.failed
    assert notice.is_final
    assert notice.error_message == "Navigation timeout of 30000 ms exceeded"
    assert notice.started_at == datetime(2026, 3, 12, 8, 6, 13, tzinfo=timezone.utc)
    assert notice.finished_at == datetime.fromtimestamp(1773302800, tz=timezone.utc)


def test_the_legacy_shape_gives_the_integer_run_id_and_no_slug() -> None:
    notice = RunCallback.parse(example("callback_legacy_run_id.json"))

    assert notice.run_slug is None
    assert notice.run_id == 123456
    assert notice.succeeded


def test_the_illustrative_v1_shape_maps_the_integer_status_and_results() -> None:
    notice = RunCallback.parse({"run_slug": "01KSF", "status": 3, "results": 20, "usage": "0.06"})

    assert notice.run_status == "succeeded"
    assert notice.result_count == 20
    assert notice.raw["usage"] == "0.06"


@pytest.mark.parametrize(
    ("status", "expected", "final"),
    [
        ("running", "running", False),
        ("RUNNING ", "running", False),
        ("aborting", "aborting", False),
        ("aborted", "aborted", True),
        ("completed", "completed", True),
        ("paused-by-platform", "paused-by-platform", False),
        (2, "running", False),
        (4, "failed", True),
        (5, "aborting", False),
        (9, "9", False),
    ],
)
def test_statuses_are_normalised_and_unknown_ones_kept(status: Any, expected: str, final: bool) -> None:
    notice = RunCallback.parse({"run_slug": "01KSF", "run_status": status})

    assert notice.run_status == expected
    assert notice.is_final is final


def test_numbers_sent_as_strings_are_read() -> None:
    notice = RunCallback.parse(
        {
            "run_id": "123456",
            "run_status": "succeeded",
            "result_count": "7",
            "execution_start_timestamp": "1773302773",
            "running_duration": "2.5",
        }
    )

    assert notice.run_id == 123456
    assert notice.result_count == 7
    assert notice.execution_start_timestamp == 1773302773
    assert notice.running_duration == 2.5


def test_millisecond_timestamps_are_recognised() -> None:
    notice = RunCallback.parse(
        {"run_slug": "x", "run_status": "succeeded", "execution_end_timestamp": 1776943336380}
    )

    assert notice.finished_at == datetime.fromtimestamp(1776943336.380, tz=timezone.utc)


def test_zero_and_garbage_values_become_none() -> None:
    notice = RunCallback.parse(
        {
            "run_slug": "x",
            "run_status": "running",
            "execution_end_timestamp": 0,
            "result_count": "many",
            "running_duration": True,
            "error_message": None,
        }
    )

    assert notice.finished_at is None
    assert notice.result_count is None
    assert notice.running_duration is None
    assert notice.error_message == ""


def test_a_slug_sent_under_run_id_is_taken_as_the_slug() -> None:
    notice = RunCallback.parse({"run_id": "01KSFDS8XWTJME33C08XMCR6B9", "run_status": "failed"})

    assert notice.run_slug == "01KSFDS8XWTJME33C08XMCR6B9"
    assert notice.run_id is None


def test_raw_control_characters_inside_strings_are_tolerated() -> None:
    notice = RunCallback.parse(b'{"run_slug":"x","run_status":"failed","error_message":"line1\nline2\x01"}')

    assert notice.error_message == "line1\nline2\x01"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'"succeeded"',
        b"{}",
        b'{"run_slug": "x"}',
        b'{"run_status": ""}',
        b'{"status": true}',
    ],
)
def test_unusable_bodies_raise_invalid_callback_error(body: bytes) -> None:
    with pytest.raises(InvalidCallbackError):
        RunCallback.parse(body)


def test_invalid_callback_error_is_a_value_error_with_nothing_sent() -> None:
    with pytest.raises(ValueError, match="not JSON") as caught:
        RunCallback.parse("{")

    assert caught.value.outcome == "not_sent"
