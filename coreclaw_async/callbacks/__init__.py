"""Webhook receiver for run callbacks: per-launch URLs, dedupe, waiters, handlers.

CoreClaw POSTs a small JSON notice to a run's ``callback_url`` when the run changes state.
It documents no signature, no retry, no ordering and no delivery guarantee, so
:class:`CallbackReceiver` treats notices as hints:

* every run start gets its own URL with an unguessable token (:meth:`CallbackReceiver.mint`),
  so a notice is tied to the launch that asked for it, even when it arrives before the
  start's response (then it is kept until :meth:`Launch.bind`), and forged notices (unknown
  tokens) are answered 404;
* bodies are parsed leniently into :class:`~coreclaw_async.models.callbacks.RunCallback`
  (current ``run_slug`` shape and legacy ``run_id`` shape), limited in size (413) and
  answered at once; your handlers run in the receiver's own handler tasks;
* a repeated notice for the same run and status is answered 2xx and dropped;
* ``await receiver.wait(run_slug)`` waits for a final notice, and
  ``client.runs.wait(run_slug, receiver=receiver)`` wakes on one, then confirms with
  ``runs.get``, and keeps polling with backoff if notices never come: a lost callback costs
  latency, never correctness;
* memory is bounded: launches are forgotten after ``launch_ttl`` (or ``finished_retention``
  once finished), and at most ``max_launches`` are kept;
* several worker processes behind one URL share their launches through a
  :class:`CallbackStore` (``CallbackReceiver(store=coreclaw_async.redis.RedisCallbackStore(...))``):
  a notice reaching any process is checked, deduplicated and recorded once for all of them,
  and delivered in the process that minted its launch.

The receiver is an ``aiohttp.web`` component: mount :attr:`CallbackReceiver.app` into your
own application (``app.add_subapp("/coreclaw", receiver.app)``), add its
:meth:`~CallbackReceiver.routes`, or serve it standalone (``async with receiver.serve(...)``).

Inside, one module per job: ``_registry`` (which launches this receiver minted),
``_endpoint`` (HTTP), ``_dispatch`` (handler tasks), ``_waiting`` (waiters and
subscriptions), ``_server`` (standalone serving), ``_shared`` (what a shared store must do),
``_sharing`` (a receiver's side of one: sharing launches, its inbox reader), ``_launch``,
and ``_receiver`` composing them.
"""

from __future__ import annotations

from .._constants import MAX_NOTICES_PER_LAUNCH
from ._dispatch import CallbackHandler
from ._launch import Launch, Verdict
from ._receiver import CallbackReceiver
from ._shared import CallbackStore, CallbackStoreError, InboxNotice, SharedLaunch
from ._stats import ReceiverStats

__all__ = [
    "MAX_NOTICES_PER_LAUNCH",
    "CallbackHandler",
    "CallbackReceiver",
    "CallbackStore",
    "CallbackStoreError",
    "InboxNotice",
    "Launch",
    "ReceiverStats",
    "SharedLaunch",
    "Verdict",
]
