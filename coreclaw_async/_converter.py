"""The one cattrs converter that turns models into JSON-ready data and back.

``converter`` is lenient (unknown fields in responses are ignored, unknown enum values are
kept); ``strict_converter`` rejects both and is used by our own tests against every
documented example body. Every hook is registered here, at import time.
"""

from __future__ import annotations

from typing import Any

import attrs
from cattrs import Converter
from cattrs.gen import make_dict_unstructure_fn

from ._json import HAS_ORJSON
from .models._base import RequestModel

__all__ = ["converter", "make_converter", "strict_converter"]


def _new_base(*, forbid_extra_keys: bool) -> Converter:
    if HAS_ORJSON:
        from cattrs.preconf.orjson import make_converter as make_orjson

        return make_orjson(forbid_extra_keys=forbid_extra_keys)
    from cattrs.preconf.json import make_converter as make_json  # pragma: no cover

    return make_json(forbid_extra_keys=forbid_extra_keys)  # pragma: no cover


def _is_request_model(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, RequestModel) and attrs.has(cls)


def make_converter(*, strict: bool = False) -> Converter:
    """Build a converter with every coreclaw-async hook registered.

    ``strict=True`` forbids unknown keys in responses (and, through the model hooks,
    unknown enum values).
    """
    conv = _new_base(forbid_extra_keys=strict)
    # Requests leave out optional fields that are unset, as the official clients do.
    conv.register_unstructure_hook_factory(
        _is_request_model,
        lambda cls: make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True),
    )
    return conv


converter = make_converter()
strict_converter = make_converter(strict=True)
