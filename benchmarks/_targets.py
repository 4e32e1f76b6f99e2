"""The targets of the hot-path issue, as a table: what each was before the work, the goal, what
this run measured, and the verdict. Compared and printed, never asserted.

Every ratio is the median of per-round ratios (each round runs every contender once, in
turn), so drift on this shared machine hits both sides of a ratio alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FLOOR = "floor"
OURS = "coreclaw-all"  # await client.tasks.run_all(...)
MB = 1_000_000


@dataclass(frozen=True)
class Target:
    """One row: ``measure`` reads the value from the results (``nan`` if the scenario did not run)."""

    what: str
    today: str
    goal: str
    measure: Callable[[dict[str, Any]], float]
    met: Callable[[float], bool] | None  # None: reported only
    unit: str = "x"  # "x" (a ratio) or "MB"


def _median(values: list[float]) -> float:
    values = sorted(v for v in values if v == v)
    if not values:
        return math.nan
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def paired(runs: dict[str, list[dict]], name: str, other: str, key: str) -> list[float]:
    """``key`` of ``name`` over ``key`` of ``other``, round by round (rounds where both ran clean)."""
    base = {r["round"]: r for r in runs.get(other, []) if "error" not in r}
    ratios = []
    for result in runs.get(name, []):
        twin = base.get(result["round"])
        if twin is not None and "error" not in result and twin[key]:
            ratios.append(result[key] / twin[key])
    return ratios


def _ratio(scenario: str, key: str, name: str = OURS, other: str = FLOOR) -> Callable[[dict], float]:
    def read(scenarios: dict[str, Any]) -> float:
        data = scenarios.get(scenario)
        if data is None:
            return math.nan
        return _median(paired(data["runs"], name, other, key))

    return read


def _v2_gap(scenarios: dict[str, Any]) -> float:
    data = scenarios.get("throughput")
    if data is None:
        return math.nan
    v2 = _median(paired(data["runs"], "coreclaw-v2", FLOOR, "starts_per_s"))
    v1 = _median(paired(data["runs"], "coreclaw", FLOOR, "starts_per_s"))
    return v2 / v1 if v1 == v1 and v1 else math.nan


def _memory_over_floor(scenario: str) -> Callable[[dict], float]:
    def read(scenarios: dict[str, Any]) -> float:
        data = scenarios.get(scenario)
        if data is None:
            return math.nan
        summary = data["summary"]
        if OURS not in summary or FLOOR not in summary:
            return math.nan
        return float(summary[OURS]["peak_growth_mb"] - summary[FLOOR]["peak_growth_mb"])

    return read


TARGETS = (
    Target(
        "run_all, concurrency 100: throughput vs floor",
        "0.83x",
        ">= 0.92x",
        _ratio("throughput", "starts_per_s"),
        lambda v: v >= 0.92,
    ),
    Target(
        "same: client CPU per start vs floor",
        "1.21x",
        "<= 1.12x",
        _ratio("throughput", "client_cpu_us"),
        lambda v: v <= 1.12,
    ),
    Target(
        "100,000 starts at concurrency 500: throughput vs floor",
        "0.74x",
        ">= 0.92x",
        _ratio("scale", "starts_per_s"),
        lambda v: v >= 0.92,
    ),
    Target(
        "same: memory growth over the floor's (slug per start)",
        "+26 MB",
        "<= +10 MB",
        _memory_over_floor("scale"),
        lambda v: v <= 10.0,
        unit="MB",
    ),
    Target(
        "50 ms latency, concurrency 100: wall time vs floor",
        "1.01x",
        "<= 1.01x",
        _ratio("latency", "wall"),
        lambda v: v <= 1.01,
    ),
    Target(
        "vs apify-client async: throughput",
        "1.23x",
        ">= 1.40x",
        _ratio("throughput", "starts_per_s", other="apify"),
        lambda v: v >= 1.40,
    ),
    Target(
        "vs apify-client async: client CPU per start",
        "0.62x",
        "(report)",
        _ratio("throughput", "client_cpu_us", other="apify"),
        None,
    ),
    Target(
        "uvloop: run_all throughput vs floor (same loop)",
        "-",
        ">= 0.92x",
        _ratio("throughput-uvloop", "starts_per_s"),
        lambda v: v >= 0.92,
    ),
    Target(
        "uvloop: client CPU per start vs floor",
        "-",
        "<= 1.12x",
        _ratio("throughput-uvloop", "client_cpu_us"),
        lambda v: v <= 1.12,
    ),
    Target(
        "uvloop: 100,000 starts at concurrency 500 vs floor",
        "-",
        ">= 0.92x",
        _ratio("scale-uvloop", "starts_per_s"),
        lambda v: v >= 0.92,
    ),
    Target(
        "uvloop: memory growth over the floor's",
        "-",
        "<= +10 MB",
        _memory_over_floor("scale-uvloop"),
        lambda v: v <= 10.0,
        unit="MB",
    ),
    Target(
        "API v2 run_many throughput vs v1's (both vs floor)",
        "-",
        ">= 0.97x",
        _v2_gap,
        lambda v: v >= 0.97,
    ),
)


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per target with ``measured`` and ``verdict`` (``met``, ``missed``, ``report``, ``n/a``)."""
    rows = []
    for target in TARGETS:
        value = target.measure(results["scenarios"])
        if value != value:
            verdict = "n/a"
        elif target.met is None:
            verdict = "report"
        else:
            verdict = "met" if target.met(value) else "missed"
        rows.append(
            {
                "what": target.what,
                "today": target.today,
                "goal": target.goal,
                "measured": value,
                "unit": target.unit,
                "verdict": verdict,
            }
        )
    return rows


def _shown(row: dict[str, Any]) -> str:
    value = row["measured"]
    if value != value:
        return "-"
    return f"{value:+.1f} MB" if row["unit"] == "MB" else f"{value:.2f}x"


def render_text(rows: list[dict[str, Any]], load: str) -> list[str]:
    """The table as aligned text lines (for stdout)."""
    lines = [
        f"Issue targets (compared, not asserted; load average during the run: {load})",
        f"  {'target':<56} {'today':>8} {'goal':>10} {'measured':>10}  verdict",
    ]
    for row in rows:
        lines.append(
            f"  {row['what']:<56} {row['today']:>8} {row['goal']:>10} {_shown(row):>10}  {row['verdict']}"
        )
    return lines


def render_markdown(rows: list[dict[str, Any]], meta: dict[str, Any], load: str) -> str:
    """The table as Markdown, with the run's machine and command (``results/targets.md``)."""
    out = [
        "# Hot-path targets",
        "",
        f"`{meta.get('command', 'benchmarks/run_all.py')}`, {meta['started']}, commit "
        f"`{meta.get('git_commit') or 'unknown'}`"
        + (" (with uncommitted changes)" if meta.get("git_uncommitted") else "")
        + f"; {meta['cpus']} CPUs ({meta['platform']}), Python {meta['python']}; "
        f"load average {load}.",
        "",
        "| target | today | goal | measured | verdict |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        goal = row["goal"].replace(">=", "≥").replace("<=", "≤")
        out.append(f"| {row['what']} | {row['today']} | {goal} | {_shown(row)} | {row['verdict']} |")
    out.append("")
    return "\n".join(out)
