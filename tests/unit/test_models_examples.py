"""Every documented v1 example body against the models (strict converter) and the envelope check,
plus the wire rules: Decimal money, UTC datetimes, 0 -> None, exact big ints, open enums."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cattrs.errors import ClassValidationError

from coreclaw_async._converter import Structure, converter, strict_converter
from coreclaw_async._envelope import unwrap
from coreclaw_async._json import loads
from coreclaw_async._operation import Operation
from coreclaw_async._v1 import V1
from coreclaw_async.errors import (
    AccountUnavailableError,
    AuthenticationError,
    CoreClawAPIError,
    InsufficientBalanceError,
    InsufficientTrafficError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    RunAbortFailedError,
    RunNotFoundError,
    ServerError,
    TaskNotFoundError,
    WorkerNotFoundError,
    WorkerRunFailedError,
    WorkerVersionUnavailableError,
)
from coreclaw_async.models import (
    AccountInfo,
    ExportLink,
    LogLevel,
    ProxyRegion,
    ResultPage,
    Run,
    RunLog,
    RunPage,
    RunStatus,
    StartedRun,
    StoreWorker,
    SystemParameters,
    Worker,
    WorkerInput,
    WorkerRunRequest,
    WorkerRunSync,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "api-examples"
UTC = timezone.utc

# Success bodies: the operation that parses them and the type it must produce.
SUCCESS: dict[str, tuple[Operation[Any], type | None]] = {
    "account_info_ok.json": (V1.ops.account_info, AccountInfo),
    "proxy_region_ok.json": (V1.ops.proxy_regions, list),
    "rerun_ok.json": (V1.ops.run_rerun, StartedRun),
    "run_detail_failed.json": (V1.ops.run_get, Run),
    "run_detail_running.json": (V1.ops.run_get, Run),
    "run_detail_succeeded.json": (V1.ops.run_get, Run),
    "run_last_log_ok.json": (V1.ops.run_log, RunLog),
    "run_list_page1.json": (V1.ops.run_list, RunPage),
    "run_result_export_ok.json": (V1.ops.run_export, ExportLink),
    "run_result_list_empty.json": (V1.ops.run_results, ResultPage),
    "run_result_list_page1.json": (V1.ops.run_results, ResultPage),
    "scraper_abort_ok.json": (V1.ops.run_abort, None),
    "scraper_detail_legacy_memory_bytes.json": (V1.ops.worker_get, Worker),
    "scraper_detail_ok.json": (V1.ops.worker_get, Worker),
    "scraper_run_ok.json": (V1.ops.worker_run, StartedRun),
    "scraper_run_sync_ok.json": (V1.ops.worker_run_sync, WorkerRunSync),
    "store_search_ok.json": (V1.ops.store_search, list),
    "task_run_ok.json": (V1.ops.task_run, StartedRun),
}

# Error bodies: the exception class the envelope check must raise.
ERRORS: dict[str, type[CoreClawAPIError]] = {
    "error_10001_user_unavailable.json": AccountUnavailableError,
    "error_10002_user_disabled.json": AccountUnavailableError,
    "error_20001_invalid_api_key.json": AuthenticationError,
    "error_20002_api_key_expired.json": AuthenticationError,
    "error_4000_invalid_params.json": InvalidRequestError,
    "error_4010_unauthorized.json": AuthenticationError,
    "error_4040_not_found.json": NotFoundError,
    "error_4290_rate_limited.json": RateLimitError,
    "error_50002_run_failed.json": WorkerRunFailedError,
    "error_5000_internal.json": ServerError,
    "rerun_4000_missing_callback.json": InvalidRequestError,
    "rerun_70001.json": RunNotFoundError,
    "run_detail_70001.json": RunNotFoundError,
    "run_list_4000.json": InvalidRequestError,
    "scraper_abort_70002.json": RunAbortFailedError,
    "scraper_detail_50001.json": WorkerNotFoundError,
    "scraper_run_30001.json": InsufficientBalanceError,
    "scraper_run_30002.json": InsufficientTrafficError,
    "scraper_run_50001.json": WorkerNotFoundError,
    "scraper_run_50003.json": WorkerVersionUnavailableError,
    "task_run_4000.json": InvalidRequestError,
    "task_run_4010.json": AuthenticationError,
    "task_run_60001.json": TaskNotFoundError,
}

V1_FILES = sorted(
    path.name for path in EXAMPLES.glob("*.json") if not path.name.startswith(("v2_", "callback_"))
)


def _raw(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def _data(name: str) -> Any:
    return unwrap(_raw(name), http_status=200, method="POST", path="/test")


def _strict(op: Operation[Any], data: Any) -> Any:
    assert isinstance(op.parse, Structure)
    return op.parse.using(strict_converter, data)


def test_every_v1_example_file_is_covered() -> None:
    assert V1_FILES, "no example files found"
    assert set(V1_FILES) == set(SUCCESS) | set(ERRORS)


@pytest.mark.parametrize("name", sorted(SUCCESS))
def test_success_example_structures_through_the_strict_converter(name: str) -> None:
    op, expected = SUCCESS[name]
    data = _data(name)

    if expected is None:
        assert op.parse is None
        assert data is None
        return
    result = _strict(op, data)

    assert isinstance(result, expected)
    assert op.parse is not None
    assert op.parse(data) == result  # the lenient parse agrees on documented bodies


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_example_raises_its_error_class(name: str) -> None:
    body = json.loads(_raw(name))

    with pytest.raises(ERRORS[name]) as caught:
        unwrap(_raw(name), http_status=200, method="POST", path="/test")

    assert type(caught.value) is ERRORS[name]
    assert caught.value.code == body["code"]
    assert caught.value.message == body["message"]


# -- money, time, ints ------------------------------------------------------------------


def test_run_usage_is_an_exact_decimal_and_times_are_aware_utc() -> None:
    run = _strict(V1.ops.run_get, _data("run_detail_succeeded.json"))

    assert run.usage == Decimal("0.0542")
    assert isinstance(run.usage, Decimal)
    assert run.started_at == datetime(2026, 3, 13, 6, 36, 24, tzinfo=UTC)
    assert run.finished_at == datetime(2026, 3, 13, 6, 36, 30, tzinfo=UTC)
    assert run.started_at.utcoffset() is not None
    assert run.status is RunStatus.SUCCEEDED
    assert run.is_final
    assert run.succeeded
    assert not run.failed


def test_finished_at_zero_reads_as_none_while_running() -> None:
    run = _strict(V1.ops.run_get, _data("run_detail_running.json"))

    assert run.finished_at is None
    assert run.status is RunStatus.RUNNING
    assert not run.is_final


def test_failed_run_keeps_its_error_message() -> None:
    run = _strict(V1.ops.run_get, _data("run_detail_failed.json"))

    assert run.failed
    assert run.is_final
    assert run.err_msg == "Navigation timeout of 30000 ms exceeded"


def test_account_balance_is_decimal_and_expiry_is_seconds() -> None:
    info = _strict(V1.ops.account_info, _data("account_info_ok.json"))

    assert info.balance == Decimal("10122.5547")
    assert info.traffic == 178194757135
    assert info.traffic_expiration_at == datetime(2026, 4, 4, 1, 43, 38, tzinfo=UTC)


def test_log_timestamps_are_milliseconds_and_groups_stay_strings() -> None:
    log = _strict(V1.ops.run_log, _data("run_last_log_ok.json"))

    first = log.items[0]
    assert first.timestamp == datetime(2026, 3, 13, 6, 36, 24, 438000, tzinfo=UTC)
    assert first.level is LogLevel.INFO
    assert first.group == "28596067108978688"
    assert log.result_count == 4


def test_sync_run_timestamps_are_milliseconds_and_rows_are_dicts() -> None:
    result = _strict(V1.ops.worker_run_sync, _data("scraper_run_sync_ok.json"))

    assert result.execution_start_timestamp == datetime(2026, 4, 23, 11, 22, 16, 380000, tzinfo=UTC)
    assert result.execution_end_timestamp == datetime(2026, 4, 23, 11, 22, 28, 200000, tzinfo=UTC)
    assert result.is_finished
    assert result.results is not None
    assert result.results.count == 8
    assert [h.key for h in result.results.headers] == ["title", "publish_time", "category"]
    assert result.results.items[0]["title"] == "Example Article Title"


def test_result_rows_keep_their_json_values_and_headers() -> None:
    page = _strict(V1.ops.run_results, _data("run_result_list_page1.json"))

    assert page.items[0] == {"__coreclaw_data_id__": "record_1", "title": "Example title 1", "rating": 4.8}
    assert [(h.label, h.key, h.format) for h in page.headers] == [
        ("title", "title", "text"),
        ("rating", "rating", "number"),
    ]
    assert (page.count, page.page_index, page.page_size) == (2, 1, 10)


def test_store_and_proxy_lists_unwrap_to_plain_lists() -> None:
    workers = _strict(V1.ops.store_search, _data("store_search_ok.json"))
    regions = _strict(V1.ops.proxy_regions, _data("proxy_region_ok.json"))

    assert all(isinstance(w, StoreWorker) for w in workers)
    assert workers[0].slug == "01KBHMS6A8H6A3K5FJY11MQ99Z"
    assert regions == [ProxyRegion(code="US", name="United States"), ProxyRegion(code="DE", name="Germany")]


def test_ids_beyond_2_pow_53_stay_exact_ints() -> None:
    big = 2**53 + 1
    data = dict(_data("run_detail_succeeded.json"), traffic=big, results=big)

    run = strict_converter.structure(data, Run)

    assert run.traffic == big
    assert type(run.traffic) is int
    assert run.results == big


def test_ints_up_to_64_bits_survive_json_decoding_exactly() -> None:
    big = 2**64 - 1
    raw = (
        b'{"code":0,"message":"success","data":{"balance":"1","traffic":%d,"traffic_expiration_at":0}}' % big
    )

    info = V1.ops.account_info.parse(unwrap(raw, http_status=200, method="POST", path="/x"))  # type: ignore[misc]

    assert info.traffic == big
    assert info.traffic_expiration_at is None


def test_an_int_that_arrives_as_an_inexact_float_is_rejected_not_rounded() -> None:
    data = dict(_data("run_detail_succeeded.json"), traffic=float(2**70 + 3))

    with pytest.raises(ClassValidationError):
        converter.structure(data, Run)


def test_lenient_converter_accepts_integral_floats_and_numeric_strings_as_ints() -> None:
    data = dict(_data("run_detail_succeeded.json"), results=4.0, duration="6", traffic=10)

    run = converter.structure(data, Run)

    assert (run.results, run.duration) == (4, 6)
    assert type(run.results) is int


@pytest.mark.parametrize("value", [4.5, "four", True, [4]])
def test_non_integral_values_are_rejected_for_int_fields(value: Any) -> None:
    data = dict(_data("run_detail_succeeded.json"), results=value)

    with pytest.raises(ClassValidationError):
        converter.structure(data, Run)


def test_strict_converter_rejects_an_int_sent_as_float_or_money_sent_as_number() -> None:
    with pytest.raises(ClassValidationError):
        strict_converter.structure(dict(_data("run_detail_succeeded.json"), results=4.0), Run)
    with pytest.raises(ClassValidationError):
        strict_converter.structure(dict(_data("run_detail_succeeded.json"), usage=0.05), Run)
    assert converter.structure(dict(_data("run_detail_succeeded.json"), usage=0.05), Run).usage == Decimal(
        "0.05"
    )


def test_a_non_finite_decimal_is_rejected() -> None:
    with pytest.raises(ClassValidationError):
        converter.structure(dict(_data("run_detail_succeeded.json"), usage="NaN"), Run)


# -- open enums and unknown fields ------------------------------------------------------


def test_unknown_run_status_is_kept_raw_by_the_lenient_converter() -> None:
    data = dict(_data("run_detail_running.json"), status=9)

    run = converter.structure(data, Run)

    assert run.status is RunStatus.UNKNOWN
    assert run.status_code == 9
    assert not run.is_final
    assert converter.unstructure(run)["status"] == 9


def test_unknown_run_status_is_rejected_by_the_strict_converter() -> None:
    with pytest.raises(ClassValidationError):
        strict_converter.structure(dict(_data("run_detail_running.json"), status=9), Run)


def test_unknown_log_level_is_kept_raw() -> None:
    data = _data("run_last_log_ok.json")
    data["list"][0]["type"] = 7

    log = converter.structure(data, RunLog)

    assert log.items[0].level is LogLevel.UNKNOWN
    assert log.items[0].type == 7
    with pytest.raises(ClassValidationError):
        strict_converter.structure(data, RunLog)


def test_unknown_fields_are_ignored_when_lenient_and_rejected_when_strict() -> None:
    data = dict(_data("run_detail_running.json"), new_field="x")

    assert converter.structure(data, Run).run_slug == "01KSFDS8XWTJME33C08XMCR6B9"
    with pytest.raises(ClassValidationError):
        strict_converter.structure(data, Run)


def test_status_enum_maps_every_documented_value() -> None:
    assert [RunStatus.from_code(code) for code in range(1, 6)] == [
        RunStatus.READY,
        RunStatus.RUNNING,
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.ABORTING,
    ]
    assert RunStatus.from_code(-1) is RunStatus.UNKNOWN
    assert RunStatus.from_code(0) is RunStatus.UNKNOWN
    assert RunStatus.from_name("aborted") is RunStatus.ABORTED
    assert [s for s in RunStatus if s.is_final] == [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.ABORTED]


# -- Workers ----------------------------------------------------------------------------


def test_memory_and_legacy_memory_bytes_land_in_the_same_field() -> None:
    current = _strict(V1.ops.worker_get, _data("scraper_detail_ok.json"))
    legacy = _strict(V1.ops.worker_get, _data("scraper_detail_legacy_memory_bytes.json"))

    assert current.system.memory == 512
    assert legacy.system.memory == 512
    assert legacy.parameters.custom.split_by == "startURLs"


def test_worker_schema_gives_its_default_input() -> None:
    worker = _strict(V1.ops.worker_get, _data("scraper_detail_ok.json"))

    assert worker.version == "v1.0.5"
    assert [p.name for p in worker.properties] == ["startURLs", "maximum", "download_images"]
    assert worker.properties[0].required is True
    assert worker.properties[1].required is False
    assert worker.default_input() == {
        "startURLs": [{"url": "https://example.com/page?pg=1"}, {"url": "https://example.com/page?pg=2"}],
        "maximum": 4,
        "download_images": False,
    }


def test_unknown_input_descriptor_keys_are_kept_in_extra_by_both_converters() -> None:
    data = _data("scraper_detail_ok.json")
    data["parameters"]["custom"]["properties"][0]["enum"] = ["a", "b"]
    data["parameters"]["custom"]["layout"] = "tabs"

    for conv in (converter, strict_converter):
        worker = conv.structure(data, Worker)
        assert worker.properties[0].extra == {"enum": ["a", "b"]}
        assert worker.parameters.custom.extra == {"layout": "tabs"}
    round_trip = converter.unstructure(converter.structure(data, Worker))
    assert round_trip["parameters"]["custom"]["properties"][0]["enum"] == ["a", "b"]


def test_worker_run_request_sends_the_documented_nested_input() -> None:
    request = WorkerRunRequest(
        scraper_slug="coreclaw/google-maps-scraper",
        is_async=True,
        input=WorkerInput(custom={"startURLs": [{"url": "https://example.com"}]}, system=SystemParameters()),
        callback_url="https://your-callback.example.com/webhook",
    )

    assert converter.unstructure(request) == {
        "scraper_slug": "coreclaw/google-maps-scraper",
        "is_async": True,
        "input": {
            "parameters": {
                "system": {
                    "cpus": 0.125,
                    "memory": 512,
                    "execute_limit_time_seconds": 1800,
                    "max_total_charge": 0.0,
                    "max_total_traffic": 0.0,
                },
                "custom": {"startURLs": [{"url": "https://example.com"}]},
            }
        },
        "callback_url": "https://your-callback.example.com/webhook",
    }


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("run_detail_succeeded.json", Run),
        ("run_list_page1.json", RunPage),
        ("run_last_log_ok.json", RunLog),
        ("account_info_ok.json", AccountInfo),
        ("scraper_run_sync_ok.json", WorkerRunSync),
    ],
)
def test_models_unstructure_back_to_the_documented_wire_shape(name: str, model: type) -> None:
    data = _data(name)

    assert converter.unstructure(strict_converter.structure(data, model)) == _normalised(data)


def _normalised(data: Any) -> Any:
    # Documented numbers like `0` for a float field come back as `0.0`; compare as JSON values.
    return loads(json.dumps(data).encode())
