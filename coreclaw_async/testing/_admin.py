"""The fake's own admin endpoint, outside the API: ``GET /_fake/stats``.

It lets a parent process read the account's counters from the process serving the fake
(``python -m coreclaw_async.testing``). It requires the fake's API key, in the headers the
API accepts (``api-key`` or ``Authorization: Bearer``), and is neither counted as a request
nor subject to the rate limit, the latency or faults.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any, Final

from aiohttp import web

from . import _wire as wire
from ._http import json_response

__all__ = ["ADMIN_PREFIX", "STATS_PATH", "AdminApi"]

ADMIN_PREFIX: Final = "/_fake/"
STATS_PATH: Final = "/_fake/stats"


def _error(status: int, message: str) -> web.Response:
    return json_response(status, wire.dumps({"error": message}))


class AdminApi:
    """Answers the admin paths from ``stats`` (a JSON-ready snapshot) for holders of ``api_key()``."""

    def __init__(self, stats: Callable[[], Mapping[str, Any]], api_key: Callable[[], str]) -> None:
        self._stats = stats
        self._api_key = api_key

    def _authorized(self, request: web.BaseRequest) -> bool:
        headers = request.headers
        key = headers.get("api-key", "").strip()
        if not key:
            authorization = headers.get("Authorization", "")
            if authorization[:7].lower() == "bearer ":
                key = authorization[7:].strip()
        return bool(key) and secrets.compare_digest(key.encode(), self._api_key().encode())

    def handle(self, request: web.BaseRequest) -> web.Response:
        """Answer an admin request: the stats JSON, or 401/404/405 as a small JSON error."""
        if request.path != STATS_PATH:
            return _error(404, "not found")
        if request.method != "GET":
            response = _error(405, "method not allowed")
            response.headers["Allow"] = "GET"
            return response
        if not self._authorized(request):
            return _error(401, "the fake's API key is required (api-key or Authorization: Bearer)")
        return json_response(200, wire.dumps(dict(self._stats())))
