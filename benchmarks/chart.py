"""Draw the benchmark chart of the documentation from ``results/latest.json``, as SVG text.

    .venv/bin/python benchmarks/chart.py            # writes docs/assets/benchmark-chart.svg
    .venv/bin/python benchmarks/chart.py --check    # exit 1 if the checked-in chart is stale

One panel per measure (throughput, client CPU per start, latency-bound wall time, scale): a
horizontal bar per contender (the floor, ``run_all``, ``run_many`` and the peers), its value and
its ratio to the raw-aiohttp floor. No plotting library: the SVG is written
here, so the chart needs nothing the package does not already install.
"""

from __future__ import annotations

import argparse
import json
import sys
from html import escape
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "latest.json"
CHART = ROOT / "docs" / "assets" / "benchmark-chart.svg"

# (scenario key, panel title, summary field, unit, whether more is better)
PANELS = (
    (
        "throughput",
        "Throughput: {count:,} starts, concurrency {concurrency}",
        "starts_per_s",
        "starts/s",
        True,
    ),
    (
        "throughput",
        "Client CPU per start: {count:,} starts, concurrency {concurrency}",
        "client_cpu_us",
        "\u00b5s CPU/start",
        False,
    ),
    (
        "latency",
        "Latency-bound: {count:,} starts, concurrency {concurrency}, {latency_ms:g} ms per answer",
        "wall",
        "s wall",
        False,
    ),
    ("scale", "Scale: {count:,} starts, concurrency {concurrency}", "starts_per_s", "starts/s", True),
)
COLOURS = {
    "floor": "#90a4ae",
    "coreclaw-all": "#283593",
    "coreclaw": "#5c6bc0",
    "httpx": "#ef6c00",
    "apify": "#2e7d32",
}
# Contenders drawn (the diagnostics stay in the tables): in this order when present.
SHOWN = tuple(COLOURS)
WIDTH = 820
LABEL_WIDTH = 250
BAR_AREA = 400
BAR_HEIGHT = 20
BAR_GAP = 8
PANEL_GAP = 26


def _number(value: float, unit: str) -> str:
    if unit == "s wall":
        return f"{value:,.3f} s"
    if unit.startswith("\u00b5s"):
        return f"{value:,.1f} {unit}"
    return f"{value:,.0f} {unit}"


def render(results: dict[str, Any]) -> str:
    """The chart for ``results`` (the JSON that ``run_all.py`` writes), as an SVG document."""
    meta = results["meta"]
    parts: list[str] = []
    y = 72
    for key, title, field, unit, more_is_better in PANELS:
        scenario = results["scenarios"].get(key)
        if scenario is None:
            continue
        summary = {name: scenario["summary"][name] for name in SHOWN if name in scenario["summary"]}
        rows = [row for row in summary.values() if row.get(field) is not None]
        if not rows:
            continue
        heading = title.format(
            count=scenario["count"],
            concurrency=scenario["concurrency"],
            latency_ms=1000 * float(scenario.get("latency", 0.0)),
        )
        better = "higher is better" if more_is_better else "lower is better"
        parts.append(f'<text x="20" y="{y}" font-weight="bold">{escape(heading)}</text>')
        parts.append(f'<text x="{WIDTH - 20}" y="{y}" text-anchor="end" fill="#546e7a">{better}</text>')
        y += 12
        largest = max(float(row[field]) for row in rows)
        for name, row in summary.items():
            if row.get(field) is None:
                continue
            value = float(row[field])
            length = max(1.0, BAR_AREA * value / largest)
            ratio = row.get(f"{field}_x_floor")
            note = _number(value, unit) + (
                f"  ({ratio:.2f}\u00d7 floor)" if name != "floor" and ratio else ""
            )
            if row.get("count") not in (None, scenario["count"]):
                note += f"  n = {row['count']:,}"
            colour = COLOURS.get(name, "#607d8b")
            middle = y + BAR_HEIGHT / 2 + 4
            label = escape(row["label"])
            parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{middle:.0f}" text-anchor="end">{label}</text>')
            bar = f'width="{length:.1f}" height="{BAR_HEIGHT}" fill="{colour}"'
            parts.append(f'<rect x="{LABEL_WIDTH}" y="{y}" {bar}/>')
            parts.append(f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{middle:.0f}">{escape(note)}</text>')
            y += BAR_HEIGHT + BAR_GAP
        y += PANEL_GAP
    height = y + 10
    subtitle = (
        f"benchmarks/run_all.py, {meta['started'][:10]}, commit {meta.get('git_commit') or 'unknown'}, "
        f"{meta['cpus']} shared cores, Python {meta['python']}"
    )
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
        f'height="{height}" role="img" font-family="Helvetica, Arial, sans-serif" font-size="13" '
        'fill="#212121">\n'
        "<title>coreclaw-async against the raw-aiohttp floor and its peers</title>\n"
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>\n'
        '<text x="20" y="26" font-size="16" font-weight="bold">'
        "coreclaw-async against the raw-aiohttp floor and its peers</text>\n"
        f'<text x="20" y="42" fill="#546e7a">{escape(subtitle)}</text>\n'
    )
    return head + "\n".join(parts) + "\n</svg>\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="the JSON written by run_all.py")
    parser.add_argument("--output", type=Path, default=CHART, help="where to write the SVG")
    parser.add_argument(
        "--check", action="store_true", help="only compare with the file; exit 1 if it differs"
    )
    args = parser.parse_args(argv)
    svg = render(json.loads(args.results.read_text(encoding="utf-8")))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != svg:
            print(f"{args.output} is stale: run benchmarks/chart.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(svg, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
