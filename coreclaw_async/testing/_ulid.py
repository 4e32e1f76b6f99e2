"""ULIDs as CoreClaw uses them for task and run slugs.

A ULID is 128 bits: a 48-bit Unix timestamp in milliseconds followed by 80 random bits,
written as 26 characters of Crockford base32 (``0-9A-Z`` without ``I L O U``).
"""

from __future__ import annotations

import os
import time

__all__ = ["is_ulid", "new_ulid", "ulid_timestamp_ms"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {char: value for value, char in enumerate(_ALPHABET)}
# Two characters (10 bits) per lookup halves the encoding loop.
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)
_MAX_TIMESTAMP = (1 << 48) - 1


def new_ulid(timestamp_ms: int | None = None, randomness: bytes | None = None) -> str:
    """Return a new 26-character ULID.

    ``timestamp_ms`` defaults to the current wall clock; ``randomness`` (10 bytes) defaults to
    ``os.urandom``. Raises ``ValueError`` if either is out of range.
    """
    if timestamp_ms is None:
        timestamp_ms = time.time_ns() // 1_000_000
    elif not 0 <= timestamp_ms <= _MAX_TIMESTAMP:
        raise ValueError(f"ULID timestamp out of range: {timestamp_ms}")
    if randomness is None:
        randomness = os.urandom(10)
    elif len(randomness) != 10:
        raise ValueError("ULID randomness must be exactly 10 bytes")
    value = (timestamp_ms << 80) | int.from_bytes(randomness, "big")
    # 128 bits in 130 bits of base32: the first character carries 3 bits, the rest 5 each.
    pairs = []
    for _ in range(12):
        pairs.append(_PAIRS[value & 0x3FF])
        value >>= 10
    pairs.append(_PAIRS[value & 0x3FF])
    return "".join(reversed(pairs))


def is_ulid(text: str) -> bool:
    """Return True if ``text`` is a canonical (upper-case) 26-character ULID."""
    return len(text) == 26 and text[0] in "01234567" and all(char in _DECODE for char in text)


def ulid_timestamp_ms(text: str) -> int:
    """Return the millisecond timestamp encoded in a ULID; ``ValueError`` if it is not one."""
    if not is_ulid(text):
        raise ValueError(f"not a ULID: {text!r}")
    value = 0
    for char in text[:10]:
        value = (value << 5) | _DECODE[char]
    return value
