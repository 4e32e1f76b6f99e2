"""Which API versions a fake serves, and what the paths of a version switched off answer.

A version switched off is a dialect that owns that version's paths and answers every one of
them with a plain HTTP 404 (no envelope, no authentication, no fault), as a server without
those routes would. A test can then prove a client never touches the other version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final

from aiohttp import web

from ._faults import Fault
from ._http import ApiError, Args, Route

__all__ = ["API_VERSIONS", "Absent", "is_v1_path", "is_v2_path", "parse_versions"]

API_VERSIONS: Final = ("v1", "v2")
_V1_PUBLIC_PATHS: Final = frozenset({"/api/scraper", "/api/store", "/api/proxy/region"})
_NOT_FOUND_STATUS: Final = 404


def is_v1_path(path: str) -> bool:
    """True for a path of v1: ``/api/v1/...`` and the three public v1 reads."""
    return path.startswith("/api/v1/") or path == "/api/v1" or path in _V1_PUBLIC_PATHS


def is_v2_path(path: str) -> bool:
    """True for a path of v2 (``/api/v2/...``)."""
    return path.startswith("/api/v2/") or path == "/api/v2"


def parse_versions(versions: Iterable[str] | str) -> tuple[str, ...]:
    """The versions asked for, in `API_VERSIONS` order; ``ValueError`` if none or one is unknown."""
    wanted = {versions} if isinstance(versions, str) else set(versions)
    unknown = wanted - set(API_VERSIONS)
    if unknown or not wanted:
        raise ValueError(f"api_versions must be a non-empty selection of {API_VERSIONS}: {sorted(wanted)}")
    return tuple(version for version in API_VERSIONS if version in wanted)


async def _absent(args: Args, path: str) -> bytes:
    raise ApiError(_NOT_FOUND_STATUS)


class Absent:
    """The dialect of a version switched off: each of its paths is a plain HTTP 404."""

    not_found_code: Final = _NOT_FOUND_STATUS
    fault_codes: Final[Mapping[Fault, int]] = {}

    def __init__(self, owns: Callable[[str], bool]) -> None:
        self._owns = owns

    def resolve(self, method: str, path: str) -> Route | None:
        """A route answering 404 for a path of the version switched off; None for any other."""
        return Route(method, _absent, public=True, body_optional=True) if self._owns(path) else None

    def authenticate(self, request: web.BaseRequest) -> None:
        """Nothing to check: the answer is 404 whoever asks."""

    async def read_args(self, request: web.BaseRequest, route: Route) -> Args:
        """No arguments are read."""
        return {}

    def ok_body(self, data: bytes) -> bytes:
        """Never used: no route of this dialect succeeds."""
        return data

    def error_response(self, code: int, message: str | None = None) -> web.Response:
        """aiohttp's own plain-text 404, whatever the code."""
        return web.Response(status=_NOT_FOUND_STATUS, text="404: Not Found")
