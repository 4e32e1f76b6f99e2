"""The one cattrs converter that turns models into JSON-ready data and back.

``converter`` is lenient (unknown fields in responses are ignored, unknown enum values are
kept, numbers sent as strings are accepted); ``strict_converter`` rejects all three and is
used by our own tests against every documented example body. Every hook is registered
here, at import time.

Wire rules applied to the models (CoreClaw's documented units): money is ``Decimal`` (read from the
string the API sends), timestamps are aware UTC ``datetime`` read from Unix seconds or
milliseconds as each field declares, with ``0`` meaning "not set" (``None``); integers stay
Python ints (never floats, so ids beyond 2**53 are exact); result rows stay plain dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

import attrs
from cattrs import Converter
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._json import HAS_ORJSON
from .models._base import RequestModel
from .models._fields import CODEC, ENUM, EXTRA, UNIT, WIRE
from .models.runs import StartedRun
from .models.tasks import TaskRunRequest
from .models.workers import SystemParameters, WorkerInput

__all__ = [
    "Structure",
    "converter",
    "make_converter",
    "started_run_fast",
    "strict_converter",
    "unstructure_task_run",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MODELS_PACKAGE = __package__ + ".models."
_LEGACY_MEMORY_KEY = "memory_bytes"
_EXACT_FLOAT_INT = 2**53

Hook = Callable[[Any, Any], Any]


def _new_base(*, forbid_extra_keys: bool) -> Converter:
    if HAS_ORJSON:
        from cattrs.preconf.orjson import make_converter as make_orjson

        return make_orjson(forbid_extra_keys=forbid_extra_keys)
    from cattrs.preconf.json import make_converter as make_json  # pragma: no cover

    return make_json(forbid_extra_keys=forbid_extra_keys)  # pragma: no cover


def _is_request_model(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, RequestModel) and attrs.has(cls)


def _is_response_model(cls: Any) -> bool:
    return (
        isinstance(cls, type)
        and attrs.has(cls)
        and cls.__module__.startswith(_MODELS_PACKAGE)
        and not issubclass(cls, RequestModel)
    )


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


# -- scalars -----------------------------------------------------------------------------


def _scalar_hooks(strict: bool) -> dict[type, Hook]:
    """Structure hooks for the scalar types: exact types when strict, JSON-ish coercions when lenient."""

    def to_int(value: Any, _: Any = None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
        if not strict:
            # Only floats that are exact: beyond 2**53 a float has already lost digits.
            if isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT_FLOAT_INT:
                return int(value)
            if isinstance(value, str):
                try:
                    return int(value.strip())
                except ValueError:
                    pass
        raise ValueError(f"expected an integer, got {_kind(value)} {value!r:.40}")

    def to_float(value: Any, _: Any = None) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if not strict and isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ValueError(f"expected a number, got {_kind(value)} {value!r:.40}")

    def to_str(value: Any, _: Any = None) -> str:
        if isinstance(value, str):
            return value
        # Numbers are not turned into strings even when lenient: a numeric slug is a server bug.
        raise ValueError(f"expected a string, got {_kind(value)} {value!r:.40}")

    def to_bool(value: Any, _: Any = None) -> bool:
        if isinstance(value, bool):
            return value
        if not strict:
            if value in (0, 1) and isinstance(value, int):
                return bool(value)
            if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
                return value.strip().lower() in ("true", "1")
        raise ValueError(f"expected a boolean, got {_kind(value)} {value!r:.40}")

    def to_decimal(value: Any, _: Any = None) -> Decimal:
        # The API sends money as a decimal string; numbers are accepted only when lenient.
        if isinstance(value, str):
            text = value.strip()
        elif not strict and isinstance(value, (int, float)) and not isinstance(value, bool):
            text = repr(value)
        else:
            raise ValueError(f"expected a decimal string, got {_kind(value)} {value!r:.40}")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value!r:.40}") from None
        if not number.is_finite():
            raise ValueError(f"not a finite decimal number: {value!r:.40}")
        return number

    return {int: to_int, float: to_float, str: to_str, bool: to_bool, Decimal: to_decimal}


# -- field codecs ------------------------------------------------------------------------


def _timestamp_hooks(unit: str, to_int: Hook, strict: bool) -> tuple[Hook, Callable[[Any], Any]]:
    step = timedelta(milliseconds=1) if unit == "ms" else timedelta(seconds=1)

    def structure(value: Any, _: Any) -> datetime | None:
        if value is None and not strict:
            return None
        if not strict and isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            return _text_timestamp(value)
        number = to_int(value, int)
        if number == 0:
            return None
        try:
            moment: datetime = _EPOCH + number * step
            return moment
        except OverflowError:
            raise ValueError(f"timestamp out of range: {number}") from None

    def unstructure(value: datetime | None) -> int:
        if value is None:
            return 0
        return (value - _EPOCH) // step

    return structure, unstructure


# Date-times sent as text without an offset are CoreClaw's clock: UTC+8.
_PLATFORM_TZ = timezone(timedelta(hours=8))


def _text_timestamp(value: str) -> datetime | None:
    """A date-time sent as text (ISO 8601, or ``YYYY-MM-DD HH:MM:SS``), as an aware UTC datetime."""
    text = value.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a timestamp or date-time: {value!r:.40}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_PLATFORM_TZ)
    return moment.astimezone(timezone.utc)


def _rows_hook(value: Any, _: Any) -> tuple[dict[str, Any], ...]:
    # Rows are dynamic JSON objects; they are kept as they came, without a copy per key.
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"expected a list of rows, got {_kind(value)}")
    for index, row in enumerate(value):
        if not isinstance(row, dict):
            raise ValueError(f"row {index} is not a JSON object but {_kind(row)}")
    return tuple(value)


def _null_means_default(base: Hook, cls: type) -> Hook:
    """``base`` reading a JSON ``null`` as the field's default wherever the field has one.

    Servers written in languages whose empty strings and slices marshal as ``null`` send
    ``"err_msg": null`` or ``"list": null``; that says "nothing", which is what the default
    says. A field without a default still fails on ``null``.
    """
    with_default = frozenset(
        field.metadata.get(WIRE, field.name)
        for field in attrs.fields(cls)
        if field.init and field.default is not attrs.NOTHING
    )

    def structure(obj: Any, target: Any) -> Any:
        # The common case (no null anywhere) costs one C-level scan of the values.
        if type(obj) is dict and None in obj.values():
            obj = {key: value for key, value in obj.items() if value is not None or key not in with_default}
        return base(obj, target)

    return structure


def _identifier_hook(value: Any, _: Any) -> str:
    # Ids such as queue references arrive as strings or as JSON numbers (exact Python ints).
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected an id (string or integer), got {_kind(value)} {value!r:.40}")


def _flag_hook(to_int: Hook, strict: bool) -> Hook:
    """A 0/1 flag: the lenient converter also takes ``true``/``false`` (other ints stay bare)."""

    def structure(value: Any, _: Any) -> int:
        if not strict and isinstance(value, bool):
            return int(value)
        number: int = to_int(value, int)
        return number

    return structure


def _raw_hook(value: Any, _: Any) -> Any:
    return value


def _raw_hook_out(value: Any) -> Any:
    return value


def _enum_code_hook(enum_cls: Any, to_int: Hook, strict: bool) -> Hook:
    known = frozenset(member.value for member in enum_cls if member.name != "UNKNOWN")

    def structure(value: Any, _: Any) -> int:
        number: int = to_int(value, int)
        if strict and number not in known:
            raise ValueError(f"{number} is not a known {enum_cls.__name__} value {sorted(known)}")
        return number

    return structure


# -- model hooks -------------------------------------------------------------------------


def _model_hooks(conv: Converter, strict: bool, scalars: dict[type, Hook]) -> tuple[Any, Any]:
    """Hook factories for every response model, driven by the field metadata of ``models._fields``."""
    to_int = scalars[int]

    def field_hooks(field: attrs.Attribute[Any]) -> tuple[Hook | None, Callable[[Any], Any] | None]:
        meta = field.metadata
        codec = meta.get(CODEC)
        if codec == "timestamp":
            return _timestamp_hooks(meta[UNIT], to_int, strict)
        if codec == "rows":
            return _rows_hook, list
        if codec == "identifier":
            return _identifier_hook, None
        if codec == "raw":
            return _raw_hook, _raw_hook_out
        if codec == "flag":
            return _flag_hook(to_int, strict), None
        if ENUM in meta:
            return _enum_code_hook(meta[ENUM], to_int, strict), None
        return None, None

    def structure_factory(cls: type) -> Hook:
        overrides: dict[str, Any] = {}
        known: set[str] = set()
        extra_field: str | None = None
        for field in attrs.fields(cls):
            if not field.init:
                continue
            if field.metadata.get(EXTRA):
                extra_field = field.name
                overrides[field.name] = override(omit=True)
                continue
            key = field.metadata.get(WIRE, field.name)
            known.add(key)
            hook, _ = field_hooks(field)
            kwargs: dict[str, Any] = {}
            if key != field.name:
                kwargs["rename"] = key
            if hook is not None:
                kwargs["struct_hook"] = hook
            if kwargs:
                overrides[field.name] = override(**kwargs)
        base: Hook = make_dict_structure_fn(
            cls, conv, _cattrs_forbid_extra_keys=strict and extra_field is None, **overrides
        )
        if not strict:
            base = _null_means_default(base, cls)
        if extra_field is None:
            return base
        name = extra_field

        def structure_with_extras(obj: Any, target: Any) -> Any:
            model = base(obj, target)
            unknown = {key: value for key, value in obj.items() if key not in known}
            return attrs.evolve(model, **{name: unknown}) if unknown else model

        return structure_with_extras

    def unstructure_factory(cls: type) -> Callable[[Any], Any]:
        overrides: dict[str, Any] = {}
        extra_field: str | None = None
        for field in attrs.fields(cls):
            if not field.init:
                continue
            if field.metadata.get(EXTRA):
                extra_field = field.name
                overrides[field.name] = override(omit=True)
                continue
            key = field.metadata.get(WIRE, field.name)
            _, hook = field_hooks(field)
            kwargs: dict[str, Any] = {}
            if key != field.name:
                kwargs["rename"] = key
            if hook is not None:
                kwargs["unstruct_hook"] = hook
            if field.default is None:
                # An optional key the answer did not carry is not invented on the way back.
                kwargs["omit_if_default"] = True
            if kwargs:
                overrides[field.name] = override(**kwargs)
        base: Callable[[Any], Any] = make_dict_unstructure_fn(cls, conv, **overrides)
        if extra_field is None:
            return base
        name = extra_field

        def unstructure_with_extras(obj: Any) -> dict[str, Any]:
            data = dict(getattr(obj, name))
            data.update(base(obj))
            return data

        return unstructure_with_extras

    return structure_factory, unstructure_factory


def make_converter(*, strict: bool = False) -> Converter:
    """Build a converter with every coreclaw-async hook registered.

    ``strict=True`` forbids unknown keys in responses, unknown enum values (such as a run
    status other than 1-5) and loosely typed scalars (an int sent as a string, a number
    where the API sends a decimal string).
    """
    conv = _new_base(forbid_extra_keys=strict)
    scalars = _scalar_hooks(strict)
    for cls, hook in scalars.items():
        conv.register_structure_hook(cls, hook)
    conv.register_unstructure_hook(Decimal, str)

    structure_factory, unstructure_factory = _model_hooks(conv, strict, scalars)
    conv.register_structure_hook_factory(_is_response_model, structure_factory)
    conv.register_unstructure_hook_factory(_is_response_model, unstructure_factory)

    # `/api/scraper` has sent the memory size as `memory_bytes` (still MB); both land in `memory`.
    system_structure = structure_factory(SystemParameters)

    def structure_system(obj: Any, target: Any) -> SystemParameters:
        if isinstance(obj, Mapping) and _LEGACY_MEMORY_KEY in obj:
            obj = dict(obj)
            legacy = obj.pop(_LEGACY_MEMORY_KEY)
            obj.setdefault("memory", legacy)
        result: SystemParameters = system_structure(obj, target)
        return result

    conv.register_structure_hook(SystemParameters, structure_system)

    def unstructure_system(system: SystemParameters) -> dict[str, Any]:
        data: dict[str, Any] = {
            "cpus": system.cpus,
            "memory": system.memory,
            "execute_limit_time_seconds": system.execute_limit_time_seconds,
            "max_total_charge": system.max_total_charge,
            "max_total_traffic": system.max_total_traffic,
        }
        if system.proxy_region is not None:
            data["proxy_region"] = system.proxy_region
        return data

    conv.register_unstructure_hook(SystemParameters, unstructure_system)

    def unstructure_input(value: WorkerInput) -> dict[str, Any]:
        return {"parameters": {"system": unstructure_system(value.system), "custom": dict(value.custom)}}

    conv.register_unstructure_hook(WorkerInput, unstructure_input)

    # Requests leave out optional fields that are unset, as the official clients do.
    conv.register_unstructure_hook_factory(
        _is_request_model,
        lambda cls: make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True),
    )
    # This class only: a subclass with fields of its own keeps the generated hook, which sends them.
    conv.register_unstructure_hook_func(lambda cls: cls is TaskRunRequest, unstructure_task_run)
    return conv


def unstructure_task_run(request: TaskRunRequest) -> dict[str, Any]:
    """The body of a Task run start, written out (the fan-out sends one per item): what the
    generated request hook gives, the callback URL left out while it is ``None``."""
    if request.callback_url is None:
        return {"task_slug": request.task_slug}
    return {"task_slug": request.task_slug, "callback_url": request.callback_url}


def started_run_fast(data: Any) -> StartedRun | None:
    """The usual answer to a run start read without cattrs: an object whose ``run_slug`` is a
    string and whose ``request_id`` is a string, null or absent (other keys ignored, as the
    lenient converter does). ``None`` for anything else, which the converter's hook then reads
    (and reports), so results and errors are the converter's in every case."""
    if type(data) is dict:
        slug = data.get("run_slug")
        if type(slug) is str:
            request_id = data.get("request_id")
            if request_id is None or type(request_id) is str:
                # What StartedRun(run_slug=slug, request_id=request_id) builds (it has no
                # validators or converters), filled in through its slots.
                run: StartedRun = _new_object(StartedRun)
                _set_run_slug(run, slug)
                _set_request_id(run, request_id)
                return run
    return None


