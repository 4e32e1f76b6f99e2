"""``_json.loads``: the cheap digit-run test that sends huge integers to the exact parser.

``loads`` used to run the regex ``_HUGE_INT`` (20 ASCII digits in a row) over every body;
it now maps every digit to ``b"0"`` with ``bytes.translate`` and looks for 20 zeros. These
tests pin that both tests agree on any bytes, and what that means for decoded integers.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from coreclaw_async._json import _DIGITS_TO_ZERO, _HUGE_INT, _TWENTY_ZEROS, loads

# Digits, the zero the mapping produces, and their neighbours in the byte table.
_NEAR_DIGITS = st.sampled_from([b"0", b"1", b"5", b"9", b"/", b":", b" ", b"-", b".", b"\xd9", b"\x00"])


def _translated(raw: bytes) -> bool:
    return _TWENTY_ZEROS in raw.translate(_DIGITS_TO_ZERO)


def _regex(raw: bytes) -> bool:
    return _HUGE_INT.search(raw) is not None


@given(st.binary(max_size=200))
def test_the_digit_run_test_agrees_with_the_regex_on_any_bytes(raw: bytes) -> None:
    assert _translated(raw) == _regex(raw)


@given(st.lists(_NEAR_DIGITS, max_size=60).map(b"".join))
def test_the_digit_run_test_agrees_with_the_regex_around_runs_of_digits(raw: bytes) -> None:
    assert _translated(raw) == _regex(raw)


def test_nineteen_digits_stay_on_the_fast_path_and_twenty_do_not() -> None:
    assert not _translated(b'{"id":1234567890123456789}')
    assert _translated(b'{"id":12345678901234567890}')
    assert _translated(b'{"s":"00000000000000000000"}')  # inside a string counts too, as before
    assert not _translated(b'{"a":1234567890,"b":1234567890}')


@given(st.lists(st.integers(min_value=-(2**63), max_value=2**200), max_size=5))
def test_integers_decode_exactly(values: list[int]) -> None:
    decoded = loads(json.dumps({"code": 0, "data": values}).encode())
    assert decoded["data"] == values
    assert all(type(value) is int for value in decoded["data"])


def test_a_bytearray_body_takes_the_same_path_as_bytes() -> None:
    raw = b'{"id":123456789012345678901234567890}'
    assert loads(bytearray(raw)) == loads(raw) == {"id": 123456789012345678901234567890}
