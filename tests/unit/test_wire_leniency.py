"""What the lenient converter and the v2 dialect accept beyond the documented bodies.

Servers drift: Go-style ``null`` for empty values, date-times as text, flags as booleans,
list items under another key, synchronous timestamps in milliseconds. Each is read the way
a user would expect; what cannot be read still fails loudly.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from cattrs.errors import ClassValidationError

from coreclaw_async import InvalidParameterError, Run, RunStatus
from coreclaw_async._converter import converter
from coreclaw_async._v1 import V1
from coreclaw_async._v2 import V2
from coreclaw_async.errors import RunStartUnknownError
from coreclaw_async.models import RunLog, Task

UTC = timezone.utc

RUN: dict[str, Any] = {
    "slug": "01KKDXV2G26BT7NH4ZQR2R4NPZ",
    "status": 3,
    "scraper_slug": "demo-worker",
    "started_at": 1782091200,
    "finished_at": 1782091210,
}


def test_null_reads_as_the_fields_default() -> None:
    run = converter.structure(dict(RUN, err_msg=None, results=None, usage=None), Run)

    assert run.err_msg == ""
    assert run.results == 0


def test_null_for_a_required_field_still_fails() -> None:
    with pytest.raises(ClassValidationError):
        converter.structure(dict(RUN, slug=None), Run)


def test_a_null_list_reads_as_an_empty_page() -> None:
    page = V2.ops.run_log.parse({"list": None})

    assert isinstance(page, RunLog)
    assert page.items == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-01T08:00:00Z", datetime(2026, 6, 1, 8, tzinfo=UTC)),
        ("2026-06-01T10:00:00+02:00", datetime(2026, 6, 1, 8, tzinfo=UTC)),
        # Without an offset the text is the platform's clock, UTC+8.
        ("2026-06-01 16:00:00", datetime(2026, 6, 1, 8, tzinfo=UTC)),
        ("", None),
    ],
)
def test_a_date_time_sent_as_text_is_read(text: str, expected: datetime | None) -> None:
    run = converter.structure(dict(RUN, started_at=text), Run)

    assert run.started_at == expected


def test_a_timestamp_that_is_neither_number_nor_date_time_fails() -> None:
    with pytest.raises(ClassValidationError):
        converter.structure(dict(RUN, started_at="yesterday"), Run)


def test_numeric_strings_stay_epoch_seconds() -> None:
    run = converter.structure(dict(RUN, started_at="1782091200"), Run)

    assert run.started_at == datetime.fromtimestamp(1782091200, UTC)


@pytest.mark.parametrize(("flag", "expected"), [(True, 1), (False, 0), (1, 1), (0, 0)])
def test_schedule_flag_may_be_a_boolean(flag: Any, expected: int) -> None:
    task = converter.structure({"slug": "t1", "schedule_enabled": flag}, Task)

    assert task.schedule_enabled == expected


def test_a_boolean_is_not_read_as_a_count() -> None:
    with pytest.raises(ClassValidationError):
        converter.structure(dict(RUN, results=True), Run)


def test_log_group_may_be_a_number() -> None:
    log = V1.ops.run_log.parse({"list": [{"type": 1, "group": 7, "content": "x", "timestamp": 0}]})

    assert log.items[0].group == "7"


@pytest.mark.parametrize("key", ["list", "items", "records", "data", "results"])
def test_v2_task_list_items_are_found_under_common_keys(key: str) -> None:
    page = V2.ops.task_list.parse({"count": 1, key: [{"slug": "t1"}]})

    assert [task.task_slug for task in page.items] == ["t1"]


def test_v2_worker_list_items_are_found_under_list() -> None:
    page = V2.ops.worker_list.parse({"count": 1, "list": [{"slug": "w1"}]})

    assert [worker.slug for worker in page.items] == ["w1"]


def _sync(start: Any, end: Any) -> Any:
    return V2.ops.worker_run_sync.parse(
        {
            "run_slug": "01KZAZ2B7T3Q0R8C784NCRWC03",
            "run_status": "succeeded",
            "execution_start_timestamp": start,
            "execution_end_timestamp": end,
        }
    )


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (1786000780, 1786000787),  # seconds, as documented
        (1786000780000, 1786000787000),  # milliseconds
        ("1786000780", "1786000787"),  # seconds as text
        (1786000780.0, 1786000787.0),  # seconds as integral floats
    ],
)
def test_v2_synchronous_timestamps_in_any_unit_read_the_same(start: Any, end: Any) -> None:
    result = _sync(start, end)

    assert result.execution_start_timestamp == datetime.fromtimestamp(1786000780, UTC)
    assert result.execution_end_timestamp == datetime.fromtimestamp(1786000787, UTC)


def test_v2_aborted_status_is_final() -> None:
    run = V2.ops.run_get.parse(dict(RUN, status="aborted"))

    assert run.status is RunStatus.ABORTED
    assert run.status_name == "aborted"
    assert run.is_final


def test_v2_unknown_status_keeps_its_name() -> None:
    run = V2.ops.run_get.parse(dict(RUN, status="paused"))

    assert run.status is RunStatus.UNKNOWN
    assert run.status_name == "paused"
    assert not run.is_final


@pytest.mark.parametrize("bad", [".", ".."])
def test_dot_segments_are_refused_as_path_ids(bad: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        V2.ops.run_get.render({"run_slug": bad})

    assert caught.value.field == "run_slug"


def test_ids_with_slashes_are_quoted_not_refused() -> None:
    path, _ = V2.ops.run_get.render({"run_slug": "a/../b"})

    assert path.endswith("/a%2F..%2Fb")


def test_queue_starts_name_the_queue_as_the_place_to_reconcile() -> None:
    assert V2.ops.worker_queue.reconcile_with == "queue.list"
    assert V2.ops.queue_activate.reconcile_with == "queue.list"
    assert V2.ops.task_run.reconcile_with == "runs.list"

    error = RunStartUnknownError.build(
        method="POST",
        path="/x",
        request=None,
        attempts=1,
        reason="the connection dropped",
        reconcile_with="queue.list",
    )

    assert "Check queue.list" in str(error)
