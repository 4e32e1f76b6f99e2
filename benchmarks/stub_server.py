"""A minimal CoreClaw stub for benchmarks: a Task run start on v1 and v2, over raw asyncio HTTP/1.1.

v1: ``POST /api/v1/task/run`` with the ``api-key`` header and a body naming ``task_slug`` and
``callback_url``. v2: ``POST /api/v2/worker-tasks/{task}/runs`` with ``Authorization: Bearer``
and a JSON object body; answered with a v2 envelope (``request_id`` included).

For the apify-client peer, the equivalent call of the Apify API: ``POST /v2/acts/{actor}/runs``
(``/v2/actors/{actor}/runs`` as apify-client 3 writes it; a query string is allowed) with
``Authorization: Bearer`` and a JSON run input, answered ``201`` with ``{"data": {...}}``, a
run object holding the fields apify-client's ``Run`` model requires.

Usage::

    python benchmarks/stub_server.py --port 0 --latency 0.05

It prints the same three ``KEY=value`` lines as ``python -m coreclaw_async.testing`` (flushed),
then serves until SIGTERM/SIGINT::

    CORECLAW_BASE_URL=http://127.0.0.1:PORT
    CORECLAW_API_KEY=scraper_api_benchmark_stub_key
    CORECLAW_TASK_SLUGS=01K...,01K...,01K...

Why not FakeCoreClaw: the fake runs the full aiohttp server stack and keeps a ledger of every
run it creates, so under a fast client it costs about as much CPU per request as the client
does and its memory grows with every start. On a two-core machine the server must be much
cheaper than the client or the benchmark measures the server. This stub parses just enough
HTTP/1.1 (keep-alive, ``Content-Length`` bodies) in an ``asyncio.Protocol``; it still checks
the API key, the method and path, and that the body is a JSON object naming ``task_slug`` and
``callback_url``, so a client sending the wrong request is answered with a CoreClaw error
envelope and shows up as failures rather than as speed.

``--latency S`` delays every answer by S seconds without blocking other connections. Answers
on one connection keep their order (clients here never pipeline anyway).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import signal
import sys
from typing import Any

try:
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover - the bench extra installs orjson
    _loads = json.loads

STUB_KEY = "scraper_api_benchmark_stub_key"
STUB_TASKS = ("01KSFDXRNYGKT3NNE11EMR4W5X", "01KSFDXRNYGKT3NNE11EMR4W5Y", "01KSFDXRNYGKT3NNE11EMR4W5Z")
RUN_PATH = b"/api/v1/task/run"
V2_RUN_PREFIX = b"/api/v2/worker-tasks/"
V2_RUN_SUFFIX = b"/runs"
APIFY_RUN_PREFIXES = (b"/v2/acts/", b"/v2/actors/")  # apify-client 3 writes the second

# Bounds on what one connection may send before it is cut off: no request here is large.
_MAX_HEAD = 16 * 1024
_MAX_BODY = 64 * 1024

_OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
_CREATED_HEAD = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
# An Apify run just started, with the fields apify-client's Run model requires (%s: the run id).
_APIFY_RUN = (
    b'{"data":{"id":"%s","actId":"bench-actor","userId":"bench-user",'
    b'"startedAt":"2026-11-30T08:00:00.000Z","status":"READY","meta":{"origin":"API"},"stats":{},'
    b'"options":{"build":"latest","timeoutSecs":3600,"memoryMbytes":1024,"diskMbytes":2048},'
    b'"buildId":"bench-build","defaultKeyValueStoreId":"kvs","defaultDatasetId":"ds",'
    b'"defaultRequestQueueId":"rq"}}'
)
_ERROR_HEAD = b"HTTP/1.1 %d Error\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"


def _error(status: int, code: int, message: str) -> bytes:
    body = json.dumps({"code": code, "message": message, "data": None}).encode()
    return _ERROR_HEAD % (status, len(body)) + body


_NOT_FOUND = _error(404, 10004, "Not found")
_BAD_KEY = _error(401, 20001, "Invalid API key")
_BAD_BODY = _error(400, 10001, "Invalid parameter")
_UNSUPPORTED = _error(400, 10001, "Only Content-Length bodies are supported")


def _checked(head: bytes, key_line: bytes, body: bytes) -> dict[str, Any] | bytes:
    """The request's JSON object body, or the error answer: the key line missing from the
    (lower-cased) head, or a body that is not a JSON object."""
    # The key ends its header line: the next byte is CR or the end of the head.
    at = head.find(key_line)
    after = at + len(key_line)
    if at < 0 or (after < len(head) and head[after : after + 1] != b"\r"):
        return _BAD_KEY
    try:
        payload = _loads(body)
    except ValueError:
        return _BAD_BODY
    return payload if isinstance(payload, dict) else _BAD_BODY


class _StubProtocol(asyncio.Protocol):
    """One client connection: split the byte stream into requests and answer each."""

    __slots__ = ("_bearer_line", "_buffer", "_counter", "_key_line", "_latency", "_loop", "_transport")

    def __init__(self, counter: itertools.count[int], key: bytes, latency: float) -> None:
        self._counter = counter
        self._key_line = b"\r\napi-key: " + key.lower()
        self._bearer_line = b"\r\nauthorization: bearer " + key.lower()
        self._latency = latency
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        # Bounded: every pass consumes one whole request from the buffer or returns.
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > _MAX_HEAD:
                    self._close()
                return
            head = bytes(buffer[:end]).lower()
            length = 0
            marker = head.find(b"\r\ncontent-length:")
            if marker >= 0:
                stop = head.find(b"\r\n", marker + 2)
                try:
                    length = int(head[marker + 17 : stop if stop >= 0 else len(head)])
                except ValueError:
                    self._close()
                    return
            elif b"\r\ntransfer-encoding:" in head:
                self._send(_UNSUPPORTED)
                self._close()
                return
            if length > _MAX_BODY:
                self._close()
                return
            total = end + 4 + length
            if len(buffer) < total:
                return
            body = bytes(buffer[end + 4 : total])
            del buffer[:total]
            self._send(self._answer(head, body))

    def _answer(self, head: bytes, body: bytes) -> bytes:
        line_end = head.find(b"\r\n")
        request_line = head[: line_end if line_end >= 0 else len(head)].split(b" ")
        if len(request_line) < 2 or request_line[0] != b"post":
            return _NOT_FOUND
        target = request_line[1]
        if target.startswith(APIFY_RUN_PREFIXES):
            return self._apify(head, target, body)
        v2 = target.startswith(V2_RUN_PREFIX) and target.endswith(V2_RUN_SUFFIX)
        if target != RUN_PATH.lower() and not (v2 and len(target) > len(V2_RUN_PREFIX) + len(V2_RUN_SUFFIX)):
            return _NOT_FOUND
        payload = _checked(head, self._bearer_line if v2 else self._key_line, body)
        if isinstance(payload, bytes):
            return payload
        if v2:
            number = next(self._counter)
            answer = (
                b'{"code":0,"message":"success","request_id":"req-%09d","data":{"run_slug":"01KSFDS8XWTJME33C%09d"}}'
                % (number, number)
            )
            return _OK_HEAD % len(answer) + answer
        if not payload.get("task_slug") or not payload.get("callback_url"):
            return _BAD_BODY
        answer = b'{"code":0,"message":"success","data":{"run_slug":"01KSFDS8XWTJME33C%09d"}}' % next(
            self._counter
        )
        return _OK_HEAD % len(answer) + answer

    def _apify(self, head: bytes, target: bytes, body: bytes) -> bytes:
        path = target.split(b"?", 1)[0]
        actor = path.split(b"/")[3:-1]
        if not path.endswith(V2_RUN_SUFFIX) or len(actor) != 1 or not actor[0]:
            return _NOT_FOUND
        refusal = _checked(head, self._bearer_line, body)
        if isinstance(refusal, bytes):
            return refusal
        answer = _APIFY_RUN % (b"run%017d" % next(self._counter))
        return _CREATED_HEAD % len(answer) + answer

    def _send(self, response: bytes) -> None:
        if self._latency > 0:
            self._loop.call_later(self._latency, self._write, response)
        else:
            self._write(response)

    def _write(self, response: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(response)

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def serve(host: str, port: int, latency: float) -> None:
    """Serve until SIGTERM or SIGINT; print the settings lines once listening."""
    loop = asyncio.get_running_loop()
    counter = itertools.count()
    server = await loop.create_server(
        lambda: _StubProtocol(counter, STUB_KEY.encode(), latency), host, port, backlog=4096
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"CORECLAW_BASE_URL=http://{host}:{bound}", flush=True)
    print(f"CORECLAW_API_KEY={STUB_KEY}", flush=True)
    print(f"CORECLAW_TASK_SLUGS={','.join(STUB_TASKS)}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description="Minimal CoreClaw task/run stub for benchmarks.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 = any free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    args = parser.parse_args()
    if args.latency < 0:
        parser.error("--latency must be >= 0")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.latency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
