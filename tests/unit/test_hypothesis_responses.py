"""Any bytes and any HTTP status answering ``tasks.run``: a ``StartedRun`` or a ``CoreClawError``,
nothing else.

Three ways in, all through the real ``AsyncCoreClaw.tasks.run`` pipeline (gate, send,
envelope, model) with ``max_retries=0``:

* over ``aioresponses`` (aiohttp's own response object), ~100 examples;
* over a canned stand-in for ``aiohttp.ClientSession`` passed as ``session=`` (only the
  transport is replaced), many more examples at a fraction of the cost;
* ``unwrap`` alone, for the envelope rules.

Inputs that once broke the property are kept as regression cases in
``test_known_counterexamples_...`` below; the generators stay in the common regions (no
integers beyond 64 bits, no lone surrogates, shallow nesting), which those cases cover.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aioresponses import aioresponses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from coreclaw_async import AsyncCoreClaw, CoreClawAPIError, CoreClawError, RunStartUnknownError, StartedRun
from coreclaw_async._envelope import parse_retry_after, unwrap

KEY = "scraper_api_UNITTESTKEY0123456789abcdef"
BASE = "https://openapi.test"
URL = BASE + "/api/v1/task/run"
CALLBACK = "https://hooks.example.com/coreclaw"
SLUG = "01KSFDXRNYGKT3NNE11EMR4W5X"
KNOWN_CODES = [4000, 4010, 4040, 4290, 5000, 10000, 10001, 10002, 11000, 11004, 12001, 12002, 13000]
KNOWN_CODES += [14000, 16000, 20001, 20002, 30001, 30002, 30003, 50001, 50002, 50003, 60001, 70001, 70002]

COMMON = {"deadline": None, "database": None, "suppress_health_check": [HealthCheck.too_slow]}

# -- strategies ---------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(),  # NaN and infinities too: json.dumps writes them and the stdlib reads them back
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
codes = st.one_of(st.just(0), st.sampled_from(KNOWN_CODES), st.integers(-(2**63), 2**63 - 1), json_scalars)
datas = st.one_of(
    st.fixed_dictionaries({"run_slug": st.text(min_size=1, max_size=30)}, optional={"extra": json_values}),
    st.fixed_dictionaries({"run_slug": json_values}),
    json_values,
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "code": codes,
        "message": st.one_of(st.text(max_size=40), json_values),
        "data": datas,
        "request_id": st.text(max_size=20),
        "details": json_values,
    },
)
successes = st.fixed_dictionaries(
    {
        "code": st.just(0),
        "message": st.just("success"),
        "data": st.fixed_dictionaries({"run_slug": st.text()}),
    }
)
refusals = st.fixed_dictionaries(
    {"code": st.one_of(st.sampled_from(KNOWN_CODES), st.integers(1, 99999))},
    optional={
        "message": st.text(max_size=40),
        "data": st.none(),
        "request_id": st.text(max_size=20),
        "details": st.none() | st.lists(st.text(max_size=10), max_size=2),
    },
)
payloads = st.one_of(envelopes, refusals, successes, json_values)
statuses = st.integers(100, 599)
retry_afters = st.one_of(
    st.none(), st.text(max_size=30), st.floats().map(str), st.integers(-100, 10**6).map(str)
)


# An escape of a control character (``\\u0001``, ``\\n``...) not itself preceded by an escaped backslash.
_CONTROL_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\(u00[01][0-9a-fA-F]|[bfnrt])")
_SHORT_ESCAPES = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t"}


def _unescape_control(match: re.Match[bytes]) -> bytes:
    escape = match.group(2)
    char = _SHORT_ESCAPES.get(escape) or bytes([int(escape[1:], 16)])
    return match.group(1) + char


@st.composite
def encoded(draw: st.DrawFn, payload: Any) -> bytes:
    """``payload`` as JSON bytes, ASCII-escaped or not, sometimes with its control characters left raw
    inside strings (as CoreClaw has sent them, spec 3.4): same meaning, for a lenient reader."""
    raw = json.dumps(payload, ensure_ascii=draw(st.booleans())).encode()
    if draw(st.booleans()):
        raw = _CONTROL_ESCAPE.sub(_unescape_control, raw)
    return raw


@st.composite
def answers(draw: st.DrawFn) -> tuple[int, bytes, Any, dict[str, str]]:
    """(status, body, decoded payload or a marker for raw bytes, headers)."""
    status = draw(statuses)
    retry_after = draw(retry_afters)
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    if draw(st.integers(0, 3)) == 0:
        raw = draw(st.binary(max_size=300))
        return status, raw, _RAW, headers
    payload = draw(payloads)
    raw = draw(encoded(payload))
    if draw(st.integers(0, 5)) == 0:
        raw = raw[: draw(st.integers(0, max(len(raw) - 1, 0)))]  # truncated in transit
        return status, raw, _RAW, headers
    return status, raw, payload, headers


_RAW = object()

# -- the oracle ---------------------------------------------------------------------------


def _check(outcome: StartedRun | BaseException, payload: Any) -> None:
    """The property, and what the envelope rules say about a decoded body."""
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, CoreClawError), f"escaped: {outcome!r}"
    else:
        assert type(outcome) is StartedRun
        assert isinstance(outcome.run_slug, str)
    if payload is _RAW:
        return
    code = payload.get("code") if isinstance(payload, dict) else None
    if type(code) is not int:
        assert isinstance(outcome, CoreClawError), "a body that is not an envelope must not succeed"
        return
    data = payload.get("data")
    if code == 0 and isinstance(data, dict) and isinstance(data.get("run_slug"), str):
        assert outcome == StartedRun(run_slug=data["run_slug"])
    elif code != 0:
        error = outcome.__cause__ if isinstance(outcome, RunStartUnknownError) else outcome
        assert isinstance(error, CoreClawAPIError), f"code {code} gave {outcome!r}"
        assert error.code == code


async def _run(client: AsyncCoreClaw) -> StartedRun | BaseException:
    try:
        return await client.tasks.run(SLUG)
    except BaseException as exc:  # the property is about what comes out, whatever it is
        return exc


# -- through aioresponses ------------------------------------------------------------------


@settings(max_examples=100, **COMMON)
@given(answer=answers())
async def test_any_answer_through_aiohttp_gives_a_task_run_or_a_coreclaw_error(
    answer: tuple[int, bytes, Any, dict[str, str]],
) -> None:
    status, raw, payload, headers = answer
    with aioresponses() as mocked:
        mocked.post(URL, status=status, body=raw, headers=headers)
        async with AsyncCoreClaw(KEY, base_url=BASE, callback_url=CALLBACK, max_retries=0) as client:
            outcome = await _run(client)

    _check(outcome, payload)


# -- through a canned session (only the transport replaced) ----------------------------------


class _CannedAnswer:
    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status = status
        self.headers = CIMultiDict(headers)
        self._body = body

    async def read(self) -> bytes:
        return self._body

    async def __aenter__(self) -> _CannedAnswer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class _CannedSession:
    """Stands in for ``aiohttp.ClientSession``: every request gets the same answer."""

    closed = False

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self._answer = _CannedAnswer(status, body, headers)
        self.calls = 0

    def request(self, method: str, url: Any, **kwargs: Any) -> _CannedAnswer:
        self.calls += 1
        return self._answer


async def _run_canned(status: int, raw: bytes, headers: dict[str, str]) -> StartedRun | BaseException:
    session: Any = _CannedSession(status, raw, headers)
    async with AsyncCoreClaw(
        KEY, base_url=BASE, callback_url=CALLBACK, max_retries=0, session=session
    ) as client:
        outcome = await _run(client)
    assert session.calls == 1
    return outcome


@settings(max_examples=400, **COMMON)
@given(raw=st.binary(max_size=400), status=statuses)
async def test_any_bytes_with_any_status_give_a_task_run_or_a_coreclaw_error(raw: bytes, status: int) -> None:
    _check(await _run_canned(status, raw, {}), _RAW)


@settings(max_examples=500, **COMMON)
@given(answer=answers())
async def test_any_envelope_like_answer_gives_what_the_envelope_rules_say(
    answer: tuple[int, bytes, Any, dict[str, str]],
) -> None:
    status, raw, payload, headers = answer

    _check(await _run_canned(status, raw, headers), payload)


@settings(max_examples=100, **COMMON)
@given(run_slug=st.text(min_size=1), status=statuses, extra=json_values)
async def test_a_success_envelope_always_gives_its_run(run_slug: str, status: int, extra: Any) -> None:
    raw = json.dumps(
        {"code": 0, "message": "success", "data": {"run_slug": run_slug, "extra": extra}}
    ).encode()

    assert await _run_canned(status, raw, {}) == StartedRun(run_slug=run_slug)


# -- the envelope alone ------------------------------------------------------------------------


@settings(max_examples=500, **COMMON)
@given(answer=answers())
def test_unwrap_returns_data_or_raises_a_coreclaw_api_error(
    answer: tuple[int, bytes, Any, dict[str, str]],
) -> None:
    status, raw, _, headers = answer
    error: CoreClawAPIError | None = None
    try:
        unwrap(raw, http_status=status, method="POST", path="/api/v1/task/run", headers=headers, secret=KEY)
    except CoreClawAPIError as exc:
        error = exc
    if error is not None:
        assert error.http_status == status
        assert KEY not in str(error)


@settings(max_examples=300, **COMMON)
@given(
    value=st.one_of(
        retry_afters, st.from_regex(r"\A[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\Z")
    )
)
def test_parse_retry_after_gives_none_or_a_finite_non_negative_number(value: str | None) -> None:
    seconds = parse_retry_after(value)

    assert seconds is None or 0.0 <= seconds < float("inf")


# -- known counterexamples ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "raw", "headers"),
    [
        pytest.param(200, b'{"code":0,"data":' + b"[" * 100_000, {}, id="RecursionError-deep-nesting"),
        pytest.param(
            200, b'{"code":0,"data":{"note":"\\ud800"}}', {}, id="TypeError-lone-surrogate-in-bad-data"
        ),
        pytest.param(
            200,
            b'{"code":0,"data":{"id":123456789012345678901234567890,"note":"\x01"}}',
            {},
            id="TypeError-int-beyond-64-bits-in-bad-data",
        ),
        pytest.param(
            429,
            b"<html>429</html>",
            {"Retry-After": "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"},
            id="OverflowError-retry-after-date",
        ),
    ],
)
async def test_known_counterexamples_give_a_coreclaw_error(
    status: int, raw: bytes, headers: dict[str, str]
) -> None:
    with aioresponses() as mocked:
        mocked.post(URL, status=status, body=raw, headers=headers)
        async with AsyncCoreClaw(KEY, base_url=BASE, callback_url=CALLBACK, max_retries=0) as client:
            outcome = await _run(client)

    assert isinstance(outcome, CoreClawError), repr(outcome)
