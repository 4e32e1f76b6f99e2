"""What a fan-out keeps of each item: :class:`TaskRunOutcome` (public as
``coreclaw_async.fanout.TaskRunOutcome``), small enough to keep 100,000 of, and the compact
records ``run_all`` keeps while its batch runs (:class:`KeptOutcomes`)."""

from __future__ import annotations

from typing import Any

import attrs

from ._converter import converter
from .errors import CoreClawError
from .models.runs import StartedRun
from .models.tasks import TaskRunRequest

__all__ = ["KeptOutcomes", "TaskRunOutcome", "outcomes_in_order"]


class _Lean:
    """The third slot of a lean outcome (see ``TaskRunOutcome``): shared by every lean outcome
    of a batch with the same callback URL."""

    __slots__ = ("url",)

    def __init__(self, url: str | None) -> None:
        self.url = url


# The third slot of an ordinary outcome is (error, started); the usual one is shared.
_STARTED: tuple[None, bool] = (None, True)


class TaskRunOutcome:
    """What became of one item of a fan-out.

    Exactly one of ``run`` and ``error`` is set, except for the rare ``started=True`` with a
    ``ResponseValidationError`` (the server said yes but its answer could not be read).
    Immutable and compared by value, like the models.

    ``run_all`` keeps one per item until it returns, so they are small: slotted, and a start
    of a slug that went as expected keeps only the slug, the run slug and the batch's callback
    URL (shared by every item): ``request`` and ``run`` build their models when read (equal
    every time, not the same object).

    Attributes:
        index: the item's position in the input (0-based).
        request: the ``TaskRunRequest`` that was sent (callback URL filled in), or the item
            as given when it could not be turned into one (then ``error`` says why).
        run: the started run, when the start succeeded.
        error: why there is no run: a ``CoreClawError`` (``InvalidParameterError`` for a bad
            item, ``RunStartUnknownError`` when the start may or may not have happened, ...).
        started: ``True`` if a run was created, ``False`` if certainly not (never sent, or
            refused), ``None`` if unknown: reconcile those with ``runs.list`` before retrying.

    Example::

        async for outcome in client.tasks.run_many(slugs):
            if outcome.started is None:
                to_reconcile.append(outcome.request)
    """

    # Either (request, run, (error, started)), or for a lean outcome (slug, run slug, _Lean
    # holding the callback URL): three slots serve both, so a kept outcome is one small object.
    __slots__ = ("_a", "_b", "_c", "index")
    # Positional patterns, as with the attrs class it was: ``case TaskRunOutcome(i, req, run, err, ok)``.
    __match_args__ = ("index", "request", "run", "error", "started")

    index: int
    _a: Any
    _b: Any
    _c: Any

    def __init__(
        self,
        index: int,
        request: Any,
        run: StartedRun | None,
        error: CoreClawError | None,
        started: bool | None,
    ) -> None:
        _fill(self, index, request, run, error, started)

    @property
    def request(self) -> Any:
        """The ``TaskRunRequest`` that was sent, or the item as given if it could not become one."""
        lean = self._c
        if type(lean) is _Lean:
            request: TaskRunRequest = _new_object(TaskRunRequest)
            _set_task_slug(request, self._a)
            _set_callback_url(request, lean.url)
            return request
        return self._a

    @property
    def run(self) -> StartedRun | None:
        """The started run, when the start succeeded."""
        if type(self._c) is _Lean:
            run: StartedRun = _new_object(StartedRun)
            _set_run_slug(run, self._b)
            _set_request_id(run, None)
            return run
        return self._b  # type: ignore[no-any-return]

    @property
    def error(self) -> CoreClawError | None:
        """Why there is no run (``None`` when it started as expected)."""
        return None if type(self._c) is _Lean else self._c[0]

    @property
    def started(self) -> bool | None:
        """``True`` created, ``False`` certainly not, ``None`` unknown."""
        return True if type(self._c) is _Lean else self._c[1]

    @property
    def ok(self) -> bool:
        """Whether the run was started and its slug is known (``run`` is set)."""
        return type(self._c) is _Lean or self._b is not None

    def _key(self) -> tuple[Any, ...]:
        return (self.index, self.request, self.run, self.error, self.started)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(index={self.index!r}, request={self.request!r}, run={self.run!r}, "
            f"error={self.error!r}, started={self.started!r})"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def __delattr__(self, name: str) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self._key())

    def asdict(self) -> dict[str, Any]:
        """The outcome as a dict of its five fields (the models as they are), as
        ``attrs.asdict(outcome, recurse=False)`` gave when it was an attrs class."""
        return {
            "index": self.index,
            "request": self.request,
            "run": self.run,
            "error": self.error,
            "started": self.started,
        }


