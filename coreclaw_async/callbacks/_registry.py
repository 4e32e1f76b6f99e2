"""Where launches live: mint, find by token or run, record notices, forget them in bounded time and number.

:class:`LaunchRegistry` is the one place that knows which launches this receiver minted; the
endpoint, the waiting side and the receiver go through the methods listed under "Interface"
and nothing else. It stays the source of truth for them (their :class:`Launch` objects,
waiters and handlers) when the receiver also has a store shared by several processes
(``_shared``): the store only adds an index of every process's launches beside it. Like the
store, it decides atomically per launch (the first notice of a status wins, the cap holds),
and :meth:`~LaunchRegistry.lookup` compares the secret part of a token in constant time.

Memory is bounded in time and in number. Launches still waiting for a final notice are kept
in mint order, finished ones in the order they finished, each in an ``OrderedDict`` whose
oldest end is reached in O(1): expiry looks only there, at most ``CALLBACK_PRUNE_BUDGET``
launches per mint or notice, so no call ever scans every launch. At ``max_launches``, minting
evicts one launch: the oldest finished (kept only so late duplicates get 2xx), else the
oldest unfinished (its notice, if it ever comes, gets 404 and ``runs.wait`` polls instead).
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict

from .._constants import CALLBACK_MAX_FOREIGN_FINALS, CALLBACK_PRUNE_BUDGET, CALLBACK_WARNING_INTERVAL
from .._validation import require_slug
from ..models.callbacks import RunCallback
from ._launch import Launch, LaunchHooks, Verdict, new_secret, token_number
from ._log import RateLimitedWarning, logger, shown
from ._stats import ReceiverCounters

__all__ = ["LaunchRegistry"]


class LaunchRegistry:
    """The launches of one receiver, kept in memory.

    Interface (what the endpoint, the waiting side and the receiver use):

    * ``mint(label) -> Launch``: a new launch (may evict the oldest one when full).
    * ``lookup(token) -> Launch | None``: the live launch a URL token names.
    * ``by_number(number) -> Launch | None``: the live launch of that number (for notices
      another process took for it, which come with the launch's number, not its token).
    * ``for_run(run_slug) -> Launch | None``: the launch bound to, or notified about, a run.
    * ``final_notice(run_slug) -> RunCallback | None``: the first final notice of a run.
    * ``record(launch, notice) -> (Verdict, RunCallback)``: offer a parsed notice.
    * ``bind(launch, run_slug) -> list[RunCallback]``: tie a launch to its run; returns the
      notices that only now name their run, for the receiver to deliver.
    * ``confirm_final(run_slug)``: ``runs.get`` showed the run final.
    * ``forget(launch)``, ``prune()``, ``len(registry)``.

    Args:
        hooks: given to every launch minted here.
        counters: the receiver's counters (``mismatched``, ``expired``, ``evicted`` are counted here).
        launch_ttl: seconds an unfinished launch is kept after its mint.
        finished_retention: seconds a launch is kept after it finished.
        max_launches: launches kept at most.
    """

    __slots__ = (
        "_by_slug",
        "_counters",
        "_evicted_waiting",
        "_finished",
        "_foreign",
        "_hooks",
        "_max",
        "_numbers",
        "_retention",
        "_ttl",
        "_unfinished",
    )

    def __init__(
        self,
        hooks: LaunchHooks,
        counters: ReceiverCounters,
        *,
        launch_ttl: float,
        finished_retention: float,
        max_launches: int,
    ) -> None:
        self._hooks = hooks
        self._counters = counters
        self._ttl = launch_ttl
        self._retention = finished_retention
        self._max = max_launches
        self._numbers = itertools.count()
        # By launch number; a launch is in exactly one of the two while it is live.
        self._unfinished: OrderedDict[int, Launch] = OrderedDict()
        self._finished: OrderedDict[int, Launch] = OrderedDict()
        # Run slug -> launch, for every slug a live launch was bound to or told about.
        self._by_slug: dict[str, Launch] = {}
        # Run slug -> the first final notice this receiver accepted for another process's launch.
        self._foreign: OrderedDict[str, RunCallback] = OrderedDict()
        self._evicted_waiting = RateLimitedWarning(CALLBACK_WARNING_INTERVAL)

    def __len__(self) -> int:
        return len(self._unfinished) + len(self._finished)

    # -- interface -----------------------------------------------------------------------

    def mint(self, label: str | None) -> Launch:
        """A new live launch; evicts one first if ``max_launches`` are kept."""
        now = time.monotonic()
        self.prune(now)
        if len(self) >= self._max:
            self._evict_one()
        launch = Launch(self._hooks, next(self._numbers), new_secret(), label, now)
        self._unfinished[launch.number] = launch
        return launch

    def lookup(self, token: str) -> Launch | None:
        """The live launch whose token this is, or ``None`` (unknown, forged, expired or evicted)."""
        number = token_number(token)
        if number is None:
            return None
        launch = self._unfinished.get(number) or self._finished.get(number)
        if launch is None or not launch.matches(token):
            return None
        return self._unexpired(launch)

    def by_number(self, number: int) -> Launch | None:
        """The live launch of this number, or ``None`` (never minted here, expired, evicted or discarded)."""
        launch = self._unfinished.get(number) or self._finished.get(number)
        return None if launch is None else self._unexpired(launch)

    def _unexpired(self, launch: Launch) -> Launch | None:
        if self._expired(launch, time.monotonic()):
            # Past its time but not pruned yet (pruning is incremental): it is gone all the same.
            self._drop(launch)
            self._counters.expired += 1
            return None
        return launch

    def _is_live(self, launch: Launch) -> bool:
        """Whether ``launch`` is still kept (not discarded, expired or evicted)."""
        number = launch.number
        return self._unfinished.get(number) is launch or self._finished.get(number) is launch

    def for_run(self, run_slug: str) -> Launch | None:
        """The launch bound to (or notified about) ``run_slug``, if one is kept."""
        return self._by_slug.get(run_slug)

    def final_notice(self, run_slug: str) -> RunCallback | None:
        """The first final notice received for ``run_slug``, if any."""
        launch = self._by_slug.get(run_slug)
        if launch is None:
            return self._foreign.get(run_slug)
        return next((n for n in launch.notices if n.is_final and n.run_slug == run_slug), None)

    def foreign_final(self, run_slug: str, notice: RunCallback) -> bool:
        """Remember a final notice accepted here for another process's launch; ``True`` if it is
        the first for ``run_slug`` (bounded: the oldest are forgotten first)."""
        if run_slug in self._foreign:
            return False
        self._foreign[run_slug] = notice
        if len(self._foreign) > CALLBACK_MAX_FOREIGN_FINALS:
            self._foreign.popitem(last=False)
        return True

    def record(self, launch: Launch, notice: RunCallback) -> tuple[Verdict, RunCallback]:
        """Offer a parsed notice to ``launch``: the verdict and the notice as recorded.

        ``GONE`` if the launch was forgotten meanwhile (e.g. while its body was read).
        """
        now = time.monotonic()
        if not self._is_live(launch):
            return Verdict.GONE, notice
        verdict, recorded = launch._record(notice)
        if verdict is Verdict.ACCEPTED:
            if recorded.run_slug is not None:
                self._by_slug.setdefault(recorded.run_slug, launch)
            if recorded.is_final:
                self._finish(launch, now)
        self.prune(now)
        return verdict, recorded

    def bind(self, launch: Launch, run_slug: str) -> list[RunCallback]:
        """Tie ``launch`` to ``run_slug``; return the notices that only now name their run.

        Raises:
            InvalidParameterError: blank slug, or the launch is already bound to another run.
        """
        require_slug("run_slug", run_slug)
        attached = launch._attach(run_slug)
        if attached is None or not self._is_live(launch):
            return []
        late, dropped = attached
        self._by_slug[run_slug] = launch
        for notice in dropped:
            self._counters.mismatched += 1
            logger.warning(
                "callback for run %s arrived on the launch of run %s; dropped",
                shown(notice.run_slug),
                run_slug,
            )
            if notice.run_slug is not None and self._by_slug.get(notice.run_slug) is launch:
                del self._by_slug[notice.run_slug]
        return late

    def confirm_final(self, run_slug: str) -> None:
        """``runs.get`` showed ``run_slug`` final: keep its launch only for the finished retention."""
        launch = self._by_slug.get(run_slug)
        if launch is not None and self._is_live(launch):
            self._finish(launch, time.monotonic())

    def forget(self, launch: Launch) -> None:
        """Stop knowing ``launch``: its URL answers 404 from now on."""
        if self._is_live(launch):
            self._drop(launch)

    def prune(self, now: float | None = None) -> None:
        """Forget up to ``CALLBACK_PRUNE_BUDGET`` expired launches, looking only at the oldest ends."""
        if now is None:
            now = time.monotonic()
        budget = CALLBACK_PRUNE_BUDGET
        for kept in (self._finished, self._unfinished):
            # Bounded by the budget; stops at the first launch still within its time.
            while budget and kept:
                launch = next(iter(kept.values()))
                if not self._expired(launch, now):
                    break
                self._drop(launch)
                self._counters.expired += 1
                budget -= 1

    # -- internals -------------------------------------------------------------------------

    def _expired(self, launch: Launch, now: float) -> bool:
        finished_at = launch.finished_at
        if finished_at is not None:
            return now - finished_at > self._retention
        return now - launch.minted_at > self._ttl

    def _finish(self, launch: Launch, now: float) -> None:
        if launch._finish(now):
            # From mint order to finish order: its time left is now the finished retention.
            del self._unfinished[launch.number]
            self._finished[launch.number] = launch

    def _evict_one(self) -> None:
        if self._finished:
            _, launch = self._finished.popitem(last=False)
            waiting = False
        else:
            _, launch = self._unfinished.popitem(last=False)
            waiting = True
        self._unindex(launch)
        self._counters.evicted += 1
        if waiting:
            self._evicted_waiting.note(
                "callback receiver is full: %d launch(es) still waiting for a final notice were "
                "forgotten since the last such warning, oldest first (max_launches=%d); their notices "
                "will get 404 and runs.wait will find those runs by polling. Raise max_launches, or "
                "lower launch_ttl if runs end long before it.",
                self._max,
            )

    def _drop(self, launch: Launch) -> None:
        number = launch.number
        if self._unfinished.pop(number, None) is None:
            self._finished.pop(number, None)
        self._unindex(launch)

    def _unindex(self, launch: Launch) -> None:
        for slug in {launch.run_slug, *(notice.run_slug for notice in launch.notices)}:
            if slug is not None and self._by_slug.get(slug) is launch:
                del self._by_slug[slug]
