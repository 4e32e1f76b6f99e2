"""Files the fake serves beside the API: run logs and exported results behind signed URLs.

The log and export endpoints hand out URLs under ``/files/``; this module mints those URLs
and answers them: a plain-text log, an export streamed in chunks (`_exports` writes each
format), and errors in the XML an object store answers with. It also writes the log entries a run shows at any
instant, which the log endpoint lists as JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ._exports import CONTENT_TYPES, TEXT_FORMATS, export_chunks
from ._ledger import Ledger
from ._records import FAILED, SUCCEEDED, FakeRun, RunState

__all__ = ["EXPORT_URL_PREFIX", "LOG_URL_PREFIX", "FileStore", "log_entries"]

LOG_URL_PREFIX = "/files/log/"
EXPORT_URL_PREFIX = "/files/export/"
# How long a pre-signed export URL stays valid.
EXPORT_URL_TTL = 3600

_LEVELS = {1: "DEBUG", 2: "INFO", 3: "WARN", 4: "ERROR"}


@dataclass(frozen=True)
class _Export:
    run_slug: str
    keys: tuple[str, ...]
    fmt: str
    count: int
    expires_at: int


def _xml_error(code: str, message: str) -> bytes:
    return (
        "<?xml version='1.0' encoding='utf-8' ?>\n"
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>\n"
    ).encode()


class FileStore:
    """The export files minted so far and the secret their URLs are signed with."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._secret = secrets.token_bytes(16)
        self._exports: dict[str, _Export] = {}

    def log_url(self, base_url: str, run: FakeRun) -> str:
        """The URL of ``run``'s full log file."""
        return f"{base_url}{LOG_URL_PREFIX}{run.slug}"

    def export_url(self, base_url: str, run: FakeRun, keys: tuple[str, ...], fmt: str) -> str:
        """Mint an export of ``run``'s rows so far and return its pre-signed download URL."""
        token = f"exported_result_{uuid.uuid4()}.{fmt}"
        signed_at = int(time.time())
        expires_at = signed_at + EXPORT_URL_TTL
        self._exports[token] = _Export(run.slug, keys, fmt, run.rows_at(), expires_at)
        window = f"{signed_at};{expires_at}"
        return (
            f"{base_url}{EXPORT_URL_PREFIX}{token}?q-sign-algorithm=sha1&q-ak=AKIDfakecoreclaw"
            f"&q-sign-time={window}&q-key-time={window}&q-header-list=host&q-url-param-list="
            f"&q-signature={self._sign(token, expires_at)}"
        )

    def _sign(self, token: str, expires_at: int) -> str:
        return hmac.new(self._secret, f"{token}\n{expires_at}".encode(), hashlib.sha1).hexdigest()

    async def serve(self, request: web.BaseRequest, path: str) -> web.StreamResponse | None:
        """Answer a GET of ``path``; None if it is neither a log nor an export URL."""
        if path.startswith(LOG_URL_PREFIX):
            run = self._ledger.runs_by_slug.get(path[len(LOG_URL_PREFIX) :])
            if run is None:
                return web.Response(status=404, text="log file not found\n")
            return web.Response(text=_log_text(run, time.monotonic()), content_type="text/plain")
        if not path.startswith(EXPORT_URL_PREFIX):
            return None
        token = path[len(EXPORT_URL_PREFIX) :]
        export = self._exports.get(token)
        if export is None:
            return web.Response(
                status=404,
                body=_xml_error("NoSuchKey", "The specified key does not exist."),
                content_type="application/xml",
            )
        signature = request.query.get("q-signature", "")
        expected = self._sign(token, export.expires_at)
        if not hmac.compare_digest(signature, expected) or time.time() > export.expires_at:
            return web.Response(
                status=403,
                body=_xml_error("AccessDenied", "Request has expired or signature mismatch."),
                content_type="application/xml",
            )
        response = web.StreamResponse()
        response.content_type = CONTENT_TYPES[export.fmt]
        if export.fmt in TEXT_FORMATS:
            response.charset = "utf-8"
        response.headers["Content-Disposition"] = f'attachment; filename="{token}"'
        await response.prepare(request)
        async for chunk in export_chunks(export.run_slug, export.keys, export.fmt, export.count):
            await response.write(chunk)
        await response.write_eof()
        return response


def _log_group(run_slug: str, salt: str) -> str:
    digest = hashlib.sha256(f"{salt}:{run_slug}".encode()).digest()
    return str(28_000_000_000_000_000 + int.from_bytes(digest[:6], "big"))


def log_entries(run: FakeRun, state: RunState, now: float) -> list[dict[str, Any]]:
    """The summary log of a run at ``now`` (type 1 debug .. 4 error, timestamps in ms)."""
    group = _log_group(run.slug, "subtask")
    main = _log_group(run.slug, "main")
    created_ms = int(run.created_at_wall * 1000)

    def at(monotonic: float) -> int:
        return created_ms + int((monotonic - run.created_at) * 1000)

    subtask = f"SYSTEM: Subtask-[{group}] - "
    entries = [(2, group, subtask + "Preparing the execution environment.", created_ms)]
    aborted_at = run.aborted_at
    if min(now, aborted_at if aborted_at is not None else now) - run.created_at >= run.ready_for:
        entries.append((2, group, subtask + "Running...", at(run.created_at + run.ready_for)))
        if state.results:
            entries.append((1, group, f"Collected {state.results} results so far.", at(now)))
    if aborted_at is not None:
        entries.append((3, main, "SYSTEM: Abort requested, stopping all subtasks.", at(aborted_at)))
        if state.status == FAILED:
            entries.append((2, group, subtask + "Aborted.", at(run.final_at)))
    elif state.status == SUCCEEDED:
        entries.append((2, group, subtask + "Execution completed.", at(run.final_at)))
        summary = "Total 1 subtasks: 1 succeeded, 0 failed."
        entries.append((2, main, f"All subtasks have completed execution! {summary}", at(run.final_at)))
    elif state.status == FAILED:
        trace = f"Error: {state.err_msg}\n    at Page.goto (/app/node_modules/page.js:176:27)"
        entries.append((4, group, trace, at(run.final_at)))
        entries.append((2, group, subtask + "Execution failed.", at(run.final_at)))
        summary = "Total 1 subtasks: 0 succeeded, 1 failed."
        entries.append((2, main, f"All subtasks have completed execution! {summary}", at(run.final_at)))
    return [
        {"type": kind, "group": grp, "content": content, "timestamp": ms}
        for kind, grp, content, ms in entries
    ]


def _log_text(run: FakeRun, now: float) -> str:
    """The full log file the log endpoint's ``all_logs_url`` points at."""
    lines = []
    for entry in log_entries(run, run.state(now), now):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(entry["timestamp"] / 1000))
        lines.append(f"{stamp}Z {_LEVELS[entry['type']]} [{entry['group']}] {entry['content']}")
    return "\n".join(lines) + "\n"