def _unstructure_outcome(outcome: TaskRunOutcome) -> dict[str, Any]:
    """What the converter made of the outcome when it was an attrs class: its fields, the
    models unstructured, the error as it is."""
    return {
        "index": outcome.index,
        "request": converter.unstructure(outcome.request),
        "run": converter.unstructure(outcome.run),
        "error": outcome.error,
        "started": outcome.started,
    }


def _is_outcome(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, TaskRunOutcome)


converter.register_unstructure_hook_func(_is_outcome, _unstructure_outcome)


# The slots' own setters: how an immutable outcome (and the models it builds) are filled in.
_new_object = object.__new__
_set_index, _set_a, _set_b, _set_c = (
    TaskRunOutcome.__dict__[name].__set__ for name in ("index", "_a", "_b", "_c")
)
_set_run_slug = StartedRun.__dict__["run_slug"].__set__
_set_request_id = StartedRun.__dict__["request_id"].__set__
_set_task_slug = TaskRunRequest.__dict__["task_slug"].__set__
_set_callback_url = TaskRunRequest.__dict__["callback_url"].__set__


def _fill(
    outcome: TaskRunOutcome,
    index: int,
    request: Any,
    run: StartedRun | None,
    error: CoreClawError | None,
    started: bool | None,
) -> None:
    _set_index(outcome, index)
    _set_a(outcome, request)
    _set_b(outcome, run)
    _set_c(outcome, _STARTED if error is None and started is True else (error, started))


def _outcome(
    index: int, request: Any, run: StartedRun | None, error: CoreClawError | None, started: bool | None
) -> TaskRunOutcome:
    """``TaskRunOutcome(index, request, run, error, started)`` without the call to ``__init__``."""
    outcome: TaskRunOutcome = _new_object(TaskRunOutcome)
    _fill(outcome, index, request, run, error, started)
    return outcome


def _lean(index: int, slug: str, lean: _Lean, run_slug: str) -> TaskRunOutcome:
    """The outcome of a slug started as expected, kept as its atoms (see TaskRunOutcome)."""
    outcome: TaskRunOutcome = _new_object(TaskRunOutcome)
    _set_index(outcome, index)
    _set_a(outcome, slug)
    _set_b(outcome, run_slug)
    _set_c(outcome, lean)
    return outcome


class KeptOutcomes(list[Any]):
    """``run_all``'s list, filled by its batch with one record per item, then turned into the
    outcomes in input order by :func:`outcomes_in_order`.

    A record is ``(index, outcome)``, or for a slug started as expected with the batch's
    callback URL ``(index, slug, run_slug)`` (``(index, slug, run_slug, request_id)`` when the
    answer had a request id); indexes are unique, so sorting compares them alone.
    """

    __slots__ = ("lean",)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (at any protocol) and copied as the plain list of outcomes run_all returns.
        return (list, (list(self),))

    def __init__(self) -> None:
        super().__init__()
        self.lean: _Lean | None = None  # the callback URL the compact records share

    def record(self, index: int, slug: str, url: str | None, run: StartedRun) -> tuple[Any, ...] | None:
        """The compact record of a start of ``slug`` with ``url``, or ``None`` if it needs a whole outcome."""
        lean = self.lean
        if lean is None:
            lean = self.lean = _Lean(url)
        elif lean.url != url:
            return None
        if run.request_id is None:
            return (index, slug, run.run_slug)
        return (index, slug, run.run_slug, run.request_id)


def outcomes_in_order(records: KeptOutcomes) -> list[TaskRunOutcome]:
    """The outcomes of ``records`` by input position, in place (each record is replaced by its
    outcome as soon as that is built)."""
    records.sort()
    lean = records.lean
    outcomes: list[Any] = records
    for position, record in enumerate(records):
        if len(record) == 2:
            outcomes[position] = record[1]
        elif len(record) == 3:
            assert lean is not None
            outcomes[position] = _lean(record[0], record[1], lean, record[2])
        else:
            index, slug, run_slug, request_id = record
            assert lean is not None
            run: StartedRun = _new_object(StartedRun)
            _set_run_slug(run, run_slug)
            _set_request_id(run, request_id)
            outcomes[position] = _outcome(index, TaskRunRequest(slug, lean.url), run, None, True)
    return outcomes
