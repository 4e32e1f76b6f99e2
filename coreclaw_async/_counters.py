"""One way to keep counters and to take the snapshots users read (``client.stats``, ``receiver.stats``).

A subclass of :class:`Counters` names its counters in ``__slots__``: bumping one is a plain
attribute increment (cheap on the hot path), every one starts at 0, and :meth:`Counters.snapshot`
copies each field of a frozen attrs model from the counter of the same name, so a stats model
and its counters cannot drift apart. Tallies by key (retries by reason) are kept beside them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

import attrs

__all__ = ["Counters"]

SnapshotT = TypeVar("SnapshotT")


class Counters:
    """Named counters as slotted attributes, plus keyed tallies, with an attrs snapshot.

    Example::

        class _Stats(Counters):
            __slots__ = ("accepted", "refused")
            accepted: int
            refused: int

        counters = _Stats()
        counters.accepted += 1
        snapshot = counters.snapshot(ReceiverStats, launches=3)
    """

    __slots__ = ("_tallies",)

    def __init__(self) -> None:
        for cls in type(self).__mro__:
            for name in cls.__dict__.get("__slots__", ()):
                if name != "_tallies":
                    setattr(self, name, 0)
        self._tallies: dict[str, dict[str, int]] = {}

    def tally(self, name: str, key: str, amount: int = 1) -> None:
        """Add ``amount`` to ``key`` in the tally ``name`` (e.g. retries by reason)."""
        tally = self._tallies.get(name)
        if tally is None:
            tally = self._tallies[name] = {}
        tally[key] = tally.get(key, 0) + amount

    def tallied(self, name: str) -> Mapping[str, int]:
        """A copy of the tally ``name`` (empty if nothing was counted)."""
        return dict(self._tallies.get(name, {}))

    def snapshot(self, model: type[SnapshotT], **values: Any) -> SnapshotT:
        """Build ``model`` (an attrs class): each field comes from ``values`` if given there,
        else from the counter of that name, else from the tally of that name (empty if never counted)."""
        fields: dict[str, Any] = {}
        for field in attrs.fields(cast(Any, model)):
            name = field.name
            if name in values:
                fields[name] = values[name]
            elif hasattr(self, name):
                fields[name] = getattr(self, name)
            else:
                fields[name] = dict(self._tallies.get(name, {}))
        return model(**fields)
