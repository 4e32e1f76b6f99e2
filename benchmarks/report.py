"""Print the Markdown tables of ``results/latest.json`` for the docs (``docs/performance.md``,
``benchmarks/README.md``): the targets, then one table per scenario that ran.

    .venv/bin/python benchmarks/report.py [--results PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import _targets

# ruff: noqa: RUF001 (the tables are Markdown for readers: multiplication signs and dashes)

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def _x(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:.2f}"


def _machine(results: dict[str, Any]) -> str:
    meta = results["meta"]
    versions = ", ".join(
        f"{name} {v}" for name, v in meta["versions"].items() if v and name != "coreclaw-async"
    )
    start, end = meta.get("loadavg_at_start") or [0.0], meta.get("loadavg_at_end") or [0.0]
    return (
        f"`{meta.get('command', 'benchmarks/run_all.py')}` ({meta['seconds'] / 60:.1f} min), "
        f"{meta['started']}, commit `{meta.get('git_commit')}`"
        + (" plus uncommitted changes" if meta.get("git_uncommitted") else "")
        + f". Machine: {meta['cpus']} shared vCPUs ({meta['platform']}), load average "
        f"{start[0]:.2f} at the start and {end[0]:.2f} at the end; Python {meta['python']}, {versions}."
    )


def _throughput(data: dict[str, Any]) -> list[str]:
    out = [
        f"**Throughput on {data.get('loop', 'asyncio')}**: {data['count']:,} starts, concurrency "
        f"{data['concurrency']}, stub server, {max(r['reps'] for r in data['summary'].values())} rounds.",
        "",
        "| contender | starts/s | × floor | client CPU µs/start | × floor |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in data["summary"].values():
        label = row["label"] + (f" (n = {row['count']:,})" if row["count"] != data["count"] else "")
        out.append(
            f"| {label} | {row['starts_per_s']:,.0f} | {_x(row['starts_per_s_x_floor'])} | "
            f"{row['client_cpu_us']:,.1f} | {_x(row['client_cpu_us_x_floor'])} |"
        )
    return out


def _latency(data: dict[str, Any]) -> list[str]:
    out = [
        f"**Latency-bound**: {data['count']:,} starts, concurrency {data['concurrency']}, "
        f"{data['latency'] * 1000:g} ms server latency, ideal wall {data['ideal_wall']:.3f} s.",
        "",
        "| contender | wall s | × floor | efficiency | client CPU µs/start |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in data["summary"].values():
        out.append(
            f"| {row['label']} | {row['wall']:.3f} | {_x(row['wall_x_floor'])} | {row['efficiency']:.1%} | "
            f"{row['client_cpu_us']:,.1f} |"
        )
    return out


def _scale(data: dict[str, Any]) -> list[str]:
    out = [
        f"**Scale on {data.get('loop', 'asyncio')}**: {data['count']:,} starts, concurrency "
        f"{data['concurrency']}, generator input, a fresh process per run; RSS growth is the sampled "
        "peak over the RSS after warm-up, with what each keeps (the floor a run slug per start, "
        "`run_all` its outcomes).",
        "",
        "| contender | starts/s | × floor | peak RSS growth | client CPU µs/start | runs |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in data["summary"].values():
        out.append(
            f"| {row['label']} | {row['starts_per_s']:,.0f} | {_x(row['starts_per_s_x_floor'])} | "
            f"{row['peak_growth_mb']:.1f} MB | {row['client_cpu_us']:,.1f} | {row['reps']} |"
        )
    return out


def render(results: dict[str, Any]) -> str:
    """The Markdown block: machine and command, the targets, then the scenario tables."""
    scenarios = results["scenarios"]
    rows = results.get("targets") or _targets.evaluate(results)
    parts = [_machine(results), ""]
    parts += _targets.render_markdown(rows, results["meta"], "").split("\n")[4:]
    for key, table in (
        ("throughput", _throughput),
        ("throughput-uvloop", _throughput),
        ("latency", _latency),
        ("scale", _scale),
        ("scale-uvloop", _scale),
    ):
        if key in scenarios:
            parts += [*table(scenarios[key]), ""]
    return "\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    print(render(json.loads(args.results.read_text(encoding="utf-8"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
