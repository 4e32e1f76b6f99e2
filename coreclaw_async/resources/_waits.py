"""``runs.wait`` and ``runs.wait_many``: the run resource's side of the one poll engine (``_polling.py``).

Both build a :class:`~coreclaw_async._polling.PollEngine` from a "get this run" callable and,
optionally, a callback receiver; ``wait`` is its one-run case.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from .._constants import (
    DEFAULT_ABORT_GRACE,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_MANY_POLLERS,
    DEFAULT_WAIT_TIMEOUT,
    MAX_CONCURRENCY,
)
from .._polling import FinishedRuns, PollEngine
from .._validation import (
    require_int,
    require_number,
    require_optional_int,
    require_optional_timeout,
    require_slug,
    require_timeout,
)
from ..callbacks import CallbackReceiver
from ..errors import InvalidParameterError
from ..models.runs import Run, RunRequest
from ._base import Resource

__all__ = ["RunWaits"]


class RunWaits(Resource):
    """Waiting for runs to finish: the part of ``client.runs`` built on the poll engine."""

    __slots__ = ()

    async def wait(
        self,
        run_slug: str,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        abort_grace: float = DEFAULT_ABORT_GRACE,
        on_poll: Callable[[Run], Any] | None = None,
        call_timeout: float | None = None,
        max_retries: int | None = None,
        receiver: CallbackReceiver | None = None,
    ) -> Run:
        """Poll a run until it is final and return its last record.

        The one-run case of :meth:`wait_many`, with the same cadence: the first check is
        immediate, the next after about a second, then the gaps grow (jittered) up to
        ``poll_interval``. With ``receiver`` (the
        :class:`~coreclaw_async.callbacks.CallbackReceiver` the run was started with), the
        first check waits for the first gap and a final notice makes the run due at once;
        the run is still read with ``get`` and returned only when that shows it final, and
        polling goes on as usual if no notice comes: a lost callback costs latency, never
        correctness. A failed read is tried again at the next turn, until ``timeout``. A run
        stuck in ``ABORTING`` is polled for ``abort_grace`` more seconds and then returned as
        it is (check ``run.status``). ``timeout`` is this wait's own deadline;
        ``call_timeout``/``max_retries`` apply to each status request. ``on_poll(run)`` is
        called after every check (e.g. for progress).

        Raises:
            WaitTimeoutError: the run was not final by ``timeout``; ``last_run`` is the last
                record seen and ``__cause__`` the last read's failure, if the last read failed.
            InvalidParameterError: bad arguments. RunNotFoundError: no such run.
            AuthenticationError: the key was refused.

        Example::

            run = await client.runs.wait(run_slug, timeout=600, receiver=receiver)
            if run.succeeded:
                async for row in client.runs.results(run.run_slug):
                    ...
        """
        slug = require_slug("run_slug", run_slug)
        engine = self._engine(
            [slug],
            receiver=receiver,
            timeout=timeout,
            poll_interval=poll_interval,
            abort_grace=abort_grace,
            pollers=1,
            call_timeout=call_timeout,
            max_retries=max_retries,
            on_poll=on_poll,
        )
        async with FinishedRuns(engine) as finished:
            async for run in finished:
                return run
        # The iteration ended without the run: it cannot be read (not found, another kind of slug).
        raise engine.errors[slug]

    def wait_many(
        self,
        run_slugs: Iterable[str],
        *,
        receiver: CallbackReceiver | None = None,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        abort_grace: float = DEFAULT_ABORT_GRACE,
        concurrency: int = DEFAULT_WAIT_MANY_POLLERS,
        call_timeout: float | None = None,
        max_retries: int | None = None,
    ) -> FinishedRuns:
        """Wait for many runs at once: an async iterator of final ``Run`` records as they finish.

        ``concurrency`` poller tasks serve every run, however many there are: each run is
        read at once, then with growing jittered gaps up to ``poll_interval`` (the same
        engine and cadence as :meth:`wait`); a failed read is tried again at the run's next
        turn. With ``receiver``, a final notice makes its run due at once, and the
        first read of the others waits for the first gap (about a second); every
        run is still confirmed with ``get`` before it is yielded, so lost, duplicated or
        forged notices change latency, never the result. Each run is yielded exactly once;
        runs that cannot be read (``RunNotFoundError``) end up in ``errors`` instead.
        ``timeout`` bounds the whole wait: ``WaitTimeoutError`` then, with ``pending``
        holding the last record of each unfinished run. Duplicate slugs are waited for once.

        Raises:
            InvalidParameterError: bad arguments (checked here, before anything is sent).

        Example::

            async with client.runs.wait_many(slugs, receiver=receiver, timeout=900) as finished:
                async for run in finished:
                    print(run.run_slug, run.status.name)
        """
        if isinstance(run_slugs, (str, bytes)):
            raise InvalidParameterError("run_slugs", "must be an iterable of run slugs, not a single string")
        if not isinstance(run_slugs, Iterable):
            raise InvalidParameterError(
                "run_slugs", f"must be an iterable of run slugs, got {type(run_slugs).__name__}"
            )
        slugs = list(dict.fromkeys(require_slug("run_slugs", slug) for slug in run_slugs))
        engine = self._engine(
            slugs,
            receiver=receiver,
            timeout=timeout,
            poll_interval=poll_interval,
            abort_grace=abort_grace,
            pollers=require_int("concurrency", concurrency, minimum=1, maximum=MAX_CONCURRENCY),
            call_timeout=call_timeout,
            max_retries=max_retries,
            on_poll=None,
        )
        return FinishedRuns(engine)

    def _engine(
        self,
        slugs: Sequence[str],
        *,
        receiver: CallbackReceiver | None,
        timeout: float,
        poll_interval: float,
        abort_grace: float,
        pollers: int,
        call_timeout: float | None,
        max_retries: int | None,
        on_poll: Callable[[Run], Any] | None,
    ) -> PollEngine:
        """The poll engine for ``runs.wait`` and ``runs.wait_many``, every argument checked."""
        if receiver is not None and not isinstance(receiver, CallbackReceiver):
            raise InvalidParameterError(
                "receiver", f"must be a CallbackReceiver, got {type(receiver).__name__}"
            )
        if on_poll is not None and not callable(on_poll):
            raise InvalidParameterError("on_poll", f"must be callable, got {type(on_poll).__name__}")
        per_call = require_optional_timeout("call_timeout", call_timeout)
        retries = require_optional_int("max_retries", max_retries, minimum=0)
        get = self._ops.run_get
        manager = self._manager

        def read(run_slug: str, budget: float) -> Awaitable[Run]:
            return manager.call(get, RunRequest(run_slug), timeout=budget, max_retries=retries)

        return PollEngine(
            read,
            slugs,
            notices=receiver,
            timeout=require_timeout("timeout", timeout),
            poll_interval=require_timeout("poll_interval", poll_interval),
            abort_grace=require_number("abort_grace", abort_grace, minimum=0),
            pollers=pollers,
            call_timeout=manager.timeout if per_call is None else per_call,
            on_poll=on_poll,
        )
