"""``unwrap``: every documented body, and every way a body can fail to be an envelope (spec 3.1-3.5)."""

from __future__ import annotations

import email.utils
import json
import time
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from coreclaw_async._constants import BODY_EXCERPT_LIMIT
from coreclaw_async._envelope import parse_retry_after, unwrap
from coreclaw_async.errors import (
    AccountUnavailableError,
    AuthenticationError,
    ConcurrencyLimitError,
    CoreClawAPIError,
    InsufficientBalanceError,
    InsufficientTrafficError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ResponseDecodeError,
    RunAbortFailedError,
    RunNotFoundError,
    ServerError,
    TaskNotFoundError,
    WorkerNotFoundError,
    WorkerRunFailedError,
    WorkerVersionUnavailableError,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "api-examples"
KEY = "scraper_api_UNITTESTKEY0123456789abcdef"
PATH = "/api/v1/task/run"

# The class each documented code must raise, written out here rather than read from the package.
EXPECTED = {
    4000: InvalidRequestError,
    11000: InvalidRequestError,
    4010: AuthenticationError,
    20001: AuthenticationError,
    20002: AuthenticationError,
    12001: AuthenticationError,
    12002: AuthenticationError,
    10001: AccountUnavailableError,
    10002: AccountUnavailableError,
    4040: NotFoundError,
    11004: NotFoundError,
    60001: TaskNotFoundError,
    50001: WorkerNotFoundError,
    70001: RunNotFoundError,
    4290: RateLimitError,
    13000: RateLimitError,
    30001: InsufficientBalanceError,
    30002: InsufficientTrafficError,
    30003: ConcurrencyLimitError,
    5000: ServerError,
    10000: ServerError,
    50002: WorkerRunFailedError,
    50003: WorkerVersionUnavailableError,
    70002: RunAbortFailedError,
}


def _examples(*, success: bool) -> list[Any]:
    found = []
    for file in sorted(EXAMPLES.glob("*.json")) if EXAMPLES.is_dir() else []:
        payload = json.loads(file.read_bytes())
        is_envelope = isinstance(payload, dict) and type(payload.get("code")) is int
        if is_envelope and (payload["code"] == 0) is success:
            found.append(pytest.param(file, id=file.stem))
    return found


def _unwrap(raw: bytes, status: int = 200, headers: Any = None) -> Any:
    return unwrap(raw, http_status=status, method="POST", path=PATH, headers=headers, secret=KEY)


def _error(raw: bytes, status: int = 200, headers: Any = None) -> CoreClawAPIError:
    with pytest.raises(CoreClawAPIError) as caught:
        _unwrap(raw, status, headers)
    return caught.value


# -- documented bodies ---------------------------------------------------------------


@pytest.mark.parametrize("file", _examples(success=False))
def test_every_documented_error_body_raises_the_class_for_its_code(file: Path) -> None:
    raw = file.read_bytes()
    payload = json.loads(raw)

    error = _error(raw)

    assert type(error) is EXPECTED[payload["code"]]
    assert error.code == payload["code"]
    assert error.message == payload["message"]
    assert error.request_id == payload.get("request_id")
    assert error.http_status == 200
    assert (error.method, error.path) == ("POST", PATH)
    assert error.body == raw.decode()


@pytest.mark.parametrize("file", _examples(success=True))
def test_every_documented_success_body_returns_its_data(file: Path) -> None:
    raw = file.read_bytes()

    assert _unwrap(raw) == json.loads(raw).get("data")


def test_v2_error_bodies_keep_their_request_id() -> None:
    error = _error(b'{"code":11004,"message":"not found","request_id":"req-123"}', 404)

    assert error.request_id == "req-123"
    assert "request_id=req-123" in str(error)


def test_the_code_decides_the_class_whatever_the_http_status() -> None:
    error = _error(b'{"code":60001,"message":"Task does not exist","data":null}', 500)

    assert type(error) is TaskNotFoundError
    assert error.http_status == 500


def test_a_success_envelope_is_success_even_with_an_error_http_status() -> None:
    assert _unwrap(b'{"code":0,"message":"success","data":{"run_slug":"01K"}}', 500) == {"run_slug": "01K"}


def test_a_success_envelope_without_data_returns_none() -> None:
    assert _unwrap(b'{"code":0,"message":"success","request_id":"req-1"}') is None


def test_v2_error_details_are_kept() -> None:
    error = _error(b'{"code":11000,"message":"invalid argument","details":["offset: must be >= 0"]}', 400)

    assert error.details == ["offset: must be >= 0"]


@pytest.mark.parametrize("message", ["null", '""', "42", '["a"]'])
def test_an_error_without_a_usable_message_gets_one_naming_the_code(message: str) -> None:
    error = _error(b'{"code":60001,"message":' + message.encode() + b"}")

    assert type(error) is TaskNotFoundError
    assert error.message == "CoreClaw error 60001"


def test_an_unknown_code_raises_the_generic_api_error_with_the_code_kept() -> None:
    error = _error(b'{"code":98765,"message":"brand new failure","data":null}')

    assert type(error) is CoreClawAPIError
    assert error.code == 98765
    assert error.message == "brand new failure"


def test_request_id_falls_back_to_a_response_header() -> None:
    error = _error(b'{"code":4000,"message":"bad"}', 400, CIMultiDict({"X-Request-ID": "hdr-7"}))

    assert error.request_id == "hdr-7"


# -- outcome ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", [5000, 10000, 14000])
def test_internal_server_errors_have_an_unknown_outcome(code: int) -> None:
    error = _error(b'{"code":%d,"message":"Network error, try again"}' % code, 500)

    assert isinstance(error, ServerError)
    assert error.outcome == "unknown"
    assert error.sent is None


@pytest.mark.parametrize("code", [4000, 4290, 30003, 60001])
def test_refusals_have_a_rejected_outcome(code: int) -> None:
    assert _error(b'{"code":%d,"message":"no"}' % code).outcome == "rejected"


# -- bodies that are not envelopes -----------------------------------------------------

HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
    b"<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
    b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def test_an_html_502_from_a_proxy_is_a_decode_error_with_status_and_body_excerpt() -> None:
    error = _error(HTML_502, 502)

    assert type(error) is ResponseDecodeError
    assert error.http_status == 502
    assert error.code is None
    assert "502 Bad Gateway" in (error.body or "")
    assert "not JSON" in error.message
    assert error.outcome == "unknown"


def test_the_body_excerpt_is_bounded() -> None:
    error = _error(b"<html>" + b"x" * 10_000 + b"</html>", 502)

    assert error.body is not None
    assert len(error.body) <= BODY_EXCERPT_LIMIT


@pytest.mark.parametrize("raw", [b"", b"   \r\n"])
@pytest.mark.parametrize("status", [200, 204, 502])
def test_an_empty_body_is_a_decode_error(raw: bytes, status: int) -> None:
    error = _error(raw, status)

    assert type(error) is ResponseDecodeError
    assert error.http_status == status
    assert "empty body" in error.message


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"[]", id="empty-list"),
        pytest.param(b'[{"code":0,"data":{}}]', id="list-of-envelopes"),
        pytest.param(b'{"message":"success","data":{"run_slug":"01K"}}', id="no-code"),
        pytest.param(b'{"code":"0","data":{"run_slug":"01K"}}', id="code-string-zero"),
        pytest.param(b'{"code":"4000","message":"bad"}', id="code-string"),
        pytest.param(b'{"code":null,"message":"x","data":null}', id="code-null"),
        pytest.param(b'{"code":0.0,"data":{}}', id="code-float"),
        pytest.param(b'{"code":false,"data":{}}', id="code-false"),
        pytest.param(b'{"code":{"value":0}}', id="code-object"),
        pytest.param(b'"success"', id="string"),
        pytest.param(b"0", id="number"),
        pytest.param(b'{"run_slug":"01K","run_status":"succeeded"}', id="a-callback-body"),
    ],
)
def test_json_that_is_not_an_envelope_is_a_decode_error(raw: bytes) -> None:
    error = _error(raw)

    assert type(error) is ResponseDecodeError
    assert error.code is None
    assert error.http_status == 200
    assert "not a CoreClaw envelope" in error.message


