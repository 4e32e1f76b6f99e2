"""Faults the fake can inject, and the rules that schedule them."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = ["AFTER_FAULTS", "CLOSING_PROXY_STATUSES", "PROXY_PAGES", "Fault", "FaultRule"]


class Fault(str, enum.Enum):
    """A misbehaviour to inject with `FakeCoreClaw.inject`.

    Faults apply to authenticated requests whose parameters are valid, on either API version
    (an envelope fault answers in the version of the path it hits). "Before" faults act
    before the endpoint does anything (nothing is created); "after" faults act once the
    endpoint has done its work (a started run exists in the ledger).
    """

    RATE_LIMIT = "rate_limit"
    """Envelope 4290 (13000 on v2) with HTTP 429 (plus ``Retry-After`` if ``retry_after`` is given)."""
    RATE_LIMIT_V2 = "rate_limit_v2"
    """Envelope 13000 "too many requests" with HTTP 429."""
    CONCURRENCY_LIMIT = "concurrency_limit"
    """Envelope 30003 (plan concurrency reached); HTTP 200 on v1, the v2 business status on v2."""
    HTTP_400_HTML = "http_400_html"
    """A front proxy's HTML "400 Bad Request" page; the API never saw the request (nothing
    created) and the proxy closes the connection after answering."""
    HTTP_405_HTML = "http_405_html"
    """A front proxy's HTML "405 Not Allowed" page; nothing created, the connection stays open."""
    HTTP_413_HTML = "http_413_html"
    """A front proxy's HTML "413 Request Entity Too Large" page; nothing created, the
    connection is closed after the answer."""
    HTTP_414_HTML = "http_414_html"
    """A front proxy's HTML "414 Request-URI Too Large" page; nothing created, the
    connection is closed after the answer."""
    HTTP_431_HTML = "http_431_html"
    """A front proxy's HTML "431 Request Header Fields Too Large" page; nothing created, the
    connection is closed after the answer."""
    HTTP_502_HTML = "http_502_html"
    """An nginx HTML error page with status 502; nothing created."""
    HTTP_503_HTML = "http_503_html"
    """An nginx HTML error page with status 503; nothing created."""
    HTTP_504_HTML = "http_504_html"
    """An nginx HTML error page with status 504; nothing created."""
    SERVER_ERROR = "server_error"
    """Envelope 5000 (10000 on v2) with HTTP 500; nothing created."""
    SERVER_ERROR_AFTER_CREATE = "server_error_after_create"
    """The endpoint runs (a run is created), then envelope 5000 (10000 on v2) with HTTP 500 is answered."""
    DROP_BEFORE_CREATE = "drop_before_create"
    """The TCP connection is closed without an answer; nothing created."""
    DROP_AFTER_CREATE = "drop_after_create"
    """The endpoint runs (a run is created), then the connection is closed without an answer."""
    SLOW = "slow"
    """Sleep ``delay`` seconds, then handle the request normally."""
    CONTROL_CHARS = "control_chars"
    """The success body carries raw control characters inside a JSON string."""
    TRUNCATED = "truncated"
    """The success body is cut in half (Content-Length matches the cut body)."""
    NOT_ENVELOPE = "not_envelope"
    """HTTP 200 with JSON that is not an envelope (``{"ok": true}``); nothing created."""
    EMPTY_BODY = "empty_body"
    """HTTP 200 with an empty body (``Content-Length: 0``); nothing created."""
    SLUG_ONLY = "slug_only"
    """The endpoint runs, then its success answer keeps only ``run_slug`` (the one success body
    CoreClaw's v1 document shows for ``scraper/run``, synchronous runs included)."""


AFTER_FAULTS = frozenset(
    {
        Fault.SERVER_ERROR_AFTER_CREATE,
        Fault.DROP_AFTER_CREATE,
        Fault.CONTROL_CHARS,
        Fault.TRUNCATED,
        Fault.SLUG_ONLY,
    }
)

# HTTP status of each fault answered by a front proxy's HTML page instead of an envelope.
PROXY_PAGES: Final[Mapping[Fault, int]] = {
    Fault.HTTP_400_HTML: 400,
    Fault.HTTP_405_HTML: 405,
    Fault.HTTP_413_HTML: 413,
    Fault.HTTP_414_HTML: 414,
    Fault.HTTP_431_HTML: 431,
    Fault.HTTP_502_HTML: 502,
    Fault.HTTP_503_HTML: 503,
    Fault.HTTP_504_HTML: 504,
}
# Statuses after which nginx stops keeping the connection alive (it could not read the
# request whole, so what follows on the connection cannot be trusted); a proxy refusing
# oversized headers with 431 has the same problem.
CLOSING_PROXY_STATUSES: Final = frozenset({400, 413, 414, 431})


@dataclass(eq=False)
class FaultRule:
    """One `inject` call: which fault, how often, on which path, for which client."""

    fault: Fault
    remaining: int | None
    """Applications left; None = unlimited."""
    probability: float
    path: str | None
    """Exact path, a prefix ending in ``*``, or None for every ``/api/`` endpoint."""
    retry_after: float | None
    delay: float
    user_agent: str | None = None
    """Text the request's User-Agent must contain; None = any client."""

    @classmethod
    def build(
        cls,
        fault: Fault | str,
        *,
        times: int | None = 1,
        probability: float = 1.0,
        path: str | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
        user_agent: str | None = None,
    ) -> FaultRule:
        """Validate the arguments of `FakeCoreClaw.inject` into a rule; ``ValueError`` if one is invalid."""
        fault = Fault(fault.lower()) if isinstance(fault, str) else fault
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
            raise ValueError("times must be an integer >= 1 or None")
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        if not delay >= 0 or (retry_after is not None and not retry_after >= 0):
            raise ValueError("delay and retry_after must be >= 0")
        if user_agent is not None and (not isinstance(user_agent, str) or not user_agent):
            raise ValueError("user_agent must be a non-empty string or None")
        return cls(fault, times, probability, path, retry_after, delay, user_agent)

    @property
    def after(self) -> bool:
        """True if the fault acts after the endpoint did its work."""
        return self.fault in AFTER_FAULTS

    def matches(self, path: str, user_agent: str = "") -> bool:
        """Return True if this rule targets ``path`` as asked by a client sending ``user_agent``."""
        wanted = self.user_agent
        if wanted is not None and wanted not in user_agent:
            return False
        pattern = self.path
        if pattern is None:
            return path.startswith("/api/")
        if pattern.endswith("*"):
            return path.startswith(pattern[:-1])
        return path == pattern
