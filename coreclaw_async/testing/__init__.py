"""Test helpers for code that talks to CoreClaw: an in-process fake of the v1 and v2 HTTP APIs.

`FakeCoreClaw` serves the documented v1 and v2 endpoints over real HTTP on 127.0.0.1 from
one ledger (either version can be switched off), keeps a ledger of every run created,
models the account's limits (request rate, plan concurrency) shared by every client,
counts requests and TCP connections, records them if asked (`RequestRecord`), injects
faults (`Fault`) on demand, for every client or one, and delivers run callbacks to
loopback URLs, as lossy as you ask. It is written from the published API
documentation as wire JSON and imports nothing from the client, so a client bug cannot be
mirrored by the fake.

pytest users get a ready fixture with ``pytest_plugins = ["coreclaw_async.testing.pytest_plugin"]``.
Run it standalone with ``python -m coreclaw_async.testing --port 8080`` (``--help`` for the
limits, faults and callback knobs); other processes then share that one account, and
``GET /_fake/stats`` with the API key answers its counters as JSON.
"""

from __future__ import annotations

from ._callbacks import CallbackDelivery, CallbackSettings, CallbackStats, is_loopback_url
from ._fake import API_VERSIONS, FakeCoreClaw
from ._faults import Fault
from ._records import FakeQueueItem, FakeRun, FakeTask, FakeWorker, RunState, TaskSchedule
from ._request_log import RequestRecord
from ._ulid import is_ulid, new_ulid

__all__ = [
    "API_VERSIONS",
    "CallbackDelivery",
    "CallbackSettings",
    "CallbackStats",
    "FakeCoreClaw",
    "FakeQueueItem",
    "FakeRun",
    "FakeTask",
    "FakeWorker",
    "Fault",
    "RequestRecord",
    "RunState",
    "TaskSchedule",
    "is_loopback_url",
    "is_ulid",
    "new_ulid",
]
