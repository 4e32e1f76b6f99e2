"""Run every coreclaw-async benchmark side by side in one run; print tables, write JSON.

Usage::

    make bench                                   # = python benchmarks/run_all.py
    python benchmarks/run_all.py --quick         # smoke run, well under a minute
    python benchmarks/run_all.py --full          # adds 1,000,000 starts through run_many (minutes)
    python benchmarks/run_all.py --json out.json --only throughput model

Scenarios (each against a server child process on 127.0.0.1, killed when done):

* throughput: N starts at concurrency C through ``client.tasks.run_many`` and through the raw
  aiohttp floor, the ``tasks.run`` pool diagnostic and the httpx peer; starts/s, client CPU
  per request, server and client CPU share.
* latency: starts against a server answering after a fixed delay; wall time against the
  ideal ``N / C * latency``.
* scale: 100,000 starts at concurrency 500 (and 1,000,000 with ``--full``), each in a fresh
  child process; throughput and peak RSS growth.
* server-check: our client and the floor against FakeCoreClaw, to show why the throughput
  scenarios use the stub (its CPU share).
* model: per-call cost of the model layer (see ``model_overhead.py``).
* budget: many processes sharing one ``RedisBudget`` against a fake with an account rate limit
  (see ``shared_budget.py``; needs ``redis-server``, skipped with a note without it).

Repetitions are interleaved (round r starts with a different contender and runs them all),
every ratio to the floor is taken within a round, and medians are reported. Nothing is
asserted: the targets are printed with the measured values.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import _targets
import model_overhead
import shared_budget
from _contenders import CONTENDERS, items
from _harness import BENCH_DIR, LOOPS, Stopwatch, Target, median, pin_cpus, run_on, server, spread

MB = 1_000_000
FLOOR = "floor"
DEFAULT_JSON = BENCH_DIR / "results" / "latest.json"
# Packages whose versions each run records.
_VERSIONED = ("coreclaw-async", "aiohttp", "httpx", "apify-client", "orjson", "cattrs", "attrs", "uvloop")

# The contenders of each scenario; the first is the floor every ratio is taken against.
THROUGHPUT_NAMES = [
    FLOOR,
    "coreclaw-all",
    "coreclaw",
    "coreclaw-v2",
    "coreclaw-pool",
    "coreclaw-all-otel",
    "httpx",
    "apify",
]
# On uvloop: the floor and our two fan-outs, on the same loop (the peers bring their own I/O).
THROUGHPUT_NAMES_UVLOOP = [FLOOR, "coreclaw-all", "coreclaw"]
LATENCY_NAMES = [FLOOR, "coreclaw-all", "httpx"]
SCALE_NAMES = [FLOOR, "coreclaw-all"]


@dataclass(frozen=True)
class Plan:
    """Sizes of every scenario for one mode."""

    reps: int
    throughput_count: int
    peer_count: int  # the httpx peer's N in the throughput scenario (it is ~30x slower)
    throughput_concurrency: int
    latency_count: int
    latency_concurrency: int
    latency_seconds: float
    latency_reps: int
    scale_count: int
    scale_concurrency: int
    scale_reps: int
    million: int  # 0 = skip the 1M run
    check_count: int
    check_reps: int
    model_rounds: int
    model_batch_seconds: float
    warmup: int
    run_limit: float  # seconds one measured run may take before it is abandoned
    budget_runs: int = 1_500  # starts per process in the shared-budget scenario (4 processes)


PLANS = {
    "quick": Plan(
        reps=2,
        throughput_count=1_000,
        peer_count=300,
        throughput_concurrency=100,
        latency_count=500,
        latency_concurrency=100,
        latency_seconds=0.05,
        latency_reps=2,
        scale_count=10_000,
        scale_concurrency=500,
        scale_reps=1,
        million=0,
        check_count=1_000,
        check_reps=1,
        model_rounds=5,
        model_batch_seconds=0.03,
        warmup=300,
        run_limit=120.0,
        budget_runs=300,
    ),
    "default": Plan(
        reps=7,
        throughput_count=5_000,
        peer_count=1_000,
        throughput_concurrency=100,
        latency_count=2_000,
        latency_concurrency=100,
        latency_seconds=0.05,
        latency_reps=5,
        scale_count=100_000,
        scale_concurrency=500,
        scale_reps=3,
        million=0,
        check_count=3_000,
        check_reps=3,
        model_rounds=9,
        model_batch_seconds=0.1,
        warmup=1_000,
        run_limit=300.0,
    ),
}

SCENARIOS = ("throughput", "latency", "scale", "server-check", "model", "budget")


def log(message: str) -> None:
    """Progress goes to stderr so stdout holds only the tables."""
    print(message, file=sys.stderr, flush=True)


# -- one in-process measurement ------------------------------------------------------------


async def _timed_run(
    name: str, target: Target, count: int, concurrency: int, warmup: int, limit: float, loop: str
) -> dict:
    contender = CONTENDERS[name]()
    await contender.open(target, concurrency)
    try:
        # Warm-up: opens the pooled connections and fills caches; not measured.
        warmup = min(warmup, max(count // 2, concurrency))
        await asyncio.wait_for(contender.run(items(target.task_slugs, warmup), concurrency), limit)
        gc.collect()
        watch = Stopwatch(target.pid)
        tally = await asyncio.wait_for(contender.run(items(target.task_slugs, count), concurrency), limit)
        window = watch.stop()
    finally:
        await contender.close()
    return {
        "contender": name,
        "label": contender.label,
        "loop": loop,
        "count": count,
        "concurrency": concurrency,
        "ok": tally.ok,
        "failed": tally.failed,
        "first_error": tally.first_error,
        "wall": window.wall,
        "client_cpu": window.client_cpu,
        "server_cpu": window.server_cpu,
        "starts_per_s": count / window.wall,
        "client_cpu_us": window.client_cpu / count * 1e6,
        "client_share": window.client_cpu / window.wall,
        "server_share": window.server_cpu / window.wall,
    }


def measure(
    name: str, target: Target, count: int, concurrency: int, plan: Plan, loop: str = "asyncio"
) -> dict:
    """One measured run of contender ``name`` in a fresh event loop of kind ``loop``; errors become a row."""
    try:
        return run_on(loop, _timed_run(name, target, count, concurrency, plan.warmup, plan.run_limit, loop))
    except (asyncio.TimeoutError, OSError, RuntimeError) as exc:
        return {"contender": name, "label": name, "count": count, "error": f"{type(exc).__name__}: {exc}"}


def interleaved(names: list[str], reps: int, run: Callable[[str], dict]) -> dict[str, list[dict]]:
    """``reps`` rounds; round r runs every contender, starting from the r-th one."""
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for rep in range(reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            result = run(name)
            result["round"] = rep
            runs[name].append(result)
            log(f"  round {rep + 1}/{reps} {result['label']:<44} {_brief(result)}")
    return runs


def _brief(result: dict) -> str:
    if "error" in result:
        return f"ERROR {result['error']}"
    text = f"{result['starts_per_s']:9,.0f} starts/s  {result['client_cpu_us']:7.1f} us CPU/req"
    if result.get("failed"):
        text += f"  FAILED {result['failed']} ({result['first_error']})"
    return text


def _round_ratios(runs: dict[str, list[dict]], name: str, key: str) -> list[float]:
    """``key`` of ``name`` over ``key`` of the floor, round by round (rounds where both ran clean)."""
    floors = {r["round"]: r for r in runs.get(FLOOR, []) if "error" not in r}
    ratios = []
    for result in runs[name]:
        base = floors.get(result["round"])
        if base is not None and "error" not in result and base[key]:
            ratios.append(result[key] / base[key])
    return ratios


def summarise(runs: dict[str, list[dict]], keys: tuple[str, ...]) -> dict[str, dict]:
    """Medians of ``keys`` per contender, plus the median per-round ratio of each to the floor."""
    summary: dict[str, dict] = {}
    for name, results in runs.items():
        clean = [r for r in results if "error" not in r]
        row: dict[str, Any] = {
            "label": results[0]["label"] if results else name,
            "count": results[0]["count"] if results else 0,
            "reps": len(clean),
            "errors": [r["error"] for r in results if "error" in r],
            "failed_items": sum(r.get("failed", 0) for r in clean),
        }
        for key in keys:
            values = [r[key] for r in clean]
            row[key] = median(values)
            row[f"{key}_spread"] = spread(values)
            row[f"{key}_x_floor"] = median(_round_ratios(runs, name, key))
        summary[name] = row
    return summary


# -- scenarios -------------------------------------------------------------------------------


def scenario_throughput(plan: Plan, loop: str = "asyncio") -> dict:
    names = THROUGHPUT_NAMES if loop == "asyncio" else THROUGHPUT_NAMES_UVLOOP
    count, conc = plan.throughput_count, plan.throughput_concurrency
    log(
        f"throughput on {loop}: {count:,} starts, concurrency {conc}, {plan.reps} interleaved rounds "
        "(stub server)"
    )
    counts = {name: count for name in names}
    if "httpx" in counts:
        counts["httpx"] = min(count, plan.peer_count)
    with server("stub") as target:
        runs = interleaved(
            names, plan.reps, lambda name: measure(name, target, counts[name], conc, plan, loop)
        )
    keys = ("starts_per_s", "client_cpu_us", "client_share", "server_share", "wall")
    return {
        "loop": loop,
        "count": count,
        "concurrency": conc,
        "server": "stub",
        "summary": summarise(runs, keys),
        "runs": runs,
    }


def scenario_latency(plan: Plan) -> dict:
    names = LATENCY_NAMES
    count, conc, delay = plan.latency_count, plan.latency_concurrency, plan.latency_seconds
    ideal = count / conc * delay
    log(
        f"latency: {count:,} starts, concurrency {conc}, server latency {delay * 1000:g} ms, "
        f"ideal {ideal:.3f} s, {plan.latency_reps} interleaved rounds"
    )
    with server("stub", latency=delay) as target:
        runs = interleaved(names, plan.latency_reps, lambda name: measure(name, target, count, conc, plan))
    for results in runs.values():
        for result in results:
            if "error" not in result:
                result["efficiency"] = ideal / result["wall"]
    keys = ("wall", "efficiency", "client_cpu_us", "starts_per_s")
    return {
        "count": count,
        "concurrency": conc,
        "latency": delay,
        "ideal_wall": ideal,
        "summary": summarise(runs, keys),
        "runs": runs,
    }


def _scale_child(
    name: str, target: Target, count: int, concurrency: int, warmup: int, loop: str = "asyncio"
) -> dict:
    command = [
        sys.executable,
        str(BENCH_DIR / "_scale_child.py"),
        "--contender",
        name,
        "--base-url",
        target.base_url,
        "--api-key",
        target.api_key,
        "--slugs",
        ",".join(target.task_slugs),
        "--server-pid",
        str(target.pid),
        "--count",
        str(count),
        "--concurrency",
        str(concurrency),
        "--warmup",
        str(warmup),
        "--loop",
        loop,
    ]
    limit = 120 + count / 1_000  # far above any plausible run; bounds a hung child
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        return {
            "contender": name,
            "label": name,
            "count": count,
            "error": f"child timed out after {limit:g} s",
        }
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["?"]
        return {"contender": name, "label": name, "count": count, "error": f"child failed: {tail[0]}"}
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    result["starts_per_s"] = count / result["wall"]
    result["client_cpu_us"] = result["client_cpu"] / count * 1e6
    result["server_share"] = result["server_cpu"] / result["wall"]
    result["peak_growth_mb"] = result["peak_growth"] / MB
    return result


def scenario_scale(plan: Plan, *, full: bool, loop: str = "asyncio") -> dict:
    count, conc = plan.scale_count, plan.scale_concurrency
    warmup = max(plan.warmup, 4 * conc)
    log(
        f"scale on {loop}: {count:,} starts, concurrency {conc}, {plan.scale_reps} round(s), "
        "one child process per run"
    )
    keys = ("starts_per_s", "peak_growth_mb", "client_cpu_us", "server_share")
    out: dict[str, Any] = {"loop": loop, "count": count, "concurrency": conc}
    with server("stub") as target:
        runs = interleaved(
            SCALE_NAMES,
            plan.scale_reps,
            lambda name: _scale_child(name, target, count, conc, warmup, loop),
        )
        out["summary"] = summarise(runs, keys)
        out["runs"] = runs
        if full and loop == "asyncio":
            million = 1_000_000
            log(f"scale: {million:,} starts from a generator through run_many, concurrency {conc}")
            runs_m = interleaved(
                ["coreclaw"], 1, lambda name: _scale_child(name, target, million, conc, warmup)
            )
            out["million"] = {"count": million, "summary": summarise(runs_m, keys), "runs": runs_m}
    return out


def scenario_server_check(plan: Plan) -> dict:
    names = [FLOOR, "coreclaw"]
    count, conc = plan.check_count, plan.throughput_concurrency
    out: dict[str, Any] = {"count": count, "concurrency": conc}
    keys = ("starts_per_s", "client_cpu_us", "client_share", "server_share")
    for kind in ("fake", "stub"):
        log(f"server-check: {count:,} starts against {kind}, {plan.check_reps} round(s)")
        with server(kind) as target:
            runs = interleaved(
                names, plan.check_reps, lambda name, t=target: measure(name, t, count, conc, plan)
            )
        out[kind] = {"summary": summarise(runs, keys), "runs": runs}
    return out


def scenario_budget(plan: Plan) -> dict:
    if shutil.which("redis-server") is None:
        log("budget: skipped, redis-server is not installed")
        return {"skipped": "redis-server is not installed"}
    log(f"budget: 4 processes x {plan.budget_runs:,} starts with and without a shared RedisBudget")
    return shared_budget.run(processes=4, runs=plan.budget_runs)


def scenario_model(plan: Plan) -> dict:
    log(f"model: {plan.model_rounds} interleaved rounds of timeit loops")
    rows = model_overhead.measure(rounds=plan.model_rounds, batch_seconds=plan.model_batch_seconds)
    return {"rows": rows, "summary": model_overhead.summary(rows)}


# -- report ----------------------------------------------------------------------------------


def _x(value: float) -> str:
    return "   -  " if value != value else f"{value:5.2f}x"


def _throughput_table(data: dict) -> list[str]:
    lines = [
        f"Throughput on {data.get('loop', 'asyncio')}: {data['count']:,} starts, concurrency "
        f"{data['concurrency']}, stub server "
        f"(medians; x floor = median of per-round ratios)",
        f"  {'contender':<44} {'n':>6} {'starts/s':>9} {'x floor':>7} {'CPU us/req':>10} {'x floor':>7} "
        f"{'cli CPU':>7} {'srv CPU':>7} {'spread':>6} {'reps':>4}",
    ]
    for row in data["summary"].values():
        lines.append(
            f"  {row['label']:<44} {row['count']:>6,} {row['starts_per_s']:9,.0f} "
            f"{_x(row['starts_per_s_x_floor']):>7} {row['client_cpu_us']:10.1f} "
            f"{_x(row['client_cpu_us_x_floor']):>7} {row['client_share']:7.2f} {row['server_share']:7.2f} "
            f"{row['starts_per_s_spread']:6.0%} {row['reps']:>4}" + _problems(row)
        )
    lines.append(
        "  cli/srv CPU = CPU seconds / wall seconds of the client / server process (1.00 = one core busy)"
    )
    lines.append("  spread = (max - min) / median of starts/s over the rounds")
    return lines


def _problems(row: dict) -> str:
    notes = []
    if row["failed_items"]:
        notes.append(f"{row['failed_items']} FAILED items")
    if row["errors"]:
        notes.append(f"errors: {row['errors'][0]}")
    return ("  <- " + "; ".join(notes)) if notes else ""


def _latency_table(data: dict) -> list[str]:
    lines = [
        f"Latency-bound: {data['count']:,} starts, concurrency {data['concurrency']}, server latency "
        f"{data['latency'] * 1000:g} ms, ideal wall N/C x latency = {data['ideal_wall']:.3f} s",
        f"  {'contender':<44} {'wall s':>7} {'x floor':>7} {'efficiency':>10} {'CPU us/req':>10} {'reps':>4}",
    ]
    for row in data["summary"].values():
        lines.append(
            f"  {row['label']:<44} {row['wall']:7.3f} {_x(row['wall_x_floor']):>7} {row['efficiency']:10.1%} "
            f"{row['client_cpu_us']:10.1f} {row['reps']:>4}" + _problems(row)
        )
    return lines


def _scale_rows(summary: dict) -> list[str]:
    return [
        f"  {row['label']:<44} {row['count']:>9,} {row['starts_per_s']:9,.0f} "
        f"{_x(row['starts_per_s_x_floor']):>7} "
        f"{row['peak_growth_mb']:12.1f} {row['client_cpu_us']:10.1f} {row['reps']:>4}" + _problems(row)
        for row in summary.values()
    ]


def _scale_table(data: dict) -> list[str]:
    lines = [
        f"Scale on {data.get('loop', 'asyncio')}: concurrency {data['concurrency']}, generator input, "
        "fresh process per run (RSS growth = sampled peak - RSS after warm-up, with what each keeps)",
        f"  {'contender':<44} {'starts':>9} {'starts/s':>9} {'x floor':>7} {'RSS grow MB':>12} "
        f"{'CPU us/req':>10} {'reps':>4}",
    ]
    lines += _scale_rows(data["summary"])
    if "million" in data:
        lines += _scale_rows(data["million"]["summary"])
    return lines


def _check_table(data: dict) -> list[str]:
    lines = [
        f"Server check: {data['count']:,} starts, concurrency {data['concurrency']}: "
        "is the server the bottleneck?",
        f"  {'server':<6} {'contender':<44} {'starts/s':>9} {'cli CPU':>7} {'srv CPU':>7}",
    ]
    for kind in ("fake", "stub"):
        for row in data[kind]["summary"].values():
            lines.append(
                f"  {kind:<6} {row['label']:<44} {row['starts_per_s']:9,.0f} {row['client_share']:7.2f} "
                f"{row['server_share']:7.2f}" + _problems(row)
            )
    return lines


def _budget_checks(results: dict) -> list[str]:
    budget = results["scenarios"].get("budget")
    if budget is None or "skipped" in budget:
        return []
    fleet = budget["fleet"]
    checks = (
        ("share of the account limit", fleet["share_of_limit"], ">=", shared_budget.AIM_SHARE),
        ("rate-limited answers per start", fleet["rate_limited_share"], "<=", shared_budget.AIM_LIMITED),
        ("Redis round trips per start", fleet["round_trips_per_start"], "<=", shared_budget.AIM_ROUND_TRIPS),
    )
    lines = ["Shared budget (compared, not asserted)"]
    for what, value, sign, aim in checks:
        met = value >= aim if sign == ">=" else value <= aim
        lines.append(f"  {what:<40} {value:8.3f}  aim {sign} {aim:.2f}  {'met' if met else 'MISSED'}")
    return lines


def _load(results: dict) -> str:
    meta = results["meta"]
    start = meta.get("loadavg_at_start") or [float("nan")]
    end = meta.get("loadavg_at_end") or [float("nan")]
    return f"{start[0]:.2f} at start, {end[0]:.2f} at the end (1-minute)"


def render(results: dict) -> str:
    """Every table of ``results`` as text."""
    sections: list[list[str]] = []
    scenarios = results["scenarios"]
    for key in ("throughput", "throughput-uvloop"):
        if key in scenarios:
            sections.append(_throughput_table(scenarios[key]))
    if "latency" in scenarios:
        sections.append(_latency_table(scenarios["latency"]))
    for key in ("scale", "scale-uvloop"):
        if key in scenarios:
            sections.append(_scale_table(scenarios[key]))
    if "server-check" in scenarios:
        sections.append(_check_table(scenarios["server-check"]))
    if "model" in scenarios:
        model = model_overhead.render(scenarios["model"]["rows"]).splitlines()
        sections.append(["Model layer, per call (timeit, medians)", *model])
    budget = scenarios.get("budget")
    if budget is not None:
        sections.append(
            [budget["skipped"]] if "skipped" in budget else shared_budget.render(budget).splitlines()
        )
    if _budget_checks(results):
        sections.append(_budget_checks(results))
    sections.append(_targets.render_text(results.get("targets", []), _load(results)))
    return "\n\n".join("\n".join(section) for section in sections)


def _json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by ``None`` (they are not valid JSON)."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _meta(args: argparse.Namespace, mode: str) -> dict:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=BENCH_DIR, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    try:
        # Uncommitted changes to the package or the benchmarks: the commit alone does not say
        # what was measured.
        changed = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--",
                "coreclaw_async",
                "benchmarks",
                ":(exclude)benchmarks/results",
            ],
            capture_output=True,
            text=True,
            cwd=BENCH_DIR.parent,
            timeout=10,
        ).stdout.split("\n")
        dirty: list[str] | None = [line[3:] for line in changed if line.strip()]
    except (OSError, subprocess.SubprocessError):
        dirty = None
    return {
        "mode": mode,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "git_commit": commit or None,
        "git_uncommitted": dirty,
        "versions": {
            name: _version(name)
            for name in (
                "coreclaw-async",
                "aiohttp",
                "httpx",
                "apify-client",
                "orjson",
                "cattrs",
                "attrs",
                "uvloop",
            )
        },
        "only": args.only,
        "full": args.full,
        "loops": args.loops,
        "command": "python benchmarks/run_all.py " + " ".join(sys.argv[1:]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run with small N")
    parser.add_argument("--full", action="store_true", help="also push 1,000,000 starts through run_many")
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        help="where to write the results (default benchmarks/results/latest.json)",
    )
    parser.add_argument(
        "--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS), help="scenarios to run"
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin the client to the first CPU and the servers to the last (made no difference here)",
    )
    parser.add_argument(
        "--reps", type=int, default=None, help="rounds per in-process scenario (overrides the mode)"
    )
    parser.add_argument(
        "--loops",
        nargs="+",
        choices=LOOPS,
        default=list(LOOPS),
        help="event loops for the throughput and scale scenarios (default: both)",
    )
    args = parser.parse_args()
    mode = "quick" if args.quick else "default"
    plan = PLANS[mode]
    if args.reps is not None:
        if args.reps < 1:
            parser.error("--reps must be at least 1")
        plan = Plan(**{**plan.__dict__, "reps": args.reps})
    pinned = pin_cpus() if args.pin else None
    results: dict[str, Any] = {"meta": _meta(args, mode), "plan": plan.__dict__, "scenarios": {}}
    results["meta"]["cpu_pinning"] = (
        {"client": sorted(pinned[0]), "servers": sorted(pinned[1])} if pinned else None
    )
    began = time.perf_counter()
    runners: dict[str, Callable[[], dict]] = {
        "latency": lambda: scenario_latency(plan),
        "server-check": lambda: scenario_server_check(plan),
        "model": lambda: scenario_model(plan),
        "budget": lambda: scenario_budget(plan),
    }
    for loop in args.loops:
        suffix = "" if loop == "asyncio" else f"-{loop}"
        runners[f"throughput{suffix}"] = lambda loop=loop: scenario_throughput(plan, loop)
        runners[f"scale{suffix}"] = lambda loop=loop: scenario_scale(plan, full=args.full, loop=loop)
    try:
        for name in SCENARIOS:
            if name not in args.only:
                continue
            for key in (name, f"{name}-uvloop"):
                if key in runners:
                    results["scenarios"][key] = runners[key]()
    finally:
        results["meta"]["seconds"] = time.perf_counter() - began
        results["meta"]["loadavg_at_end"] = os.getloadavg()
        results["targets"] = _targets.evaluate(results)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_json_safe(results), indent=2, default=str) + "\n")
        table = args.json.parent / "targets.md"
        if args.json.resolve() == DEFAULT_JSON.resolve():
            table.write_text(_targets.render_markdown(results["targets"], results["meta"], _load(results)))
        log(f"results written to {args.json}" + (f" and {table}" if table.exists() else ""))
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
