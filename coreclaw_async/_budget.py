"""The seam for a request budget shared with other processes (``AsyncCoreClaw(budget=...)``).

CoreClaw's rate limit and the plan's concurrent-run cap are per account, not per process.
A shared budget lets every client of one account (in any process, on any machine) pace
itself against the account together. The client asks it before each request, after its
own client-wide gate, and tells it how each request went. ``coreclaw_async.redis.RedisBudget``
implements it on Redis; this module names what the client needs and nothing more, so the
core never imports a Redis client.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ._limits import GateTimeout

__all__ = ["BudgetTimeout", "SharedBudget"]


class BudgetTimeout(GateTimeout):
    """The shared budget cannot let a request through before its deadline (nothing was sent).

    ``reason`` is ``"cooldown"`` (an account-wide rate-limit cooldown outlasts the deadline),
    ``"pace"`` (the shared ``max_rate``), ``"slot"`` (the shared ``max_in_flight``),
    ``"capacity"`` (an account-wide wait for plan capacity) or ``"ask"`` (the budget itself
    did not answer before the deadline).
    """


@runtime_checkable
class SharedBudget(Protocol):
    """What a client asks of a budget shared by many clients of one account.

    A client built with ``budget=`` calls :meth:`attach` once, then per request
    :meth:`acquire` (before sending) and :meth:`release` (after the answer, or the failure),
    :meth:`rate_limited` on a rate-limit answer, :meth:`capacity_full` when a run start waiting
    for plan capacity was refused, and :meth:`detach` when it closes.
    """

    def attach(self) -> None:
        """A client starts using the budget."""

    async def detach(self) -> None:
        """A client that used the budget closed; the last one to go stops its background work."""

    async def acquire(self, deadline: float, *, run_start: bool) -> object | None:
        """Wait for this request's turn; return a lease for :meth:`release` (or ``None``).

        ``deadline`` is a ``loop.time()`` value; ``run_start`` says the request starts a run
        and its client waits for plan capacity. Raises :class:`BudgetTimeout` when the turn
        cannot come before the deadline, ``BudgetUnavailableError`` when the budget cannot be
        reached and is set to say so; either way nothing was sent.
        """

    def release(self, lease: object | None) -> None:
        """The request holding ``lease`` is over (answered or failed); never blocks."""

    def rate_limited(self, cooldown: float) -> None:
        """A request got a rate-limit answer: every client of the budget waits ``cooldown`` s."""

    def capacity_full(self, backoff: float) -> None:
        """A run start was refused for plan capacity: other clients' waiting starts hold off ``backoff`` s."""
