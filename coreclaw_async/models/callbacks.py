"""Model of a run callback notice: the JSON CoreClaw POSTs to a run's ``callback_url`` when it changes state.

Parsed by hand, not through the converter: the payload has no stable contract (``run_slug``
vs legacy ``run_id``, status strings vs the v1 integers, unknown timestamp units), so every
field is read leniently and the whole body is kept in ``raw``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import attrs

from .._json import loads
from ..errors import InvalidCallbackError
from .runs import RunStatus

__all__ = ["FINAL_CALLBACK_STATUSES", "RunCallback"]

FINAL_CALLBACK_STATUSES = frozenset({"succeeded", "failed", "aborted", "completed"})
"""``run_status`` values after which a run will not change: the documented ``succeeded``, plus
``failed``/``aborted`` (offered by the official n8n trigger) and the v1 synchronous
``completed``. ``aborting`` is not final (the run is being stopped)."""

# Epoch values at or above this are milliseconds (1e11 s is the year 5138).
_MILLISECONDS_FROM = 100_000_000_000


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _number(value: Any) -> int | float | None:
    """An int or float from a JSON number or numeric string; ``None`` for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip()) if any(c in value for c in ".eE") else int(value.strip())
        except ValueError:
            return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() else value
    return value if isinstance(value, int) else None


def _integer(value: Any) -> int | None:
    number = _number(value)
    return number if isinstance(number, int) else None


def _status(body: Mapping[str, Any]) -> str:
    value = body.get("run_status")
    if value is None:
        value = body.get("status")
    if isinstance(value, bool) or value is None:
        raise InvalidCallbackError("The callback has no run_status")
    if isinstance(value, int):
        # The v1 integers, for bodies in the illustrative ``{"status": 3, ...}`` shape.
        member = RunStatus.from_code(value)
        return str(value) if member is RunStatus.UNKNOWN else member.name.lower()
    if isinstance(value, str) and value.strip():
        return value.strip().lower()
    raise InvalidCallbackError(f"The callback's run_status is not usable: {value!r:.80}")


def _identity(body: Mapping[str, Any]) -> tuple[str | None, int | None]:
    slug_value = body.get("run_slug")
    slug = (slug_value.strip() or None) if isinstance(slug_value, str) else None
    id_value = body.get("run_id")
    run_id = _integer(id_value)
    if slug is None and run_id is None and isinstance(id_value, str) and id_value.strip():
        # Some legacy senders put the slug itself under run_id.
        slug = id_value.strip()
    return slug, run_id


def _epoch(value: int | float | None) -> datetime | None:
    if value is None or value <= 0:
        return None
    try:
        seconds = value / 1000 if value >= _MILLISECONDS_FROM else value
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


@attrs.frozen(kw_only=True)
class RunCallback:
    """One callback notice about a run, as received.

    Attributes:
        run_slug: the run, from the body's ``run_slug`` or, for the legacy shape, from the
            launch the notice's URL belongs to (``None`` until that launch is bound).
        run_id: the legacy integer ``run_id``, when the body carries one.
        run_status: lower-cased status string as sent (``"running"``, ``"succeeded"``,
            ``"failed"``, ...); values this version does not know are kept as they are.
            A v1 integer ``status`` is turned into its name.
        error_message: failure text, ``""`` when none.
        execution_start_timestamp, execution_end_timestamp, running_duration: the numbers as
            sent (their unit is not documented; see :attr:`started_at`).
        result_count: rows collected, when sent.
        result_message: the run's summary message, ``""`` when none.
        label: the label given to :meth:`CallbackReceiver.mint`, if any.
        received_at: when the notice arrived (aware UTC).
        raw: the whole JSON body, for fields this model does not know. Do not mutate it.

    A notice is a hint, never the truth: confirm with ``client.runs.get`` before acting on it
    (``runs.wait(..., receiver=...)`` does).
    """

    run_slug: str | None
    run_id: int | None = None
    run_status: str
    error_message: str = ""
    execution_start_timestamp: int | float | None = None
    execution_end_timestamp: int | float | None = None
    running_duration: int | float | None = None
    result_count: int | None = None
    result_message: str = ""
    label: str | None = None
    received_at: datetime = attrs.field(factory=lambda: datetime.now(timezone.utc))
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    @classmethod
    def parse(cls, body: bytes | str | Mapping[str, Any]) -> RunCallback:
        """Read a notice body (JSON bytes/text or an already decoded object), leniently.

        Accepts the current shape (``run_slug``), the legacy one (integer ``run_id``) and the
        illustrative v1 one (integer ``status``, ``results``); numbers may be strings; unknown
        fields are kept in ``raw``.

        Raises:
            InvalidCallbackError: the body is not a JSON object, or it has no usable status.

        Example::

            notice = RunCallback.parse(b'{"run_slug": "01KZ...", "run_status": "succeeded"}')
            assert notice.is_final
        """
        if isinstance(body, Mapping):
            decoded: Any = body
        elif isinstance(body, (bytes, bytearray, memoryview, str)):
            # surrogatepass: text with a lone surrogate still reaches the decoder, which reads it leniently.
            raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
            try:
                decoded = loads(raw)
            except ValueError:
                raise InvalidCallbackError("The callback body is not JSON") from None
        else:
            raise InvalidCallbackError(
                f"The callback body must be bytes, text or a mapping, not {type(body).__name__}"
            )
        if not isinstance(decoded, Mapping):
            raise InvalidCallbackError(f"The callback body is not a JSON object but {type(decoded).__name__}")
        slug, run_id = _identity(decoded)
        error = decoded.get("error_message")
        if error is None:
            error = decoded.get("err_msg")
        count = decoded.get("result_count")
        if count is None:
            count = decoded.get("results")
        return cls(
            run_slug=slug,
            run_id=run_id,
            run_status=_status(decoded),
            error_message=_text(error),
            execution_start_timestamp=_number(decoded.get("execution_start_timestamp")),
            execution_end_timestamp=_number(decoded.get("execution_end_timestamp")),
            running_duration=_number(decoded.get("running_duration")),
            result_count=_integer(count),
            result_message=_text(decoded.get("result_message")),
            raw=dict(decoded),
        )

    @property
    def is_final(self) -> bool:
        """True if the status says the run is over (see ``FINAL_CALLBACK_STATUSES``)."""
        return self.run_status in FINAL_CALLBACK_STATUSES

    @property
    def succeeded(self) -> bool:
        """True if the notice reports success (``succeeded``)."""
        return self.run_status == "succeeded"

    @property
    def failed(self) -> bool:
        """True if the notice reports a failure or an abort (``failed``, ``aborted``)."""
        return self.run_status in ("failed", "aborted")

    @property
    def started_at(self) -> datetime | None:
        """``execution_start_timestamp`` as an aware UTC datetime (milliseconds recognised by size)."""
        return _epoch(self.execution_start_timestamp)

    @property
    def finished_at(self) -> datetime | None:
        """``execution_end_timestamp`` as an aware UTC datetime; ``None`` while 0 or absent."""
        return _epoch(self.execution_end_timestamp)