_new_object = object.__new__
_set_run_slug = StartedRun.__dict__["run_slug"].__set__
_set_request_id = StartedRun.__dict__["request_id"].__set__


# Hand-written readers of the lenient converter's models on the hot path: each returns the
# model for the shapes it knows and ``None`` to leave the rest to the converter's hook.
_FAST_PATHS: dict[type, Callable[[Any], Any]] = {StartedRun: started_run_fast}


converter = make_converter()
strict_converter = make_converter(strict=True)


T = TypeVar("T")


@attrs.frozen
class Structure(Generic[T]):
    """An operation's ``parse``: read ``data`` into ``model``, then ``pick`` the part the caller
    gets (the whole model by default).

    ``using(strict_converter, data)`` runs the same parse with another converter (our tests
    check every documented example body this way).
    """

    model: type[Any]
    pick: Callable[[Any], T] | None = None
    # An API version's own reading of the wire before the model sees it (v2 status strings,
    # seconds where the model reads milliseconds); the model stays one for every version.
    pre: Callable[[Any], Any] | None = None
    # The lenient converter's hook for ``model``, looked up on first use (every hook is
    # registered at import time), so each call skips cattrs' dispatch.
    _hook: Hook | None = attrs.field(init=False, default=None, eq=False, repr=False)
    _fast: Callable[[Any], Any] | None = attrs.field(init=False, eq=False, repr=False)

    @_fast.default
    def _find_fast_path(self) -> Callable[[Any], Any] | None:
        return _FAST_PATHS.get(self.model)

    def __call__(self, data: Any) -> T:
        if self.pre is not None:
            data = self.pre(data)
        fast = self._fast
        if fast is not None:
            value = fast(data)
            if value is not None:
                return value if self.pick is None else self.pick(value)
        hook = self._hook
        if hook is None:
            hook = converter.get_structure_hook(self.model)
            object.__setattr__(self, "_hook", hook)
        if data is None:
            # "data" null or absent: read as an empty object, so the problem is reported as
            # the required fields it lacks ("required field missing @ $.run_slug").
            data = {}
        value = hook(data, self.model)
        if self.pick is None:
            return value  # type: ignore[no-any-return]
        return self.pick(value)

    def using(self, conv: Converter, data: Any) -> T:
        """Parse ``data`` with ``conv``."""
        if self.pre is not None:
            data = self.pre(data)
        if data is None:
            data = {}
        value = conv.structure(data, self.model)
        if self.pick is None:
            return value  # type: ignore[no-any-return]
        return self.pick(value)
