"""Shared plumbing of the benchmarks: server child processes, CPU and memory probes, statistics.

Nothing here is timed itself; everything is synchronous except the RSS sampler, so that the
server process is started and killed outside any event loop (and always killed: see
:func:`server`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import selectors
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil

BENCH_DIR = Path(__file__).resolve().parent
CALLBACK_URL = "https://hooks.example.com/coreclaw"

# How long a child server may take to print its settings before we give up on it.
_STARTUP_TIMEOUT = 30.0
# How long a child gets to exit after SIGTERM before it is killed.
_STOP_TIMEOUT = 5.0


@dataclass(frozen=True)
class Target:
    """Where a benchmark client sends its run starts, as printed by the server child."""

    base_url: str
    api_key: str
    task_slugs: tuple[str, ...]
    pid: int
    kind: str  # "stub" or "fake"
    latency: float

    @property
    def run_url(self) -> str:
        return self.base_url + "/api/v1/task/run"


def pin_cpus() -> tuple[set[int], set[int]] | None:
    """Pin this process (and the children it starts later) to one CPU, keep the last for servers.

    Returns ``(client_cpus, server_cpus)``, or ``None`` where affinity cannot be set or
    fewer than two CPUs are usable. Two processes that never migrate between cores are
    steadier to measure than two the scheduler moves around.
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) < 2:
        return None
    client, server_cpus = {usable[0]}, {usable[-1]}
    os.sched_setaffinity(0, client)
    _SERVER_CPUS.clear()
    _SERVER_CPUS.update(server_cpus)
    return client, server_cpus


_SERVER_CPUS: set[int] = set()  # where server children go once pin_cpus() ran


@contextlib.contextmanager
def server(kind: str = "stub", *, latency: float = 0.0, extra: tuple[str, ...] = ()) -> Iterator[Target]:
    """Start a server child on 127.0.0.1 and yield its :class:`Target`; always stop it after.

    ``kind`` is ``"stub"`` (``benchmarks/stub_server.py``) or ``"fake"``
    (``python -m coreclaw_async.testing``); both print ``KEY=value`` settings lines on start.
    ``extra`` arguments go to the server's command line (the fake's ``--rate-limit 600``).
    """
    if kind == "stub":
        command = [sys.executable, str(BENCH_DIR / "stub_server.py"), "--port", "0"]
    elif kind == "fake":
        command = [sys.executable, "-m", "coreclaw_async.testing", "--port", "0", "--tasks", "3"]
    else:
        raise ValueError(f"unknown server kind {kind!r}")
    command += ["--host", "127.0.0.1", "--latency", repr(latency), *extra]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=False)
    try:
        if _SERVER_CPUS:
            os.sched_setaffinity(proc.pid, _SERVER_CPUS)
        settings = _read_settings(proc)
        yield Target(
            base_url=settings["CORECLAW_BASE_URL"],
            api_key=settings["CORECLAW_API_KEY"],
            task_slugs=tuple(settings["CORECLAW_TASK_SLUGS"].split(",")),
            pid=proc.pid,
            kind=kind,
            latency=latency,
        )
    finally:
        _stop(proc)


def _read_settings(proc: subprocess.Popen[bytes]) -> dict[str, str]:
    assert proc.stdout is not None
    settings: dict[str, str] = {}
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    pending = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        # Bounded by the deadline: each pass waits at most until it.
        while len(settings) < 3:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"the server did not print its settings within {_STARTUP_TIMEOUT:g} s")
            if not selector.select(remaining):
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError(f"the server exited (status {proc.poll()}) before printing its settings")
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                key, sep, value = line.decode().strip().partition("=")
                if sep and key.startswith("CORECLAW_"):
                    settings[key] = value
    return settings


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(_STOP_TIMEOUT)
    if proc.stdout is not None:
        proc.stdout.close()


T = TypeVar("T")

LOOPS = ("asyncio", "uvloop")


def run_on(loop: str, main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` in a fresh event loop of kind ``loop`` (``"asyncio"`` or ``"uvloop"``)."""
    if loop == "uvloop":
        import uvloop  # the bench extra installs it

        return uvloop.run(main)
    if loop != "asyncio":
        main.close()
        raise ValueError(f"unknown event loop {loop!r}")
    return asyncio.run(main)


# -- probes ------------------------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (the server child)."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def rss_bytes() -> int:
    """Resident set size of this process now."""
    return int(psutil.Process().memory_info().rss)


def peak_rss_bytes() -> int:
    """Highest RSS of this process so far (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


@dataclass
class Window:
    """Wall time, this process's CPU time and the server's CPU time over one timed region."""

    wall: float
    client_cpu: float
    server_cpu: float


class Stopwatch:
    """Measure one region: ``watch = Stopwatch(pid); ...; window = watch.stop()``."""

    def __init__(self, server_pid: int) -> None:
        self._pid = server_pid
        self._server0 = process_cpu(server_pid)
        self._cpu0 = time.process_time()
        self._wall0 = time.perf_counter()

    def stop(self) -> Window:
        wall = time.perf_counter() - self._wall0
        cpu = time.process_time() - self._cpu0
        return Window(wall=wall, client_cpu=cpu, server_cpu=process_cpu(self._pid) - self._server0)


# -- statistics --------------------------------------------------------------------------


def median(values: list[float]) -> float:
    """Median, ``nan`` for no values."""
    return statistics.median(values) if values else float("nan")


def spread(values: list[float]) -> float:
    """(max - min) / median: how noisy the repetitions were (0 for fewer than two)."""
    if len(values) < 2:
        return 0.0
    mid = statistics.median(values)
    return (max(values) - min(values)) / mid if mid else float("nan")
