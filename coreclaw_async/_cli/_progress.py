"""Progress of the batch commands on stderr: a live display on a terminal, plain lines otherwise.

The live display needs the optional ``rich`` package (``pip install 'coreclaw-async[cli]'``)
and is imported only when it is used; without it, or when stderr is not a terminal, a plain
line is printed every ``--progress-interval`` seconds. Both show the counts by outcome, the
rate, the time left, and how often the client was rate limited and how long its requests
waited at its gates, summed over the requests (``client.stats``).

The live display draws itself on stderr; rich only renders it. Ledger lines never pass
through rich: when stdout is the same terminal, the display takes itself off the screen,
the line is written to stdout as it is, and the display is drawn again below it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from .._stats import ClientStats

# Runs a write to stdout with the live display off the screen.
Around = Callable[[Callable[[], None]], None]


class _Ledger(Protocol):
    around: Around | None


__all__ = ["PROGRESS_MODES", "Tally", "check_mode", "show_progress"]

PROGRESS_MODES = ("auto", "live", "plain", "none")
# Seconds between two redraws of the live display.
_LIVE_REFRESH = 0.25
_RICH_MISSING = (
    "the live progress display needs rich: pip install 'coreclaw-async[cli]' (or use --progress plain)"
)


class Tally:
    """Counts of one phase of a batch (launching, or waiting): what is done of ``total``."""

    def __init__(self, label: str, total: int, stats: Callable[[], ClientStats]) -> None:
        self.label = label
        self.total = total
        self.counts: Counter[str] = Counter()
        self._stats = stats
        self._began = time.monotonic()

    def add(self, key: str) -> None:
        """Count one item as done, under ``key`` (an outcome or a status)."""
        self.counts[key] += 1

    @property
    def done(self) -> int:
        """Items done so far."""
        return sum(self.counts.values())

    def rate(self) -> float:
        """Items done per second since the phase began."""
        elapsed = time.monotonic() - self._began
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        """Seconds left at the current rate, or ``None`` before the first item is done."""
        rate = self.rate()
        return (self.total - self.done) / rate if rate > 0 else None

    def counts_text(self) -> str:
        return ", ".join(f"{key.replace('_', ' ')} {count:,}" for key, count in sorted(self.counts.items()))

    def gates_text(self) -> str:
        stats = self._stats()
        retried = stats.retries.get("rate_limited", 0)
        return (
            f"rate limited {stats.rate_limited:,} ({retried:,} retried), "
            f"gate wait {stats.connection_wait_seconds:.1f} s (sum over requests)"
        )

    def line(self) -> str:
        """One plain line: ``launch 120/1,000: started 118, unknown 2 | 40.1/s, ETA 22 s | ...``."""
        eta = self.eta()
        left = "-" if eta is None else f"{eta:.0f} s"
        counts = self.counts_text() or "nothing yet"
        return (
            f"{self.label} {self.done:,}/{self.total:,}: {counts} | {self.rate():.1f}/s, ETA {left} | "
            f"{self.gates_text()}"
        )


class _Display(Protocol):
    period: float

    def draw(self, tally: Tally) -> None: ...

    def close(self, tally: Tally) -> None: ...


class _Plain:
    def __init__(self, interval: float) -> None:
        self.period = interval

    def draw(self, tally: Tally) -> None:
        sys.stderr.write(tally.line() + "\n")
        sys.stderr.flush()

    def close(self, tally: Tally) -> None:
        self.draw(tally)


class _Live:
    """The rich display: a bar and two lines of counts, redrawn in place on stderr."""

    period = _LIVE_REFRESH

    def __init__(self) -> None:
        from rich.console import Console

        self._console = Console(file=sys.stderr)
        self._shown = ""

    def _render(self, tally: Tally) -> Any:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        eta = tally.eta()
        head = Table.grid(padding=(0, 1))
        head.add_row(
            Text(tally.label, style="bold"),
            ProgressBar(total=max(tally.total, 1), completed=tally.done, width=40),
            Text(f"{tally.done:,}/{tally.total:,}"),
            Text(f"{tally.rate():.1f}/s"),
            Text("ETA -" if eta is None else f"ETA {eta:.0f} s"),
        )
        return Group(head, Text(tally.counts_text() or "nothing yet"), Text(tally.gates_text(), style="dim"))

    def _erase(self) -> str:
        # Up one line and clear it, once per line drawn (each is cropped to the width).
        return "\x1b[1A\x1b[2K" * self._shown.count("\n")

    def draw(self, tally: Tally) -> None:
        with self._console.capture() as capture:
            self._console.print(self._render(tally), crop=True)
        text = capture.get()
        sys.stderr.write(self._erase() + text)
        sys.stderr.flush()
        self._shown = text

    def around(self, write: Callable[[], None]) -> None:
        """Run ``write`` (of a line to stdout, on the same terminal) with the display lifted."""
        sys.stderr.write(self._erase())
        sys.stderr.flush()
        try:
            write()
        finally:
            sys.stderr.write(self._shown)
            sys.stderr.flush()

    def close(self, tally: Tally) -> None:
        self.draw(tally)


def _display(mode: str, interval: float) -> _Display | None:
    if mode == "none":
        return None
    if mode == "auto":
        if not _is_terminal(sys.stderr):
            return _Plain(interval)
        try:
            return _Live()
        except ImportError:
            return _Plain(interval)
    if mode == "live":
        try:
            return _Live()
        except ImportError:
            raise RuntimeError(_RICH_MISSING) from None
    return _Plain(interval)


def check_mode(mode: str) -> str | None:
    """Why ``mode`` cannot be used here (``live`` without rich), or ``None`` if it can."""
    if mode != "live":
        return None
    try:
        import rich  # noqa: F401
    except ImportError:
        return _RICH_MISSING
    return None


@contextlib.asynccontextmanager
async def show_progress(tally: Tally, mode: str, interval: float, ledger: _Ledger) -> AsyncIterator[None]:
    """Show ``tally`` on stderr while the block runs, and once more at its end.

    ``mode``: ``auto`` (live on a terminal with rich, plain lines otherwise), ``live``,
    ``plain`` or ``none``. While a live display is up and stdout is a terminal too, the
    ``ledger`` writes its lines through the display's ``around``.
    """
    display = _display(mode, interval)
    if display is None:
        yield
        return
    period = display.period
    if isinstance(display, _Live) and _is_terminal(sys.stdout):
        ledger.around = display.around

    async def tick() -> None:
        while True:
            await asyncio.sleep(period)
            display.draw(tally)

    ticker = asyncio.get_running_loop().create_task(tick(), name="coreclaw_async.cli-progress")
    try:
        yield
    finally:
        ticker.cancel()
        await asyncio.wait([ticker])
        ledger.around = None
        display.close(tally)


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
