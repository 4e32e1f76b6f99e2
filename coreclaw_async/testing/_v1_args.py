"""Reading and checking v1 request arguments; anything wrong is the v1 validation error 4000."""

from __future__ import annotations

from . import _wire as wire
from ._catalog import ACCEPTED_REGIONS, MEMORY_CHOICES
from ._http import ApiError, Args

__all__ = ["check_system", "invalid", "json_int", "opt_str", "query_int", "req_str"]


def invalid() -> ApiError:
    """The v1 validation error (4000)."""
    return ApiError(wire.INVALID_PARAMS)


def req_str(args: Args, key: str) -> str:
    """A required non-blank string."""
    value = args.get(key)
    if not isinstance(value, str) or not value.strip():
        raise invalid()
    return value


def opt_str(args: Args, key: str) -> str | None:
    """An optional string; absent, null and empty all read as None."""
    value = args.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid()
    return value or None


def json_int(args: Args, key: str, default: int, minimum: int, maximum: int | None = None) -> int:
    """An optional JSON integer (a float with no fraction counts) within [minimum, maximum]."""
    value = args.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid()
    if isinstance(value, float):
        if not value.is_integer():
            raise invalid()
        value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        raise invalid()
    return value


def query_int(args: Args, key: str, default: int, minimum: int) -> int:
    """An optional integer query parameter of at least ``minimum``; empty reads as absent."""
    raw = args.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid() from None
    if value < minimum:
        raise invalid()
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_system(system: object) -> None:
    """Validate a run's ``input.parameters.system``; absent keys take the Worker's defaults."""
    if not isinstance(system, dict):
        raise invalid()
    cpus = system.get("cpus")
    if cpus is not None and not (_is_number(cpus) and cpus > 0):
        raise invalid()
    # The key was `memory_bytes` before it became `memory`; both carry megabytes.
    memory = system.get("memory", system.get("memory_bytes"))
    if memory is not None and (isinstance(memory, bool) or memory not in MEMORY_CHOICES):
        raise invalid()
    limit = system.get("execute_limit_time_seconds")
    if limit is not None and not (_is_number(limit) and limit > 0):
        raise invalid()
    for key in ("max_total_charge", "max_total_traffic"):
        cap = system.get(key)
        if cap is not None and not (_is_number(cap) and cap >= 0):
            raise invalid()
    region = system.get("proxy_region")
    if region is not None and region not in ACCEPTED_REGIONS:
        raise invalid()
