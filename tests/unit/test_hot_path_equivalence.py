"""The hand-written pieces of the run-start hot path give exactly what the general ones give.

* ``started_run_fast`` (the ``StartedRun`` read without cattrs) against the lenient converter's
  hook: on any decoded ``data`` it returns the same model, or steps aside (``None``) and the
  hook decides; through ``Structure`` the result or the error is the converter's.
* ``unstructure_task_run`` (the start body written out) against cattrs' generated hook.
* ``_json.decode`` (the envelope's first step) against ``loads`` on any bytes.
* The envelope success test inlined in the session manager against ``unwrap``.
* ``TaskRunOutcome``: a lean outcome (slug and shared URL) equals, hashes, prints and pickles
  like one holding its request, and stays immutable.
"""

from __future__ import annotations

import json
import pickle
import sys
from typing import Any

import attrs
import pytest
from cattrs.errors import ClassValidationError
from cattrs.gen import make_dict_unstructure_fn
from hypothesis import given
from hypothesis import strategies as st

from coreclaw_async import CoreClawAPIError, StartedRun, TaskRunOutcome, TaskRunRequest
from coreclaw_async._converter import Structure, converter, started_run_fast, unstructure_task_run
from coreclaw_async._envelope import unwrap
from coreclaw_async._json import decode, loads
from coreclaw_async._outcomes import KeptOutcomes, _Lean, _lean, outcomes_in_order
from coreclaw_async.errors import InvalidParameterError

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
run_datas = st.one_of(
    st.fixed_dictionaries(
        {"run_slug": st.one_of(st.text(max_size=30), values)},
        optional={"request_id": st.one_of(st.none(), st.text(max_size=12), values), "extra": values},
    ),
    st.dictionaries(st.sampled_from(["run_slug", "request_id", "status"]), values, max_size=3),
    values,
)


def _outcome_of(parse: Any, data: Any) -> tuple[str, Any]:
    try:
        return "ok", parse(data)
    except Exception as exc:
        return type(exc).__name__, str(exc)


@given(run_datas)
def test_the_fast_started_run_read_agrees_with_the_converter(data: Any) -> None:
    hook = converter.get_structure_hook(StartedRun)
    fast = started_run_fast(data)
    if fast is not None:
        assert fast == hook(data, StartedRun)
        assert type(fast) is StartedRun
    # Through Structure (fast path first, the hook otherwise): the converter's result or error.
    expected = _outcome_of(lambda d: hook({} if d is None else d, StartedRun), data)
    assert _outcome_of(Structure(StartedRun), data) == expected


def test_the_fast_read_steps_aside_for_what_it_does_not_know() -> None:
    assert started_run_fast({"run_slug": 5}) is None
    assert started_run_fast({"run_slug": "r", "request_id": 7}) is None
    assert started_run_fast(None) is None
    assert started_run_fast(["run_slug"]) is None
    read = started_run_fast({"run_slug": "r", "request_id": None, "status": 1})
    assert read == StartedRun(run_slug="r")
    with pytest.raises(ClassValidationError, match="While structuring StartedRun"):
        Structure(StartedRun)({"run_slug": 5})


@given(
    st.builds(
        TaskRunRequest,
        st.text(max_size=20),
        st.one_of(st.none(), st.text(max_size=20)),
    )
)
def test_the_written_out_start_body_agrees_with_the_generated_hook(request: TaskRunRequest) -> None:
    generated = make_dict_unstructure_fn(TaskRunRequest, converter, _cattrs_omit_if_default=True)
    assert unstructure_task_run(request) == generated(request)
    assert converter.unstructure(request) == generated(request)


@given(st.one_of(st.binary(max_size=80), values.map(lambda v: json.dumps(v).encode())))
def test_decode_is_loads_or_none(raw: bytes) -> None:
    try:
        expected = loads(raw)
    except ValueError:
        expected = None
    assert decode(raw) == expected or (decode(raw) != decode(raw))  # NaN never equals itself


@given(
    st.fixed_dictionaries(
        {"code": st.one_of(st.just(0), st.just(False), st.just(0.0), scalars), "data": values}
    ),
    st.sampled_from([200, 400, 500]),
)
def test_the_inline_success_test_is_unwraps(payload: dict[str, Any], status: int) -> None:
    raw = json.dumps(payload).encode()
    code = payload["code"]
    if code == 0 and type(code) is int:
        assert unwrap(raw, http_status=status, method="POST", path="/p") == payload["data"]
    else:
        with pytest.raises(CoreClawAPIError):
            unwrap(raw, http_status=status, method="POST", path="/p")


# -- outcomes ---------------------------------------------------------------------------------

SLUG = "01KSFDXRNYGKT3NNE11EMR4W5X"
URL = "https://hooks.example.com/coreclaw"


