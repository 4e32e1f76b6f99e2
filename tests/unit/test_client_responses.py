"""How ``client.tasks.run`` handles answers: documented errors, bad data, connection failures, retries.

Narrow tests over ``aioresponses``; the request itself is covered in ``test_client_requests.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from aioresponses import aioresponses

from coreclaw_async import (
    AccountUnavailableError,
    APIConnectionError,
    APITimeoutError,
    AsyncCoreClaw,
    AuthenticationError,
    ConcurrencyLimitError,
    CoreClawAPIError,
    CoreClawError,
    InsufficientBalanceError,
    InsufficientTrafficError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ResponseDecodeError,
    ResponseValidationError,
    RetryPolicy,
    RunStartUnknownError,
    ServerError,
    StartedRun,
    TaskNotFoundError,
    TaskRunRequest,
    WorkerRunFailedError,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "api-examples"
KEY = "scraper_api_UNITTESTKEY0123456789abcdef"
BASE = "https://openapi.test"
URL = BASE + "/api/v1/task/run"
PATH = "/api/v1/task/run"
CALLBACK = "https://hooks.example.com/coreclaw"
SLUG = "01KSFDXRNYGKT3NNE11EMR4W5X"
RUN_SLUG = "01KSFDS8XWTJME33C08XMCR6B9"
OK = b'{"code":0,"message":"success","data":{"run_slug":"%s"}}' % RUN_SLUG.encode()
RATE_LIMITED = b'{"code":4290,"message":"Too many requests, please try again later","data":null}'
NOW = {"Retry-After": "0"}

# Refusals documented for task/run (spec 2.11) and the generic v1 errors, by code.
EXPECTED = {
    4000: InvalidRequestError,
    4010: AuthenticationError,
    4040: NotFoundError,
    4290: RateLimitError,
    10001: AccountUnavailableError,
    10002: AccountUnavailableError,
    20001: AuthenticationError,
    20002: AuthenticationError,
    30001: InsufficientBalanceError,
    30002: InsufficientTrafficError,
    30003: ConcurrencyLimitError,
    50002: WorkerRunFailedError,
    60001: TaskNotFoundError,
}
# The HTTP status [OAS-v1] pairs with a code; each body is also served with 200 (spec 3.4).
DOCUMENTED_STATUS = {4000: 400, 4010: 401, 4040: 404, 4290: 429, 5000: 500, 20001: 401, 60001: 404}
INTERNAL_ERRORS = ["error_5000_internal.json", "v2_error_10000.json"]


def _error_examples() -> list[Any]:
    names = ["scraper_run_30001.json", "scraper_run_30002.json", "v2_error_30003.json"]
    if EXAMPLES.is_dir():
        names += [p.name for p in EXAMPLES.glob("task_run_*.json") if p.name != "task_run_ok.json"]
        names += [p.name for p in EXAMPLES.glob("error_*.json") if p.name not in INTERNAL_ERRORS]
    params = []
    for name in sorted(set(names)):
        if (EXAMPLES / name).is_file():
            code = json.loads((EXAMPLES / name).read_bytes())["code"]
            for status in sorted({200, DOCUMENTED_STATUS.get(code, 200)}):
                params.append(pytest.param(name, status, id=f"{Path(name).stem}-http{status}"))
    return params


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CORECLAW_API_KEY", "CORECLAW_BASE_URL", "CORECLAW_CALLBACK_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


@pytest.fixture
async def client() -> AsyncIterator[AsyncCoreClaw]:
    """A client that never retries, so each answer is seen as it is."""
    async with AsyncCoreClaw(KEY, base_url=BASE, callback_url=CALLBACK, max_retries=0) as c:
        yield c


@pytest.fixture
async def retrying_client() -> AsyncIterator[AsyncCoreClaw]:
    async with AsyncCoreClaw(KEY, base_url=BASE, callback_url=CALLBACK, max_retries=2) as c:
        yield c


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_delay(self: RetryPolicy, retry: int, error: CoreClawError, rng: random.Random) -> float:
        return 0.0

    monkeypatch.setattr(RetryPolicy, "delay", no_delay)


def _request_count(m: aioresponses) -> int:
    assert m.requests is not None
    return sum(len(calls) for calls in m.requests.values())


def _connect_refused() -> aiohttp.ClientConnectorError:
    fields: dict[str, Any] = dict.fromkeys(ConnectionKey._fields)
    key = ConnectionKey(**{**fields, "host": "openapi.test", "port": 443, "is_ssl": True})
    return aiohttp.ClientConnectorError(key, OSError(111, "Connection refused"))


async def _run_error(client: AsyncCoreClaw) -> CoreClawError:
    with pytest.raises(CoreClawError) as caught:
        await client.tasks.run(SLUG)
    return caught.value


# -- documented refusals -------------------------------------------------------------------


async def test_the_documented_success_body_becomes_a_task_run(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(URL, body=OK)

    assert await client.tasks.run(SLUG) == StartedRun(run_slug=RUN_SLUG)
    assert client.stats.succeeded == 1


@pytest.mark.parametrize(("name", "status"), _error_examples())
async def test_every_documented_refusal_raises_its_class_through_the_client(
    client: AsyncCoreClaw, mocked: aioresponses, name: str, status: int
) -> None:
    raw = (EXAMPLES / name).read_bytes()
    payload = json.loads(raw)
    mocked.post(URL, status=status, body=raw)

    error = await _run_error(client)

    assert type(error) is EXPECTED[payload["code"]]
    assert isinstance(error, CoreClawAPIError)
    assert error.code == payload["code"]
    assert error.message == payload["message"]
    assert error.http_status == status
    assert (error.method, error.path, error.attempts) == ("POST", PATH, 1)
    assert error.request_id == payload.get("request_id")
    assert error.outcome == "rejected"
    assert _request_count(mocked) == 1


@pytest.mark.parametrize("name", INTERNAL_ERRORS)
async def test_an_internal_error_on_a_run_start_is_an_unknown_outcome_and_never_resent(
    retrying_client: AsyncCoreClaw, mocked: aioresponses, no_backoff: None, name: str
) -> None:
    raw = (EXAMPLES / name).read_bytes() if (EXAMPLES / name).is_file() else b'{"code":5000,"message":"x"}'
    mocked.post(URL, status=500, body=raw, repeat=True)

    error = await _run_error(retrying_client)

    assert type(error) is RunStartUnknownError
    assert error.outcome == "unknown"
    assert error.sent is None
    assert isinstance(error.__cause__, ServerError)
    assert error.__cause__.code == json.loads(raw)["code"]
    assert error.request == TaskRunRequest(task_slug=SLUG, callback_url=CALLBACK)
    assert _request_count(mocked) == 1
    assert retrying_client.stats.unknown_outcomes == 1


async def test_an_html_502_on_a_run_start_is_an_unknown_outcome(
    retrying_client: AsyncCoreClaw, mocked: aioresponses, no_backoff: None
) -> None:
    mocked.post(URL, status=502, body=b"<html><h1>502 Bad Gateway</h1></html>", content_type="text/html")

    error = await _run_error(retrying_client)

    assert type(error) is RunStartUnknownError
    assert isinstance(error.__cause__, ResponseDecodeError)
    assert error.__cause__.http_status == 502
    assert _request_count(mocked) == 1


# -- data that does not fit ----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"code":0,"message":"success","data":null}', id="data-null"),
        pytest.param(b'{"code":0,"message":"success"}', id="data-absent"),
        pytest.param(b'{"code":0,"message":"success","data":["01KSF"]}', id="data-list"),
        pytest.param(b'{"code":0,"message":"success","data":"01KSF"}', id="data-string"),
        pytest.param(b'{"code":0,"message":"success","data":{}}', id="run-slug-missing"),
        pytest.param(b'{"code":0,"message":"success","data":{"slug":"01KSF"}}', id="run-slug-renamed"),
    ],
)
async def test_success_data_that_does_not_fit_raises_a_validation_error_with_readable_paths(
    client: AsyncCoreClaw, mocked: aioresponses, body: bytes
) -> None:
    mocked.post(URL, body=body)

    error = await _run_error(client)

    assert type(error) is ResponseValidationError
    assert error.errors
    assert all(" @ $" in problem for problem in error.errors)
    assert any("$.run_slug" in problem for problem in error.errors)
    assert error.outcome == "accepted"
    assert (error.code, error.http_status, error.path) == (0, 200, PATH)
    assert "$.run_slug" in str(error)


@pytest.mark.parametrize("value", ["null", "true", '{"id":"01KSF"}', '["01KSF"]'])
async def test_a_run_slug_that_is_not_a_string_raises_a_validation_error(
    client: AsyncCoreClaw, mocked: aioresponses, value: str
) -> None:
    mocked.post(URL, body=b'{"code":0,"data":{"run_slug":%s}}' % value.encode())

    error = await _run_error(client)

    assert type(error) is ResponseValidationError
    assert any("$.run_slug" in problem for problem in error.errors)


@pytest.mark.parametrize("value", ["5", "1.5"])
async def test_a_numeric_run_slug_raises_a_validation_error(
    client: AsyncCoreClaw, mocked: aioresponses, value: str
) -> None:
    mocked.post(URL, body=b'{"code":0,"data":{"run_slug":%s}}' % value.encode())

    error = await _run_error(client)

    assert type(error) is ResponseValidationError
    assert any("$.run_slug" in problem for problem in error.errors)


async def test_unknown_fields_in_the_data_are_ignored(client: AsyncCoreClaw, mocked: aioresponses) -> None:
    mocked.post(URL, body=b'{"code":0,"data":{"run_slug":"01KSF","queued":true,"extra":{"a":1}}}')

    assert await client.tasks.run(SLUG) == StartedRun(run_slug="01KSF")


# -- connection failures --------------------------------------------------------------------


async def test_a_connect_failure_on_a_run_start_is_retried_because_nothing_was_sent(
    retrying_client: AsyncCoreClaw, mocked: aioresponses, no_backoff: None
) -> None:
    mocked.post(URL, exception=_connect_refused())
    mocked.post(URL, body=OK)

    assert await retrying_client.tasks.run(SLUG) == StartedRun(run_slug=RUN_SLUG)
    assert _request_count(mocked) == 2
    assert retrying_client.stats.retries == {"not_sent": 1}


async def test_connect_failures_that_outlast_the_retries_raise_a_not_sent_connection_error(
    retrying_client: AsyncCoreClaw, mocked: aioresponses, no_backoff: None
) -> None:
    mocked.post(URL, exception=_connect_refused(), repeat=True)

    error = await _run_error(retrying_client)

    assert type(error) is APIConnectionError
    assert error.outcome == "not_sent"
    assert error.attempts == 3
    assert _request_count(mocked) == 3


@pytest.mark.parametrize(
    ("failure", "cause"),
    [
        pytest.param(aiohttp.ServerDisconnectedError(), APIConnectionError, id="server-disconnected"),
        pytest.param(aiohttp.ClientPayloadError("truncated"), APIConnectionError, id="payload-error"),
        pytest.param(asyncio.TimeoutError(), APITimeoutError, id="read-timeout"),
    ],
)
async def test_a_failure_after_sending_a_run_start_is_a_run_start_unknown_error_and_not_resent(
    retrying_client: AsyncCoreClaw,
    mocked: aioresponses,
    no_backoff: None,
    failure: Exception,
    cause: type[CoreClawError],
) -> None:
    mocked.post(URL, exception=failure)
    mocked.post(URL, body=OK)  # must never be reached

    error = await _run_error(retrying_client)

    assert type(error) is RunStartUnknownError
    assert type(error.__cause__) is cause
    assert error.__cause__.outcome == "unknown"
    assert error.attempts == 1
    assert "runs.list" in str(error)
    assert _request_count(mocked) == 1
    assert retrying_client.stats.unknown_outcomes == 1


# -- rate limits and capacity ----------------------------------------------------------------


async def test_a_rate_limited_start_is_retried_after_retry_after_seconds_and_succeeds(
    retrying_client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(URL, status=429, body=RATE_LIMITED, headers=NOW)
    mocked.post(URL, body=OK)

    assert await retrying_client.tasks.run(SLUG) == StartedRun(run_slug=RUN_SLUG)
    assert _request_count(mocked) == 2
    assert retrying_client.stats.retries == {"rate_limited": 1}
    assert retrying_client.stats.rate_limited == 1


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"code":13000,"message":"too many requests","request_id":"req-1"}', id="v2-13000"),
        pytest.param(b"<html>429 Too Many Requests</html>", id="bare-http-429"),
    ],
)
async def test_other_rate_limit_answers_are_retried_too(
    retrying_client: AsyncCoreClaw, mocked: aioresponses, no_backoff: None, body: bytes
) -> None:
    mocked.post(URL, status=429, body=body)
    mocked.post(URL, body=OK)

    assert await retrying_client.tasks.run(SLUG) == StartedRun(run_slug=RUN_SLUG)
    assert _request_count(mocked) == 2


async def test_rate_limits_that_outlast_the_retries_raise_a_rate_limit_error(
    retrying_client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(URL, status=429, body=RATE_LIMITED, headers=NOW, repeat=True)

    error = await _run_error(retrying_client)

    assert type(error) is RateLimitError
    assert error.attempts == 3
    assert error.retry_after == 0.0
    assert "after 3 attempts" in str(error)
    assert _request_count(mocked) == 3


async def test_a_per_call_max_retries_overrides_the_client(
    retrying_client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(URL, status=429, body=RATE_LIMITED, headers=NOW, repeat=True)

    with pytest.raises(RateLimitError):
        await retrying_client.tasks.run(SLUG, max_retries=0)

    assert _request_count(mocked) == 1


async def test_a_retry_after_beyond_the_call_deadline_is_not_waited_for(mocked: aioresponses) -> None:
    mocked.post(URL, status=429, body=RATE_LIMITED, headers={"Retry-After": "20"}, repeat=True)

    async with AsyncCoreClaw(KEY, base_url=BASE, callback_url=CALLBACK, timeout=1.0) as c:
        error = await _run_error(c)

    assert type(error) is RateLimitError
    assert error.retry_after == 20.0
    assert _request_count(mocked) == 1


async def test_a_retry_after_longer_than_the_pool_timeout_is_still_waited_out(mocked: aioresponses) -> None:
    # Regression: the cooldown used to be bounded by pool_timeout and failed as "no free connection".
    mocked.post(URL, status=429, body=RATE_LIMITED, headers={"Retry-After": "0.2"})
    mocked.post(URL, body=OK)
    loop = asyncio.get_running_loop()

    async with AsyncCoreClaw(
        KEY, base_url=BASE, callback_url=CALLBACK, max_retries=1, pool_timeout=0.05
    ) as c:
        start = loop.time()
        assert await c.tasks.run(SLUG) == StartedRun(run_slug=RUN_SLUG)

    assert loop.time() - start >= 0.18
    assert _request_count(mocked) == 2


async def test_a_rate_limit_answer_makes_the_next_call_of_the_client_wait_out_retry_after(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(URL, status=429, body=RATE_LIMITED, headers={"Retry-After": "0.2"})
    mocked.post(URL, body=OK)
    loop = asyncio.get_running_loop()
    with pytest.raises(RateLimitError):
        await client.tasks.run(SLUG)

    start = loop.time()
    assert await client.tasks.run(SLUG) == StartedRun(run_slug=RUN_SLUG)

    assert loop.time() - start >= 0.15


async def test_plan_concurrency_is_not_retried_by_default(
    retrying_client: AsyncCoreClaw, mocked: aioresponses, no_backoff: None
) -> None:
    mocked.post(URL, body=b'{"code":30003,"message":"plan limit"}', repeat=True)

    assert type(await _run_error(retrying_client)) is ConcurrencyLimitError
    assert _request_count(mocked) == 1


async def test_plan_concurrency_is_retried_with_wait_for_capacity(
    mocked: aioresponses, no_backoff: None
) -> None:
    mocked.post(URL, body=b'{"code":30003,"message":"plan limit"}')
    mocked.post(URL, body=OK)

    async with AsyncCoreClaw(KEY, base_url=BASE, callback_url=CALLBACK, wait_for_capacity=True) as c:
        assert await c.tasks.run(SLUG) == StartedRun(run_slug=RUN_SLUG)

    assert _request_count(mocked) == 2


async def test_a_refusal_is_never_retried(
    retrying_client: AsyncCoreClaw, mocked: aioresponses, no_backoff: None
) -> None:
    mocked.post(URL, status=404, body=b'{"code":60001,"message":"Task does not exist"}', repeat=True)

    assert type(await _run_error(retrying_client)) is TaskNotFoundError
    assert _request_count(mocked) == 1


# -- the key never leaks -------------------------------------------------------------------


async def test_a_key_echoed_by_the_server_is_redacted_from_the_error(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(URL, status=401, body=b'{"code":20001,"message":"Invalid API key %s"}' % KEY.encode())

    error = await _run_error(client)

    assert type(error) is AuthenticationError
    assert isinstance(error, CoreClawAPIError)
    for text in (str(error), repr(error), error.message, error.body or ""):
        assert KEY not in text


async def test_the_key_never_appears_in_errors_or_log_records_of_failing_calls(
    retrying_client: AsyncCoreClaw, mocked: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = b'{"code":4290,"message":"Too many requests for %s"}' % KEY.encode()
    mocked.post(URL, status=429, body=echo, headers=NOW)
    mocked.post(URL, exception=aiohttp.ServerDisconnectedError(f"peer reset while reading key {KEY}"))

    error = await _run_error(retrying_client)

    assert type(error) is RunStartUnknownError
    assert KEY not in str(error)
    assert KEY not in str(error.__cause__)
    messages = [record.getMessage() for record in caplog.records]
    assert any("retrying" in message for message in messages)
    assert any(record.levelno == logging.WARNING for record in caplog.records)
    assert all(KEY not in message for message in messages)


async def test_a_key_echoed_in_unfitting_data_is_redacted_from_the_validation_error(
    client: AsyncCoreClaw, mocked: aioresponses
) -> None:
    mocked.post(URL, body=b'{"code":0,"data":{"echo":"%s"}}' % KEY.encode())

    error = await _run_error(client)

    assert type(error) is ResponseValidationError
    assert KEY not in (error.body or "")