def test_a_json_null_body_is_a_decode_error() -> None:
    error = _error(b"null")

    assert type(error) is ResponseDecodeError
    assert error.code is None


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"code":0,"data":{"run_slug":"01KSF', id="truncated"),
        pytest.param(b"\xff\xfe\x00\x01garbage", id="not-utf8"),
        pytest.param(b"{'code': 0}", id="python-repr"),
        pytest.param(b'{"code":0,"data":{}}trailing', id="trailing-garbage"),
    ],
)
def test_a_body_that_is_not_json_is_a_decode_error(raw: bytes) -> None:
    error = _error(raw)

    assert type(error) is ResponseDecodeError
    assert "not JSON" in error.message


def test_a_deeply_nested_body_is_a_decode_error_not_a_recursion_error() -> None:
    error = _error(b"[" * 100_000, 502)

    assert type(error) is ResponseDecodeError


@pytest.mark.parametrize("status", [401, 403])
def test_a_non_envelope_401_or_403_is_an_authentication_error(status: int) -> None:
    error = _error(b"<html>Forbidden</html>", status)

    assert type(error) is AuthenticationError
    assert error.http_status == status
    assert error.code is None


# -- lenient decoding --------------------------------------------------------------------


def test_raw_control_characters_inside_strings_are_decoded() -> None:
    raw = b'{"code":0,"message":"ok","data":{"run_slug":"01K\x01X","note":"line 1\nline 2\ttab\x1f"}}'

    assert _unwrap(raw) == {"run_slug": "01K\x01X", "note": "line 1\nline 2\ttab\x1f"}


