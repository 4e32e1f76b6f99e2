"""API v1 as a :class:`~coreclaw_async._dialect.Dialect`: the 13 documented v1 endpoints.

v1 "action" endpoints are all ``POST`` with a JSON body, reads included; the three public
endpoints (Worker detail, store search, proxy regions) are ``GET`` with a query string and
need no key. The key travels in the ``api-key`` header. ``task/run`` and ``rerun`` are
refused without a ``callback_url``; ``scraper/run`` accepts a start without one.
"""

from __future__ import annotations

from ._constants import API_KEY_HEADER, SYNC_RUN_TIMEOUT
from ._converter import Structure
from ._dialect import Dialect, Operations
from ._operation import Kind, Operation
from .models.account import AccountInfo, ProxyRegion, _ProxyRegionList
from .models.runs import ExportLink, ResultPage, Run, RunLog, RunPage, StartedRun
from .models.workers import StoreWorker, Worker, WorkerRunSync, _StoreSearchData

__all__ = ["V1"]


def _store_workers(data: _StoreSearchData) -> list[StoreWorker]:
    return list(data.scraper)


def _proxy_regions(data: _ProxyRegionList) -> list[ProxyRegion]:
    return list(data.items)


def _api_key_header(api_key: str) -> tuple[str, str]:
    return API_KEY_HEADER, api_key


_OPS = Operations(
    task_run=Operation(
        name="task.run",
        method="POST",
        path="/api/v1/task/run",
        kind=Kind.RUN_START,
        parse=Structure(StartedRun),
    ),
    # `scraper/run` with is_async true answers at once with the new run's slug ...
    worker_run=Operation(
        name="worker.run",
        method="POST",
        path="/api/v1/scraper/run",
        kind=Kind.RUN_START,
        parse=Structure(StartedRun),
    ),
    # ... and with is_async false the server holds the request for up to 5 minutes.
    worker_run_sync=Operation(
        name="worker.run_sync",
        method="POST",
        path="/api/v1/scraper/run",
        kind=Kind.RUN_START,
        parse=Structure(WorkerRunSync),
        min_timeout=SYNC_RUN_TIMEOUT,
    ),
    run_abort=Operation(name="run.abort", method="POST", path="/api/v1/scraper/abort", kind=Kind.ACTION),
    run_get=Operation(
        name="run.get", method="POST", path="/api/v1/run/detail", kind=Kind.READ, parse=Structure(Run)
    ),
    run_list=Operation(
        name="run.list", method="POST", path="/api/v1/run/list", kind=Kind.READ, parse=Structure(RunPage)
    ),
    run_results=Operation(
        name="run.results",
        method="POST",
        path="/api/v1/run/result/list",
        kind=Kind.READ,
        parse=Structure(ResultPage),
    ),
    run_log=Operation(
        name="run.log", method="POST", path="/api/v1/run/last/log", kind=Kind.READ, parse=Structure(RunLog)
    ),
    # Creates a file but no run and no charge: retrying it at worst makes a second file.
    run_export=Operation(
        name="run.export",
        method="POST",
        path="/api/v1/run/result/export",
        kind=Kind.READ,
        parse=Structure(ExportLink),
    ),
    run_rerun=Operation(
        name="run.rerun",
        method="POST",
        path="/api/v1/rerun",
        kind=Kind.RUN_START,
        parse=Structure(StartedRun),
    ),
    account_info=Operation(
        name="account.info",
        method="POST",
        path="/api/v1/account/info",
        kind=Kind.READ,
        parse=Structure(AccountInfo),
    ),
    worker_get=Operation(
        name="worker.get",
        method="GET",
        path="/api/scraper",
        kind=Kind.READ,
        parse=Structure(Worker),
        auth=False,
        in_query=True,
    ),
    store_search=Operation(
        name="store.search",
        method="GET",
        path="/api/store",
        kind=Kind.READ,
        parse=Structure(_StoreSearchData, _store_workers),
        auth=False,
        in_query=True,
    ),
    proxy_regions=Operation(
        name="proxy.regions",
        method="GET",
        path="/api/proxy/region",
        kind=Kind.READ,
        parse=Structure(_ProxyRegionList, _proxy_regions),
        auth=False,
        in_query=True,
    ),
)

V1 = Dialect(
    name="v1",
    ops=_OPS,
    auth_header=_api_key_header,
    # v1 documents no page-size maximum for run/list or run/result/list.
    max_page_size=None,
    callback_required=frozenset({"task_run", "run_rerun"}),
)
"""The v1 dialect (``scraper/run`` appears twice in ``ops``: async and sync)."""