def test_a_lean_outcome_is_the_same_value_as_one_holding_its_models() -> None:
    request = TaskRunRequest(SLUG, URL)
    lean = _lean(3, SLUG, _Lean(URL), "r1")
    full = TaskRunOutcome(3, request, StartedRun(run_slug="r1"), None, True)
    assert (lean.request, lean.run) == (request, StartedRun(run_slug="r1"))
    assert lean == full
    assert hash(lean) == hash(full)
    assert repr(lean) == repr(full)
    assert pickle.loads(pickle.dumps(lean)) == full
    assert (lean.index, lean.error, lean.started, lean.ok) == (3, None, True, True)
    assert (full.index, full.error, full.started, full.ok) == (3, None, True, True)
    assert full.request is request
    assert sys.getsizeof(lean) <= 64


def test_run_all_records_become_outcomes_in_input_order() -> None:
    error = InvalidParameterError("task_slug", "bad")
    failed = TaskRunOutcome(1, "", None, error, False)
    records = KeptOutcomes()
    for index, run in ((3, StartedRun(run_slug="r3", request_id="req-3")), (0, StartedRun(run_slug="r0"))):
        record = records.record(index, SLUG, URL, run)
        assert record is not None
        records.append(record)
    assert records.record(2, SLUG, "https://elsewhere.example.com/", StartedRun(run_slug="r2")) is None
    records.append((1, failed))
    records.append(
        (2, TaskRunOutcome(2, TaskRunRequest(SLUG, "https://elsewhere.example.com/"), None, error, False))
    )
    outcomes = outcomes_in_order(records)
    assert [o.index for o in outcomes] == [0, 1, 2, 3]
    assert outcomes[0] == TaskRunOutcome(0, TaskRunRequest(SLUG, URL), StartedRun(run_slug="r0"), None, True)
    assert outcomes[1] is failed
    assert outcomes[3].run == StartedRun(run_slug="r3", request_id="req-3")
    assert outcomes[3].request == TaskRunRequest(SLUG, URL)


def test_an_outcome_is_immutable_and_slotted() -> None:
    outcome = TaskRunOutcome(
        index=0, request="x", run=None, error=InvalidParameterError("f", "bad"), started=False
    )
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        outcome.index = 1  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        del outcome.run  # type: ignore[misc]
    assert not hasattr(outcome, "__dict__")
    assert outcome != TaskRunOutcome(1, "x", None, outcome.error, False)
    assert outcome.__eq__("x") is NotImplemented


async def test_a_prepared_slug_is_the_request_the_constructor_builds() -> None:
    from coreclaw_async import AsyncCoreClaw

    async with AsyncCoreClaw("k" * 24, base_url="http://127.0.0.1:9", callback_url=URL) as client:
        prepared = client.tasks.prepare(SLUG)
    built = TaskRunRequest(SLUG, URL)
    assert (prepared, hash(prepared), repr(prepared)) == (built, hash(built), repr(built))
    assert type(prepared) is TaskRunRequest
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        prepared.task_slug = "other"  # type: ignore[misc]


def test_an_outcome_matches_positionally_and_unstructures_as_its_fields() -> None:
    error = InvalidParameterError("task_slug", "bad")
    outcome = _lean(3, SLUG, _Lean(URL), "r1")
    match outcome:
        case TaskRunOutcome(index, request, run, None, True):
            assert (index, request, run) == (3, TaskRunRequest(SLUG, URL), StartedRun(run_slug="r1"))
        case _:
            pytest.fail("no positional match")
    assert converter.unstructure(outcome) == {
        "index": 3,
        "request": {"task_slug": SLUG, "callback_url": URL},
        "run": converter.unstructure(StartedRun(run_slug="r1")),
        "error": None,
        "started": True,
    }
    failed = TaskRunOutcome(1, "", None, error, False)
    assert failed.asdict() == {"index": 1, "request": "", "run": None, "error": error, "started": False}


def test_kept_outcomes_pickle_as_a_plain_list() -> None:
    records = KeptOutcomes()
    record = records.record(0, SLUG, URL, StartedRun(run_slug="r0"))
    assert record is not None
    records.append(record)
    outcomes = outcomes_in_order(records)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        again = pickle.loads(pickle.dumps(outcomes, protocol))
        assert type(again) is list
        assert again == list(outcomes)


def test_subclasses_keep_their_own_fields_and_identity() -> None:
    @attrs.frozen
    class PriorityRequest(TaskRunRequest):
        priority: int = 0

    assert converter.unstructure(PriorityRequest(SLUG, URL, 5)) == {
        "task_slug": SLUG,
        "callback_url": URL,
        "priority": 5,
    }

    a, b = MyOutcome(0, "x", None, None, None), MyOutcome(0, "x", None, None, None)
    assert a == b
    assert a != TaskRunOutcome(0, "x", None, None, None)
    assert repr(a).startswith("MyOutcome(")
    assert type(pickle.loads(pickle.dumps(a))) is MyOutcome


class MyOutcome(TaskRunOutcome):
    __slots__ = ()
