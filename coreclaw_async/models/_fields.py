"""Field metadata the converter reads: wire names, time units, open enums, raw rows and extras.

Models only attach metadata (``attrs.field(metadata=meta(...))``); ``_converter`` turns it
into cattrs hooks. Every decision about the wire format thus lives in the one converter
while the models stay plain attrs classes.
"""

from __future__ import annotations

import enum
from typing import Any, Literal

__all__ = ["CODEC", "ENUM", "EXTRA", "UNIT", "WIRE", "meta"]

# Metadata keys, namespaced so they cannot clash with anyone else's attrs metadata.
WIRE = "coreclaw.wire"
"""The key of the field in the JSON object, when it differs from the attribute name."""
CODEC = "coreclaw.codec"
"""How the converter reads the wire value.

One of ``"timestamp"``, ``"rows"``, ``"identifier"``, ``"raw"`` or ``"flag"``.
"""
UNIT = "coreclaw.unit"
"""``"s"`` or ``"ms"`` for timestamps."""
ENUM = "coreclaw.enum"
"""An enum the raw int must belong to under the strict converter (the lenient one keeps any int)."""
EXTRA = "coreclaw.extra"
"""This field collects the keys of the JSON object the model does not name (open-ended objects)."""


def meta(
    *,
    wire: str | None = None,
    unit: Literal["s", "ms"] | None = None,
    enum: type[enum.IntEnum] | None = None,
    rows: bool = False,
    extra: bool = False,
    identifier: bool = False,
    raw: bool = False,
    flag: bool = False,
) -> dict[str, Any]:
    """Metadata for ``attrs.field``.

    Args:
        wire: the JSON key, when it differs from the attribute name.
        unit: a ``datetime | None`` read from Unix seconds (``"s"``) or milliseconds
            (``"ms"``); the wire value ``0`` (not set) reads as ``None``.
        enum: the field is the raw int of this enum: kept as is by the lenient converter,
            rejected by the strict one when the enum does not define it.
        rows: a ``tuple[dict[str, Any], ...]`` of result rows kept as the JSON objects they
            are (no per-key conversion, so large pages stay cheap).
        extra: a ``Mapping[str, Any]`` that receives every key the model does not name.
        identifier: a ``str`` id that the server may send as a JSON number (big ints such
            as queue references): both read as the same text, digits kept exactly.
        raw: any JSON value, kept as it came (no conversion: a saved input, a schema).
        flag: a 0/1 ``int`` that a server may also send as ``true``/``false``.
    """
    data: dict[str, Any] = {}
    if wire is not None:
        data[WIRE] = wire
    if unit is not None:
        data[CODEC] = "timestamp"
        data[UNIT] = unit
    if enum is not None:
        data[ENUM] = enum
    if rows:
        data[CODEC] = "rows"
    if extra:
        data[EXTRA] = True
    if identifier:
        data[CODEC] = "identifier"
    if raw:
        data[CODEC] = "raw"
    if flag:
        data[CODEC] = "flag"
    return data
