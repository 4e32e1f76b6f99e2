"""Worker input as every version wants it: the Worker's own fields and the container settings, checked.

A run's input is sent wrapped as ``{"parameters": {"system": {...}, "custom": {...}}}``; a
saved Task's input too (a flat input made saved Tasks un-runnable in production). Callers may
pass a ``WorkerInput``, the wire shape, or just the Worker's own fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from .._constants import MEMORY_CHOICES_MB
from .._converter import converter
from .._json import dumps
from .._validation import require_int, require_number
from ..errors import InvalidParameterError
from ..models.workers import SystemParameters, WorkerInput

__all__ = ["check_system", "split_input", "wrapped_input"]

_REGION = re.compile(r"[A-Z]{2}")
_SYSTEM_KEYS = frozenset(field.name for field in attrs.fields(SystemParameters))


def check_system(system: SystemParameters) -> SystemParameters:
    """Return ``system`` if every container setting is in range, else ``InvalidParameterError``."""
    require_number("cpus", system.cpus, minimum=0, exclusive=True)
    memory = require_int("memory", system.memory, minimum=1)
    if memory not in MEMORY_CHOICES_MB:
        raise InvalidParameterError("memory", f"must be one of {MEMORY_CHOICES_MB} (MB), got {memory}")
    require_int("execute_limit_time_seconds", system.execute_limit_time_seconds, minimum=1)
    require_number("max_total_charge", system.max_total_charge, minimum=0)
    require_number("max_total_traffic", system.max_total_traffic, minimum=0)
    region = system.proxy_region
    if region is not None and (not isinstance(region, str) or not _REGION.fullmatch(region)):
        raise InvalidParameterError(
            "proxy_region", f"must be an ISO-3166 alpha-2 code such as 'US', got {region!r}"
        )
    return system


def _system_from_mapping(raw: Mapping[str, Any]) -> SystemParameters:
    values = dict(raw)
    # Worker detail has sent the memory size as `memory_bytes` (still MB); both mean `memory`.
    if "memory_bytes" in values:
        legacy = values.pop("memory_bytes")
        values.setdefault("memory", legacy)
    unknown = sorted(map(str, set(values) - _SYSTEM_KEYS))
    if unknown:
        raise InvalidParameterError("input", f"unknown system settings: {', '.join(unknown)}")
    return SystemParameters(**values)


def split_input(value: Mapping[str, Any] | WorkerInput) -> tuple[Mapping[str, Any], SystemParameters | None]:
    """Return (custom, system) from a ``WorkerInput``, a wire-shaped dict or a plain custom dict."""
    if isinstance(value, WorkerInput):
        return value.custom, value.system
    if not isinstance(value, Mapping):
        raise InvalidParameterError("input", f"must be a mapping or WorkerInput, got {type(value).__name__}")
    parameters = value.get("parameters")
    if set(value) == {"parameters"} and isinstance(parameters, Mapping) and "custom" in parameters:
        custom = parameters["custom"]
        if not isinstance(custom, Mapping):
            raise InvalidParameterError("input", "parameters.custom must be a mapping")
        system = parameters.get("system")
        if system is not None and not isinstance(system, Mapping):
            raise InvalidParameterError("input", "parameters.system must be a mapping")
        return custom, _system_from_mapping(system) if system is not None else None
    return value, None


def wrapped_input(value: Mapping[str, Any] | WorkerInput, field: str = "input") -> dict[str, Any]:
    """``value`` in the wire shape ``{"parameters": {"custom": ..., "system"?: ...}}``, checked:
    the container settings when given, and that the whole of it can be sent as JSON."""
    custom, system = split_input(value)
    parameters: dict[str, Any] = {"custom": dict(custom)}
    if system is not None:
        parameters["system"] = converter.unstructure(check_system(system))
    wrapped = {"parameters": parameters}
    try:
        dumps(wrapped)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidParameterError(field, f"must be JSON-serialisable ({exc})") from None
    return wrapped