def test_raw_control_characters_inside_an_error_message_are_kept() -> None:
    error = _error(b'{"code":60001,"message":"Task\x07 does not\nexist","data":null}')

    assert type(error) is TaskNotFoundError
    assert error.message == "Task\x07 does not\nexist"


def test_ids_beyond_2_53_decode_as_exact_ints() -> None:
    assert _unwrap(b'{"code":0,"data":{"id":1800000000000000123}}') == {"id": 1800000000000000123}


def test_integers_beyond_64_bits_decode_as_exact_ints() -> None:
    assert _unwrap(b'{"code":0,"data":{"id":123456789012345678901234567890}}') == {
        "id": 123456789012345678901234567890
    }


# -- rate limits and Retry-After -------------------------------------------------------


def _rate_limited(retry_after: str | None) -> RateLimitError:
    headers = CIMultiDict() if retry_after is None else CIMultiDict({"Retry-After": retry_after})
    error = _error(b"<html><body>429 Too Many Requests</body></html>", 429, headers)
    assert type(error) is RateLimitError
    assert error.code is None
    assert error.http_status == 429
    return error


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0", 0.0), ("1.5", 1.5), (" 2 ", 2.0), ("-4", 0.0)],
)
def test_a_non_envelope_429_is_a_rate_limit_error_with_retry_after_seconds(
    header: str, seconds: float
) -> None:
    assert _rate_limited(header).retry_after == seconds


def test_retry_after_as_an_http_date_is_seconds_from_now() -> None:
    header = email.utils.formatdate(time.time() + 30, usegmt=True)

    retry_after = _rate_limited(header).retry_after

    assert retry_after is not None
    assert 28.0 <= retry_after <= 31.0


def test_retry_after_as_an_http_date_in_the_past_is_zero() -> None:
    assert _rate_limited("Wed, 21 Oct 2015 07:28:00 GMT").retry_after == 0.0


@pytest.mark.parametrize("header", [None, "", "soon", "nan", "inf", "1e400", "Mon, 99 Foo 2015 99:99:99 GMT"])
def test_missing_or_garbage_retry_after_is_none(header: str | None) -> None:
    assert _rate_limited(header).retry_after is None


@pytest.mark.parametrize("code", [4290, 13000])
def test_a_rate_limit_envelope_reads_retry_after_too(code: int) -> None:
    raw = b'{"code":%d,"message":"Too many requests, please try again later","data":null}' % code

    error = _error(raw, 429, CIMultiDict({"retry-after": "7"}))

    assert type(error) is RateLimitError
    assert error.code == code
    assert error.retry_after == 7.0


def test_parse_retry_after_of_nothing_is_none() -> None:
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    "header",
    [
        "Mon, 01 Jan 99999999999999999999 00:00:00 GMT",
        "Mon, 01 Jan 2020 99999999999:00:00 GMT",
        "Mon, 01 Jan 2020 00:00:00 +99999999999999999999",
    ],
)
def test_an_overflowing_retry_after_date_is_ignored(header: str) -> None:
    assert _rate_limited(header).retry_after is None


# -- the API key never leaks -------------------------------------------------------------


def test_the_api_key_is_redacted_from_an_error_message_and_body_excerpt() -> None:
    raw = (
        b'{"code":20001,"message":"Invalid API key '
        + KEY.encode()
        + b'","data":{"key":"'
        + KEY.encode()
        + b'"}}'
    )

    error = _error(raw, 401)

    assert type(error) is AuthenticationError
    assert "***" in error.message
    for text in (error.message, error.body or "", str(error), repr(error)):
        assert KEY not in text


def test_the_api_key_is_redacted_from_a_non_envelope_body_excerpt() -> None:
    error = _error(b"<html>upstream rejected api-key: " + KEY.encode() + b"</html>", 502)

    assert KEY not in (error.body or "")
    assert "***" in (error.body or "")


def test_no_part_of_the_api_key_leaks_when_it_straddles_the_excerpt_limit() -> None:
    raw = b"x" * (BODY_EXCERPT_LIMIT - 30) + KEY.encode() + b" tail"

    error = _error(raw, 502)

    assert KEY[:30] not in (error.body or "")
