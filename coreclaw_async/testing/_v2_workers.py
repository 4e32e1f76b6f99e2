"""v2 operations on the catalogue and the account: proxy regions, the store, the account,
the caller's Workers, a Worker's detail and input schema, and starting a Worker run.

Proxy regions, the store and input schemas are public; a Worker's detail needs the key
(unlike v1's ``/api/scraper``). The store lists every Worker but the caller's own;
``GET /workers`` lists only those (``owned=True`` in `FakeCoreClaw.add_worker`).
"""

from __future__ import annotations

from typing import Final

from . import _wire as wire
from ._catalog import PROXY_REGION_NAMES_ZH, PROXY_REGIONS
from ._http import Args
from ._records import FakeWorker
from ._v2_args import opt_text, paging
from ._v2_base import Ids, Op, V2Base, read_start
from ._v2_records import input_schema, worker_detail, worker_item

__all__ = ["ACCOUNT_BALANCE_EXPIRATION_AT", "WorkerOps"]

ACCOUNT_BALANCE_EXPIRATION_AT: Final = 1812418930
_REGIONS_EN: Final = wire.dumps({"list": [{"code": code, "name": name} for code, name in PROXY_REGIONS]})
_REGIONS_ZH: Final = wire.dumps(
    {"list": [{"code": code, "name": PROXY_REGION_NAMES_ZH[code]} for code, _ in PROXY_REGIONS]}
)


def _matches(worker: FakeWorker, keyword: str | None) -> bool:
    if not keyword:
        return True
    needle = keyword.strip().lower()
    fields = (worker.title, worker.description, worker.slug, worker.store_slug, worker.path)
    return any(needle in field.lower() for field in fields)


class WorkerOps(V2Base):
    """Catalogue, account and Worker runs."""

    def ops(self) -> list[Op]:
        """The operations of this group."""
        return [
            Op("GET", "proxy/region", self._proxy_region, public=True),
            Op("GET", "store", self._store, public=True),
            Op("GET", "users/account", self._account),
            Op("GET", "workers", self._workers),
            Op("GET", "workers/{worker}", self._worker_detail),
            Op("GET", "workers/{worker}/input-schema", self._input_schema, public=True),
            Op("POST", "workers/{worker}/runs", self._run_worker),
        ]

    async def _proxy_region(self, args: Args, path: str, ids: Ids) -> bytes:
        # Display language only: names in Chinese for zh (zh-CN, zh_TW, ...), else English.
        language = str(args.get("language") or "en").lower()
        await self._http.checkpoint(path)
        return _REGIONS_ZH if language.startswith("zh") else _REGIONS_EN

    def _page_of_workers(self, args: Args, *, owned: bool) -> list[FakeWorker]:
        keyword = opt_text(args, "keyword")
        page, size = paging(args, query=True)
        found = [w for w in self._ledger.workers.values() if w.owned is owned and _matches(w, keyword)]
        start = (page - 1) * size
        return found[start : start + size]

    async def _store(self, args: Args, path: str, ids: Ids) -> bytes:
        workers = self._page_of_workers(args, owned=False)
        await self._http.checkpoint(path)
        return wire.dumps({"scraper": [worker_item(worker) for worker in workers]})

    async def _workers(self, args: Args, path: str, ids: Ids) -> bytes:
        workers = self._page_of_workers(args, owned=True)
        await self._http.checkpoint(path)
        return wire.dumps({"scraper": [worker_item(worker) for worker in workers]})

    async def _account(self, args: Args, path: str, ids: Ids) -> bytes:
        await self._http.checkpoint(path)
        return wire.dumps(
            {"balance": self._ledger.balance, "balance_expiration_at": ACCOUNT_BALANCE_EXPIRATION_AT}
        )

    async def _worker_detail(self, args: Args, path: str, ids: Ids) -> bytes:
        await self._http.checkpoint(path)
        return wire.dumps(worker_detail(self.worker(ids["worker"])))

    async def _input_schema(self, args: Args, path: str, ids: Ids) -> bytes:
        await self._http.checkpoint(path)
        return wire.dumps({"input_schema": input_schema(self.worker(ids["worker"]))})

    async def _run_worker(self, args: Args, path: str, ids: Ids) -> bytes:
        input_ = args.get("input")
        self.check_input(input_)
        version = opt_text(args, "version")
        start = read_start(args)
        await self._http.checkpoint(path)
        worker = self.worker(ids["worker"])
        version = self.check_version(worker, version)
        self.check_runnable(worker, input_)
        self.check_can_start()
        run = self._ledger.create_run(
            task_slug=None,
            worker=worker,
            scraper_slug=worker.slug,
            version=version,
            callback_url=start.callback_url,
            input_=input_,
        )
        return await self.answer_start(run, start)
