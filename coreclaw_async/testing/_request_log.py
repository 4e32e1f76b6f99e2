"""What the fake knows about one request while answering it, and the bounded log of requests."""

from __future__ import annotations

import sys
from collections import deque
from dataclasses import dataclass
from typing import Final

from aiohttp import web

__all__ = ["DEFAULT_MAX_RECORDED_REQUESTS", "Exchange", "RequestLog", "RequestRecord", "envelope_code"]

DEFAULT_MAX_RECORDED_REQUESTS: Final = 1_000_000
_CODE_HEAD: Final = b'{"code":'


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the fake received (see `FakeCoreClaw.request_log`).

    Attributes:
        at: ``time.monotonic()`` when the request arrived (its headers were read).
        method: HTTP method.
        path: URL path, without the query.
        user_agent: the ``User-Agent`` header ("" if none was sent).
        http_status: HTTP status answered; None if the connection was closed without an
            answer (a dropping fault, the fake closing) or the answer is not written yet.
        code: envelope code answered; None if the answer is not an envelope (an HTML or
            plain-text page, a file download, a cut body) or there was no answer.
    """

    at: float
    method: str
    path: str
    user_agent: str
    http_status: int | None
    code: int | None


def envelope_code(response: web.StreamResponse) -> int | None:
    """The ``code`` of an envelope ``response`` (read from its head, no JSON parse), else None."""
    if not isinstance(response, web.Response):
        return None
    body = response.body
    if not isinstance(body, bytes) or not body.startswith(_CODE_HEAD):
        return None
    end = body.find(b",", len(_CODE_HEAD))
    try:
        return int(body[len(_CODE_HEAD) : end])
    except ValueError:
        return None


class Exchange:
    """One request being answered: what the dispatcher, its checkpoint and the log need of it.

    It holds the aiohttp request only until answered, so that a long log keeps a few
    strings per request, not requests.
    """

    __slots__ = (
        "_user_agent",
        "account",
        "at",
        "code",
        "dropped",
        "envelope",
        "method",
        "path",
        "request",
        "status",
    )

    def __init__(self, request: web.BaseRequest, at: float) -> None:
        self.request: web.BaseRequest | None = request
        self.at = at
        self.method = request.method
        self.path = request.path
        self.account = False
        """True once authenticated on a non-public route: it counts against the account's limits."""
        self.envelope = True
        """False if the answer is known not to be an envelope even though it may start like one."""
        self.dropped = False
        """True if the connection was closed without an answer."""
        self.status: int | None = None
        self.code: int | None = None
        self._user_agent: str | None = None

    @property
    def user_agent(self) -> str:
        """The request's ``User-Agent`` header ("" if none)."""
        agent = self._user_agent
        if agent is None:
            request = self.request
            # Interned: a benchmark's million entries share a handful of agents.
            agent = "" if request is None else sys.intern(request.headers.get("User-Agent", ""))
            self._user_agent = agent
        return agent

    def finish(self, response: web.StreamResponse | None, *, keep: bool) -> None:
        """Note the answer (None: the connection was closed without one) and let the request go.

        ``keep`` says the exchange stays in the log, so its User-Agent is read first.
        """
        if response is not None:
            self.status = response.status
            self.code = envelope_code(response) if self.envelope else None
        if keep:
            self._user_agent = self.user_agent
            self.path = sys.intern(self.path)
        self.request = None

    def record(self) -> RequestRecord:
        """This request as a frozen record."""
        return RequestRecord(self.at, self.method, self.path, self.user_agent, self.status, self.code)


class RequestLog:
    """The most recent ``max_records`` requests, in arrival order (off unless enabled)."""

    __slots__ = ("_entries",)

    def __init__(self, *, enabled: bool, max_records: int = DEFAULT_MAX_RECORDED_REQUESTS) -> None:
        if isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 1:
            raise ValueError(f"max_recorded_requests must be an integer >= 1, got {max_records!r}")
        self._entries: deque[Exchange] | None = deque(maxlen=max_records) if enabled else None

    @property
    def enabled(self) -> bool:
        """True if requests are being recorded."""
        return self._entries is not None

    def add(self, exchange: Exchange) -> None:
        """Record ``exchange`` (dropping the oldest one beyond the bound); a no-op when disabled."""
        if self._entries is not None:
            self._entries.append(exchange)

    def records(self) -> list[RequestRecord]:
        """The recorded requests, oldest first."""
        return [] if self._entries is None else [entry.record() for entry in self._entries]

    def clear(self) -> None:
        """Forget every recorded request."""
        if self._entries is not None:
            self._entries.clear()
