"""The CoreClaw v1 API: its 13 operations registered in a route table, and its wire rules.

v1 takes every action as a POST with a JSON object body (the three public reads are GETs
with a query), authenticates with an ``api-key`` header (``Authorization: Bearer`` is an
accepted alternative) and answers ``{"code", "message", "data"}`` envelopes with integer
run statuses. Endpoints validate their arguments, pass the dispatcher's checkpoint (where
"before" faults act) and answer from the shared `Ledger`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from . import _wire as wire
from ._catalog import PROXY_REGIONS, RESULT_HEADERS, RESULT_KEYS, result_row
from ._faults import Fault
from ._files import FileStore, log_entries
from ._http import ApiError, Args, Dispatcher, Route, RouteTable, json_response
from ._ledger import Ledger, Refusal, hold_until_final
from ._records import FAILED, SUCCEEDED, FakeRun, FakeWorker
from ._v1_args import check_system, invalid, json_int, opt_str, query_int, req_str

__all__ = ["ACCOUNT_TRAFFIC", "ACCOUNT_TRAFFIC_EXPIRATION_AT", "HTTP_STATUS_MODES", "V1Api"]

# "mapped" pairs error codes with HTTP statuses as the v1 OpenAPI document does; some v1
# clients say every answer is HTTP 200 with the error in the envelope, which "always_200" is.
HTTP_STATUS_MODES = ("mapped", "always_200")
ACCOUNT_TRAFFIC = 178194757135
ACCOUNT_TRAFFIC_EXPIRATION_AT = 1775267018

_FAULT_CODES: Final[Mapping[Fault, int]] = {
    Fault.RATE_LIMIT: wire.RATE_LIMITED,
    Fault.RATE_LIMIT_V2: wire.RATE_LIMITED_V2,
    Fault.CONCURRENCY_LIMIT: wire.CONCURRENCY_LIMITED,
    Fault.SERVER_ERROR: wire.INTERNAL,
    Fault.SERVER_ERROR_AFTER_CREATE: wire.INTERNAL,
}
_REFUSAL_CODES: Final[Mapping[Refusal, int]] = {
    Refusal.INSUFFICIENT_BALANCE: wire.INSUFFICIENT_BALANCE,
    Refusal.PLAN_CONCURRENCY: wire.CONCURRENCY_LIMITED,
}
_REGIONS_BODY: Final = wire.dumps({"list": [{"code": code, "name": name} for code, name in PROXY_REGIONS]})


def _slug_body(run_slug: str) -> bytes:
    return b'{"run_slug":"' + run_slug.encode() + b'"}'


def _record_json(run: FakeRun, now: float) -> bytes:
    """A run record as `run/list` and `run/detail` show it; final records are cached."""
    cached = run._final_json
    if cached is not None:
        return cached
    state = run.state(now)
    body = wire.dumps(
        {
            "status": state.status,
            "err_msg": state.err_msg,
            "slug": run.slug,
            "scraper_title": run.scraper_title,
            "scraper_slug": run.scraper_slug,
            "results": state.results,
            "usage": state.usage,
            "started_at": state.started_at,
            "finished_at": state.finished_at,
            "duration": state.duration,
            "origin": run.origin,
            "traffic": state.traffic,
            "version": run.version,
        }
    )
    if state.status in (SUCCEEDED, FAILED):
        run._final_json = body
    return body


def _results_page(run: FakeRun, count: int, page_index: int, page_size: int) -> dict[str, Any]:
    start = (page_index - 1) * page_size
    stop = min(start + page_size, count)
    return {
        "count": count,
        "headers": RESULT_HEADERS if count else [],
        "list": [result_row(run.slug, index) for index in range(start, stop)],
        "page_index": page_index,
        "page_size": page_size,
    }


class V1Api:
    """The v1 dialect of the dispatcher: route table, authentication, arguments and envelopes."""

    not_found_code: Final = wire.NOT_FOUND
    fault_codes: Final = _FAULT_CODES

    def __init__(self, ledger: Ledger, http: Dispatcher, files: FileStore, *, always_200: bool) -> None:
        self._ledger = ledger
        self._http = http
        self._files = files
        self._always_200 = always_200
        # Encoded answers that change only when their source does: (source, body).
        self._detail_bodies: dict[str, tuple[FakeWorker, bytes]] = {}
        self._account: tuple[str, bytes] = ("", b"")
        routes = self._routes = RouteTable()
        routes.add("POST", "/api/v1/task/run", self._task_run)
        routes.add("POST", "/api/v1/scraper/run", self._scraper_run)
        routes.add("POST", "/api/v1/scraper/abort", self._scraper_abort)
        routes.add("POST", "/api/v1/run/list", self._run_list)
        routes.add("POST", "/api/v1/run/detail", self._run_detail)
        routes.add("POST", "/api/v1/run/result/list", self._result_list)
        routes.add("POST", "/api/v1/run/last/log", self._last_log)
        routes.add("POST", "/api/v1/run/result/export", self._result_export)
        routes.add("POST", "/api/v1/rerun", self._rerun)
        routes.add("POST", "/api/v1/account/info", self._account_info, body_optional=True)
        routes.add("GET", "/api/scraper", self._scraper_detail, public=True)
        routes.add("GET", "/api/store", self._store, public=True)
        routes.add("GET", "/api/proxy/region", self._proxy_region, public=True)

    # -- dialect ---------------------------------------------------------------------

    def resolve(self, method: str, path: str) -> Route | None:
        """The v1 route of ``method path``, if any."""
        return self._routes.find(method, path)

    def authenticate(self, request: web.BaseRequest) -> None:
        """Accept the key from ``api-key`` or ``Authorization: Bearer``; 4010 if none, 20001 if wrong."""
        headers = request.headers
        key = headers.get("api-key")
        if not key:
            authorization = headers.get("Authorization", "")
            if authorization[:7].lower() == "bearer ":
                key = authorization[7:].strip()
        if not key:
            raise ApiError(wire.UNAUTHORIZED)
        if key != self._ledger.api_key:
            raise ApiError(wire.INVALID_API_KEY)

    async def read_args(self, request: web.BaseRequest, route: Route) -> Args:
        """A POST's JSON object body (4000 if it is not one), or a GET's query."""
        if route.method != "POST":
            return request.query
        raw = await request.read()
        if not raw.strip():
            if route.body_optional:
                return {}
            raise invalid()
        try:
            value = wire.loads(raw)
        except wire.JSONError:
            raise invalid() from None
        if not isinstance(value, dict):
            raise invalid()
        return value

    def ok_body(self, data: bytes) -> bytes:
        """``data`` in a v1 success envelope."""
        return wire.ok_body(data)

    def error_response(self, code: int, message: str | None = None) -> web.Response:
        """The v1 error envelope, with the mapped HTTP status (or 200 in ``always_200`` mode)."""
        status = 200 if self._always_200 else wire.HTTP_STATUS.get(code, 200)
        return json_response(status, wire.error_body(code, message))

    # -- shared steps ----------------------------------------------------------------

    def _get_run(self, run_slug: str) -> FakeRun:
        run = self._ledger.runs_by_slug.get(run_slug)
        if run is None:
            # Passing one kind of slug where another is expected is documented as a
            # validation error rather than "not found".
            raise invalid() if run_slug in self._ledger.tasks else ApiError(wire.RUN_NOT_FOUND)
        return run

    def _check_can_start(self) -> None:
        refusal = self._ledger.refuse_start()
        if refusal is not None:
            raise ApiError(_REFUSAL_CODES[refusal])

    def _base_url(self) -> str:
        url = self._http.url
        if url is None:  # pragma: no cover - requests arrive only while serving
            raise RuntimeError("not serving")
        return url

    # -- runs ------------------------------------------------------------------------

    async def _task_run(self, args: Args, path: str) -> bytes:
        task_slug = req_str(args, "task_slug")
        callback_url = req_str(args, "callback_url")
        await self._http.checkpoint(path)
        ledger = self._ledger
        task = ledger.tasks.get(task_slug)
        if task is None:
            if task_slug in ledger.runs_by_slug:
                raise invalid()
            raise ApiError(wire.TASK_NOT_FOUND)
        if task.foreign:
            raise ApiError(wire.UNAUTHORIZED, wire.TASK_NOT_YOURS_MESSAGE)
        worker = ledger.workers.get(task.scraper_slug)
        # A Task saved (through v2) with a flat input lacks its Worker's required fields.
        if worker is not None and worker.missing_input(task.input) is not None:
            raise invalid()
        self._check_can_start()
        run = ledger.create_run(
            task_slug=task.slug,
            worker=worker,
            scraper_slug=task.scraper_slug,
            version=task.version,
            callback_url=callback_url,
            input_=task.input,
        )
        return _slug_body(run.slug)

    async def _scraper_run(self, args: Args, path: str) -> bytes:
        scraper_slug = req_str(args, "scraper_slug")
        version = opt_str(args, "version")
        is_async = args.get("is_async", True)
        if not isinstance(is_async, bool):
            raise invalid()
        input_ = args.get("input")
        if not isinstance(input_, dict):
            raise invalid()
        parameters = input_.get("parameters")
        if not isinstance(parameters, dict):
            raise invalid()
        custom = parameters.get("custom")
        if not isinstance(custom, dict) or not custom:
            raise invalid()
        if "system" in parameters:
            check_system(parameters["system"])
        callback_url = opt_str(args, "callback_url")
        page_index = json_int(args, "page_index", 1, 1)
        page_size = json_int(args, "page_size", 10, 1, 1000)
        await self._http.checkpoint(path)
        worker = self._ledger.workers.get(scraper_slug)
        if worker is None:
            raise ApiError(wire.WORKER_NOT_FOUND)
        if version is not None and version not in worker.versions:
            raise ApiError(wire.VERSION_UNAVAILABLE)
        for prop in worker.properties:
            if prop.get("required") and prop["name"] not in custom:
                raise invalid()
        self._check_can_start()
        run = self._ledger.create_run(
            task_slug=None,
            worker=worker,
            scraper_slug=worker.slug,
            version=version or worker.version,
            callback_url=callback_url,
            input_=input_,
        )
        if is_async:
            return _slug_body(run.slug)
        return await self._wait_sync(run, page_index, page_size)

    async def _wait_sync(self, run: FakeRun, page_index: int, page_size: int) -> bytes:
        """Hold a synchronous start until the run is final or the sync wait cap passes."""
        now = await hold_until_final(run, self._ledger.sync_wait_cap, self._http.pause)
        state = run.state(now)
        final = state.status in (SUCCEEDED, FAILED)
        end_ms = int((run.created_at_wall + run.final_at - run.created_at) * 1000) if final else 0
        return wire.dumps(
            {
                "error_message": state.err_msg,
                "execution_end_timestamp": end_ms,
                "execution_start_timestamp": int(run.created_at_wall * 1000),
                "result_message": "",
                "results": _results_page(run, state.results, page_index, page_size),
                "run_slug": run.slug,
                "run_status": "completed" if final else "running",
                "running_duration": state.duration if final else int(now - run.created_at),
            }
        )

    async def _scraper_abort(self, args: Args, path: str) -> bytes:
        run_slug = req_str(args, "run_slug")
        await self._http.checkpoint(path)
        if not self._ledger.abort(self._get_run(run_slug)):
            raise ApiError(wire.ABORT_FAILED)
        return b"null"

    async def _run_list(self, args: Args, path: str) -> bytes:
        page_index = json_int(args, "page_index", 1, 1)
        page_size = json_int(args, "page_size", 20, 1)
        status = json_int(args, "status", 0, 0, 5)
        scraper_slug = opt_str(args, "scraper_slug")
        await self._http.checkpoint(path)
        now = time.monotonic()
        start = (page_index - 1) * page_size
        runs = self._ledger.runs
        selected: list[FakeRun]
        if status == 0 and scraper_slug is None:
            count = len(runs)
            # Newest first without copying the whole ledger.
            high = count - start
            selected = runs[max(high - page_size, 0) : high][::-1] if high > 0 else []
        else:
            matching = [
                run
                for run in reversed(runs)
                if (scraper_slug is None or run.scraper_slug == scraper_slug)
                and (status == 0 or run.status_at(now) == status)
            ]
            count = len(matching)
            selected = matching[start : start + page_size]
        records = b",".join(_record_json(run, now) for run in selected)
        return b'{"count":%d,"list":[%b]}' % (count, records)

    async def _run_detail(self, args: Args, path: str) -> bytes:
        run_slug = req_str(args, "run_slug")
        await self._http.checkpoint(path)
        return _record_json(self._get_run(run_slug), time.monotonic())

    async def _result_list(self, args: Args, path: str) -> bytes:
        run_slug = req_str(args, "run_slug")
        page_index = json_int(args, "page_index", 1, 1)
        page_size = json_int(args, "page_size", 10, 1)
        await self._http.checkpoint(path)
        run = self._get_run(run_slug)
        count = run.rows_at(time.monotonic())
        return wire.dumps(_results_page(run, count, page_index, page_size))

    async def _last_log(self, args: Args, path: str) -> bytes:
        run_slug = req_str(args, "run_slug")
        await self._http.checkpoint(path)
        run = self._get_run(run_slug)
        now = time.monotonic()
        state = run.state(now)
        return wire.dumps(
            {
                "all_logs_url": self._files.log_url(self._base_url(), run),
                "list": log_entries(run, state, now),
                "result_count": state.results,
            }
        )

    async def _result_export(self, args: Args, path: str) -> bytes:
        run_slug = req_str(args, "run_slug")
        filter_keys = args.get("filter_keys")
        if not isinstance(filter_keys, list) or not all(isinstance(k, str) for k in filter_keys):
            raise invalid()
        fmt = req_str(args, "format").lower()
        if fmt not in ("csv", "json"):
            raise invalid()
        keys = tuple(key for key in RESULT_KEYS if key in filter_keys) if filter_keys else RESULT_KEYS
        if not keys:
            raise invalid()
        await self._http.checkpoint(path)
        run = self._get_run(run_slug)
        return wire.dumps({"download_url": self._files.export_url(self._base_url(), run, keys, fmt)})

    async def _rerun(self, args: Args, path: str) -> bytes:
        run_slug = req_str(args, "run_slug")
        callback_url = req_str(args, "callback_url")
        await self._http.checkpoint(path)
        original = self._get_run(run_slug)
        self._check_can_start()
        run = self._ledger.create_run(
            task_slug=original.task_slug,
            worker=None,
            scraper_slug=original.scraper_slug,
            scraper_title=original.scraper_title,
            version=original.version,
            callback_url=callback_url,
            input_=original.input,
            rerun_of=original.slug,
        )
        return _slug_body(run.slug)

    # -- account and catalogue ---------------------------------------------------------

    async def _account_info(self, args: Args, path: str) -> bytes:
        await self._http.checkpoint(path)
        balance = self._ledger.balance
        cached_balance, body = self._account
        if cached_balance != balance or not body:
            body = wire.dumps(
                {
                    "balance": balance,
                    "traffic": ACCOUNT_TRAFFIC,
                    "traffic_expiration_at": ACCOUNT_TRAFFIC_EXPIRATION_AT,
                }
            )
            self._account = (balance, body)
        return body

    async def _scraper_detail(self, args: Args, path: str) -> bytes:
        slug = req_str(args, "slug")
        await self._http.checkpoint(path)
        worker = self._ledger.workers.get(slug)
        if worker is None:
            raise ApiError(wire.WORKER_NOT_FOUND)
        cached = self._detail_bodies.get(slug)
        if cached is not None and cached[0] is worker:
            return cached[1]
        body = wire.dumps(
            {
                "parameters": {"system": worker.system, "custom": {"properties": worker.properties}},
                "readme": worker.readme,
                "version": worker.version,
            }
        )
        self._detail_bodies[slug] = (worker, body)
        return body

    async def _store(self, args: Args, path: str) -> bytes:
        search = req_str(args, "search").strip().lower()
        limit = query_int(args, "limit", 10, 1)
        await self._http.checkpoint(path)
        found = [
            {"slug": worker.slug, "title": worker.title, "description": worker.description}
            for worker in self._ledger.workers.values()
            if search in worker.title.lower()
            or search in worker.description.lower()
            or search in worker.slug.lower()
        ]
        return wire.dumps({"scraper": found[:limit]})

    async def _proxy_region(self, args: Args, path: str) -> bytes:
        await self._http.checkpoint(path)
        return _REGIONS_BODY
