"""A real ``redis-server`` for tests: started on 127.0.0.1 on a free port in a temporary directory.

The server runs without persistence (no RDB, no AOF) and is stopped by its PID. A test can
kill it (SIGKILL, like a crashed host) and start it again on the same port, to show what
clients do while Redis is away and once it is back.

Where the binary is missing, tests that need it are skipped with the reason, except under
``CI=true``, where a missing server fails the run (``.ci/run`` installs the package first).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..requirements import missing

__all__ = ["RedisServer", "require_redis_server"]

_START_TIMEOUT = 10.0


def require_redis_server() -> str:
    """The path of ``redis-server``; skips the test (fails it under ``CI=true``) when missing."""
    binary = shutil.which("redis-server")
    if binary is not None:
        return binary
    missing("redis-server is not installed (apt-get install redis-server); the Redis tests need a real one")
    raise AssertionError("not reached: missing() raises")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1, owned by the test session or a test."""

    def __init__(self, binary: str, directory: Path) -> None:
        self._binary = binary
        self._directory = directory
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The PID of the running server, ``None`` when stopped."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the server (again, on the same port) and wait until it answers PING."""
        if self._process is not None:
            raise RuntimeError("redis-server is already running")
        self._directory.mkdir(parents=True, exist_ok=True)
        log = (self._directory / "redis.log").open("ab")
        try:
            self._process = subprocess.Popen(
                [
                    self._binary,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--dir",
                    str(self._directory),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--protected-mode",
                    "yes",
                    "--daemonize",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        deadline = time.monotonic() + _START_TIMEOUT
        # Bounded by the start timeout: a PING every 20 ms until the server answers.
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                raise RuntimeError(f"redis-server exited at start; see {self._directory / 'redis.log'}")
            if self._answers_ping():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer within {_START_TIMEOUT} s")

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def pause(self) -> None:
        """SIGSTOP the server: connections stay open but nothing is answered (a stalled Redis)."""
        if self._process is not None:
            os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused server."""
        if self._process is not None:
            os.kill(self._process.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the server (no clean shutdown), as if its host died."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """Stop the server by its PID (SIGTERM, then SIGKILL after 5 s). Idempotent."""
        self._signal(signal.SIGTERM)

    def _signal(self, signum: int) -> None:
        process = self._process
        if process is None:
            return
        self._process = None
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)  # a paused server would not act on SIGTERM
            os.kill(process.pid, signum)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


@contextmanager
def running_redis_server(directory: Path) -> Iterator[RedisServer]:
    """A fresh ``redis-server`` in ``directory``, stopped by its PID on the way out (skips, or
    fails under ``CI=true``, when the binary is missing)."""
    server = RedisServer(require_redis_server(), directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
