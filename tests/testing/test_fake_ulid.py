from __future__ import annotations

import time

import pytest

from coreclaw_async.testing import is_ulid, new_ulid
from coreclaw_async.testing._ulid import ulid_timestamp_ms


def test_new_ulid_is_26_crockford_characters() -> None:
    slug = new_ulid()
    assert len(slug) == 26
    assert is_ulid(slug)
    assert not set(slug) & set("ILOU")


def test_ulid_encodes_the_current_millisecond_timestamp() -> None:
    before = time.time_ns() // 1_000_000
    slug = new_ulid()
    after = time.time_ns() // 1_000_000
    assert before <= ulid_timestamp_ms(slug) <= after


def test_ulid_extremes_match_the_specified_encoding() -> None:
    assert new_ulid(0, bytes(10)) == "0" * 26
    assert new_ulid((1 << 48) - 1, b"\xff" * 10) == "7" + "Z" * 25
    # Known vector: timestamp 1 ms, no randomness -> lowest bit of the 10th character.
    assert new_ulid(1, bytes(10)) == "0" * 9 + "1" + "0" * 16


def test_ulids_sort_by_timestamp() -> None:
    slugs = [new_ulid(ms) for ms in (5, 1_000, 1_700_000_000_000, 1_800_000_000_000)]
    assert slugs == sorted(slugs)


def test_ulids_are_unique() -> None:
    assert len({new_ulid() for _ in range(1000)}) == 1000


@pytest.mark.parametrize(
    "text", ["", "01KSFDS8XWTJME33C08XMCR6B", "81KSFDS8XWTJME33C08XMCR6B9", "01ksfds8xwtjme33c08xmcr6b9"]
)
def test_is_ulid_rejects_malformed_text(text: str) -> None:
    assert not is_ulid(text)


def test_invalid_ulid_inputs_raise() -> None:
    with pytest.raises(ValueError, match="out of range"):
        new_ulid(1 << 48)
    with pytest.raises(ValueError, match="10 bytes"):
        new_ulid(0, b"short")
    with pytest.raises(ValueError, match="not a ULID"):
        ulid_timestamp_ms("nope")
